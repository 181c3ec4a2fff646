"""merbench never writes inside a dataset's folder: neither the results store (``--store``, ``$MERBENCH_STORE``) nor
tune's trials storage may lie inside a ``--root`` the command reads (one line, exit 2, nothing created there)."""

from __future__ import annotations

from pathlib import Path

import pytest

import realtrees as rt

QUICK = ("--profile", "quick", "--epochs", "1", "--quiet", "--set", "protocol.n_splits=3")  # the tree has 3 subjects


@pytest.fixture(scope="module")
def casme2(tmp_path_factory) -> Path:
    return rt.build_casme2(tmp_path_factory.mktemp("inside") / "casme2")


def files_of(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.mark.parametrize("command", [
    ("run", "--model", "ststnet", "--dataset", "casme2", "--root", "{root}", *QUICK, "--store", "{store}"),
    ("grid", "--models", "ststnet", "--datasets", "casme2", "--root", "casme2={root}", *QUICK, "--store", "{store}"),
    ("leakage", "--model", "ststnet", "--dataset", "casme2", "--root", "{root}", *QUICK, "dataset.classes=3",
     "--store", "{store}"),
    ("regress", "--baseline", "{baseline}", "--root", "casme2={root}", "--store", "{store}"),
], ids=["run", "grid", "leakage", "regress"])
def test_a_results_store_inside_the_dataset_folder_is_refused(run_cli, casme2, tmp_path, command):
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("version: 1\nentries:\n  - {model: ststnet, dataset: casme2, metrics: {uf1: {expected: 0.5}}}\n")
    before = files_of(casme2)
    store = casme2 / "results.sqlite"
    args = [part.format(root=casme2, store=store, baseline=baseline) for part in command]
    result = run_cli(*args)
    assert result.code == 2, result.err
    assert f"--store {store}: lies inside the dataset folder given with --root {casme2}" in " ".join(result.err.split())
    assert "merbench never writes inside a dataset's folder" in " ".join(result.err.split())
    assert files_of(casme2) == before, "nothing is written inside the dataset"


def test_merbench_store_inside_the_dataset_folder_is_refused_and_named(run_cli, casme2, monkeypatch):
    before = files_of(casme2)
    monkeypatch.setenv("MERBENCH_STORE", str(casme2 / "sub01" / "results.sqlite"))
    result = run_cli("run", "--model", "ststnet", "--dataset", "casme2", "--root", str(casme2), *QUICK)
    assert result.code == 2 and "$MERBENCH_STORE" in result.err and "lies inside" in result.err
    assert files_of(casme2) == before
    unstored = run_cli("run", "--model", "ststnet", "--dataset", "casme2", "--root", str(casme2), *QUICK, "--no-store")
    assert "lies inside" not in unstored.err, "--no-store writes no store: nothing to refuse"


def test_tunes_trials_storage_inside_the_dataset_folder_is_refused(run_cli, casme2, tmp_path):
    pytest.importorskip("optuna")
    space = tmp_path / "space.yaml"
    space.write_text("model.dropout: {type: float, low: 0.0, high: 0.5}\n")
    before = files_of(casme2)
    result = run_cli("tune", "--model", "ststnet", "--dataset", "casme2", "--root", str(casme2), "--space", str(space),
                     "--trials", "1", *QUICK, "--storage", str(casme2 / "tuning.sqlite"))
    assert result.code == 2 and "--storage" in result.err and "lies inside the dataset folder" in result.err
    assert files_of(casme2) == before


def test_a_resumed_runs_json_inside_its_stored_dataset_folder_is_refused(run_cli, casme2, tmp_path):
    """--root cannot be given with --resume: the stored run's folder is the one guarded."""
    import sqlite3

    store = tmp_path / "r.sqlite"
    first = run_cli("run", "--model", "ststnet", "--dataset", "casme2", "--root", str(casme2), *QUICK,
                    "--store", str(store))
    assert first.code == 0, first.err
    with sqlite3.connect(store) as db:  # as if it had been stopped before its last fold
        db.execute("UPDATE runs SET status = 'interrupted'")
        run_id = db.execute("SELECT id FROM runs").fetchone()[0]
    db.close()
    before = files_of(casme2)
    inside = casme2 / "out.json"
    result = run_cli("run", "--resume", run_id, "--store", str(store), "--quiet", "--json", str(inside))
    assert result.code == 2, result.err
    assert f"--json {inside}: lies inside the resumed run's dataset folder ({casme2})" in " ".join(result.err.split())
    assert files_of(casme2) == before


def test_a_baseline_to_update_inside_the_dataset_folder_is_refused(run_cli, casme2):
    baseline = casme2 / "baseline.yaml"
    baseline.write_text("version: 1\nentries:\n  - {model: ststnet, dataset: casme2, metrics: {uf1: {expected: 0.5}}}\n")
    try:
        text = baseline.read_bytes()
        result = run_cli("regress", "--update", "--baseline", str(baseline), "--root", f"casme2={casme2}", "--no-store")
        assert result.code == 2, result.err
        assert f"--baseline {baseline}: lies inside the dataset folder given with --root {casme2}" in \
            " ".join(result.err.split())
        assert baseline.read_bytes() == text
    finally:
        baseline.unlink()


def test_a_folder_whose_name_holds_an_equals_sign_is_guarded_as_the_grid_reads_it(run_cli, tmp_path):
    """grid.parse_roots reads an existing folder `x=y` whole; the output guard once took it for dataset x, folder y."""
    root = rt.build_casme2(tmp_path / "copy=casme2")
    before = files_of(root)
    inside = root / "grid.json"
    result = run_cli("grid", "--models", "ststnet", "--datasets", "casme2", "--root", str(root), *QUICK,
                     "--no-store", "--json", str(inside))
    assert result.code == 2, result.err
    assert f"--json {inside}: lies inside the dataset folder given with --root {root}" in " ".join(result.err.split())
    assert files_of(root) == before


def test_resuming_a_synthetic_run_with_a_root_says_the_dataset_reads_no_folder_first(run_cli, tmp_path):
    """`run --resume ID --root DIR` of a synthetic run whose store lies in DIR said the store lies inside the dataset
    folder: the --root the dataset cannot take is the mistake to name."""
    from merbench.store import ResultStore

    store = tmp_path / "r.sqlite"
    with ResultStore(store) as writer:
        run_id = writer.begin_run({"model": "ststnet", "dataset": "synthetic", "protocol": "subject-10fold",
                                   "profile": "quick", "seed": 0}, 1, {})
        writer.mark_stopped(run_id, "interrupted")
    result = run_cli("run", "--resume", run_id, "--root", str(tmp_path), "--store", str(store))
    assert result.code == 2
    said = " ".join(result.err.split())
    assert f"--root {tmp_path}: dataset 'synthetic' is generated and reads no folder; drop --root" in said
    assert "lies inside" not in said
