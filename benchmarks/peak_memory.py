"""Peak memory of a whole LOSO run: ``python benchmarks/peak_memory.py``.

Runs ``merbench run --model ststnet --dataset synthetic --protocol loso`` on a
442-clip synthetic dataset (26 subjects × 17 clips, so 26 folds; STSTNet's
default chain gives 28×28 u/v/strain flow, three channels) with fold-parallel
training (``engine.parallel_folds=auto``) in a subprocess, and samples the
memory of its whole process tree (the run, the forkserver, the preprocessing
and fold worker processes) every ``--interval`` seconds. It prints the peak
of the summed resident set sizes (RSS: an upper bound, since pages that forked
workers share with their parent count once per process), the peak of the summed
proportional set sizes (PSS: shared pages split between the processes that map
them, so the sum is the RAM the tree really occupies), the peak RSS of each
process, and whether the peak total PSS stayed under the budget (2 GB by
default). Exit code 0 within budget, 1 over, 2 when the run itself (or the warm-up) failed.

By default the cache is a new temporary folder, so the measured run also
generates the synthetic clips and computes their flow; ``--warm`` fills that
cache first (``merbench preprocess``, not measured), so only training is
measured. Extra arguments after ``--`` go to ``merbench run``; with ``--warm``,
those that ``merbench preprocess`` takes too (``--set``, ``--profile``,
``--config``, ``--root``) go to the warm-up as well, so it fills the cache with
what the measured run reads.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import psutil

from merbench.argument_types import number_above, whole_number

GB = 10**9
MB = 2**20


@dataclass
class TreeMemory:
    """Peaks of a process tree's memory, sampled over its lifetime."""

    peak_rss_total: int = 0
    peak_pss_total: int = 0
    peak_processes: int = 0
    peak_at: float = 0.0
    """Seconds after the start when the total PSS peaked."""
    samples: int = 0
    per_process: dict[int, tuple[str, int]] = field(default_factory=dict)
    """pid -> (short description, peak RSS in bytes)."""

    def sample(self, root: psutil.Process, elapsed: float) -> None:
        """Add one sample of ``root`` and all its descendants (processes that vanish meanwhile are skipped)."""
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        rss_total = pss_total = alive = 0
        for process in processes:
            try:
                rss = process.memory_info().rss
                pss = getattr(process.memory_full_info(), "pss", rss)
                if process.pid not in self.per_process:
                    self.per_process[process.pid] = (describe(process, root), 0)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            alive += 1
            rss_total += rss
            pss_total += pss
            name, peak = self.per_process[process.pid]
            self.per_process[process.pid] = (name, max(peak, rss))
        self.samples += 1
        self.peak_rss_total = max(self.peak_rss_total, rss_total)
        if pss_total > self.peak_pss_total:
            self.peak_pss_total, self.peak_at = pss_total, elapsed
        self.peak_processes = max(self.peak_processes, alive)


def describe(process: psutil.Process, root: psutil.Process) -> str:
    """A short name for a process of the run's tree."""
    if process.pid == root.pid:
        return "merbench run"
    command = " ".join(process.cmdline())
    if "forkserver" in command:  # the server, or a worker forked from it (same command line)
        return "forkserver" if process.ppid() == root.pid else "worker"
    if "resource_tracker" in command:
        return "resource tracker"
    return "worker"


def run_measured(command: list[str], env: dict[str, str], interval: float) -> tuple[int, TreeMemory, float]:
    """Run ``command`` and sample its process tree until it exits; returns (exit code, peaks, seconds)."""
    memory = TreeMemory()
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env)
    root = psutil.Process(child.pid)
    while child.poll() is None:
        tick = time.perf_counter()
        memory.sample(root, tick - started)
        time.sleep(max(0.0, interval - (time.perf_counter() - tick)))
    return child.returncode, memory, time.perf_counter() - started


def report(memory: TreeMemory, seconds: float, budget: float) -> bool:
    """Print the peaks and the verdict; returns whether the run stayed within ``budget`` bytes."""
    within = memory.peak_pss_total <= budget
    print(f"\nrun time {seconds:.1f} s, {memory.samples} samples, up to {memory.peak_processes} processes at once")
    print(f"peak total PSS {memory.peak_pss_total / MB:.0f} MiB ({memory.peak_pss_total / GB:.2f} GB) "
          f"at {memory.peak_at:.1f} s; peak total RSS {memory.peak_rss_total / MB:.0f} MiB "
          f"({memory.peak_rss_total / GB:.2f} GB, counting shared pages once per process)")
    print("peak RSS per process:")
    for pid, (name, peak) in sorted(memory.per_process.items(), key=lambda item: -item[1][1]):
        print(f"  {pid:>8}  {name:<17} {peak / MB:8.0f} MiB")
    verdict = "within" if within else "OVER"
    print(f"budget {budget / GB:.2f} GB: {verdict} (peak total PSS is {memory.peak_pss_total / budget:.0%} of it, "
          f"peak total RSS {memory.peak_rss_total / budget:.0%})")
    return within


def preprocess_options(extra: list[str]) -> list[str]:
    """The options among ``extra`` (arguments of ``merbench run``) that ``merbench preprocess`` takes as well."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)  # merbench abbreviates no option either
    parser.add_argument("--set", nargs="+", action="extend", default=[])
    for option in ("--profile", "--config", "--root"):
        parser.add_argument(option)
    known, _ = parser.parse_known_args(extra)
    options = [item for option in ("profile", "config", "root") if getattr(known, option) is not None
               for item in (f"--{option}", getattr(known, option))]
    return [*options, *(["--set", *known.set] if known.set else [])]


def main(argv: list[str] | None = None) -> int:
    """Measure one LOSO run's peak memory; see the module docstring."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ststnet")
    parser.add_argument("--subjects", type=whole_number(2), default=26)
    parser.add_argument("--clips-per-subject", type=whole_number(1), default=17)
    parser.add_argument("--parallel-folds", default="auto", help="engine.parallel_folds (default auto)")
    parser.add_argument("--interval", type=number_above(0, "seconds"), default=0.05,
                        help="seconds between samples (default 0.05)")
    parser.add_argument("--budget-gb", type=number_above(0, "GB"), default=2.0)
    parser.add_argument("--warm", action="store_true", help="fill the cache first, measure training only")
    args = parser.parse_args(argv)

    sets = [f"dataset.subjects={args.subjects}", f"dataset.clips_per_subject={args.clips_per_subject}"]
    merbench = [sys.executable, "-m", "merbench"]
    command = [*merbench, "run", "--model", args.model, "--dataset", "synthetic", "--protocol", "loso", "--quiet",
               "--no-store", "--set", *sets, f"engine.parallel_folds={args.parallel_folds}", *extra]
    cache = tempfile.mkdtemp(prefix="merbench-peak-memory-")
    env = {**os.environ, "MERBENCH_CACHE": cache}
    try:
        if args.warm:
            warm_up = subprocess.run([*merbench, "preprocess", "--dataset", "synthetic", "--model", args.model,
                                      "--quiet", "--set", *sets, *preprocess_options(extra)], env=env)
            if warm_up.returncode != 0:
                print(f"the warm-up (merbench preprocess) failed (exit code {warm_up.returncode}); no verdict",
                      file=sys.stderr)
                return 2
        print(f"{args.subjects * args.clips_per_subject} clips, {'warm' if args.warm else 'cold'} cache: {' '.join(command[1:])}")
        code, memory, seconds = run_measured(command, env, args.interval)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if code != 0:
        print(f"the run failed (exit code {code}); no verdict", file=sys.stderr)
        return 2
    return 0 if report(memory, seconds, args.budget_gb * GB) else 1


if __name__ == "__main__":
    sys.exit(main())
