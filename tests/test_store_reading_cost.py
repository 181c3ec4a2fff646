"""What reading the results store costs: `merbench runs` lists the newest runs through an index on their start time
(in stores of earlier versions too, once a writing command has opened them), says what a store holds without reading
any result when filters match nothing, and reads each listed result once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import merbench.store as store_module
from merbench.store import ResultStore
from result_samples import minimal_result
from bytes_read import bytes_read

RUNS = 300
MODELS = ("m0", "m1", "m2")
PREDICTIONS = 300
"""Per-sample rows of each stored result: about 30 KB, so that it lies on overflow pages of its own."""


def _config(seed: int) -> dict:
    return {"model": MODELS[seed % len(MODELS)], "dataset": "d", "protocol": "loso", "profile": "quick", "seed": seed}


def _result(run_id: str, seed: int):
    """A complete run's result whose time is not a whole number of seconds (SQLite keeps 1.0 in no byte at all, and
    reading the ``seconds`` column after the result would then cost nothing)."""
    rows = [{"id": f"clip-{i:04d}", "subject": f"s{i % 10}", "domain": None, "fold": i % 2, "label": i % 3,
             "prediction": (i + 1) % 3} for i in range(PREDICTIONS)]
    return minimal_result(run_id=run_id, seed=seed, model=_config(seed)["model"], predictions=rows,
                          seconds={"preprocess": 0.25, "train_eval": 1.5, "total": 1.75 + seed})


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory) -> Path:
    """``RUNS`` complete runs, started one after another, of three models."""
    path = tmp_path_factory.mktemp("cost") / "many.sqlite"
    with ResultStore(path) as store:
        for seed in range(RUNS):
            run_id = store.begin_run(_config(seed), 1, {}, run_id=f"20250611-{seed:06d}-eeeeee")
            store.finish_run(run_id, _result(run_id, seed))
    return path


def _results_bytes(path: Path) -> int:
    """The bytes of every stored result."""
    with sqlite3.connect(path) as db:
        total = db.execute("SELECT SUM(length(result_json)) FROM runs").fetchone()[0]
    db.close()
    return total


@pytest.fixture
def without_whole_check(monkeypatch):
    """Opening the store reads no page (``PRAGMA quick_check`` reads every page of a small store): the bytes
    counted are those the command itself reads."""
    monkeypatch.setattr(store_module, "WHOLE_CHECK_MAX_BYTES", 0)


def _listed(run_cli, *args: str):
    """``merbench runs ARGS`` and the bytes it read from files (its modules imported beforehand)."""
    run_cli(*args)
    done = []
    read = bytes_read(lambda: done.append(run_cli(*args)))
    assert done[0].code == 0, done[0].err
    return done[0], read


def _statements(path: Path, read) -> list[str]:
    """The SQL statements ``read(store)`` runs on ``path`` opened read-only."""
    statements: list[str] = []
    with ResultStore(path, create=False) as store:
        store._db.set_trace_callback(statements.append)
        read(store)
    return statements


def _plan(path: Path, statement: str) -> str:
    """SQLite's query plan of ``statement`` on ``path``, one step a line."""
    with sqlite3.connect(path) as db:
        steps = db.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
    db.close()
    return "\n".join(step[-1] for step in steps)


# ------------------------------------------------------------------ the newest runs, through an index


def _listing_plan(path: Path) -> str:
    [listing] = [statement for statement in _statements(path, lambda store: store.list_runs(limit=5))
                 if "ORDER BY r.created DESC" in statement]
    return _plan(path, listing)


def test_listing_the_newest_runs_walks_the_index_on_their_start_time(many_runs):
    plan = _listing_plan(many_runs)
    assert "USING INDEX runs_by_created" in plan and "TEMP B-TREE" not in plan, plan


def test_listing_the_newest_runs_reads_those_runs_only(many_runs, run_cli, without_whole_check):
    one = _results_bytes(many_runs) / RUNS
    listed, read = _listed(run_cli, "runs", "--limit", "5", "--store", str(many_runs))
    assert f"20250611-{RUNS - 1:06d}-eeeeee" in listed.out
    assert read < 30 * one, f"{read} bytes read to list 5 of {RUNS} runs of {one:.0f} bytes each"


def _as_earlier_versions_made_it(source: Path, target: Path) -> Path:
    """A copy of the store ``source`` without the index on the runs' start time, as merbench made stores before."""
    with sqlite3.connect(source) as db, sqlite3.connect(target) as copy:
        db.backup(copy)
    copy.execute("DROP INDEX runs_by_created")
    copy.execute("PRAGMA journal_mode = DELETE")
    copy.close()
    db.close()
    return target


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    db.close()
    return names


def test_a_store_of_an_earlier_version_gets_the_index_when_a_writing_command_opens_it(many_runs, tmp_path):
    old = _as_earlier_versions_made_it(many_runs, tmp_path / "old.sqlite")
    assert "runs_by_created" not in _indexes(old)
    ResultStore(old).close()
    assert "runs_by_created" in _indexes(old)
    assert "USING INDEX runs_by_created" in _listing_plan(old)


def test_a_store_of_an_earlier_version_is_read_as_it_is(many_runs, tmp_path, run_cli):
    old = _as_earlier_versions_made_it(many_runs, tmp_path / "old.sqlite")
    before = old.read_bytes()
    listed = run_cli("runs", "--limit", "3", "--store", str(old))
    assert listed.code == 0 and f"20250611-{RUNS - 1:06d}-eeeeee" in listed.out, listed.err
    assert old.read_bytes() == before and sorted(path.name for path in tmp_path.iterdir()) == ["old.sqlite"]


def test_a_read_only_store_of_an_earlier_version_is_listed_without_the_index(many_runs, tmp_path, run_cli):
    old = _as_earlier_versions_made_it(many_runs, tmp_path / "old.sqlite")
    old.chmod(0o444)
    try:
        listed = run_cli("runs", "--limit", "3", "--store", str(old))
    finally:
        old.chmod(0o644)
    assert listed.code == 0 and f"20250611-{RUNS - 1:06d}-eeeeee" in listed.out, listed.err
    assert "runs_by_created" not in _indexes(old)


# ------------------------------------------------------------------ filters that match nothing


@pytest.mark.parametrize("args", [("--model", "NOSUCH"), ("--status", "failed"), ("--dataset", "x", "--status",
                                                                                  "running")])
def test_filters_that_match_nothing_read_no_result(args, many_runs, run_cli, without_whole_check):
    listed, read = _listed(run_cli, "runs", *args, "--store", str(many_runs))
    assert f"it holds {RUNS} runs" in " ".join(listed.out.split())
    assert read < _results_bytes(many_runs) / 10, f"{read} bytes read to say what {RUNS} runs hold"


def test_filters_that_match_nothing_name_what_the_runs_hold(tmp_path, run_cli):
    """Each run's status as `merbench runs` lists it: a running run whose process is gone reads interrupted."""
    path = tmp_path / "held.sqlite"
    with ResultStore(path) as store:
        for seed in range(3):
            store.finish_run(store.begin_run(_config(seed), 1, {}), _result("r", seed))
        gone = store.begin_run({**_config(3), "dataset": "e", "protocol": "megc"}, 1, {})
        store.begin_run({**_config(4), "model": "m[red]9"}, 1, {})  # running in this process
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET pid = ? WHERE id = ?", (_gone_pid(), gone))
    db.close()
    said = " ".join(run_cli("runs", "--model", "x", "--dataset", "y", "--protocol", "z", "--status", "failed",
                            "--store", str(path)).out.split())
    assert (f"No runs in {path} match --model x --dataset y --protocol z --status failed; it holds 5 runs (models: "
            "m0, m1, m2, m[red]9; datasets: d, e; protocols: loso, megc; statuses: complete, interrupted, running); "
            "names are matched exactly") in said, said


def _gone_pid() -> int:
    """The number of a process that has exited."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ------------------------------------------------------------------ every run listed


def test_listing_every_run_reads_each_result_once(many_runs, run_cli, without_whole_check):
    listed, read = _listed(run_cli, "runs", "--limit", "0", "--store", str(many_runs))
    assert f"20250611-{0:06d}-eeeeee" in listed.out and f"{1.75 + RUNS - 1:.0f} s" in listed.out
    results = _results_bytes(many_runs)
    assert read < 1.5 * results, f"{read} bytes read to list {RUNS} results of {results} bytes"
