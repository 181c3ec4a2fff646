"""Fault injection (issue 17), the remaining cases: grid cells checked before any run is recorded, the chain of
``merbench preprocess`` for image datasets, ranges in ``datasets check --set``, a ``--root`` that is a file in
grid and megc2019, ``regress --update`` through a symlinked baseline, markup in a real run's labels and subjects,
and a bad baseline entry named with its file.

Each case asserts the exit code, that no traceback reaches the user, that the message names the file or option
and the fix, and that nothing was lost or recorded.
"""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import pytest
import yaml

import realtrees as rt
from merbench.errors import DataError, UsageError
from merbench.store import ResultStore

TINY = ("dataset.subjects=4", "dataset.clips_per_subject=3", "dataset.size=16", "dataset.frames=6", "protocol.n_splits=3")
GRID = ("grid", "--datasets", "synthetic", "--profile", "quick", "--quiet")


def _clear(result, code: int = 2) -> str:
    """The one-line message of a refused command (asserting its exit code and that no traceback was shown)."""
    assert result.code == code, (result.out, result.err)
    assert "Traceback" not in result.err + result.out
    return " ".join(result.err.split())


def _n_runs(store: Path) -> int:
    if not store.exists():
        return 0
    with ResultStore(store) as opened:
        return len(opened.list_runs())


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if preprocessing or a recorded run starts."""
    import merbench.runner
    import merbench.recording

    def refuse(*args, **kwargs):
        raise AssertionError("work started before the configuration was checked")

    monkeypatch.setattr(merbench.runner, "preprocess_dataset", refuse)
    monkeypatch.setattr(merbench.recording, "run_recorded", refuse)


# ------------------------------------------------------------------ grid: every cell checked before a run is recorded


def test_grid_refuses_too_many_splits_before_recording_a_run(run_cli, tmp_path, no_work):
    store = tmp_path / "r.sqlite"
    ResultStore(store).close()
    result = run_cli(*GRID, "--models", "convmixer", "--store", str(store), "--set", *TINY, "protocol.n_splits=20")
    message = _clear(result)
    assert "grid cell convmixer × synthetic × subject-10fold:" in message
    assert "needs at least 20 subjects, the dataset has 4" in message and "--set protocol.n_splits=4" in message
    assert _n_runs(store) == 0


def test_grid_refuses_a_later_cell_whose_chain_its_model_cannot_take_before_the_first_runs(run_cli, tmp_path, no_work):
    store = tmp_path / "r.sqlite"
    result = run_cli(*GRID, "--models", "convmixer,lbptop-svm", "--store", str(store), "--set", *TINY, "preprocess=flow")
    message = _clear(result)
    assert "grid cell lbptop-svm × synthetic × subject-10fold:" in message
    assert "model 'lbptop-svm' expects input 'lbptop-hist'" in message
    assert _n_runs(store) == 0


def test_grid_root_that_is_a_file_says_so(run_cli, tmp_path):
    archive = tmp_path / "casme2.zip"
    archive.write_bytes(b"PK")
    message = _clear(run_cli("grid", "--models", "convmixer", "--datasets", "casme2", "--root", str(archive),
                             "--no-store", "--quiet"))
    assert f"--root casme2={archive}: is a file, not a folder" in message
    assert "no such folder" not in message and "give the folder that holds your copy of 'casme2'" in message


# ------------------------------------------------------------------ preprocess picks the chain run picks


@pytest.fixture
def manifests(tmp_path) -> Path:
    root = tmp_path / "manifest"
    rt.build_manifest_images(root)
    rt.build_manifest_frames(root)
    return root


@pytest.mark.parametrize("manifest, chain, shape", [("labels.csv", "image", [3, 28, 28]), ("frames.csv", "flow", None)])
def test_preprocess_without_a_chain_uses_the_chain_of_a_run(run_cli, manifests, fresh_cache, tmp_path, manifest, chain, shape):
    from merbench.config import resolve_config
    from merbench.registry import get_registry

    target = tmp_path / "summary.json"
    result = run_cli("preprocess", "--dataset", "manifest", "--root", str(manifests), "--profile", "quick", "--quiet",
                     "--set", f"dataset.manifest={manifest}", "--json", str(target))
    assert result.code == 0, result.err
    summary = json.loads(target.read_text())
    run_chain = resolve_config(get_registry(), model="convmixer", dataset="manifest", root=manifests,
                               sets={"dataset.manifest": manifest}).preprocess
    assert summary["chain"] == chain == ",".join(run_chain)
    assert summary["computed"] == summary["n_samples"]
    if shape is not None:
        assert summary["shape"] == shape  # the image as it is, not the flow between two copies of it


def test_preprocess_without_a_model_fills_the_entries_a_run_reads(run_cli, manifests, fresh_cache, tmp_path):
    sets = ("--set", "dataset.manifest=labels.csv")
    assert run_cli("preprocess", "--dataset", "manifest", "--root", str(manifests), "--quiet", *sets).code == 0
    target = tmp_path / "run.json"
    run = run_cli("run", "--model", "convmixer", "--dataset", "manifest", "--root", str(manifests), "--protocol", "loso",
                  "--profile", "quick", "--epochs", "1", "--quiet", "--no-store", "--json", str(target), *sets,
                  "engine.parallel_folds=1")
    assert run.code == 0, run.err
    assert json.loads(target.read_text())["preprocess"]["computed"] == 0


def test_preprocess_model_options_still_need_a_model(run_cli):
    message = _clear(run_cli("preprocess", "--dataset", "synthetic", "--quiet", "--set", "model.depth=2"))
    assert "model.depth: model options need --model NAME" in message


# ------------------------------------------------------------------ datasets check --set: ranges as run checks them


@pytest.mark.parametrize("setting, expected", [
    ("dataset.seed=-1", "dataset.seed=-1: must be an integer in [0, 4294967295] (default 0)"),
    ("dataset.subjects=1", "dataset.subjects=1: must be an integer in [2, 1000] (default 28)"),
    ("dataset.size=x", "dataset.size=x: must be an integer in [16, 512] (default 64)"),
])
def test_datasets_check_set_is_checked_like_run(run_cli, fresh_cache, setting, expected):
    checked = _clear(run_cli("datasets", "check", "synthetic", "--set", setting))
    ran = _clear(run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--quiet", "--no-store", "--set", setting))
    assert expected in checked
    assert checked == ran
    assert not (fresh_cache / "synthetic").exists(), "nothing is generated for a refused setting"


def test_datasets_check_set_choice_gets_a_suggestion(run_cli, tmp_path):
    root = tmp_path / "SMIC"
    root.mkdir()
    message = _clear(run_cli("datasets", "check", "smic", "--root", str(root), "--set", "dataset.subset=nri"))
    assert "dataset.subset=nri: choose one of hs, vis, nir; did you mean nir? (default hs)" in message


def test_datasets_check_unknown_setting_is_still_named(run_cli):
    message = _clear(run_cli("datasets", "check", "synthetic", "--set", "dataset.sed=1"))
    assert "unknown setting 'dataset.sed' for dataset 'synthetic'" in message and "dataset.seed" in message


# ------------------------------------------------------------------ megc2019: a file where a folder belongs


def test_megc2019_root_or_part_that_is_a_file_says_so(run_cli, tmp_path):
    from merbench_plugins.datasets.megc2019 import load, part_root

    archive = tmp_path / "megc.zip"
    archive.write_bytes(b"PK")
    with pytest.raises(DataError, match=rf"--root {archive}: is a file, not a folder; give the folder holding SMIC"):
        load(archive, {"list": "official"}, tmp_path)
    with pytest.raises(DataError, match=r"dataset.smic=.*: .* is a file, not a folder; give the folder of your smic copy"):
        part_root("smic", str(archive), None)
    with pytest.raises(DataError, match=r"dataset.smic=.*: no such folder"):
        part_root("smic", str(tmp_path / "absent"), None)
    root = tmp_path / "megc"
    root.mkdir()
    message = _clear(run_cli("datasets", "check", "megc2019", "--root", str(root), "--set", f"dataset.smic={archive}"))
    assert f"dataset.smic={archive}: {archive} is a file, not a folder" in message


# ------------------------------------------------------------------ regress --update through a symlinked baseline


def _baseline(path: Path) -> None:
    path.write_text(yaml.safe_dump({"version": 1, "defaults": {"set": {
        "dataset.subjects": 4, "dataset.clips_per_subject": 6, "dataset.size": 32, "dataset.frames": 8,
        "protocol.n_splits": 3, "engine.epochs": 1}}, "entries": [{"model": "convmixer", "metrics": ["uf1"]}]}))


def test_regress_update_writes_through_a_symlinked_baseline_and_keeps_its_mode(run_cli, tmp_path):
    real = tmp_path / "shared" / "baseline.yaml"
    real.parent.mkdir()
    _baseline(real)
    real.chmod(0o640)
    link = tmp_path / "baseline.yaml"
    link.symlink_to(real)
    result = run_cli("regress", "--baseline", str(link), "--update", "--quiet", "--store", str(tmp_path / "r.sqlite"))
    assert result.code == 0, result.err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    [entry] = yaml.safe_load(real.read_text())["entries"]
    assert isinstance(entry["metrics"]["uf1"]["expected"], float)


def test_write_baseline_refuses_what_is_not_a_file_and_keeps_what_is_there(tmp_path):
    from merbench.regress import write_baseline

    folder = tmp_path / "baseline.yaml"
    folder.mkdir()
    with pytest.raises(UsageError, match=rf"--baseline {folder}: is a folder"):
        write_baseline(folder, {"version": 1, "entries": []})
    assert folder.is_dir() and not any(folder.iterdir())
    store = tmp_path / "results.sqlite"
    ResultStore(store).close()
    before = store.read_bytes()
    with pytest.raises(UsageError, match="SQLite"):
        write_baseline(store, {"version": 1, "entries": []})
    assert store.read_bytes() == before


def test_a_failed_baseline_write_names_the_file_and_leaves_it(tmp_path, monkeypatch):
    import merbench.cache
    from merbench.regress import write_baseline

    baseline = tmp_path / "baseline.yaml"
    _baseline(baseline)
    text = baseline.read_text()

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(merbench.cache.os, "replace", full)
    with pytest.raises(UsageError, match=rf"--baseline {baseline}: could not write .*No space left.*the file is unchanged"):
        write_baseline(baseline, {"version": 1, "entries": []})
    assert baseline.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.yaml"]


def test_a_bad_baseline_entry_is_named_with_its_file(run_cli, tmp_path):
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump({"version": 1, "entries": [{"model": "convmixer"},
                                                                   {"model": "convmixer", "metrics": {"uf2": {}}}]}))
    message = _clear(run_cli("regress", "--baseline", str(baseline), "--quiet", "--no-store"))
    assert f"{baseline}, entry 2: unknown metric 'uf2'; choose from" in message


# ------------------------------------------------------------------ markup in a real run's labels and subjects


def test_markup_in_labels_and_subjects_is_stored_printed_and_written_literally(run_cli, tmp_path):
    root = tmp_path / "manifest"
    rt.build_manifest_images(root)
    names = {"0": "[/]", "1": "[bold]x", "2": "ok"}
    with open(root / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["label"], row["subject"] = names[row["label"]], f"[red]{row['subject']}"
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    store, target = tmp_path / "r.sqlite", tmp_path / "result.json"
    result = run_cli("run", "--model", "convmixer", "--dataset", "manifest", "--root", str(root), "--protocol", "loso",
                     "--profile", "quick", "--epochs", "1", "--store", str(store), "--json", str(target),
                     "--set", "dataset.manifest=labels.csv", "engine.parallel_folds=1")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    written = json.loads(target.read_text())
    assert set(written["classes"]) == {"[/]", "[bold]x", "ok"}
    assert "[red]s0" in result.out and "[bold]x" in result.out
    shown = run_cli("show", written["run_id"], "--store", str(store), "--json", "-")
    assert shown.code == 0 and "Traceback" not in shown.err
    assert json.loads(shown.out)["classes"] == written["classes"]
    assert "[/]" in shown.err and "[red]s1" in shown.err


MARKUP_PLUGIN = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="bracketed", build="torch.nn:Identity", input="flow-uvs",
                         description="closes [/] nothing and makes [bold]x bold"))
'''


def test_one_plugin_description_with_markup_does_not_break_list_for_everyone(run_cli, tmp_path, monkeypatch):
    import sys

    site = tmp_path / "site"
    info = site / "merbench_bracketed-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: merbench-bracketed\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[merbench]\nbracketed = merbench_bracketed_plugin\n")
    (site / "merbench_bracketed_plugin.py").write_text(MARKUP_PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    try:
        for command in (("list",), ("list", "models")):
            result = run_cli(*command)
            assert result.code == 0 and "Traceback" not in result.err, (command, result.err)
            assert "convmixer" in result.out, "the other plugins are still listed"
            assert "closes [/] nothing and makes [bold]x bold" in " ".join(result.out.split())
        plugins = run_cli("plugins")
        assert plugins.code == 0 and "merbench-bracketed" in plugins.out and "Traceback" not in plugins.err
    finally:
        sys.modules.pop("merbench_bracketed_plugin", None)


@pytest.mark.parametrize("command", [
    ["audit", "{deep}"], ["significance", "{deep}", "{deep}"], ["report", "--leakage", "{deep}", "--output", "{tmp}/r.md"],
    ["run", "--model", "ststnet", "--dataset", "synthetic", "--no-store", "--config", "{deep}"],
    ["regress", "--baseline", "{deep}"],
    ["tune", "--model", "ststnet", "--dataset", "synthetic", "--trials", "1", "--space", "{deep}"],
])
def test_a_file_nested_thousands_of_levels_deep_is_one_clear_error(command, run_cli, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)  # Python's JSON and YAML parsers recurse once per level
    result = run_cli(*[part.format(deep=deep, tmp=tmp_path) for part in command])
    assert result.code == 2 and "Traceback" not in result.err and "RecursionError" not in result.err
    assert f"{deep}: nested too deeply to read" in " ".join(result.err.split())
