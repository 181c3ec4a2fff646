"""A tune's refit that trained but gave NaN scores for the outer test part fell back to the next-best trial, so the
outer test part's inputs could choose the configuration. Only a refit whose training failed falls back now; NaN on the
test part (``PredictionFailed``) stops the tune, naming the fold and trial."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from merbench.engine import choose_device, train_fold
from merbench.errors import PredictionFailed, RunFailed
from test_engine import SETTINGS, toy_data

pytest.importorskip("optuna")

from tune_runs import LR_SPACE, failing_refits, tiny_tune  # noqa: E402


class NaNWhenPredicting(nn.Module):
    """Trains normally; in eval mode, NaN for every sample."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))

    def forward(self, x):
        out = self.net(x)
        return out if self.training else out * float("nan")


def test_nan_scores_for_the_test_part_are_a_prediction_failure_and_for_a_validation_part_not():
    inputs, labels, fold = toy_data()
    with pytest.raises(PredictionFailed, match="predicting: .* gave NaN"):
        train_fold(NaNWhenPredicting, inputs, labels, fold, 3, SETTINGS, choose_device("cpu"), seed=0)
    subjects = (torch.arange(len(labels)) % 6).numpy().astype(str)
    early = type(SETTINGS)(**{**SETTINGS.__dict__, "early_stopping": 2})
    with pytest.raises(RunFailed) as raised:  # the validation part is training data: a training failure
        train_fold(NaNWhenPredicting, inputs, labels, fold, 3, early, choose_device("cpu"), seed=0, subjects=subjects)
    assert "predicting" in str(raised.value) and not isinstance(raised.value, PredictionFailed)


def test_a_refit_with_nan_on_the_outer_test_part_does_not_fall_back_to_another_trial(run_cli, tmp_path, monkeypatch):
    refits = failing_refits(monkeypatch, 1, lambda fold_index, settings: PredictionFailed(
        f"fold {fold_index + 1}, predicting: ststnet gave NaN (or tied infinite) scores for 4 of 4 samples, although "
        "its training loss stayed finite"))
    result, summary = tiny_tune(run_cli, tmp_path, LR_SPACE + "model.dropout: {type: float, low: 0.0, high: 0.5}\n")
    said = " ".join(result.err.split())
    assert result.code == 1 and summary is None, said
    assert refits == [0], "no other trial was refitted"
    assert ("outer fold 1: the refit of trial " in said and "trained, but predicting: ststnet gave NaN (or tied "
            "infinite) scores for 4 of 4 samples" in said), said
    assert ("The next-best trial is not refitted instead, since the outer test part's inputs would then choose the "
            "configuration; narrow --space") in said


def test_batched_folds_raise_the_same_prediction_failure():
    from sklearn.model_selection import KFold

    from merbench.contracts import Fold
    from merbench.fold_batch import train_folds_batched

    inputs, labels, _ = toy_data()
    folds = [Fold(i, train, test) for i, (train, test) in enumerate(KFold(2).split(np.zeros(len(labels))))]
    with pytest.raises(PredictionFailed, match="predicting: .* gave NaN"):
        train_folds_batched(NaNWhenPredicting, inputs, labels, folds, [1, 2], 3, SETTINGS, choose_device("cpu"))
