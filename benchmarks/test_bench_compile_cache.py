"""``engine.compile=true`` on a quick-profile 10-fold convmixer run: compiled per fold vs once per process.

Four runs of ``merbench run --model convmixer --dataset synthetic --profile quick
--set engine.parallel_folds=1 engine.threads=1`` (all folds in one process, one
thread), each in its own process with an empty inductor cache
(``TORCHINDUCTOR_CACHE_DIR``), after one untimed run filled merbench's
preprocessing cache:

* ``eager``: ``engine.compile=false``;
* ``main``: ``engine.compile=true`` as the baseline revision
  (``MERBENCH_BENCH_BASELINE``, default ``ea299d4``, before the compile cache)
  runs it: ``torch.compile`` of each fold's new model, every batch size and the
  predictions compiled;
* ``per-fold``: this revision with its compile cache emptied and dynamo reset
  before every fold, i.e. a compilation for every fold;
* ``once``: this revision (``merbench.compiled_models``): one compilation per process.

Prints each run's training seconds (the result's ``train_eval``), the graphs
dynamo compiled and the ratios to ``once``; ``once`` must compile one graph.
Minutes of compilation on a 2-core CPU.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import pytest

from baseline_checkout import export_revision, run_json

BASELINE = os.environ.get("MERBENCH_BENCH_BASELINE", "ea299d4")
RUN = ["--quiet", "run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick",
       "--set", "engine.parallel_folds=1", "engine.threads=1"]

# Runs the command line in this process, then prints the counts of compiled graphs and cache uses.
DRIVER = """
import json, sys
import torch
from torch._dynamo.utils import counters
import merbench.engine as engine
cache = getattr(engine, "COMPILED", None)
if sys.argv[1] == "per-fold":
    step_for = cache.step_for
    def compile_every_fold(*args, **kwargs):
        torch._dynamo.reset()
        cache.clear()
        return step_for(*args, **kwargs)
    cache.step_for = compile_every_fold
from merbench.cli import main
code = main(sys.argv[2:])
print()
print(json.dumps({"code": code, "graphs": counters["stats"]["unique_graphs"],
                  "compilations": getattr(cache, "compilations", None), "reuses": getattr(cache, "reuses", None)}))
"""

MODES = {"eager": ("engine.compile=false", False), "main": ("engine.compile=true", True),
         "per-fold": ("engine.compile=true", False), "once": ("engine.compile=true", False)}


def test_compile_once_per_process(benchmark, capsys, session_cache, tmp_path):
    baseline = export_revision(BASELINE, tmp_path / "baseline")
    run_json(["-c", DRIVER, "warm", *RUN, "--json", str(tmp_path / "warm.json"), "--epochs", "1"], None)  # fills the cache

    def run_all() -> dict[str, dict]:
        measured = {}
        for mode, (compile_setting, on_baseline) in MODES.items():
            output = tmp_path / f"{mode}.json"
            with tempfile.TemporaryDirectory(prefix="merbench-inductor-") as inductor:
                counts, wall = run_json(["-c", DRIVER, mode, *RUN, compile_setting, "--json", str(output)],
                                        baseline if on_baseline else None, TORCHINDUCTOR_CACHE_DIR=inductor)
            result = json.loads(output.read_text())
            measured[mode] = {**counts, "wall": wall, "train_eval": result["seconds"]["train_eval"],
                              "uf1": result["pooled"]["uf1"], "folds": len(result["folds"])}
        return measured

    measured = benchmark.pedantic(run_all, rounds=1, iterations=1)
    once = measured["once"]
    lines = [f"quick-profile convmixer, 10 folds in one process, 1 thread, load average {os.getloadavg()[0]:.1f}:"]
    for mode, row in measured.items():
        lines.append(f"  {mode:9} train+eval {row['train_eval']:7.1f} s (wall {row['wall']:6.1f} s), "
                     f"{row['graphs']} graph(s) compiled, UF1 {row['uf1']:.4f}, "
                     f"{row['train_eval'] / once['train_eval']:.2f}x the time of 'once'")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    benchmark.extra_info.update({mode: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
                                 for mode, row in measured.items()})
    benchmark.extra_info["baseline"] = BASELINE

    assert all(row["folds"] == 10 for row in measured.values())
    assert measured["eager"]["graphs"] == 0
    assert (once["compilations"], once["reuses"]) == (1, 9), "one compilation, reused by the nine other folds"
    assert once["graphs"] == 1, "one graph: full training batches (the last batch and predictions run eagerly)"
    assert measured["per-fold"]["compilations"] == 1 and measured["per-fold"]["graphs"] >= 10


USAGE = f"""usage: python benchmarks/test_bench_compile_cache.py [PYTEST OPTIONS]

{__doc__.splitlines()[0]}

Runs this benchmark with pytest, as `pytest benchmarks/test_bench_compile_cache.py -s` does: four
`merbench run` processes with engine.compile, about 3 minutes on a 2-core CPU. Other options go to
pytest (e.g. --benchmark-json FILE). -h, --help: print this and run nothing."""


def main(argv: list[str]) -> int:
    """Run this file's benchmark with pytest, passing ``argv`` on; ``-h``/``--help`` prints ``USAGE`` and runs
    nothing. pytest's cache is not written (it would land in the checkout)."""
    if {"-h", "--help"} & set(argv):
        print(USAGE)
        return 0
    return int(pytest.main([__file__, "-s", "-p", "no:cacheprovider", *argv]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
