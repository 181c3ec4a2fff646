"""Batched (vmap) folds on the CPU: the group is bounded by the available memory, and one fold is never a group."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from merbench import folds
from merbench.engine import DeviceChoice, TrainSettings
from merbench.fold_batch import measure_fold_bytes
from merbench.folds import plan

STSTNET = folds.ModelRecipe("merbench_plugins.models.ststnet:build_model",
                            {"filters": [3, 5, 8], "kernel": 3, "batchnorm": True, "dropout": 0.0}, 3, 3, 28)
CPU = DeviceChoice(torch.device("cpu"), None, "cpu")
SETTINGS = TrainSettings(1, 8, 0.01, 0.0, 0.0, "none")
VMAP = {"parallel_folds": "auto", "parallel_mode": "vmap", "threads": 0}


def _data(n: int = 16) -> folds.FoldData:
    return folds.FoldData(np.zeros((n, 3, 28, 28), np.float32), np.zeros(n, int), np.arange(n))


def test_a_cpu_training_step_is_measured_from_what_it_keeps_for_backward():
    one = measure_fold_bytes(STSTNET, _data(), SETTINGS, CPU)
    model = STSTNET()
    parameters = sum(p.numel() * p.element_size() for p in model.parameters())
    assert one > 4 * parameters + 8 * 3 * 28 * 28 * 4  # activations come on top of weights, moments and the batch
    bigger = measure_fold_bytes(STSTNET, _data(), TrainSettings(1, 16, 0.01, 0.0, 0.0, "none"), CPU)
    assert bigger > one * 1.5  # twice the batch keeps about twice the activations


def test_cpu_batched_folds_are_as_many_as_the_cores_when_memory_allows(monkeypatch):
    monkeypatch.setattr(plan, "usable_cores", lambda: 8)
    monkeypatch.setattr(plan, "available_memory", lambda: 64 * 2**30)
    executor, _ = folds.plan_executor(VMAP, {"name": "local"}, folds.FoldJob(STSTNET, SETTINGS, CPU), _data(), 10)
    assert type(executor).__name__ == "BatchedFolds" and executor.group_size == 8


def test_cpu_batched_folds_are_bounded_by_the_available_memory(monkeypatch):
    """On a 64-core machine auto used to batch every fold whatever the model's size (the paper-profile ConvMixer
    keeps about 1.4 GB per fold for its backward pass); the group now fits the available memory."""
    need = measure_fold_bytes(STSTNET, _data(), SETTINGS, CPU)
    monkeypatch.setattr(plan, "usable_cores", lambda: 64)
    monkeypatch.setattr(plan, "available_memory", lambda: int(need * 8))
    executor, _ = folds.plan_executor(VMAP, {"name": "local"}, folds.FoldJob(STSTNET, SETTINGS, CPU), _data(), 10)
    assert type(executor).__name__ == "BatchedFolds" and executor.group_size == 2  # 80 % of 8 needs ÷ 2.5 each
    monkeypatch.setattr(plan, "available_memory", lambda: need)
    executor, planned = folds.plan_executor(VMAP, {"name": "local"}, folds.FoldJob(STSTNET, SETTINGS, CPU), _data(),
                                            10)
    assert type(executor).__name__ == "SequentialFolds"
    assert executor.description == ("fold by fold in this process (not batched: the available memory holds the "
                                     "batched training of one fold at a time; engine.parallel_folds=N batches N "
                                     "anyway)")
    assert planned.threads == 6  # as with processes: 64 cores // 10 folds, so the predictions are alike


def test_a_one_fold_protocol_is_not_measured_for_a_group(monkeypatch):
    monkeypatch.setattr(plan, "measure_fold_bytes", lambda *args: pytest.fail("a one-fold protocol was measured"))
    executor, _ = folds.plan_executor(VMAP, {"name": "local"}, folds.FoldJob(STSTNET, SETTINGS, CPU), _data(), 1)
    assert type(executor).__name__ == "SequentialFolds" and executor.description == "fold by fold in this process"


def test_a_protocol_of_one_fold_is_not_batched(monkeypatch):
    monkeypatch.setattr(plan, "usable_cores", lambda: 8)
    explicit = {**VMAP, "parallel_folds": "4"}
    executor, _ = folds.plan_executor(explicit, {"name": "local"}, folds.FoldJob(STSTNET, SETTINGS, CPU), _data(), 1)
    assert type(executor).__name__ == "SequentialFolds"
