"""Throughput of finished runs from their result JSON files (``merbench run --json``), one line per run.

For each file: the fold executor, preprocessing and training-and-evaluation seconds, training
samples per second (every fold's training samples times epochs trained, over the
training-and-evaluation time), the achieved FLOP/s (3 x the model's forward FLOPs per sample,
counted by ``FlopCounterMode``, x samples/s) and its fraction of ``--peak-tflops`` when given,
and the pooled scores. Used by ``benchmarks/gpu/device_checks.sh``; runs on the CPU too::

    python benchmarks/gpu/summarise_runs.py --peak-tflops 989 RUN.json [RUN.json ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from merbench.contracts import resolve_factory
from merbench.modelinfo import count_flops
from merbench.registry import get_registry


def forward_flops(result: dict[str, Any]) -> float:
    """FLOPs of one forward pass of one sample of the run's model, built from its recorded options."""
    options = result["config"]["options"]
    flow = options.get("flow") or {}
    size = int(flow.get("size", 28))
    channels = len(flow.get("channels", ("u", "v", "magnitude")))
    spec = get_registry().get("models", result["model"])
    model = resolve_factory(spec.build)(dict(options.get("model") or {}), channels, len(result["classes"]), size)
    return count_flops(model, (channels, size, size))


def summarise(path: Path, peak_tflops: float | None) -> str:
    """One line describing the run in ``path``."""
    result = json.loads(path.read_text())
    seconds = result["seconds"]
    samples = sum(fold["n_train"] * fold["epochs_trained"] for fold in result["folds"])
    rate = samples / seconds["train_eval"]
    achieved = 3 * forward_flops(result) * rate
    pooled = result["pooled"]
    fraction = f", {achieved / (peak_tflops * 1e12):.2e} of peak" if peak_tflops else ""
    plan = result["engine_plan"]
    return (f"{path.stem}: {result['model']} {result['profile']} {result['protocol']}, {len(result['folds'])} folds, "
            f"{result['n_samples']} clips; {plan['executor']} (group {plan['group_size']}); "
            f"preprocessing {seconds['preprocess']:.1f} s, training and evaluation {seconds['train_eval']:.1f} s; "
            f"{samples} training samples, {rate:,.0f} samples/s, {achieved / 1e12:.3g} TFLOP/s{fraction}; "
            f"pooled UF1 {100 * pooled['uf1']:.1f}, UAR {100 * pooled['uar']:.1f}, Acc {100 * pooled['accuracy']:.1f}; "
            f"device {result['environment']['device']}")


def main() -> None:
    """Print one line per result file given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="result JSON files written by merbench run --json")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, for the fraction")
    args = parser.parse_args()
    for path in args.results:
        if path.exists():
            print(summarise(path, args.peak_tflops))
        else:
            print(f"{path.stem}: no result (the run did not finish)")


if __name__ == "__main__":
    main()
