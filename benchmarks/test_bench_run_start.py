"""How long the main job takes before its first fold trains, on an empty cache: previous revision vs now, in one run.

``merbench run --model convmixer --dataset synthetic --epochs 1`` with a fresh
``MERBENCH_CACHE`` each round, alternating the previous revision
(``MERBENCH_BENCH_PREVIOUS``, default ``e7bef9f``) and this one, three rounds
each. One epoch keeps training short, so the wall time is mostly start-up,
generating the 196 clips, preprocessing them (TV-L1 flow) and the end.

What changed: preprocessing computed 4 probe clips here and then waited for
worker processes forked from the server that preloads torch (about 6 s of
imports); now this process keeps computing clips while the workers start, the
server is started before the dataset is loaded, and the process exits without
a last garbage collection (``merbench.cli.skip_final_collection``).

Printed: the median wall time and the run's own preprocessing seconds for each
revision, the load average, and the ratios previous / now. About three minutes on a 2-core CPU.
"""

from __future__ import annotations

import os
import statistics
import tempfile

from baseline_checkout import export_revision, run_json

PREVIOUS = os.environ.get("MERBENCH_BENCH_PREVIOUS", "e7bef9f")
RUN = ["-m", "merbench", "--quiet", "run", "--model", "convmixer", "--dataset", "synthetic", "--epochs", "1"]
ROUNDS = 3


def test_cold_run_start(benchmark, capsys, tmp_path):
    previous = export_revision(PREVIOUS, tmp_path / "previous")
    revisions = {"previous": previous, "now": None}

    def run_all() -> dict[str, dict[str, list[float]]]:
        measured = {name: {"wall": [], "preprocess": [], "load": []} for name in revisions}
        for round_index in range(ROUNDS):
            for name, checkout in revisions.items():
                with tempfile.TemporaryDirectory(prefix="merbench-fresh-cache-") as fresh:
                    output = tmp_path / f"{name}-{round_index}.json"
                    measured[name]["load"].append(os.getloadavg()[0])
                    result, wall = run_json([*RUN, "--json", str(output)], checkout, output, MERBENCH_CACHE=fresh)
                measured[name]["wall"].append(wall)
                measured[name]["preprocess"].append(result["seconds"]["preprocess"])
        return measured

    measured = benchmark.pedantic(run_all, rounds=1, iterations=1)
    median = {name: {key: statistics.median(values) for key, values in rows.items()} for name, rows in measured.items()}
    lines = [f"cold `merbench run --model convmixer --dataset synthetic --epochs 1`, median of {ROUNDS} rounds each "
             f"(previous = {PREVIOUS}):"]
    for name, row in median.items():
        lines.append(f"  {name:8} wall {row['wall']:5.1f} s, preprocessing {row['preprocess']:5.1f} s "
                     f"(rounds: {', '.join(f'{w:.1f}' for w in measured[name]['wall'])} s; load {row['load']:.1f})")
    wall_ratio = median["previous"]["wall"] / median["now"]["wall"]
    prep_ratio = median["previous"]["preprocess"] / median["now"]["preprocess"]
    lines.append(f"  previous / now: wall {wall_ratio:.2f}x, preprocessing {prep_ratio:.2f}x")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    benchmark.extra_info.update({"previous": PREVIOUS, "median": median, "wall_ratio": round(wall_ratio, 3),
                                 "preprocess_ratio": round(prep_ratio, 3)})
    assert all(row["wall"] > row["preprocess"] > 0 for row in median.values())
