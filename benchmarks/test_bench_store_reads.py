"""How long reading a large results store takes: previous revision vs now, in one run.

One default-profile run (``ststnet`` on the synthetic data, 196 clips in 10
folds) is stored, and its rows are copied under new ids (models and datasets
varied, so that ``compare`` has a table of cells) into stores of ``SIZES`` runs.
``merbench compare`` and ``merbench runs --limit 0`` then read each store, as the
previous revision (``MERBENCH_BENCH_PREVIOUS``, default ``0847501``) and this one
do, each command in a process of its own: wall time and peak memory.

What changed (against 0847501): ``compare`` and ``report`` read the results of
the runs their filters select without their folds, per-domain scores, confusion
matrix and predictions, which SQLite leaves out (``ResultStore.summary_results``,
``RunResult.from_dict(..., whole=False)``), and read whole only the newest run
of each cell, the one it shows; the ids come from the index (``complete_ids``),
not from ``list_runs``, which also counted every run's folds. Before, every run
was read and checked whole, its folds included.
(Earlier, against 3eb485e: results read without their per-sample rows, 200 at a
time, and a full run id found by the store's key.)

Printed: seconds and MiB per command, revision and size, the ratios previous /
now, and how each grows from the smallest store to the largest. About two minutes on a 2-core CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baseline_checkout import command_env, export_revision

PREVIOUS = os.environ.get("MERBENCH_BENCH_PREVIOUS", "0847501")
SIZES = (1000, 4000)
MODELS = ("convmixer", "ststnet", "offapexnet", "lbptop-svm", "resnet18", "mymodel")
DATASETS = ("synthetic", "smic", "casme2", "samm")
COMMANDS = {"compare": ["compare"], "runs": ["runs", "--limit", "0"]}


def copied_store(seed: Path, target: Path, size: int) -> Path:
    """A store of ``size`` runs: the one run of ``seed``, copied with its folds, predictions and metrics."""
    shutil.copyfile(seed, target)
    with sqlite3.connect(target) as db:
        (source_id,) = db.execute("SELECT id FROM runs").fetchone()
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        run = dict(zip(columns, db.execute("SELECT * FROM runs").fetchone()))
        children = {table: db.execute(f"SELECT * FROM {table} WHERE run_id = ?", (source_id,)).fetchall()
                    for table in ("folds", "predictions", "metrics")}
        for number in range(1, size):
            run_id = f"20260101-{number:06d}-{number:06x}"
            model, dataset = MODELS[number % len(MODELS)], DATASETS[number // len(MODELS) % len(DATASETS)]
            result = {**json.loads(run["result_json"]), "run_id": run_id, "model": model, "dataset": dataset}
            row = {**run, "id": run_id, "model": model, "dataset": dataset, "result_json": json.dumps(result)}
            db.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
            for table, rows in children.items():
                db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in rows[0])})",
                               [(run_id, *values[1:]) for values in rows])
    db.close()
    return target


def peak_mib(pid: int) -> float | None:
    """The peak resident memory of process ``pid`` so far (Linux ``VmHWM``); ``None`` once it is gone.

    Not ``ru_maxrss``: Linux carries a parent's peak over fork and exec into the child's, and this one's is the
    size of a process that imported torch."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def measured(args: list[str], checkout: Path | None) -> tuple[float, float]:
    """(wall seconds, peak MiB) of ``python -m merbench ARGS`` in a process of its own."""
    with tempfile.TemporaryDirectory(prefix="merbench-bench-cwd-") as cwd, tempfile.TemporaryFile() as error:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "merbench", *args], cwd=cwd, env=command_env(checkout),
                                   stdout=subprocess.DEVNULL, stderr=error)
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, peak_mib(process.pid) or 0.0)
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            error.seek(0)
            raise RuntimeError(f"merbench {' '.join(args)} failed:\n{error.read().decode()[-2000:]}")
    return seconds, peak


def test_large_store_reads(benchmark, capsys, tmp_path):
    previous = export_revision(PREVIOUS, tmp_path / "previous")
    seed = tmp_path / "seed.sqlite"
    made = subprocess.run([sys.executable, "-m", "merbench", "--quiet", "run", "--model", "ststnet", "--dataset",
                           "synthetic", "--store", str(seed)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr[-2000:]
    stores = {size: copied_store(seed, tmp_path / f"store-{size}.sqlite", size) for size in SIZES}

    def run_all() -> dict[tuple[str, str, int], tuple[float, float]]:
        figures = {}
        for size, store in stores.items():
            for command, args in COMMANDS.items():
                for name, checkout in (("previous", previous), ("now", None)):
                    figures[(command, name, size)] = measured([*args, "--store", str(store)], checkout)
        return figures

    figures = benchmark.pedantic(run_all, rounds=1, iterations=1)
    lines = [f"reading a store of {' and '.join(str(size) for size in SIZES)} default-profile runs "
             f"(previous = {PREVIOUS}):"]
    small, large = SIZES[0], SIZES[-1]
    for command in COMMANDS:
        for size in SIZES:
            before, now = figures[(command, "previous", size)], figures[(command, "now", size)]
            lines.append(f"  {command:8} {size:5} runs: previous {before[0]:6.1f} s {before[1]:6.0f} MiB, now "
                         f"{now[0]:6.1f} s {now[1]:6.0f} MiB; previous / now {before[0] / now[0]:.2f}x time, "
                         f"{before[1] / now[1]:.2f}x memory")
        growth = {name: figures[(command, name, large)][0] / figures[(command, name, small)][0]
                  for name in ("previous", "now")}
        lines.append(f"  {command:8} {large} / {small} runs: time x{growth['previous']:.1f} previous, "
                     f"x{growth['now']:.1f} now")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    benchmark.extra_info.update({"previous": PREVIOUS, "figures": {f"{c} {n} {s}": v for (c, n, s), v in figures.items()}})
    assert figures[("compare", "now", large)][0] < figures[("compare", "previous", large)][0]
