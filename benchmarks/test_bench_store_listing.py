"""What `merbench runs` reads from a store of ``RUNS`` runs: bytes read from the file and seconds, in-process.

One complete run with a result of about 40 KB (400 per-sample rows) is stored through ``ResultStore`` and its rows
are copied under new ids, each with a time that is not a whole number of seconds (SQLite keeps a whole 1.0 in no
byte, which would hide that the ``seconds`` column lies after the result). The store is opened once by a writing
command first, so it has the index on the runs' start time (``runs_by_created``).

What changed: `runs` walks that index newest first instead of sorting every run; filters that match nothing say
what the store holds from its distinct names instead of listing every run (and reading each result to reach its
time); each listed result is read once, its time with its leak fields, instead of twice.

Opening the store's ``PRAGMA quick_check`` (every page of a store under 256 MiB) is left out of the count.
Printed: MB read and seconds per command. Bytes are counted by Linux (``/proc/self/io``): skipped elsewhere.

``test_listing_queries``: `merbench runs --limit 0` on a store of ``RUNS`` runs of 2 seeds with 4 folds each (its run,
folds and scores copied under new ids, as a store grows), and the SQL statements one listing runs. What changed: the
fold counts and pooled scores of the listed runs are read with two grouped queries per ``RESULTS_READ_AT_ONCE`` runs,
each batch with one check of the file, instead of two queries per run, each checking the file (and its -wal, -shm)
up to three times.
"""

from __future__ import annotations

import contextlib
import io
import sqlite3
import sys
import time
from pathlib import Path

import pytest

import merbench.store as store_module
from merbench.cli import main
from merbench.result import FoldRecord, PredictionRow
from merbench.store import ResultStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from result_samples import minimal_result  # noqa: E402

RUNS = 2000
MODELS = tuple(f"m{i}" for i in range(7))
COMMANDS = {"newest 50": [], "all": ["--limit", "0"], "no such model": ["--model", "NOSUCH"],
            "no failed run": ["--status", "failed"]}


def copied_store(path: Path) -> Path:
    """A store of ``RUNS`` complete runs: one stored through ``ResultStore``, its row and scores copied."""
    rows = [{"id": f"clip-{i:05d}", "subject": f"s{i % 20:02d}", "domain": None, "fold": i % 2, "label": i % 3,
             "prediction": (i + 1) % 3} for i in range(400)]
    with ResultStore(path) as store:
        first = store.begin_run({"model": MODELS[0], "dataset": "d", "protocol": "loso", "profile": "quick",
                                 "seed": 0}, 1, {}, run_id="20250101-000000-000000")
        store.finish_run(first, minimal_result(run_id=first, seed=0, predictions=rows))
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        run = dict(zip(columns, db.execute("SELECT * FROM runs").fetchone()))
        metrics = db.execute("SELECT * FROM metrics").fetchall()
        for number in range(1, RUNS):
            run_id = f"20250101-{number:06d}-{number:06x}"
            row = {**run, "id": run_id, "model": MODELS[number % len(MODELS)], "seconds": 100 + number / 7,
                   "created": f"2025-01-01T{number // 3600:02d}:{number // 60 % 60:02d}:{number % 60:02d}+00:00"}
            db.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
            db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", [(run_id, *values[1:]) for values in metrics])
    db.close()
    ResultStore(path).close()  # a writing open: the indexes of this version
    return path


def bytes_read_so_far() -> int:
    """The bytes this process has read from files (Linux's ``rchar``)."""
    counts = Path("/proc/self/io").read_text().splitlines()
    return next(int(line.split()[1]) for line in counts if line.startswith("rchar"))


def measured(args: list[str]) -> tuple[float, float]:
    """(MB read, seconds) of ``merbench runs ARGS`` in this process."""
    with contextlib.redirect_stdout(io.StringIO()):
        before, started = bytes_read_so_far(), time.perf_counter()
        assert main(["runs", *args]) == 0
        return (bytes_read_so_far() - before) / 1e6, time.perf_counter() - started


def test_store_listing(benchmark, capsys, tmp_path, monkeypatch):
    if not Path("/proc/self/io").exists():
        pytest.skip("needs /proc/self/io (Linux) to count the bytes read")
    store = copied_store(tmp_path / "listing.sqlite")
    monkeypatch.setattr(store_module, "WHOLE_CHECK_MAX_BYTES", 0)
    measured(["--store", str(store), "--limit", "1"])  # the modules imported

    def run_all() -> dict[str, tuple[float, float]]:
        return {name: measured([*args, "--store", str(store)]) for name, args in COMMANDS.items()}

    figures = benchmark.pedantic(run_all, rounds=1, iterations=1)
    with sqlite3.connect(store) as db:
        results = db.execute("SELECT SUM(length(result_json)) FROM runs").fetchone()[0] / 1e6
    db.close()
    lines = [f"merbench runs on a store of {RUNS} runs ({results:.1f} MB of results):"]
    lines += [f"  {name:15} {read:7.1f} MB read {seconds:6.2f} s" for name, (read, seconds) in figures.items()]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    benchmark.extra_info.update({"runs": RUNS, "results_mb": results, "figures": figures})
    assert figures["all"][0] < 1.5 * results, "each result read once"
    assert figures["no such model"][0] < results / 10, "what the store holds, without its results"


def grown_store(path: Path) -> Path:
    """A store of ``RUNS`` complete runs of 2 seeds and 4 folds each: one stored through ``ResultStore``, its run,
    folds and scores copied under new ids and times."""
    config = {"model": MODELS[0], "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0}
    with ResultStore(path) as store:
        first = store.begin_run(config, 2, {}, run_id="20250101-000000-000000")
        for seed in (0, 1):
            for fold in range(4):
                row = PredictionRow(id=f"c{fold}", subject=f"s{fold}", fold=fold, label=1, prediction=1)
                store.add_fold(first, seed, FoldRecord(fold=fold, test_subjects=[f"s{fold}"], n_test=1,
                                                       metrics={"uf1": 0.5}), [f"c{fold}"], [1], [row])
        store.finish_run(first, minimal_result(run_id=first, seed=0))
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        run = dict(zip(columns, db.execute("SELECT * FROM runs").fetchone()))
        for number in range(1, RUNS):
            run_id = f"20250101-{number:06d}-{number:06x}"
            row = {**run, "id": run_id, "model": MODELS[number % len(MODELS)],
                   "created": f"2025-01-01T{number // 3600:02d}:{number // 60 % 60:02d}:{number % 60:02d}+00:00"}
            db.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
            for table in ("folds", "predictions", "metrics"):
                names = [column[1] for column in db.execute(f"PRAGMA table_info({table})")][1:]
                db.execute(f"INSERT INTO {table} SELECT ?, {', '.join(names)} FROM {table} WHERE run_id = ?",
                           (run_id, first))
    db.close()
    ResultStore(path).close()  # a writing open: the indexes of this version
    return path


def statements_of_listing(path: Path) -> int:
    """How many SQL statements ``list_runs`` runs to list every run of the store at ``path``."""
    executed: list[str] = []
    with ResultStore(path, create=False) as store:
        store._db.set_trace_callback(executed.append)
        store.list_runs()
    return len(executed)


def test_listing_queries(benchmark, capsys, tmp_path, monkeypatch):
    store = grown_store(tmp_path / "grown.sqlite")
    monkeypatch.setattr(store_module, "WHOLE_CHECK_MAX_BYTES", 0)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["runs", "--store", str(store), "--limit", "1"]) == 0  # the modules imported

    def listing() -> float:
        with contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            assert main(["runs", "--limit", "0", "--store", str(store)]) == 0
            return time.perf_counter() - started

    seconds = benchmark.pedantic(listing, rounds=3, iterations=1)
    statements = statements_of_listing(store)
    with capsys.disabled():
        print(f"\nmerbench runs --limit 0 on a store of {RUNS} runs: {seconds:.2f} s (last of 3 rounds), "
              f"{statements} SQL statements per listing")
    benchmark.extra_info.update({"runs": RUNS, "seconds": seconds, "statements": statements})
