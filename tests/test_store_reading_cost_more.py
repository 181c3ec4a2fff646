"""What reading the results store costs, beyond `merbench runs`' listings (test_store_reading_cost.py): `compare` of
a store of unfinished runs and `delete` whose filters match nothing count and name the runs from the indexes, and a
listing of one status walks an index on the status and start time."""

from __future__ import annotations

import argparse
import shutil
import sqlite3
from pathlib import Path

import pytest

from merbench.commands.delete import _nothing_matched
from merbench.store import ResultStore
from bytes_read import bytes_read
from test_store_reading_cost import (RUNS, _config, _plan, _results_bytes, _statements, many_runs,
                                     without_whole_check)

__all__ = ["many_runs", "without_whole_check"]  # fixtures, used by name

ENVIRONMENT = {f"package-{i}": "1.2.3-" * 10 for i in range(100)}
"""A run's recorded environment of about 7 KB (versions of every package), as a real one: it lies before the
``seconds`` column, so reading a run's time reads it."""


@pytest.fixture(scope="module")
def unfinished_runs(tmp_path_factory) -> Path:
    """``RUNS`` runs that never finished, every other one failed, the others interrupted."""
    path = tmp_path_factory.mktemp("unfinished") / "unfinished.sqlite"
    with ResultStore(path) as store:
        for seed in range(RUNS):
            run_id = store.begin_run(_config(seed), 1, ENVIRONMENT, run_id=f"20250611-{seed:06d}-ffffff")
            store.mark_stopped(run_id, "failed" if seed % 2 else "interrupted", "it broke")
    return path


@pytest.fixture(scope="module")
def three_failed(many_runs, tmp_path_factory) -> Path:
    """``many_runs``' complete runs and three failed runs after them."""
    path = tmp_path_factory.mktemp("failed") / "failed.sqlite"
    shutil.copy(many_runs, path)
    with ResultStore(path) as store:
        for seed in range(RUNS, RUNS + 3):
            store.mark_stopped(store.begin_run(_config(seed), 1, ENVIRONMENT, run_id=f"20250612-{seed:06d}-eeeeee"),
                               "failed", "it broke")
    return path


def _environments_bytes(path: Path) -> int:
    with sqlite3.connect(path) as db:
        total = db.execute("SELECT SUM(length(environment_json)) FROM runs").fetchone()[0]
    db.close()
    return total


def _said(run_cli, *args: str):
    """``merbench ARGS``, its words on one line, and the bytes it read from files (its modules imported before)."""
    run_cli(*args)
    done = []
    read = bytes_read(lambda: done.append(run_cli(*args)))
    return done[0].code, " ".join((done[0].out + done[0].err).split()), read


# ------------------------------------------------------------------ compare of unfinished runs only


def test_compare_of_unfinished_runs_counts_them_without_reading_them(unfinished_runs, run_cli, without_whole_check):
    code, said, read = _said(run_cli, "compare", "--store", str(unfinished_runs))
    assert code == 2 and (f"none of the store's {RUNS} runs is complete ({RUNS // 2} failed, {RUNS // 2} "
                          "interrupted); continue an interrupted one with `merbench run --resume ID`") in said, said
    assert read < _environments_bytes(unfinished_runs) / 10, f"{read} bytes read to count {RUNS} runs"


def test_a_running_run_is_counted_as_it_is_listed(tmp_path, run_cli):
    path = tmp_path / "running.sqlite"
    with ResultStore(path) as store:
        store.mark_stopped(store.begin_run(_config(0), 1, {}), "failed", "it broke")
        store.begin_run(_config(1), 1, {})  # running in this process
        gone = store.begin_run(_config(2), 1, {})
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET pid = NULL WHERE id = ?", (gone,))  # names no process: interrupted
    db.close()
    code, said, _ = _said(run_cli, "compare", "--store", str(path))
    assert code == 2 and "none of the store's 3 runs is complete (1 failed, 1 interrupted, 1 running)" in said, said


# ------------------------------------------------------------------ delete whose filters match nothing


def test_delete_that_matches_nothing_names_what_there_is(unfinished_runs, run_cli):
    code, said, _ = _said(run_cli, "delete", "--status", "failed", "--model", "NOSUCH", "--store", str(unfinished_runs))
    assert code == 0 and (f"No failed runs in {unfinished_runs} match --model NOSUCH; nothing to delete. The failed "
                          "runs have these models: m0, m1, m2 (names are matched exactly") in said, said


def test_what_delete_says_when_nothing_matched_reads_no_run(unfinished_runs, without_whole_check):
    """The runs' names are read from ``runs_by_cell``, not from the runs (the selection before it reads the failed
    runs' rows to match them)."""
    args = argparse.Namespace(status="failed", model=["NOSUCH"], dataset=["d"], protocol=[])
    with ResultStore(unfinished_runs, create=False) as store:
        said = []
        read = bytes_read(lambda: said.append(_nothing_matched(store, args)))
    assert "The failed runs have these models: m0, m1, m2; datasets: d (" in said[0], said[0]
    assert read < _environments_bytes(unfinished_runs) / 10, f"{read} bytes read to name the models of {RUNS} runs"


def test_delete_names_the_runs_of_the_status_given_only(tmp_path, run_cli):
    path = tmp_path / "some.sqlite"
    with ResultStore(path) as store:
        store.mark_stopped(store.begin_run(_config(0), 1, {}), "failed", "it broke")
        store.mark_stopped(store.begin_run({**_config(1), "dataset": "e"}, 1, {}), "interrupted")
        store.begin_run({**_config(2), "dataset": "f"}, 1, {})  # running in this process: not interrupted
        gone = store.begin_run({**_config(3), "dataset": "g"}, 1, {})
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET pid = NULL WHERE id = ?", (gone,))
    db.close()
    _, said, _ = _said(run_cli, "delete", "--status", "interrupted", "--dataset", "x", "--store", str(path))
    assert "The interrupted runs have these datasets: e, g (" in said, said
    _, said, _ = _said(run_cli, "delete", "--status", "failed", "--dataset", "x", "--store", str(path))
    assert "The failed runs have these datasets: d (" in said, said


# ------------------------------------------------------------------ the runs of one status, through an index


def _status_listing_plan(path: Path) -> str:
    [listing] = [statement for statement in _statements(path, lambda store: store.list_runs(status="failed"))
                 if "ORDER BY r.created DESC" in statement]
    return _plan(path, listing)


def test_listing_the_runs_of_one_status_walks_the_index_on_status_and_start_time(three_failed):
    plan = _status_listing_plan(three_failed)
    assert "USING INDEX runs_by_status (status=?)" in plan and "TEMP B-TREE" not in plan, plan


def test_listing_the_runs_of_one_status_reads_those_runs_only(three_failed, run_cli, without_whole_check):
    code, said, read = _said(run_cli, "runs", "--status", "failed", "--store", str(three_failed))
    assert code == 0 and f"20250612-{RUNS:06d}-eeeeee" in said and f"20250611-{0:06d}-eeeeee" not in said, said
    assert read < _results_bytes(three_failed) / 50, f"{read} bytes read to list 3 of {RUNS + 3} runs"


def test_the_names_of_the_complete_runs_are_read_from_the_index_of_names(three_failed):
    """``runs_by_status`` would find every complete run's row; ``runs_by_cell`` holds their names."""
    [names] = _statements(three_failed, lambda store: store.complete_names("model"))
    assert "COVERING INDEX runs_by_cell" in _plan(three_failed, names)


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    db.close()
    return names


def test_a_store_of_an_earlier_version_gets_the_index_on_status_at_a_writing_open_only(three_failed, tmp_path,
                                                                                       run_cli):
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(three_failed) as db, sqlite3.connect(old) as copy:
        db.backup(copy)
    copy.execute("DROP INDEX IF EXISTS runs_by_status")
    copy.execute("PRAGMA journal_mode = DELETE")
    copy.close()
    db.close()
    listed = run_cli("runs", "--status", "failed", "--store", str(old))
    assert listed.code == 0 and f"20250612-{RUNS:06d}-eeeeee" in listed.out, listed.err
    assert "runs_by_status" not in _indexes(old)
    ResultStore(old).close()
    assert "runs_by_status" in _indexes(old)
    assert "USING INDEX runs_by_status" in _status_listing_plan(old)
