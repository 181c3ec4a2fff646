"""A ``--resume``, or a new run, refused (exit 2) after it had stored new folds leaves the run ``interrupted`` with every
stored fold, resumable (before: ``failed``, which ``delete --status failed`` deletes, though its folds were sound).

The preflight checks the first seed's folds only: in a ``--seeds 2`` run, the second seed's folds are checked when it
comes to them, after the first seed's were stored (``check_training_classes``: a seed whose split leaves one class
in a fold's training part). A stand-in refuses the second seed's split here."""

from __future__ import annotations

import merbench.runner as runner
from interrupting import stopped_after_folds
from merbench.errors import UsageError
from merbench.store import ResultStore, status_of

SPLIT_FOLDS = runner.split_folds


def refused_in_seed_1(config, *args, **kwargs):
    """``runner.split_folds``, refusing seed 1's split as ``check_training_classes`` refuses one class in a fold."""
    if config.seed == 1:
        raise UsageError("fold 2 of protocol 'subject-10fold' trains on one class only ('negative'); use fewer "
                         "folds (--set protocol.n_splits=N)")
    return SPLIT_FOLDS(config, *args, **kwargs)


TINY = ["--profile", "quick", "--quiet", "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=3", "engine.epochs=1"]


def test_a_resume_refused_after_storing_folds_leaves_them_stored_and_the_run_interrupted(run_cli, monkeypatch,
                                                                                         tmp_path):
    store = tmp_path / "s.sqlite"
    stopped, [run_id] = stopped_after_folds(run_cli, monkeypatch, [
        "run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--seeds", "2", "--store", str(store)], 1)
    assert stopped.code == 130, stopped.err
    resume = ["run", "--resume", run_id, "--store", str(store), "--quiet"]
    with monkeypatch.context() as patch:
        patch.setattr(runner, "split_folds", refused_in_seed_1)
        refused = run_cli(*resume)
    assert refused.code == 2, refused.err
    said = " ".join(refused.err.split())
    assert "fold 2 of protocol 'subject-10fold' trains on one class only" in said
    assert f"run {run_id} keeps its 3 stored folds and stays interrupted" in said
    assert f"merbench run --resume {run_id} --store {store}" in said
    with ResultStore(store, create=False) as opened:
        row = opened.run_row(run_id)
        assert status_of(row) == "interrupted" and opened.folds_stored(run_id) == 3
    assert run_id not in run_cli("runs", "--store", str(store), "--status", "failed").out
    resumed = run_cli(*resume)
    assert resumed.code == 0, resumed.err
    assert "3 completed folds reused" in resumed.err


def test_a_new_run_refused_after_storing_folds_stays_interrupted_and_resumable(run_cli, monkeypatch, tmp_path):
    store = tmp_path / "s.sqlite"
    with monkeypatch.context() as patch:
        patch.setattr(runner, "split_folds", refused_in_seed_1)
        refused = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--seeds", "2", "--store",
                          str(store))
    assert refused.code == 2, refused.err
    said = " ".join(refused.err.split())
    with ResultStore(store, create=False) as opened:
        [run_id] = [run.id for run in opened.list_runs()]
        assert status_of(opened.run_row(run_id)) == "interrupted" and opened.folds_stored(run_id) == 3
    assert f"run {run_id} keeps its 3 stored folds and stays interrupted" in said, said
    resumed = run_cli("run", "--resume", run_id, "--store", str(store), "--quiet")
    assert resumed.code == 0, resumed.err
    assert "3 completed folds reused" in resumed.err
