"""``merbench delete``: runs leave the store with their folds, predictions and scores, only with ``--yes``, never a
run that is still running, and ``compare`` then shows the run before a deleted one again."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from merbench.result import FoldRecord, PredictionRow
from merbench.errors import UsageError
from merbench.store import HOLDER_KEY, ResultStore
from merbench.workers import pid_namespace, process_started
from result_samples import minimal_result

CONFIG = {"model": "m", "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0}


def _stored(store: ResultStore, status: str, uf1: float = 0.5, model: str = "m") -> str:
    """A run of ``status`` with one stored fold (a complete one with a result of pooled UF1 ``uf1``)."""
    run_id = store.begin_run({**CONFIG, "model": model}, 1, {})
    record = FoldRecord(fold=0, test_subjects=["s0"], n_test=1, metrics={"uf1": uf1})
    row = PredictionRow(id="c1", subject="s0", fold=0, label=1, prediction=1)
    store.add_fold(run_id, 0, record, ["c1"], [1], [row])
    if status == "complete":
        scores = {"accuracy": uf1, "uf1": uf1, "uar": uf1}
        store.finish_run(run_id, minimal_result(model=model, seed=0, pooled=scores, fold_mean=scores))
    elif status != "running":
        store.mark_stopped(run_id, status, "a test's error" if status == "failed" else None)
    return run_id


def _rows(path, run_id: str) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        counts = {table: db.execute(f"SELECT COUNT(*) FROM {table} WHERE {key} = ?", (run_id,)).fetchone()[0]
                  for table, key in (("runs", "id"), ("folds", "run_id"), ("predictions", "run_id"),
                                     ("metrics", "run_id"))}
    db.close()
    return counts


@pytest.fixture
def store_path(tmp_path, monkeypatch):
    path = tmp_path / "r.sqlite"
    monkeypatch.setenv("MERBENCH_STORE", str(path))
    return path


def test_a_run_goes_with_its_folds_predictions_and_scores_only_with_yes(run_cli, store_path):
    with ResultStore(store_path) as store:
        kept, gone = _stored(store, "complete"), _stored(store, "complete", 0.9)
    assert _rows(store_path, gone) == {"runs": 1, "folds": 1, "predictions": 1, "metrics": 9}

    unique = gone[:max(17, len(os.path.commonprefix([gone, kept])) + 1)]  # ids of one second share 16 characters
    asked = run_cli("delete", unique)  # a unique prefix names it
    assert asked.code == 2
    assert f"Would delete 1 run from {store_path}" in asked.out and gone in asked.out and kept not in asked.out
    assert "Nothing was deleted: add --yes to delete this run." in asked.err
    assert _rows(store_path, gone)["runs"] == 1

    done = run_cli("delete", gone, "--yes")
    assert done.code == 0, done.err
    assert f"Deleted 1 run from {store_path}" in done.out and gone in done.out and "90.0" in done.out
    assert _rows(store_path, gone) == {"runs": 0, "folds": 0, "predictions": 0, "metrics": 0}
    assert _rows(store_path, kept) == {"runs": 1, "folds": 1, "predictions": 1, "metrics": 9}


def test_compare_shows_the_run_before_a_deleted_one_again(run_cli, store_path):
    with ResultStore(store_path) as store:
        _stored(store, "complete", 0.5)
        mistaken = _stored(store, "complete", 0.9)
    assert "90.0" in run_cli("compare").out
    assert run_cli("delete", mistaken, "--yes").code == 0
    shown = run_cli("compare")
    assert shown.code == 0 and "50.0" in shown.out and "90.0" not in shown.out


def test_status_selects_every_interrupted_or_failed_run_narrowed_by_model(run_cli, store_path):
    with ResultStore(store_path) as store:
        complete = _stored(store, "complete")
        failed = [_stored(store, "failed"), _stored(store, "failed", model="other")]
        interrupted = _stored(store, "interrupted")
    done = run_cli("delete", "--status", "failed", "--model", "m", "--yes")
    assert done.code == 0, done.err
    assert "Deleted 1 run" in done.out and failed[0] in done.out
    left = {run_id for run_id in (complete, *failed, interrupted) if _rows(store_path, run_id)["runs"]}
    assert left == {complete, failed[1], interrupted}

    done = run_cli("delete", "--status", "interrupted", "--yes")
    assert done.code == 0 and interrupted in done.out and _rows(store_path, interrupted)["runs"] == 0
    nothing = run_cli("delete", "--status", "interrupted", "--yes")
    assert nothing.code == 0 and "No interrupted runs in" in nothing.out and "nothing to delete" in nothing.out


@pytest.mark.skipif(process_started(os.getpid()) is None, reason="needs /proc (Linux)")
def test_a_run_that_is_still_running_is_refused_and_nothing_is_deleted(run_cli, store_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with ResultStore(store_path) as store:
            other = _stored(store, "failed")
            held = _stored(store, "running")
            environment = {HOLDER_KEY: {"pid": sleeper.pid, "started": process_started(sleeper.pid),
                                        "namespace": pid_namespace()}}
            with store.transaction() as db:
                db.execute("UPDATE runs SET pid = ?, environment_json = ? WHERE id = ?",
                           (sleeper.pid, json.dumps(environment), held))
        refused = run_cli("delete", other, held, "--yes")
        assert refused.code == 2
        assert f"run {held} (process {sleeper.pid} on" in refused.err and "still running" in refused.err
        assert "nothing was deleted" in refused.err and "Traceback" not in refused.err
        assert _rows(store_path, held)["runs"] == 1 and _rows(store_path, other)["runs"] == 1
    finally:
        sleeper.kill()
        sleeper.wait()
    assert run_cli("delete", held, "--yes").code == 0  # its process gone, it reads interrupted and may go


def test_the_store_refuses_a_run_that_changed_after_it_was_listed(run_cli, store_path):
    """The checks are made in the deleting transaction: a ``--resume`` that claimed a run after it was listed, or
    finished it, keeps it."""
    with ResultStore(store_path) as store:
        claimed, finished = _stored(store, "interrupted"), _stored(store, "interrupted")
    listed = run_cli("delete", "--status", "interrupted")
    assert listed.code == 2 and claimed in listed.out and finished in listed.out
    with ResultStore(store_path) as store:
        store.claim_run(claimed, {})  # this process now holds it: a live run
        with pytest.raises(UsageError, match=f"run {claimed} .* still running; nothing was deleted"):
            store.delete_runs({claimed: "interrupted"})
        store.finish_run(finished, minimal_result(seed=0))
        with pytest.raises(UsageError, match=f"run {finished} is complete \\(it was interrupted\\) since it was "
                                             "listed; nothing was deleted"):
            store.delete_runs({finished: "interrupted"})
    assert _rows(store_path, claimed)["runs"] == 1 and _rows(store_path, finished)["runs"] == 1


def test_a_run_left_running_on_another_host_goes_with_force_only(run_cli, store_path):
    with ResultStore(store_path) as store:
        run_id = _stored(store, "running")
        with store.transaction() as db:
            db.execute("UPDATE runs SET host = 'a-lost-machine', pid = 4242 WHERE id = ?", (run_id,))
    refused = run_cli("delete", run_id, "--yes")
    said = " ".join(refused.err.split())
    assert refused.code == 2 and f"run {run_id} (process 4242 on a-lost-machine) is still running" in said
    assert f"({run_id}: merbench cannot check its process from here; if it is gone" in said and "--force" in said
    assert _rows(store_path, run_id)["runs"] == 1
    done = run_cli("delete", run_id, "--yes", "--force")
    assert done.code == 0, done.err
    assert _rows(store_path, run_id)["runs"] == 0


def test_a_filter_that_matches_no_run_names_what_the_runs_of_that_status_have(run_cli, store_path):
    with ResultStore(store_path) as store:
        _stored(store, "failed", model="convmixer")
    result = run_cli("delete", "--status", "failed", "--model", "ConvMixer", "--yes")
    assert result.code == 0
    assert (f"No failed runs in {store_path} match --model ConvMixer; nothing to delete. The failed runs have these "
            "models: convmixer (names are matched exactly") in " ".join(result.out.split())


def test_bad_selections_are_refused_with_exit_2(run_cli, store_path):
    with ResultStore(store_path) as store:
        run_id = _stored(store, "complete")
    cases = {
        (): "no runs given: name them by id",
        ("--model", "m"): "--model narrows the runs --status selects",
        (run_id, "--dataset", "d"): "--dataset narrows the runs --status selects; give --status interrupted or "
                                    "failed with it, or drop it",
        ("--model", "m", "--protocol", "p"): "--model and --protocol narrow the runs --status selects; give --status "
                                             "interrupted or failed with them, or give the runs' ids instead",
        ("no-such-run",): "no run 'no-such-run' in the results store",
        ("--status", "complete"): "--status selects interrupted or failed runs only; delete a complete run by its id",
    }
    for args, said in cases.items():
        result = run_cli("delete", *args, "--yes")
        assert result.code == 2, args
        assert said in " ".join(result.err.split()), (args, result.err)
        assert "Traceback" not in result.err
    assert _rows(store_path, run_id)["runs"] == 1


def test_a_mistyped_store_is_refused_and_not_created(run_cli, tmp_path):
    missing = tmp_path / "typo.sqlite"
    result = run_cli("delete", "--status", "failed", "--yes", "--store", str(missing))
    assert result.code == 2 and "typo.sqlite" in result.err
    assert not missing.exists()


@pytest.mark.parametrize("given", [("--model", "m", "--model", "other"), ("--model", "m,other"),
                                   ("--model", "m", "other")])
def test_several_names_select_runs_of_any_of_them_in_runs_and_delete(run_cli, store_path, given):
    """A repeated --model kept only its last name, and ``m,other`` matched no run (compare took both forms)."""
    with ResultStore(store_path) as store:
        failed = [_stored(store, "failed"), _stored(store, "failed", model="other"),
                  _stored(store, "failed", model="third")]
    listed = run_cli("runs", *given, "--json")
    assert listed.code == 0, listed.err
    assert {run["id"] for run in json.loads(listed.out)} == set(failed[:2])
    if len(given) == 3:  # delete takes one name per option: `--model m other` would take a run id after it
        given = ("--model", "m", "--model", "other")
    done = run_cli("delete", "--status", "failed", *given, "--yes")
    assert done.code == 0, done.err
    assert "Deleted 2 runs" in done.out
    assert [bool(_rows(store_path, run_id)["runs"]) for run_id in failed] == [False, False, True]
    nothing = run_cli("runs", *given)
    assert nothing.code == 0 and "match --model m other;" in " ".join(nothing.out.split()), nothing.out


def test_a_run_id_after_a_name_filter_of_delete_stays_a_run_id(run_cli, store_path):
    """With names taking several values, `delete --status failed --model m ID` read the id as a model name."""
    with ResultStore(store_path) as store:
        by_id, by_filter = _stored(store, "complete"), _stored(store, "failed", model="other")
    result = run_cli("delete", "--status", "failed", "--model", "other", by_id)
    assert result.code == 2 and by_id in result.out and by_filter in result.out, result.out + result.err
    assert "Would delete 2 runs" in result.out
