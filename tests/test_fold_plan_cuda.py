"""`engine.parallel_folds=N` on CUDA without batched folds trains fold by fold, and the plan says why."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import merbench.folds as folds
from merbench.engine import DeviceChoice, TrainSettings

RECIPE = folds.ModelRecipe("merbench_plugins.models.ststnet:build_model",
                           {"filters": [3, 5, 8], "kernel": 3, "batchnorm": True, "dropout": 0.2}, 3, 3, 28)
CUDA = DeviceChoice(torch.device("cuda"), torch.bfloat16, "cuda (stand-in)")
SETTINGS = TrainSettings(1, 8, 0.01, 0.0, 0.0, "none")
DATA = folds.FoldData(np.zeros((8, 3, 28, 28), np.float32), np.zeros(8, int), np.arange(8))


def planned(mode: str, settings: TrainSettings = SETTINGS) -> dict:
    engine = {"parallel_folds": "4", "parallel_mode": mode, "threads": 0}
    executor, job = folds.plan_executor(engine, {"name": "local"}, folds.FoldJob(RECIPE, settings, CUDA), DATA, 4)
    return folds.describe_plan(executor, job)


@pytest.mark.parametrize("settings, why", [
    (SETTINGS, "not 4 at once: on CUDA worker processes would compete for the one GPU; engine.parallel_mode=vmap "
               "trains 4 at once as one batched computation"),
    (dataclasses.replace(SETTINGS, compile=True),
     "not 4 at once: on CUDA batched folds (vmap) cannot apply engine.compile, and worker processes would compete"),
    (dataclasses.replace(SETTINGS, early_stopping=5),
     "not 4 at once: on CUDA batched folds (vmap) need a torch model trained without early stopping, and worker"),
])
def test_processes_on_cuda_train_fold_by_fold_and_the_plan_says_why(settings, why):
    """Before, `engine.parallel_mode=processes engine.parallel_folds=4` on CUDA recorded a plain 'fold by fold in this
    process', while docs/scale.md said the folds go to 4 worker processes."""
    plan = planned("processes", settings)
    assert plan["executor"] == "SequentialFolds"
    assert plan["description"].startswith(f"fold by fold in this process ({why}"), plan["description"]


def test_auto_on_cuda_that_cannot_batch_says_why_too():
    plan = planned("auto", dataclasses.replace(SETTINGS, compile=True))
    assert plan["executor"] == "SequentialFolds" and "cannot apply engine.compile" in plan["description"]


def test_fold_by_fold_asked_for_says_nothing_more():
    engine = {"parallel_folds": "1", "parallel_mode": "processes", "threads": 0}
    executor, _ = folds.plan_executor(engine, {"name": "local"}, folds.FoldJob(RECIPE, SETTINGS, CUDA), DATA, 4)
    assert executor.description == "fold by fold in this process"
