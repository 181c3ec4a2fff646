"""One training epoch of the ConvMixer with the ``default`` profile options.

Random inputs of the default profile's flow size (2 × 28 × 28: u and v at 28
pixels, taken from the resolved configuration) stand in for preprocessed clips:
165 training samples and 31 test samples (the first subject-10fold fold of the
default synthetic dataset, 196 clips of 28 subjects), 3 classes. Each round
is a whole ``train_fold`` call with ``engine.epochs=1``: model construction, the
epoch itself and the prediction of the test part.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from merbench.config import resolve_config
from merbench.contracts import Fold, resolve_factory
from merbench.engine import TrainSettings, choose_device, train_fold

N_TRAIN = 165
N_TEST = 31
N_CLASSES = 3


def test_train_one_epoch(benchmark, record_rate, registry):
    config = resolve_config(registry, model="convmixer", dataset="synthetic", epochs=1)
    assert config.profile == "default"
    flow = config.section("flow")
    channels, size = len(flow["channels"]), int(flow["size"])

    engine = config.section("engine")
    settings = TrainSettings.from_options(engine)
    choice = choose_device(config.device, engine["amp"])
    build = resolve_factory(registry.get("models", "convmixer").build)
    model_options = dict(config.section("model"))

    generator = torch.Generator().manual_seed(0)
    n = N_TRAIN + N_TEST
    inputs = torch.randn(n, channels, size, size, generator=generator).to(choice.device)
    labels = torch.randint(0, N_CLASSES, (n,), generator=generator).to(choice.device)
    fold = Fold(index=0, train=np.arange(N_TRAIN), test=np.arange(N_TRAIN, n))

    def one_epoch():
        return train_fold(
            lambda: build(model_options, channels, N_CLASSES, size),
            inputs, labels, fold, N_CLASSES, settings, choice, seed=0,
        )

    output = benchmark.pedantic(one_epoch, rounds=5, iterations=1, warmup_rounds=1)

    assert output.predictions.shape == (N_TEST,)
    assert set(output.predictions.tolist()) <= set(range(N_CLASSES))
    assert len(output.epoch_losses) == 1
    assert math.isfinite(output.final_loss) and output.final_loss > 0
    benchmark.extra_info.update(
        {
            "device": choice.description,
            "model_options": model_options,
            "batch_size": settings.batch_size,
            "n_train": N_TRAIN,
            "input": [channels, size, size],
        }
    )
    record_rate("train_samples_per_second", N_TRAIN)
