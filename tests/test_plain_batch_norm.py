"""merbench.plain_batch_norm: BatchNorm from plain ops, used by batched folds on CUDA (cuDNN's fails under vmap)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional

from merbench import fold_batch
from merbench.fold_batch import batch_norm_for
from merbench.plain_batch_norm import PlainBatchNorm, plain_batch_norm

sys.path.insert(0, str(Path(__file__).parent))
from test_fold_batch import CPU, SETTINGS, assert_close_to_fold_by_fold, plugin_model, toy_data  # noqa: E402


def batch_norm_inputs(shape, generator):
    channels = shape[1]
    x = torch.randn(*shape, generator=generator) * 3 + 1
    stats = torch.rand(channels, generator=generator), torch.rand(channels, generator=generator) + 0.5
    affine = torch.randn(channels, generator=generator), torch.randn(channels, generator=generator)
    return x, stats, affine


@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 7), (4, 3, 5, 6), (2, 3, 2, 3, 4)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_same_output_and_running_statistics_as_torch(shape, training, affine):
    generator = torch.Generator().manual_seed(len(shape))
    x, (mean, var), (weight, bias) = batch_norm_inputs(shape, generator)
    if not affine:
        weight = bias = None
    ours_mean, ours_var = mean.clone(), var.clone()
    expected = functional.batch_norm(x, mean, var, weight, bias, training=training, momentum=0.3, eps=1e-4)
    actual = plain_batch_norm(x, ours_mean, ours_var, weight, bias, training=training, momentum=0.3, eps=1e-4)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours_mean, mean, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours_var, var, rtol=1e-6, atol=1e-6)
    assert not training or not torch.equal(ours_mean, batch_norm_inputs(shape, torch.Generator().manual_seed(
        len(shape)))[1][0]), "training moved the running mean"


def test_without_running_statistics_the_batch_statistics_normalise_in_training_only():
    x, _, (weight, bias) = batch_norm_inputs((8, 3, 4, 4), torch.Generator().manual_seed(1))
    expected = functional.batch_norm(x, None, None, weight, bias, training=True)
    torch.testing.assert_close(plain_batch_norm(x, None, None, weight, bias, training=True), expected,
                               rtol=1e-5, atol=1e-5)
    for batch_norm in (functional.batch_norm, plain_batch_norm):
        with pytest.raises(RuntimeError, match="running_mean must be defined"):
            batch_norm(x, None, None, weight, bias, training=False)


def test_same_gradients_as_torch():
    x, (mean, var), (weight, bias) = batch_norm_inputs((6, 3, 4, 5), torch.Generator().manual_seed(2))
    grads = []
    for batch_norm in (functional.batch_norm, plain_batch_norm):
        inputs = [t.clone().requires_grad_() for t in (x, weight, bias)]
        out = batch_norm(inputs[0], mean.clone(), var.clone(), inputs[1], inputs[2], training=True)
        (out * torch.arange(out.numel()).reshape(out.shape).sin()).sum().backward()
        grads.append([t.grad for t in inputs])
    for ours, theirs in zip(grads[1], grads[0]):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_statistics_in_float32_and_output_in_the_input_dtype():
    x, (mean, var), (weight, bias) = batch_norm_inputs((8, 3, 4, 4), torch.Generator().manual_seed(3))
    out = plain_batch_norm(x.to(torch.bfloat16), mean, var, weight, bias, training=True)
    assert out.dtype == torch.bfloat16 and mean.dtype == var.dtype == torch.float32
    torch.testing.assert_close(out.float(), functional.batch_norm(x, mean.clone(), var.clone(), weight, bias, True),
                               rtol=2e-2, atol=2e-2)


def test_the_mode_sends_modules_batch_norm_to_the_plain_one(monkeypatch):
    calls = []
    monkeypatch.setattr("merbench.plain_batch_norm.plain_batch_norm",
                        lambda *args, **kwargs: calls.append(kwargs) or args[0])
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.BatchNorm2d(4))
    with PlainBatchNorm():
        module(torch.randn(2, 3, 8, 8))
    assert len(calls) == 2
    module(torch.randn(2, 3, 8, 8))
    assert len(calls) == 2, "outside the mode torch's own BatchNorm runs"


def test_batched_folds_use_it_on_cuda_only():
    assert batch_norm_for(torch.device("cuda")) is PlainBatchNorm
    assert batch_norm_for(torch.device("cpu")) is not PlainBatchNorm


@pytest.mark.parametrize("name", ["convmixer", "ststnet"])
def test_batched_folds_with_it_train_as_fold_by_fold(monkeypatch, name):
    """The CUDA path's BatchNorm, run on the CPU: batched folds still match fold-by-fold training."""
    monkeypatch.setattr(fold_batch, "batch_norm_for", lambda device: PlainBatchNorm)
    calls = []
    original = plain_batch_norm
    monkeypatch.setattr("merbench.plain_batch_norm.plain_batch_norm",
                        lambda *args, **kwargs: calls.append(args[0].shape) or original(*args, **kwargs))
    inputs, labels, folds = toy_data([9, 6, 11, 8])
    settings = dataclasses.replace(SETTINGS, epochs=2)
    assert_close_to_fold_by_fold(plugin_model(name), inputs, labels, folds, settings, CPU, 1e-3)
    assert calls, "the batched models' BatchNorm ran as plain_batch_norm"
