"""How much ``engine.normalise_on=all`` changes a fold's inputs: the per-channel scale and shift between
standardising with every sample's statistics and with the fold's training samples' only.

A test input standardised with all samples' channel mean/std equals ``scale · z + shift`` of the
honest standardised input ``z``, per channel: ``scale = std_train / std_all``, ``shift = (mean_train -
mean_all) / std_all``. Printed per model: the largest ``|scale - 1|`` and ``|shift|`` over channels,
median and maximum over the protocol's folds (the run's own split, seed 0). Near 1 and 0, the leaky
variant hands the model nearly the inputs of the honest run, and its scores can only move within
seed noise (docs/leakage.md). Uses merbench's preprocessing cache (computes it on first use).

    python benchmarks/leakage/normalisation_shift.py [--models ststnet convmixer] [--dataset synthetic]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

from merbench.cache import cache_root
from merbench.config import resolve_config
from merbench.contracts import resolve_factory
from merbench.engine import channel_stats
from merbench.errors import MerbenchError
from merbench.preprocess import checked_chain, preprocess_dataset
from merbench.registry import get_registry
from merbench.runner import load_dataset


def fold_shifts(model: str, dataset: str) -> tuple[list[float], list[float], tuple[int, ...]]:
    """(largest |scale - 1| per fold, largest |shift| per fold, input shape) for ``model``'s inputs."""
    registry = get_registry()
    config = resolve_config(registry, model=model, dataset=dataset)
    data = load_dataset(config, registry, cache_root())
    inputs = torch.as_tensor(preprocess_dataset(data, checked_chain(config, registry), cache_dir=cache_root()).inputs)
    split = resolve_factory(registry.get("protocols", config.protocol).split)
    folds = split(data.labels, data.subjects, config.seed, dict(config.section("protocol")), data.domains)
    mean_all, std_all = channel_stats(inputs, torch.arange(len(inputs)))  # what engine.normalise_on=all fits
    scales, shifts = [], []
    for fold in folds:
        mean, std = channel_stats(inputs, torch.as_tensor(fold.train))  # what the honest run fits
        scales.append(float((std / std_all - 1).abs().max()))
        shifts.append(float(((mean - mean_all) / std_all).abs().max()))
    return scales, shifts, tuple(inputs.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ststnet", "convmixer"])
    parser.add_argument("--dataset", default="synthetic")
    args = parser.parse_args()
    for model in args.models:
        try:
            scales, shifts, shape = fold_shifts(model, args.dataset)
        except MerbenchError as exc:  # a name or a dataset it cannot use: one line, as the CLI says it
            print(f"normalisation_shift.py: error: {exc}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None
        print(f"{model} on {args.dataset} {shape}, {len(scales)} folds: largest |scale - 1| median "
              f"{statistics.median(scales):.3f}, max {max(scales):.3f}; largest |shift| (in std units) median "
              f"{statistics.median(shifts):.3f}, max {max(shifts):.3f}")


if __name__ == "__main__":
    main()
