"""Default-profile ConvMixer training throughput by thread layout and batch size (samples per second).

Two folds of the default-profile ``convmixer`` (its options, 2 × 28 × 28 inputs,
173 training samples as in a subject-10fold fold of the synthetic data, 3
classes) train with ``merbench.engine.train_fold`` for ``EPOCHS`` epochs:

* ``2 folds x 1 thread``: the two folds at once in two processes, one torch
  thread each (merbench's CPU default on 2 cores);
* ``1 fold x 2 threads``: the folds one after another in one process with two
  torch threads.

for each batch size of ``BATCHES``. Throughput is the samples trained (epochs ×
training samples per fold × 2) over the wall time of both folds; each case is
measured ``ROUNDS`` times, cases interleaved, and the median kept. The ratio is
to today's default (2 folds × 1 thread, batch 32). Needs 2 or more cores.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time

import numpy as np
import pytest
import torch

from convmixer_profile import default_convmixer
from merbench.contracts import Fold
from merbench.engine import TrainSettings, choose_device, torch_threads, train_fold
from merbench.folds.job import ModelRecipe

EPOCHS = 3
N_TRAIN, N_TEST = 173, 23
BATCHES = (16, 32, 48, 64)
LAYOUTS = ("2 folds x 1 thread", "1 fold x 2 threads")
ROUNDS = int(os.environ.get("MERBENCH_BENCH_LAYOUT_ROUNDS", "3"))


def _recipe() -> ModelRecipe:
    _, options = default_convmixer()
    model_options = {key: value for key, value in options.items() if key != "input"}
    channels, size = options["input"][0], options["input"][1]
    return ModelRecipe("merbench_plugins.models.convmixer.network:build_model", model_options, channels, 3, size)


def _train(args: tuple[ModelRecipe, int, int, int]) -> float:
    """Train one fold with ``threads`` torch threads and batch ``batch``; its seconds."""
    recipe, batch, threads, seed = args
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(N_TRAIN + N_TEST, recipe.in_channels, recipe.input_size, recipe.input_size, generator=generator)
    labels = torch.arange(N_TRAIN + N_TEST) % 3
    fold = Fold(seed, np.arange(N_TRAIN), np.arange(N_TRAIN, N_TRAIN + N_TEST))
    settings = TrainSettings(epochs=EPOCHS, batch_size=batch, lr=0.002, weight_decay=0.05, label_smoothing=0.1,
                             class_weighting="balanced")
    with torch_threads(threads):
        started = time.perf_counter()
        train_fold(recipe, inputs, labels, fold, 3, settings, choose_device("cpu", "off"), seed=seed)
        return time.perf_counter() - started


def _samples_per_second(pool, recipe: ModelRecipe, layout: str, batch: int) -> float:
    started = time.perf_counter()
    if layout == LAYOUTS[0]:
        pool.map(_train, [(recipe, batch, 1, 0), (recipe, batch, 1, 1)])
    else:
        for seed in (0, 1):
            _train((recipe, batch, 2, seed))
    return 2 * EPOCHS * N_TRAIN / (time.perf_counter() - started)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the layouts need two cores")
def test_thread_layout_and_batch_size(benchmark, capsys):
    recipe = _recipe()
    cases = [(layout, batch) for layout in LAYOUTS for batch in BATCHES]
    rates: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_train, [(recipe, 32, 1, 0), (recipe, 32, 1, 1)])  # warm-up: imports, oneDNN primitives

        def measure() -> None:
            for _ in range(ROUNDS):
                for case in cases:
                    rates[case].append(_samples_per_second(pool, recipe, *case))

        benchmark.pedantic(measure, rounds=1, iterations=1)
    median = {case: statistics.median(values) for case, values in rates.items()}
    default = median[(LAYOUTS[0], 32)]
    lines = [f"default-profile convmixer, {EPOCHS} epochs x {N_TRAIN} samples x 2 folds, median of {ROUNDS}, "
             f"load average {os.getloadavg()[0]:.1f}; ratio to 2 folds x 1 thread, batch 32:"]
    for layout in LAYOUTS:
        lines.append(f"  {layout:20} " + "  ".join(f"batch {batch}: {median[(layout, batch)]:6.0f}/s "
                                                   f"({median[(layout, batch)] / default:.2f}x)" for batch in BATCHES))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    benchmark.extra_info.update({f"{layout}, batch {batch}": round(value, 1) for (layout, batch), value in median.items()})
    assert all(value > 0 for value in median.values())
