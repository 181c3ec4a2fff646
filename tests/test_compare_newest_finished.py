"""A cell of ``compare`` and ``report`` shows the run that finished last, not the one that started last: a run
continued with ``--resume`` (or by ``grid --stored``) keeps the id and start time of its first try, so a one-seed run
started while it was interrupted hid the grid's just-finished run as "older", and ``compare`` disagreed with the
grid's own table. ``--stored`` reuses that same run."""

from __future__ import annotations

import itertools
import json

import pytest

import merbench.store
from merbench.config import resolve_config
from merbench.metrics import METRIC_KEYS
from merbench.registry import get_registry
from merbench.store import ResultStore
from result_samples import minimal_result

CONTINUED, ONE_SEED = "20261207-234921-2ee097", "20261207-235001-aaaaaa"


@pytest.fixture
def clock(monkeypatch):
    """The store's clock, one second further at each reading: runs started or finished one after another."""
    seconds = itertools.count()

    def now() -> str:
        minutes, second = divmod(next(seconds), 60)
        return f"2026-12-07T23:{50 + minutes:02d}:{second:02d}+00:00"

    monkeypatch.setattr(merbench.store, "_now", now)


def _config(seed: int = 0):
    return resolve_config(get_registry(), model="lbptop-svm", dataset="synthetic", protocol="loso", profile="quick",
                          seed=seed)


def _result(run_id: str, uf1: float):
    scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
    return minimal_result(run_id=run_id, model="lbptop-svm", dataset="synthetic", protocol="loso", seed=0,
                          profile="quick", config=_config().to_dict(), pooled=scores, fold_mean=scores,
                          fold_std={key: 0.0 for key in scores},
                          folds=[{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores} for i in range(2)])


@pytest.fixture
def continued_store(tmp_path, clock):
    """CONTINUED started first and was interrupted; ONE_SEED started and finished; then CONTINUED was claimed again
    (``--resume``) and finished last."""
    path = tmp_path / "runs.sqlite"
    with ResultStore(path) as store:
        store.begin_run(_config().to_dict(), 1, {}, run_id=CONTINUED)
        store.mark_stopped(CONTINUED, "interrupted")
        store.begin_run(_config().to_dict(), 1, {}, run_id=ONE_SEED)
        store.finish_run(ONE_SEED, _result(ONE_SEED, 0.174))
        store.claim_run(CONTINUED, {})
        store.finish_run(CONTINUED, _result(CONTINUED, 0.139))
    return path


def test_the_complete_runs_come_in_the_order_they_finished(continued_store):
    with ResultStore(continued_store, create=False) as store:
        assert store.complete_ids() == [ONE_SEED, CONTINUED]
        assert store.complete_ids(model=["lbptop-svm"]) == [ONE_SEED, CONTINUED]
        assert [r.run_id for r in store.complete_results([CONTINUED, ONE_SEED])] == [ONE_SEED, CONTINUED]


def test_compare_shows_the_continued_run_that_finished_last(continued_store, run_cli):
    listed = run_cli("compare", "--store", str(continued_store), "--json")
    assert listed.code == 0, listed.err
    document = json.loads(listed.out)
    [row] = document["rows"]
    assert row["run_id"] == CONTINUED and row["mean"] == pytest.approx(0.139)
    assert document["hidden_runs"] == [ONE_SEED]
    by_id = json.loads(run_cli("compare", ONE_SEED, CONTINUED, "--store", str(continued_store), "--json").out)
    assert [row["run_id"] for row in by_id["rows"]] == [CONTINUED]


def test_the_note_on_the_hidden_run_says_it_finished_earlier(continued_store, run_cli):
    """The note called the run shown, which started first, the newest and the hidden one "an older run"."""
    printed = " ".join(run_cli("compare", "--store", str(continued_store)).out.split())
    assert (f"Not shown: 1 run of a cell shown here that finished before the run the cell shows (same model, settings, "
            f"dataset and protocol; each cell shows the run that finished last): {ONE_SEED}.") in printed
    assert "older" not in printed and "newest" not in printed


def test_stored_reuses_the_run_that_finished_last(continued_store):
    with ResultStore(continued_store, create=False) as store:
        assert store.identical_result(_config()).run_id == CONTINUED


def test_the_grid_table_and_compare_show_the_same_continued_run(tmp_path, clock, run_cli):
    """The reviewers' case: a two-seed grid cell interrupted, a one-seed run of the cell, the grid again with
    ``--stored``: the grid's table and ``compare`` show the continued run."""
    store_path = tmp_path / "runs.sqlite"
    with ResultStore(store_path) as store:
        interrupted = store.begin_run(_config().to_dict(), 2, {})
        store.mark_stopped(interrupted, "interrupted")
    cell = ["--dataset", "synthetic", "--protocol", "loso", "--profile", "quick", "--store", str(store_path), "--quiet"]
    assert run_cli("run", "--model", "lbptop-svm", *cell).code == 0
    grid = run_cli("grid", "--models", "lbptop-svm", "--datasets", "synthetic", "--protocols", "loso", "--seeds", "2",
                   "--profile", "quick", "--store", str(store_path), "--stored", "--quiet", "--json", "-")
    assert grid.code == 0, grid.err
    [shown] = json.loads(grid.out)["comparison"]["rows"]
    assert shown["run_id"] == interrupted
    compared = json.loads(run_cli("compare", "--store", str(store_path), "--json").out)
    assert [row["run_id"] for row in compared["rows"]] == [interrupted]
    assert (compared["rows"][0]["mean"], compared["rows"][0]["seeds"]) == (shown["mean"], shown["seeds"])
