"""The README's main job as a whole, from an empty and from a warm cache: the previous revision vs now, in one run.

``merbench run --model convmixer --dataset synthetic`` (default profile: 10
folds × 20 epochs, 196 generated clips, TV-L1 flow), alternating the previous
revision (``MERBENCH_BENCH_PREVIOUS``, default ``d460c0f``) and this one,
``MERBENCH_BENCH_ROUNDS`` rounds each (default 3). Each round gives each
revision a fresh ``MERBENCH_CACHE`` and runs the command twice on it: cold (a
new user's first run: the clips are generated and preprocessed) and warm (the
next run: both come from the cache).

Two wall times per command: until the process exits (what a shell prompt
waits for) and until its piped output ends (what ``| tee``, CI logs and
``subprocess.run(capture_output=True)`` wait for; a process it started that
still holds the pipe delays it). Also printed: the run's own ``Time:``
(preprocessing, training and evaluation), the core-seconds the machine's
cores were idle while the command ran (sampled from ``/proc/stat``; on this
2-core machine about all of them are the command's to use), the load average
before each round, and the ratios previous / now of the medians. The pooled
UF1 must not change. About 10–12 minutes on a 2-core CPU with 3 rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from baseline_checkout import command_env, export_revision

PREVIOUS = os.environ.get("MERBENCH_BENCH_PREVIOUS", "d460c0f")
ROUNDS = int(os.environ.get("MERBENCH_BENCH_ROUNDS", "3"))
RUN = ["-m", "merbench", "run", "--model", "convmixer", "--dataset", "synthetic", "--no-store"]


def _busy_and_total() -> tuple[int, int]:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def timed_main_job(checkout: Path | None, cache: str, json_path: Path) -> dict[str, float]:
    """Run the main job once: wall seconds to its exit and to the end of its output, idle core-seconds, its result."""
    cores = os.cpu_count() or 1
    busy_before, total_before = _busy_and_total()
    ended: list[float] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="merbench-bench-cwd-") as cwd:
        process = subprocess.Popen([sys.executable, *RUN, "--json", str(json_path)], cwd=cwd,
                                   env=command_env(checkout, MERBENCH_CACHE=cache),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        reader = threading.Thread(target=lambda: (process.stdout.read(), ended.append(time.perf_counter())))
        reader.start()
        code = process.wait()
        exited = time.perf_counter()
        reader.join()
    busy_after, total_after = _busy_and_total()
    if code != 0:
        raise RuntimeError(f"the main job exited {code}")
    idle_share = 1 - (busy_after - busy_before) / (total_after - total_before)
    result = json.loads(json_path.read_text())
    return {"exit": exited - started, "output_end": ended[0] - started,
            "idle_core_s": idle_share * cores * (ended[0] - started), "time": result["seconds"]["total"],
            "preprocess": result["seconds"]["preprocess"], "train_eval": result["seconds"]["train_eval"],
            "uf1": result["pooled"]["uf1"]}


COLUMNS = ("exit", "output_end", "time", "preprocess", "train_eval", "idle_core_s")


def test_main_job_previous_vs_now(benchmark, capsys, tmp_path):
    revisions = {"previous": export_revision(PREVIOUS, tmp_path / "previous"), "now": None}
    kinds = [(cache, name) for cache in ("cold", "warm") for name in revisions]

    def run_all() -> dict[tuple[str, str], list[dict[str, float]]]:
        measured: dict[tuple[str, str], list[dict[str, float]]] = {kind: [] for kind in kinds}
        for round_index in range(ROUNDS):
            for name, checkout in revisions.items():
                with tempfile.TemporaryDirectory(prefix="merbench-fresh-cache-") as fresh:
                    for cache in ("cold", "warm"):
                        load = os.getloadavg()[0]
                        row = timed_main_job(checkout, fresh, tmp_path / f"{name}-{cache}-{round_index}.json")
                        measured[cache, name].append({**row, "load": load})
        return measured

    measured = benchmark.pedantic(run_all, rounds=1, iterations=1)
    median = {kind: {key: statistics.median(row[key] for row in rows) for key in (*COLUMNS, "load")}
              for kind, rows in measured.items()}
    lines = [f"`merbench run --model convmixer --dataset synthetic`, median of {ROUNDS} interleaved rounds "
             f"(previous = {PREVIOUS}; seconds):",
             f"  {'':14} {'to exit':>8} {'output':>8} {'Time:':>7} {'prep':>6} {'train':>6} {'idle':>6}  load"]
    for (cache, name), row in median.items():
        lines.append(f"  {cache + ' ' + name:14} "
                     + " ".join(f"{row[key]:{width}.1f}" for key, width in zip(COLUMNS, (8, 8, 7, 6, 6, 6)))
                     + f"  {row['load']:.1f}")
        for key, label in (("exit", "to exit"), ("output_end", "output ends")):
            lines.append(f"  {'':14} rounds, {label}: " + ", ".join(f"{row[key]:.1f}" for row in measured[cache, name]))
    ratios = {f"{cache} {key}": median[cache, "previous"][key] / median[cache, "now"][key]
              for cache in ("cold", "warm") for key in ("exit", "output_end", "time")}
    lines.append("  previous / now: " + ", ".join(f"{key} {ratio:.2f}x" for key, ratio in ratios.items()))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    benchmark.extra_info.update({"previous": PREVIOUS, "median": {" ".join(kind): row for kind, row in median.items()},
                                 "ratios": ratios})
    uf1 = {round(row["uf1"], 6) for rows in measured.values() for row in rows}
    assert len(uf1) == 1, f"the pooled UF1 changed between revisions, caches or rounds: {sorted(uf1)}"
    warm = [row["preprocess"] for kind, rows in measured.items() if kind[0] == "warm" for row in rows]
    cold = [row["preprocess"] for kind, rows in measured.items() if kind[0] == "cold" for row in rows]
    assert max(warm) < min(cold), "the warm runs should take their inputs from the cache"
