"""How much ``engine.normalise_on=all`` changes a fold's inputs: the per-channel scale and shift between
standardising with every sample's statistics and with the fold's training samples' only.

A test input standardised with all samples' channel mean/std equals ``scale · z + shift`` of the
honest standardised input ``z``, per channel: ``scale = std_train / std_all``, ``shift = (mean_train -
mean_all) / std_all``. Printed per model: the largest ``|scale - 1|`` and ``|shift|`` over channels,
median and maximum over the protocol's folds (the run's own split, seed 0). Near 1 and 0, the leaky
variant hands the model nearly the inputs of the honest run, and its scores can only move within
seed noise (docs/leakage.md). Uses merbench's preprocessing cache (computes it on first use).

    python benchmarks/leakage/normalisation_shift.py [--models ststnet convmixer] [--dataset synthetic] [--root DIR]
        [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Sequence

import torch

from merbench.cache import cache_root
from merbench.config import parse_set, resolve_config
from merbench.contracts import resolve_factory
from merbench.engine import channel_stats
from merbench.errors import MerbenchError
from merbench.preflight import check_protocol
from merbench.preprocess import checked_chain, preprocess_dataset
from merbench.registry import get_registry
from merbench.runner import load_dataset


def fold_shifts(model: str, dataset: str, root: Path | None = None,
                sets: Sequence[str] = ()) -> tuple[list[float], list[float], tuple[int, ...]]:
    """(largest |scale - 1| per fold, largest |shift| per fold, input shape) for ``model``'s inputs; ``root`` and
    ``sets`` as ``merbench run``'s ``--root`` (the folder of a real dataset's copy) and ``--set KEY=VALUE``."""
    registry = get_registry()
    config = resolve_config(registry, model=model, dataset=dataset, root=root, sets=parse_set(list(sets)))
    data = load_dataset(config, registry, cache_root())
    check_protocol(config, registry, data)  # a split the protocol cannot make: one message, as merbench run says it
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
    """Print the scale and shift per model (see the module docstring)."""
    from merbench.commands import dataset_folder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ststnet", "convmixer"])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", type=dataset_folder,
                        help="folder of your copy of the dataset, as for merbench run (not needed for synthetic)")
    parser.add_argument("--set", dest="sets", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="options as for merbench run (e.g. protocol.n_splits=4)")
    args = parser.parse_args()
    for model in args.models:
        try:
            scales, shifts, shape = fold_shifts(model, args.dataset, args.root, args.sets)
        except MerbenchError as exc:  # a name or a dataset it cannot use: one line, as the CLI says it
            print(f"normalisation_shift.py: error: {exc}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None
        print(f"{model} on {args.dataset} {shape}, {len(scales)} folds: largest |scale - 1| median "
              f"{statistics.median(scales):.3f}, max {max(scales):.3f}; largest |shift| (in std units) median "
              f"{statistics.median(shifts):.3f}, max {max(shifts):.3f}")


if __name__ == "__main__":
    main()
