"""What keeping freed memory in the process (``merbench.allocator``) saves in a default-profile ConvMixer run.

Two copies of the main job (``merbench run --model convmixer --dataset
synthetic``, preprocessing cached) run at the same time, one fold after
another each (``engine.parallel_folds=1``), so that each holds one of the two
cores and both see the same load: one as merbench runs now, one with glibc's
malloc left at its defaults (``MALLOC_PERTURB_=0``, glibc's own default value,
set so that merbench leaves malloc alone, as it does for any ``MALLOC_*``
variable). Two rounds. Printed: each run's training and evaluation seconds,
its pooled UF1 (the same in both: only where memory comes from changes) and the
ratio default / kept. About three and a half minutes on a 2-core CPU.
"""

from __future__ import annotations

import os
import statistics
import threading

from baseline_checkout import run_json

RUN = ["-m", "merbench", "--quiet", "run", "--model", "convmixer", "--dataset", "synthetic", "--no-store",
       "--set", "engine.parallel_folds=1"]
VARIANTS = {"malloc defaults": {"MALLOC_PERTURB_": "0"}, "freed memory kept": {}}
ROUNDS = 2


def test_kept_freed_memory_vs_malloc_defaults(benchmark, capsys, tmp_path):
    cache = str(tmp_path / "cache")
    run_json(["-m", "merbench", "--quiet", "preprocess", "--model", "convmixer", "--dataset", "synthetic",
              "--json", "-"], None, MERBENCH_CACHE=cache)

    def run_all() -> dict[str, list[dict]]:
        measured: dict[str, list[dict]] = {name: [] for name in VARIANTS}
        for round_index in range(ROUNDS):
            load = os.getloadavg()[0]

            def one(name: str, env: dict[str, str]) -> None:
                output = tmp_path / f"{name.replace(' ', '-')}-{round_index}.json"
                result, wall = run_json([*RUN, "--json", str(output)], None, output, MERBENCH_CACHE=cache, **env)
                measured[name].append({"train_eval": result["seconds"]["train_eval"], "wall": wall,
                                       "uf1": result["pooled"]["uf1"], "load": load})

            threads = [threading.Thread(target=one, args=item) for item in VARIANTS.items()]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        return measured

    measured = benchmark.pedantic(run_all, rounds=1, iterations=1)
    assert all(len(rows) == ROUNDS for rows in measured.values()), "a run failed (its thread raised)"
    median = {name: statistics.median(row["train_eval"] for row in rows) for name, rows in measured.items()}
    ratio = median["malloc defaults"] / median["freed memory kept"]
    lines = [f"two main jobs at once, fold by fold, cached preprocessing; {ROUNDS} rounds:"]
    for name, rows in measured.items():
        seconds = ", ".join(f"{row['train_eval']:.1f}" for row in rows)
        scores = ", ".join(f"{100 * row['uf1']:.1f}" for row in rows)
        loads = ", ".join(f"{row['load']:.1f}" for row in rows)
        lines.append(f"  {name:18} train+eval {seconds} s, UF1 {scores} % (load {loads})")
    lines.append(f"  malloc defaults / freed memory kept: {ratio:.3f}x (medians)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    benchmark.extra_info.update({"measured": measured, "ratio": round(ratio, 3)})
    uf1 = {row["uf1"] for rows in measured.values() for row in rows}
    assert len(uf1) == 1, f"the allocator changed a score: {uf1}"
