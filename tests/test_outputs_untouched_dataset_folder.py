"""An output of ``show`` or ``report`` refused as inside a stored run's dataset folder leaves that folder untouched:
no file is made there, and its modification time (which merbench's own ``written_inside`` check and backup tools
read) stays. Before, the first check of the path, made before the runs' folders were known, made and removed a probe
file in the folder to test that it could be written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

OLD = 1_577_836_800_000_000_000  # 2020-01-01, in ns


@pytest.fixture
def stored_run(tmp_path) -> tuple[Path, Path, str]:
    """A store holding one complete run recorded with --root ROOT, whose folder ``images`` is dated 2020: (root,
    store, run id)."""
    from merbench.store import ResultStore
    from result_samples import minimal_result

    root = tmp_path / "mimg"
    (root / "images").mkdir(parents=True)
    (root / "images" / "img_0.png").write_bytes(b"x")
    os.utime(root / "images", ns=(OLD, OLD))
    store = tmp_path / "runs.sqlite"
    config = {"model": "m", "dataset": "manifest", "protocol": "loso", "profile": "quick", "seed": 0,
              "root": str(root), "options": {"dataset": {}}}
    with ResultStore(store) as opened:
        run_id = opened.begin_run(config, 1, {})
        opened.finish_run(run_id, minimal_result(model="m", dataset="manifest", run_id=run_id, seed=0, config=config))
    return root, store, run_id


@pytest.mark.parametrize("command", [
    ["show", "{run}", "--json", "{images}/x.json"],
    ["report", "--output", "{images}/rep.md"],
    ["report", "--figures", "{images}/figs"],
    ["report", "--figures", "{images}"],
    ["report", "--output", "{out}/rep.md", "--figures", "{images}"],
], ids=["show-json", "report-output", "report-figures-new", "report-figures-existing", "report-both"])
def test_a_refused_output_leaves_the_runs_dataset_folder_untouched(run_cli, stored_run, tmp_path, command):
    root, store, run_id = stored_run
    images = root / "images"
    result = run_cli(*[part.format(images=images, run=run_id, out=tmp_path) for part in command], "--store", str(store))
    said = " ".join(result.err.split())
    assert result.code == 2, said
    assert f"the dataset folder of run {run_id} ({root}); merbench never writes inside a dataset's folder" in said
    assert os.stat(images).st_mtime_ns == OLD and [path.name for path in images.iterdir()] == ["img_0.png"]


def test_a_refused_leakage_report_leaves_the_studys_dataset_folder_untouched(run_cli, stored_run, tmp_path):
    root, _, _ = stored_run
    images = root / "images"
    summary = json.loads((Path(__file__).parents[1] / "benchmarks" / "leakage" /
                          "synthetic-default-lbptop-svm.json").read_text())
    study = tmp_path / "study.json"
    study.write_text(json.dumps({**summary, "dataset_folders": [str(root)]}))
    result = run_cli("report", "--leakage", str(study), "--output", str(images / "leakage.html"))
    said = " ".join(result.err.split())
    assert result.code == 2, said
    assert f"lies inside the dataset folder of the study in {study} ({root}); merbench never writes" in said
    assert os.stat(images).st_mtime_ns == OLD and [path.name for path in images.iterdir()] == ["img_0.png"]


def test_an_output_folder_that_cannot_take_a_file_is_still_refused_once_the_roots_are_known(run_cli, stored_run,
                                                                                             tmp_path, monkeypatch):
    """The probe runs with the second check: a folder that refuses a new file is still named, before any work."""
    import tempfile

    _, store, run_id = stored_run
    refusing = tmp_path / "refusing"
    refusing.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        if Path(kwargs.get("dir", "")) == refusing:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    shown = run_cli("show", run_id, "--store", str(store), "--json", str(refusing / "x.json"))
    reported = run_cli("report", "--store", str(store), "--output", str(refusing / "rep.md"))
    for result in (shown, reported):
        said = " ".join(result.err.split())
        assert result.code == 2 and f"cannot create a file in the folder {refusing} (No space left on device)" in said
    assert list(refusing.iterdir()) == []


def test_a_resumed_runs_json_refused_inside_its_stored_dataset_folder_leaves_it_untouched(run_cli, tmp_path):
    """``run --resume ID --json FILE``: the run's dataset folder comes from the store, so the first check of FILE,
    made before the store is read, makes no file in its folder."""
    from merbench.config import resolve_config
    from merbench.registry import get_registry
    from merbench.store import ResultStore

    root = tmp_path / "mimg"
    (root / "images").mkdir(parents=True)
    for i, subject in enumerate(["s1", "s1", "s2", "s2"]):
        (root / "images" / f"img_{i}.png").write_bytes(b"x")
    (root / "labels.csv").write_text("subject,label,path\n" + "".join(
        f"{s},{'ab'[i % 2]},images/img_{i}.png\n" for i, s in enumerate(["s1", "s1", "s2", "s2"])))
    os.utime(root / "images", ns=(OLD, OLD))
    store = tmp_path / "runs.sqlite"
    config = resolve_config(get_registry(), model="ststnet", dataset="manifest", protocol="loso", profile="quick",
                            root=root, sets={"dataset.manifest": "labels.csv"}).to_dict()
    with ResultStore(store) as opened:
        run_id = opened.begin_run(config, 1, {})
        opened.mark_stopped(run_id, "interrupted")
    result = run_cli("run", "--resume", run_id, "--store", str(store), "--json", str(root / "images" / "x.json"))
    said = " ".join(result.err.split())
    assert result.code == 2, said
    assert "never writes inside" in said
    assert os.stat(root / "images").st_mtime_ns == OLD
    assert sorted(path.name for path in (root / "images").iterdir()) == [f"img_{i}.png" for i in range(4)]
