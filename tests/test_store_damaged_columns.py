"""A run row or fold row whose JSON was damaged outside merbench gets the store's one message (exit 2), whichever
command reads it: `regress --stored` and `grid --stored` (the stored configuration), `run --resume` (its folds)."""

from __future__ import annotations

import sqlite3

import pytest

from merbench.errors import FoldsLost
from merbench.store import ResultStore

TINY = ("--profile", "quick", "--set", "dataset.subjects=6", "protocol.n_splits=3", "engine.parallel_folds=1")
BASELINE = """version: 1
defaults: {dataset: synthetic, profile: quick, device: cpu, metrics: [uf1],
           set: {dataset.subjects: 6, protocol.n_splits: 3, engine.parallel_folds: 1}}
entries:
  - model: ststnet
"""


def _damage(path, sql: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(sql)


def _damaged_copy(store, tmp_path, sql: str):
    """A copy of ``store`` in ``tmp_path`` damaged by ``sql``, and its one run's id."""
    path = tmp_path / "s.sqlite"
    path.write_bytes(store.read_bytes())
    _damage(path, sql)
    with ResultStore(path) as opened:
        (run,) = opened.list_runs()
    return path, run.id


def _one_message(result) -> str:
    assert result.code == 2 and "Traceback" not in result.err, result.err
    text = " ".join(result.err.split())
    assert text.count("merbench: error:") == 1
    return text


@pytest.fixture(scope="module")
def complete_store(tmp_path_factory):
    """A store with one complete tiny ststnet run (the one the baseline above describes)."""
    from merbench.cli import main

    path = tmp_path_factory.mktemp("store") / "s.sqlite"
    assert main(["run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--store", str(path), "--quiet"]) == 0
    return path


def test_regress_and_grid_stored_name_a_damaged_configuration(complete_store, run_cli, tmp_path):
    path, run_id = _damaged_copy(complete_store, tmp_path, "UPDATE runs SET config_json = '{oops'")
    baseline = tmp_path / "b.yaml"
    baseline.write_text(BASELINE)
    checked = _one_message(run_cli("regress", "--baseline", str(baseline), "--stored", "--quiet", "--store", str(path)))
    assert f"configuration of run {run_id} in {path}: not valid JSON" in checked
    assert "the store was changed outside merbench" in checked
    grid = run_cli("grid", "--models", "ststnet", "--datasets", "synthetic", "--protocols", "subject-10fold", *TINY,
                   "--stored", "--quiet", "--store", str(path))
    assert f"configuration of run {run_id} in {path}: not valid JSON" in _one_message(grid)


@pytest.mark.parametrize("column, named", [("test_ids_json", "test sample ids of fold 0"),
                                           ("predictions_json", "predictions of fold 0")])
def test_resume_names_a_damaged_fold(column, named, run_cli, tmp_path, monkeypatch):
    import merbench.runner

    path = tmp_path / "s.sqlite"
    real = merbench.runner.run_with_seeds

    def stop_after_first_fold(config, registry, n_seeds, progress, recorder, choice):
        def keep_one(seed, record, *args):
            recorder_fold_done(seed, record, *args)
            raise FoldsLost("a fold worker process died (test)")
        recorder_fold_done = recorder.fold_done
        recorder.fold_done = keep_one
        return real(config, registry, n_seeds, progress, recorder, choice)

    monkeypatch.setattr(merbench.runner, "run_with_seeds", stop_after_first_fold)
    stopped = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--store", str(path), "--quiet")
    assert stopped.code == 1, stopped.err
    monkeypatch.undo()
    _damage(path, f"UPDATE folds SET {column} = '[oops'")
    with ResultStore(path) as store:
        (run,) = store.list_runs()
    resumed = _one_message(run_cli("run", "--resume", run.id, "--store", str(path), "--quiet"))
    assert f"{named} (seed 0) of run {run.id} in {path}: not valid JSON" in resumed


@pytest.fixture
def read_only_store(complete_store, tmp_path):
    """A copy of the store that cannot be written (chmod 444; as root, which ignores that, the immutable flag)."""
    import os
    import shutil
    import subprocess

    path = tmp_path / "archived.sqlite"
    path.write_bytes(complete_store.read_bytes())
    if os.geteuid() != 0:
        path.chmod(0o444)
    elif shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
        pytest.skip("as root, a read-only file needs chattr +i, which this file system does not take")
    yield path
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)])


def test_a_read_only_store_file_is_named_before_anything_runs(read_only_store, run_cli, tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    ran = _one_message(run_cli("run", "--model", "ststnet", "--dataset", "synthetic", *TINY,
                               "--store", str(read_only_store), "--quiet"))
    assert f"results store {read_only_store}: the file is read-only" in ran and "--no-store" in ran
    baseline = tmp_path / "b.yaml"
    baseline.write_text(BASELINE)
    checked = _one_message(run_cli("regress", "--baseline", str(baseline), "--quiet", "--store", str(read_only_store)))
    assert "the file is read-only" in checked
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "b.yaml"])  # no -wal or -shm left beside it
    assert run_cli("runs", "--store", str(read_only_store)).code == 0  # reading it still works


def test_a_complete_run_without_its_result_gets_one_diagnosis(complete_store, run_cli, tmp_path):
    # show said "continue it with --resume", --resume said "complete; see show", compare spoke of NoneType
    path, run_id = _damaged_copy(complete_store, tmp_path, "UPDATE runs SET result_json = NULL")
    said = f"run {run_id} is marked complete, but its result is missing from {path}"
    for command in (["show", run_id], ["compare"]):
        message = _one_message(run_cli(*command, "--store", str(path)))
        assert said in message and "NoneType" not in message and "--resume" not in message
