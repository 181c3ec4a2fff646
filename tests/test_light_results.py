"""Commands that show scores read stored results without their per-sample rows, and find a run by its key.

A store of a year's runs holds each run's predictions by the thousand: ``compare`` of 5,000 runs spent half its
time and half its memory reading rows it never shows, and ``runs --limit 0`` searched every row for each run's
id, so that its time grew with the square of the store (benchmarks/test_bench_store_reads.py measures both).
"""

from __future__ import annotations

import json
import re

import pytest

from merbench.errors import DataError
from merbench.result import PredictionRow, RunResult
from merbench.store import ResultStore
from result_samples import minimal_dict


def _framed() -> dict:
    """A frame-level result: 12 samples made from 4 clips, 2 folds."""
    rows = [{"id": f"c{clip}-p{pair}", "subject": f"s{fold}", "domain": None, "fold": fold, "label": 0,
             "prediction": 0, "clip": f"c{clip}"} for fold in range(2) for clip in (2 * fold, 2 * fold + 1)
            for pair in range(3)]
    return minimal_dict(protocol="frame-10fold", subject_independent=False, n_samples=12, predictions=rows,
                        folds=[{"fold": i, "test_subjects": [f"s{i}"], "n_test": 6,
                                "metrics": {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}} for i in range(2)])


def test_a_result_read_without_its_predictions_still_counts_the_clips_it_tested():
    full = RunResult.from_dict(_framed(), "full")
    light = RunResult.from_dict(_framed(), "light", predictions=False)
    assert light.predictions is None and len(full.predictions) == 12
    assert light.n_clips_tested == full.n_clips_tested == 4
    assert light.n_tested == 12
    plain = RunResult.from_dict(minimal_dict(), "plain", predictions=False)  # stored without predictions
    assert plain.n_clips_tested == plain.n_tested == 4
    assert (light.pooled, light.folds, light.confusion_matrix) == (full.pooled, full.folds, full.confusion_matrix)


def test_a_result_read_without_its_predictions_is_never_written_as_if_it_had_none():
    light = RunResult.from_dict(_framed(), "light", predictions=False)
    with pytest.raises(ValueError, match="without its predictions"):
        light.to_dict()
    assert len(RunResult.from_dict(_framed(), "full").to_dict()["predictions"]) == 12


@pytest.mark.parametrize("rows, named", [([{"id": "a", "fold": 0, "label": 0, "prediction": 0}, 7], r"'predictions\[1\]'"),
                                         ({"id": "a"}, r"'predictions' must be a list")])
def test_predictions_that_are_not_rows_are_named_when_the_rows_are_not_read(rows, named):
    with pytest.raises(DataError, match=named):
        RunResult.from_dict(minimal_dict(predictions=rows), "light", predictions=False)


@pytest.fixture
def stored(run_cli, tmp_path):
    """A store holding one quick run; returns (store path, run id)."""
    store = tmp_path / "results.sqlite"
    done = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                   "--store", str(store))
    assert done.code == 0, done.err
    return store, re.search(r"Stored as run (\S+)", done.out + done.err).group(1)


def test_compare_report_and_runs_read_no_prediction_rows(stored, run_cli, tmp_path, monkeypatch):
    store, run_id = stored

    def never(cls, f):
        raise AssertionError(f"a prediction row was read: {f.path}")

    monkeypatch.setattr(PredictionRow, "read", classmethod(never))
    assert run_cli("compare", "--store", str(store)).code == 0
    for name in ("report.md", "report.html"):
        made = run_cli("report", "--store", str(store), "--output", str(tmp_path / name))
        assert made.code == 0, made.err
    listed = run_cli("runs", "--store", str(store), "--limit", "0")
    assert listed.code == 0 and run_id in listed.out
    with pytest.raises(AssertionError, match="prediction row was read"):  # what the patch stops, were it read
        with ResultStore(store, create=False) as opened:
            opened.result(run_id)


def test_a_full_run_id_is_found_by_its_key_and_a_prefix_by_searching(stored):
    store, run_id = stored
    with ResultStore(store, create=False) as opened:
        statements: list[str] = []
        opened._db.set_trace_callback(statements.append)
        assert opened.resolve_id(run_id) == run_id
        assert statements and not [s for s in statements if "LIKE" in s], statements
        statements.clear()
        assert opened.resolve_id(run_id[:12]) == run_id
        assert [s for s in statements if "LIKE" in s]


def test_results_read_in_parts_come_back_each_once_oldest_first(stored, monkeypatch, tmp_path):
    import sqlite3

    from merbench import store as store_module

    path, run_id = stored
    with sqlite3.connect(path) as db:  # four more complete runs, each a second later than the one before
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        row = dict(zip(columns, db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()))
        for number in range(1, 5):
            copied_id = f"{run_id[:-6]}{number:06d}"
            result = {**json.loads(row["result_json"]), "run_id": copied_id}
            copy = {**row, "id": copied_id, "created": f"{row['created']}.{number}", "result_json": json.dumps(result)}
            db.execute(f"INSERT INTO runs ({', '.join(copy)}) VALUES ({', '.join('?' for _ in copy)})",
                       list(copy.values()))
    db.close()
    with ResultStore(path, create=False) as opened:
        whole = [(result.run_id, result.pooled) for result in opened.complete_results(predictions=False)]
        monkeypatch.setattr(store_module, "RESULTS_READ_AT_ONCE", 2)
        statements: list[str] = []
        opened._db.set_trace_callback(statements.append)
        parts = [(result.run_id, result.pooled) for result in opened.complete_results(predictions=False)]
    assert [run for run, _ in whole] == [run_id, *(f"{run_id[:-6]}{number:06d}" for number in range(1, 5))]
    assert parts == whole
    assert len([s for s in statements if "result_json" in s]) == 3  # 2 + 2 + 1
