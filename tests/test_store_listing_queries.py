"""``ResultStore.list_runs`` reads the fold counts and pooled scores of the listed runs with grouped queries, a few
per batch of runs, and gives what reading them run by run gives (before: two queries per listed run, each with its
own check of the file: 3.35 s to list 8,000 runs)."""

from __future__ import annotations

import sqlite3

import pytest

import merbench.store as store_module
from merbench.result import FoldRecord, PredictionRow
from merbench.store import ResultStore
from result_samples import minimal_result

RUNS = 24
KINDS = (  # seeds of the run, folds stored of each seed, how it ended
    (1, (2,), "complete"), (2, (2, 2), "complete"), (2, (2, 1), "interrupted"), (3, (1,), "interrupted"),
    (1, (), "failed"), (1, (2,), "complete, no pooled scores"),
)


def _fill(path, runs: int) -> list[str]:
    """A store of ``runs`` runs cycling through ``KINDS``, each with its own first seed; returns their ids."""
    ids = []
    with ResultStore(path) as results:
        for number in range(runs):
            n_seeds, folds, ending = KINDS[number % len(KINDS)]
            first_seed = 10 + number
            run_id = results.begin_run({"model": f"m{number % 3}", "dataset": "d", "protocol": "loso",
                                        "profile": "quick", "seed": first_seed}, n_seeds, {},
                                       run_id=f"20250611-{number:06d}-aaaaaa")
            for offset, count in enumerate(folds):
                for fold in range(count):
                    row = PredictionRow(id=f"c{fold}", subject=f"s{fold}", fold=fold, label=1, prediction=1)
                    record = FoldRecord(fold=fold, test_subjects=[f"s{fold}"], n_test=1, metrics={"uf1": 0.5})
                    results.add_fold(run_id, first_seed + offset, record, [f"c{fold}"], [1], [row])
            if ending.startswith("complete"):
                results.finish_run(run_id, minimal_result(seed=first_seed, pooled={"uf1": number / 100,
                                                                                     "accuracy": 0.5, "uar": 0.25}))
            else:
                results.mark_stopped(run_id, ending)
            ids.append(run_id)
    with sqlite3.connect(path) as db:  # scores of another seed and scope, which the listing leaves out
        db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)",
                       [(run_id, 99, "pooled", "uf1", 0.99) for run_id in ids]
                       + [(run_id, 10 + number, "per_seed", "aa", 0.1) for number, run_id in enumerate(ids)])
        db.executemany("DELETE FROM metrics WHERE run_id = ? AND scope = 'pooled' AND seed <> 99",
                       [(run_id,) for number, run_id in enumerate(ids)
                        if KINDS[number % len(KINDS)][2] == "complete, no pooled scores"])
    db.close()
    return ids


def _one_by_one(path) -> list[tuple]:
    """(id, folds stored, folds of one seed, pooled scores as items) of every run, newest first, read run by run."""
    db = sqlite3.connect(path)
    try:
        expected = []
        for run_id, seed, status, has_result in db.execute(
                "SELECT id, seed, status, result_json IS NOT NULL FROM runs ORDER BY created DESC, rowid DESC").fetchall():
            by_seed = dict(db.execute("SELECT seed, COUNT(*) FROM folds WHERE run_id = ? GROUP BY seed", (run_id,)))
            first = by_seed.get(seed, 0)
            finished = status == "complete" or any(other != seed for other in by_seed)
            pooled = list(db.execute("SELECT metric, value FROM metrics WHERE run_id = ? AND seed = ? "
                                     "AND scope = 'pooled'", (run_id, seed))) if has_result else None
            expected.append((run_id, sum(by_seed.values()), first if finished and first else None, pooled))
        return expected
    finally:
        db.close()


def _listed(store: ResultStore, limit: int | None = None) -> list[tuple]:
    return [(run.id, run.folds_done, run.folds_per_seed, None if run.pooled is None else list(run.pooled.items()))
            for run in store.list_runs(limit=limit)]


def _statements(store: ResultStore, limit: int | None) -> int:
    """How many SQL statements listing ``limit`` runs (``None``: all) runs on the store's connection."""
    executed = []
    store._db.set_trace_callback(executed.append)
    try:
        store.list_runs(limit=limit)
    finally:
        store._db.set_trace_callback(None)
    return len(executed)


@pytest.mark.parametrize("at_once", [store_module.RESULTS_READ_AT_ONCE, 5])
def test_the_listing_gives_what_reading_each_run_gives(tmp_path, monkeypatch, at_once):
    monkeypatch.setattr(store_module, "RESULTS_READ_AT_ONCE", at_once)  # 5: several batches, one partly filled
    path = tmp_path / "runs.sqlite"
    _fill(path, RUNS)
    expected = _one_by_one(path)
    assert {pooled is None for *_, pooled in expected} == {True, False}
    assert [] in [pooled for *_, pooled in expected]  # a result without pooled scores
    with ResultStore(path, create=False) as store:
        assert _listed(store) == expected
        assert _listed(store, limit=7) == expected[:7]


def test_the_statements_per_listing_do_not_grow_with_the_runs(tmp_path):
    path = tmp_path / "runs.sqlite"
    _fill(path, RUNS)
    with ResultStore(path, create=False) as store:
        few, all_runs = _statements(store, 2), _statements(store, None)
    assert few == all_runs, f"listing 2 runs ran {few} statements, listing {RUNS} ran {all_runs}"
    assert all_runs <= 6


def test_a_store_with_no_runs_lists_none(tmp_path):
    path = tmp_path / "runs.sqlite"
    ResultStore(path).close()
    with ResultStore(path, create=False) as store:
        assert store.list_runs() == []
