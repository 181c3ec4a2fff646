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
    assert f"continue with `merbench run --resume {run.id}`" in message
    assert "RUN_ID" not in message


def test_a_run_without_a_store_is_not_told_to_resume(worker_dies, run_cli):
    result = run_cli(*RUN, "--no-store")
    message = " ".join(result.err.split())
    assert result.code == 1
    assert "a fold worker process died (test); the run was not stored in a results store" in message
    assert "run it again" in message and "--resume" not in message
