"""``merbench regress --stored`` names a reused run trained by other software (merbench commit or version, torch).

The stored runs are fabricated (``tests/result_samples.py``) with exactly an entry's resolved configuration, so
``--stored`` reuses them and nothing trains; the check's own git commit is fixed by patching
``merbench.environment.git_commit``.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml

import merbench.environment
from result_samples import minimal_result, samples_as_the_dataset_gives

TINY_SET = {"dataset.subjects": 4, "dataset.clips_per_subject": 6, "dataset.size": 32, "dataset.frames": 8,
            "protocol.n_splits": 3, "engine.epochs": 1}
NOW_COMMIT = "c0ffee0000000000000000000000000000c0ffee"
OLD_COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLD_TORCH = "2.3.0+cpu"


@pytest.fixture(autouse=True)
def this_commit(monkeypatch):
    """The check runs as commit ``NOW_COMMIT``."""
    monkeypatch.setattr(merbench.environment, "git_commit", lambda: NOW_COMMIT)


def write_baseline(path, expected=0.5):
    metrics = {"uf1": {"expected": expected}, "accuracy": {"expected": expected}}
    path.write_text(yaml.safe_dump({"version": 1, "defaults": {"set": TINY_SET, "tolerance": 0.05},
                                    "entries": [{"model": "convmixer", "metrics": metrics}]}))
    return path


def store_run(store_path, entry, seed=None, **software):
    """Store a complete run of ``entry``'s configuration (with ``seed``), trained with ``software``; its id."""
    import dataclasses

    from merbench.registry import get_registry
    from merbench.regress import entry_config
    from merbench.store import ResultStore

    if seed is not None:
        entry = dataclasses.replace(entry, seed=seed)
    config = entry_config(entry, get_registry())
    environment = {"device": "cpu", "merbench": merbench.__version__, "git_commit": NOW_COMMIT,
                   "torch": torch.__version__, **software}
    store = ResultStore(store_path)
    try:
        run_id = store.begin_run(config.to_dict(), 1, environment)
        store.finish_run(run_id, minimal_result(model="convmixer", dataset="synthetic", protocol="subject-10fold",
                                                seed=entry.seed, config=config.to_dict(), environment=environment,
                                                run_id=run_id, **samples_as_the_dataset_gives(config)))
    finally:
        store.close()
    return run_id


def setup(tmp_path, **software):
    from merbench.regress import load_baseline

    baseline = write_baseline(tmp_path / "baseline.yaml")
    store = tmp_path / "results.sqlite"
    [entry] = load_baseline(baseline).entries
    return baseline, store, store_run(store, entry, **software), entry


def regress(run_cli, baseline, store, *extra):
    return run_cli("regress", "--baseline", str(baseline), "--stored", "--quiet", "--store", str(store), *extra)


def words(text: str) -> str:
    """``text`` with its line breaks and runs of spaces as single spaces (a terminal wraps at spaces)."""
    return " ".join(text.split())


def test_a_run_from_another_commit_and_torch_is_named_with_both_versions(run_cli, tmp_path):
    baseline, store, run_id, entry = setup(tmp_path, git_commit=OLD_COMMIT, torch=OLD_TORCH)
    result = regress(run_cli, baseline, store)
    assert result.code == 0, result.out + result.err  # information, not a failure: the scores are within their band
    assert "within their band" in result.out
    out = words(result.out)
    assert f"{entry.where} reused stored run {run_id}, trained with other software than this check" in out
    assert f"git_commit {OLD_COMMIT} → {NOW_COMMIT}" in out
    assert f"torch {OLD_TORCH} → {torch.__version__}" in out
    assert "merbench 0" not in out, "the same merbench version is not named as a difference"
    assert out.index("reused stored run") < out.index("within their band"), "the note comes before the verdict"
    err = words(result.err)
    assert f"Reusing stored run {run_id}" in err and f"git_commit {OLD_COMMIT} → {NOW_COMMIT}" in err


def test_json_names_what_the_reused_run_was_trained_with(run_cli, tmp_path):
    baseline, store, run_id, _ = setup(tmp_path, git_commit=OLD_COMMIT, torch=OLD_TORCH)
    result = regress(run_cli, baseline, store, "--json", str(tmp_path / "check.json"))
    assert result.code == 0, result.out + result.err
    [entry] = json.loads((tmp_path / "check.json").read_text())["entries"]
    assert entry["run_id"] == run_id
    [reused] = entry["reused"]
    assert reused["run_id"] == run_id and reused["seed"] == 0
    assert reused["trained_with"] == {"merbench": merbench.__version__, "git_commit": OLD_COMMIT, "torch": OLD_TORCH}
    assert reused["now"] == {"merbench": merbench.__version__, "git_commit": NOW_COMMIT, "torch": torch.__version__}
    assert reused["other_software"] == ["git_commit", "torch"]


def test_a_run_from_this_commit_and_torch_gets_no_note(run_cli, tmp_path):
    baseline, store, run_id, _ = setup(tmp_path)
    result = regress(run_cli, baseline, store, "--json", str(tmp_path / "check.json"))
    assert result.code == 0, result.out + result.err
    assert f"Reusing stored run {run_id}" in result.err
    assert "other software" not in result.out + result.err and "→" not in result.out + result.err
    [entry] = json.loads((tmp_path / "check.json").read_text())["entries"]
    assert [reused["other_software"] for reused in entry["reused"]] == [[]]


def test_a_run_without_a_recorded_commit_cannot_pass_for_this_one(run_cli, tmp_path):
    """merbench installed from a wheel records no commit: such a run is not shown to be this code's."""
    baseline, store, run_id, _ = setup(tmp_path, git_commit=None, merbench="0.0.1")
    result = regress(run_cli, baseline, store)
    assert result.code == 0, result.out + result.err
    out = words(result.out)
    assert f"reused stored run {run_id}" in out
    assert f"merbench 0.0.1 → {merbench.__version__}" in out and f"git_commit unknown → {NOW_COMMIT}" in out


def test_exit_code_is_that_of_the_scores(run_cli, tmp_path):
    """A reused run from other software changes no verdict: a score below its band still fails."""
    baseline, store, run_id, _ = setup(tmp_path, git_commit=OLD_COMMIT)
    write_baseline(baseline, expected=0.7)
    result = regress(run_cli, baseline, store)
    assert result.code == 1 and "FAILED" in result.out
    assert f"reused stored run {run_id}" in words(result.out)


def test_the_note_keeps_ids_and_versions_whole_at_80_columns_and_in_a_log(run_cli, tmp_path, monkeypatch):
    baseline, store, run_id, _ = setup(tmp_path, git_commit=OLD_COMMIT + "-dirty", torch=OLD_TORCH)
    monkeypatch.setenv("COLUMNS", "80")
    boxed = run_cli("--format", "table", "regress", "--baseline", str(baseline), "--stored", "--quiet",
                    "--store", str(store))
    assert boxed.code == 0, boxed.err
    lines = boxed.out.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in boxed.out
    tokens = [token.strip(",.;:()") for token in boxed.out.split()]
    for whole in (run_id, OLD_COMMIT + "-dirty", NOW_COMMIT, OLD_TORCH, torch.__version__):
        assert whole in tokens, f"{whole} is cut at 80 columns"
    plain = run_cli("--format", "plain", "regress", "--baseline", str(baseline), "--stored", "--quiet",
                    "--store", str(store))
    [note] = [line for line in plain.out.splitlines() if "reused stored run" in line]
    assert run_id in note and str(baseline) in note, "in a log the entry and run id share one line"
    assert f"  git_commit {OLD_COMMIT}-dirty → {NOW_COMMIT}" in plain.out.splitlines()
    assert f"  torch {OLD_TORCH} → {torch.__version__}" in plain.out.splitlines()


def test_recorded_text_is_shown_literally(run_cli, tmp_path):
    """A stored version is data: markup prints as written and control characters as ``\\xNN``."""
    baseline, store, _, _ = setup(tmp_path, torch="[bold]2.0\x1b[31m")
    result = regress(run_cli, baseline, store)
    assert result.code == 0, result.out + result.err
    assert "\x1b" not in result.out + result.err
    assert "torch [bold]2.0\\x1b[31m →" in result.out and "torch [bold]2.0\\x1b[31m →" in result.err


def test_update_seeds_names_every_reused_variant_from_other_software(run_cli, tmp_path):
    """``--update --seeds 2 --stored``: each seed's reused run is named, with its seed and thread layout."""
    baseline, store, first, entry = setup(tmp_path)
    second = store_run(store, entry, seed=1, torch=OLD_TORCH)
    result = run_cli("regress", "--baseline", str(baseline), "--stored", "--update", "--seeds", "2", "--threads", "auto",
                     "--quiet", "--store", str(store), "--json", str(tmp_path / "check.json"))
    assert result.code == 0, result.out + result.err
    out = words(result.out)
    assert f"{entry.where}, seed 1, threads auto reused stored run {second}" in out
    assert f"torch {OLD_TORCH} → {torch.__version__}" in out
    assert f"reused stored run {first}" not in out, "seed 0's run is this check's software"
    [checked] = json.loads((tmp_path / "check.json").read_text())["entries"]
    assert [(r["run_id"], r["seed"], r["threads"], r["other_software"]) for r in checked["reused"]] == [
        (first, 0, "auto", []), (second, 1, "auto", ["torch"])]
    derived = yaml.safe_load(baseline.read_text())["entries"][0]["derived"]  # the file says whose values it holds
    assert derived["command"].endswith("--seeds 2 --threads auto --stored")
    assert [(r["run_id"], r["seed"], r.get("torch")) for r in derived["reused_runs"]] == [
        (first, 0, torch.__version__), (second, 1, OLD_TORCH)]
