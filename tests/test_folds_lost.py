"""A run stopped by a lost fold worker (or a failed cluster task) says how to continue: resume the stored run by its
id, or, when it was not stored, that its folds are gone and it must run again."""

from __future__ import annotations

import pytest

from merbench.errors import FoldsLost
from merbench.store import ResultStore

RUN = ("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet")


@pytest.fixture
def worker_dies(monkeypatch):
    import merbench.runner

    def lost(*args, **kwargs):
        raise FoldsLost("a fold worker process died (test)")

    monkeypatch.setattr(merbench.runner, "run_with_seeds", lost)


def test_a_stored_run_names_its_own_id_to_resume(worker_dies, run_cli, tmp_path):
    store = tmp_path / "results.sqlite"
    result = run_cli(*RUN, "--store", str(store))
    with ResultStore(store) as results:
        (run,) = results.list_runs()
    assert result.code == 1 and run.status == "interrupted"  # resumable, and listed by `runs --status interrupted`
    message = " ".join(result.err.split())
    assert "a fold worker process died (test); the completed folds are kept in the results store" in message
    assert f"continue with `merbench run --resume {run.id} --store {store}`" in message
    assert "RUN_ID" not in message


def test_a_run_without_a_store_is_not_told_to_resume(worker_dies, run_cli):
    result = run_cli(*RUN, "--no-store")
    message = " ".join(result.err.split())
    assert result.code == 1
    assert "a fold worker process died (test); the run was not stored in a results store" in message
    assert "run it again" in message and "--resume" not in message


TINY = ("--set", "dataset.subjects=6", "protocol.n_splits=3", "engine.parallel_folds=1")


def _locked_from_call(monkeypatch, first_locked: int, last_locked: int | None = None) -> list[int]:
    """Make ``ResultStore.add_fold`` answer "database is locked" from its ``first_locked``-th call (1-based), up to
    ``last_locked`` (for ever when ``None``), as when another program holds the store; returns the calls made."""
    import sqlite3

    calls: list[int] = []
    save = ResultStore.add_fold

    def add_fold(self, *args, **kwargs):
        calls.append(len(calls) + 1)
        if calls[-1] >= first_locked and (last_locked is None or calls[-1] <= last_locked):
            raise sqlite3.OperationalError("database is locked")
        return save(self, *args, **kwargs)

    monkeypatch.setattr(ResultStore, "add_fold", add_fold)
    monkeypatch.setattr("merbench.recording.time.sleep", lambda seconds: None)
    return calls


def test_a_fold_waits_while_the_store_is_locked_and_is_saved(run_cli, tmp_path, monkeypatch):
    calls = _locked_from_call(monkeypatch, 2, 4)  # fold 2 meets a locked store three times, then it is free
    store = tmp_path / "results.sqlite"
    result = run_cli(*RUN[:-1], *TINY, "--store", str(store))
    assert result.code == 0, result.err
    message = " ".join(result.err.split())
    assert message.count("is locked by another program; fold 2 waits") == 1 and "Traceback" not in result.err
    with ResultStore(store) as results:
        (run,) = results.list_runs()
        assert run.status == "complete" and len(results.stored_folds(run.id, 0)) == 3 and len(calls) == 6


def test_a_store_locked_for_too_long_stops_the_run_resumably_with_its_earlier_folds(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr("merbench.recording.LOCKED_FOLD_WAIT_S", 0.0)
    _locked_from_call(monkeypatch, 2)  # fold 1 is saved; then the store stays locked
    store = tmp_path / "results.sqlite"
    result = run_cli(*RUN, *TINY, "--store", str(store))
    message = " ".join(result.err.split())
    assert result.code == 1 and "Traceback" not in result.err and "database is locked" in message
    assert "while fold 2 was being saved" in message and "so that fold is not stored" in message
    with ResultStore(store) as results:
        (run,) = results.list_runs()
        assert run.status == "interrupted" and list(results.stored_folds(run.id, 0)) == [0]
    assert f"continue with `merbench run --resume {run.id} --store {store}`" in message
    monkeypatch.undo()  # the other program let go
    resumed = run_cli("run", "--resume", run.id, "--store", str(store), "--quiet")
    assert resumed.code == 0, resumed.err
    with ResultStore(store) as results:
        assert results.list_runs()[0].status == "complete" and len(results.stored_folds(run.id, 0)) == 3
