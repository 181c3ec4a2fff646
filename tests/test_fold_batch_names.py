"""Batched (vmap) folds are named by the run's fold numbers, also in a continued run that trains only the folds left."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import merbench.folds.batched as batched
from merbench.errors import RunFailed
from merbench.folds import FoldData, FoldTask
from merbench.folds.batched import BatchedFolds


class Stages:
    def __init__(self):
        self.started: list[str] = []

    def start(self, stage, total, description):
        self.started.append(description)

    def advance(self, stage, steps=1, note=None):
        pass

    def message(self, text):
        pass


def left(indices, of=4) -> list[FoldTask]:
    """The folds a continued run has left to train, of a run of ``of`` folds."""
    return [FoldTask(SimpleNamespace(index=index), index, of=of) for index in indices]


JOB = SimpleNamespace(threads=1, choice=SimpleNamespace(device=torch.device("cpu")), settings=None,
                      recipe=SimpleNamespace(n_classes=3, plugin="ststnet"))
DATA = FoldData(np.zeros((4, 1, 2, 2), np.float32), np.zeros(4, np.int64), np.zeros(4, np.int64))


def test_a_continued_runs_groups_name_its_folds_and_its_fold_count(monkeypatch):
    """Before, a run interrupted during 'Folds 3-4 of 4' continued as 'Folds 1-2 of 2, batched steps'."""
    def train(recipe, inputs, labels, folds, seeds, n_classes, settings, choice, on_step):
        on_step(1, 10)
        return [f"output of fold {fold.index}" for fold in folds]

    monkeypatch.setattr(batched, "train_folds_batched", train)
    stages, done = Stages(), []
    BatchedFolds(2).run(JOB, DATA, left([2, 3]), lambda task, output: done.append(output), stages)
    assert stages.started == ["Folds 3-4 of 4, batched steps"]
    assert done == ["output of fold 2", "output of fold 3"]
    stages = Stages()
    BatchedFolds(2).run(JOB, DATA, left([0, 2, 3]), lambda task, output: None, stages)
    assert stages.started == ["Folds 1, 3 of 4, batched steps", "Fold 4 of 4, batched steps"]


@pytest.mark.parametrize("failure, said", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory"), "folds 3-4: ran out of GPU memory (cpu) training 2 folds as one "),
    (RuntimeError("Expected running_mean to have type BFloat16"), "folds 3-4: batched training "),
])
def test_a_failed_group_of_a_continued_run_names_its_folds(monkeypatch, failure, said):
    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(batched, "train_folds_batched", fail)
    monkeypatch.setattr(batched, "code_failure", lambda exc, plugin: str(exc))
    with pytest.raises(RunFailed) as raised:
        BatchedFolds(2).run(JOB, DATA, left([2, 3]), lambda task, output: None, Stages())
    assert str(raised.value).startswith(said), raised.value


def test_fold_numbers_in_words():
    from merbench.folds.batched import fold_numbers

    assert fold_numbers(left([3])) == "fold 4"
    assert fold_numbers(left([0, 1, 2])) == "folds 1-3"
    assert fold_numbers(left([0, 2])) == "folds 1, 3"
