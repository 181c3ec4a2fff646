"""The main job's ConvMixer training: the naive loop, merbench as on the baseline revision, and merbench now, in one run.

Each mode trains the default-profile ``convmixer`` on the synthetic data under
``subject-10fold`` (10 folds × 20 epochs) in its own process, one after
another, with merbench's preprocessing cache filled beforehand (untimed):

* ``naive``: ``benchmarks/naive_loop.py`` of the baseline revision (public
  MER code's loop: a ``DataLoader`` reading a file per sample, NCHW, fold after
  fold, torch's own two threads; the model as the baseline builds it);
* ``main``: ``merbench run`` as the baseline revision (``MERBENCH_BENCH_BASELINE``,
  default ``ea299d4``) runs it: folds one per core, channels-last, fp32;
* ``now fp32`` and ``now bf16``: ``merbench run`` of this revision with
  ``engine.amp=off`` and, on a CPU with bf16, ``engine.amp=on``
  (``engine.amp=auto`` picks one of them: printed);
* ``main job`` and ``main job, main``: ``merbench run --model convmixer
  --dataset synthetic`` of this revision and of the baseline revision, each
  with an empty cache: the command a user runs first (preprocessing included),
  timed as a whole (wall seconds of the process).

Printed per mode: training and evaluation seconds (the result's ``train_eval``;
the naive loop's), pooled UF1, achieved FLOP/s (3 × the forward FLOPs counted by
``FlopCounterMode`` per trained sample plus the forward FLOPs of the tested
ones, over those seconds) and its fraction of the 2-core peak (twice the
1-thread 1024² matmul rate, fp32, and bf16 for the bf16 mode), the load
average before and after, and the ratios ``main / now`` and ``naive / now``.
About ten minutes on a 2-core CPU.
"""

from __future__ import annotations

import os
import tempfile

import torch

from baseline_checkout import export_revision, run_json
from convmixer_profile import default_convmixer, measure_peak, training_flops
from merbench.engine import choose_device, cpu_has_bf16, torch_threads

BASELINE = os.environ.get("MERBENCH_BENCH_BASELINE", "ea299d4")
RUN = ["--quiet", "run", "--model", "convmixer", "--dataset", "synthetic"]
CORES = 2


def forward_flops_per_sample() -> float:
    """Forward FLOPs of one sample of the default-profile convmixer."""
    build, options = default_convmixer()
    x = torch.randn(8, *options["input"])
    return training_flops(build().eval(), x) / 3 / len(x)


def run_flops(folds: list[dict], epochs: int, batch_size: int, per_sample: float) -> float:
    """FLOPs of training every fold (3 × forward per trained sample) and predicting its test samples."""
    total = 0.0
    for fold in folds:
        n_train, n_test = fold["n_train"], fold["n_test"]
        trained = n_train - (n_train % batch_size == 1)  # the engine drops a last batch of one sample
        total += epochs * trained * 3 * per_sample + n_test * per_sample
    return total


def test_convmixer_main_job_speed(benchmark, capsys, session_cache, tmp_path):
    baseline = export_revision(BASELINE, tmp_path / "baseline")
    warm = tmp_path / "warm.json"
    run_json(["-m", "merbench", *RUN, "--epochs", "1", "--json", str(warm)], None, warm)  # fills the cache
    auto_bf16 = choose_device("cpu", "auto").amp_dtype == torch.bfloat16
    modes = {"naive": None, "main": [], "now fp32": ["--set", "engine.amp=off"]}
    if cpu_has_bf16():
        modes["now bf16"] = ["--set", "engine.amp=on"]

    def run_all() -> dict[str, dict]:
        measured = {}
        for mode, sets in modes.items():
            load_before = os.getloadavg()[0]
            output = tmp_path / f"{mode.replace(' ', '-')}.json"
            if sets is None:
                result, wall = run_json([str(baseline / "benchmarks" / "naive_loop.py"), "--model", "convmixer",
                                         "--dataset", "synthetic", "--threads", str(CORES)], baseline)
            else:
                result, wall = run_json(["-m", "merbench", *RUN, *sets, "--json", str(output)],
                                        baseline if mode == "main" else None, output)
            measured[mode] = {"train_eval": result["seconds"]["train_eval"], "wall": wall,
                              "uf1": result["pooled"]["uf1"], "load": (load_before, os.getloadavg()[0]),
                              "folds": result.get("folds") if isinstance(result.get("folds"), list) else None}
        for mode, checkout in (("main job", None), ("main job, main", baseline)):
            with tempfile.TemporaryDirectory(prefix="merbench-fresh-cache-") as fresh:
                load_before = os.getloadavg()[0]
                output = tmp_path / f"{mode.replace(' ', '-').replace(',', '')}.json"
                result, wall = run_json(["-m", "merbench", *RUN, "--json", str(output)], checkout, output,
                                        MERBENCH_CACHE=fresh)
                measured[mode] = {"train_eval": result["seconds"]["train_eval"], "wall": wall,
                                  "total": result["seconds"]["total"], "preprocess": result["seconds"]["preprocess"],
                                  "uf1": result["pooled"]["uf1"], "load": (load_before, os.getloadavg()[0]),
                                  "folds": None}
        return measured

    measured = benchmark.pedantic(run_all, rounds=1, iterations=1)

    folds = measured["main"]["folds"]
    per_sample = forward_flops_per_sample()
    flops = run_flops(folds, 20, 32, per_sample)
    with torch_threads(1):
        peak_fp32, peak_bf16 = measure_peak(torch.float32), (measure_peak(torch.bfloat16) if cpu_has_bf16() else None)
    now = "now bf16" if auto_bf16 else "now fp32"
    lines = [f"default-profile convmixer, synthetic, subject-10fold ({len(folds)} folds x 20 epochs), "
             f"{flops / 1e12:.2f} TFLOP of training and prediction ({per_sample / 1e6:.1f} MFLOP forward per sample); "
             f"2-core peak fp32 {CORES * peak_fp32 / 1e9:.0f} GFLOP/s"
             + (f", bf16 {CORES * peak_bf16 / 1e9:.0f} GFLOP/s" if peak_bf16 else "")
             + f"; engine.amp=auto picks {'bf16' if auto_bf16 else 'fp32'} here:"]
    for mode, row in measured.items():
        rate = flops / row["train_eval"]
        peak = CORES * (peak_bf16 if "bf16" in mode and peak_bf16 else peak_fp32)
        extra = (f", wall {row['wall']:.1f} s: run {row['total']:.1f} s (preprocessing {row['preprocess']:.1f} s)"
                 if "total" in row else "")
        lines.append(f"  {mode:9} train+eval {row['train_eval']:6.1f} s{extra}, UF1 {row['uf1']:.4f}, "
                     f"{rate / 1e9:5.1f} GFLOP/s = {rate / peak:5.1%} of peak, load {row['load'][0]:.1f} -> {row['load'][1]:.1f}")
    for mode in [m for m in measured if m.startswith("now")]:
        lines.append(f"  ratios for {mode}: main / now {measured['main']['train_eval'] / measured[mode]['train_eval']:.2f}x, "
                     f"naive / now {measured['naive']['train_eval'] / measured[mode]['train_eval']:.2f}x")
    lines.append(f"  main job, wall: main / now {measured['main job, main']['wall'] / measured['main job']['wall']:.2f}x")
    lines.append(f"  main / naive {measured['naive']['train_eval'] / measured['main']['train_eval']:.2f}x "
                 f"(the baseline's own gain); default now = {now}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    benchmark.extra_info.update({mode: {"train_eval": round(row["train_eval"], 2), "uf1": round(row["uf1"], 4),
                                        "load": row["load"]} for mode, row in measured.items()})
    benchmark.extra_info.update({"baseline": BASELINE, "flops": flops, "peak_fp32_1thread": peak_fp32,
                                 "peak_bf16_1thread": peak_bf16})
    assert all(0.0 <= row["uf1"] <= 1.0 for row in measured.values())
    assert len(folds) == 10
