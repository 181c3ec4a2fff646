"""Protocols ``subject-10fold`` (merbench's standard), ``loso`` and ``sample-10fold`` (the CABM-FMER paper's).

Both use scikit-learn splitters, shuffled with the run's seed:

* ``subject-10fold``: ``StratifiedGroupKFold`` grouped by subject, so no subject
  is ever in both the training and the test part of a fold;
* ``loso``: ``LeaveOneGroupOut`` by subject, one fold per subject;
* ``sample-10fold``: ``StratifiedKFold`` over samples. The same person appears
  in training and test, which inflates scores; runs under it are always flagged
  as not subject-independent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

from merbench.contracts import Fold, ProtocolPlugin
from merbench.errors import UsageError
from merbench.hookspecs import hookimpl


def _n_splits(options: dict[str, Any]) -> int:
    n_splits = int(options["n_splits"])
    if n_splits < 2:
        raise UsageError(f"protocol.n_splits={n_splits}: must be at least 2")
    return n_splits


def _to_folds(splits) -> list[Fold]:
    return [Fold(index=i, train=np.asarray(train), test=np.asarray(test)) for i, (train, test) in enumerate(splits)]


def subject_kfold(labels: np.ndarray, subjects: np.ndarray, seed: int, options: dict[str, Any]) -> list[Fold]:
    """Stratified k-fold grouped by subject (no subject in two folds)."""
    n_splits = _n_splits(options)
    n_subjects = len(np.unique(subjects))
    if n_subjects < n_splits:
        raise UsageError(
            f"subject-10fold needs at least {n_splits} subjects, the dataset has {n_subjects}; "
            f"use --set protocol.n_splits={n_subjects} or a dataset with more subjects"
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return _to_folds(splitter.split(np.zeros(len(labels)), labels, groups=subjects))


def sample_kfold(labels: np.ndarray, subjects: np.ndarray, seed: int, options: dict[str, Any]) -> list[Fold]:
    """Stratified k-fold over samples (subjects leak between train and test)."""
    n_splits = _n_splits(options)
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() < n_splits:
        raise UsageError(
            f"sample-10fold needs at least {n_splits} samples of every class; class {classes[counts.argmin()]} has "
            f"{counts.min()}: use --set protocol.n_splits={counts.min()}"
        )
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return _to_folds(splitter.split(np.zeros(len(labels)), labels))


def leave_one_subject_out(labels: np.ndarray, subjects: np.ndarray, seed: int, options: dict[str, Any]) -> list[Fold]:
    """One fold per subject, tested on that subject alone (folds in sorted subject order)."""
    if len(np.unique(subjects)) < 2:
        raise UsageError("loso needs at least 2 subjects; the dataset has 1")
    return _to_folds(LeaveOneGroupOut().split(np.zeros(len(labels)), labels, groups=subjects))


@hookimpl
def merbench_register_protocols(register):
    """Register ``subject-10fold``, ``sample-10fold`` and ``loso``."""
    register(
        ProtocolPlugin(
            name="loso",
            split=leave_one_subject_out,
            description="Leave one subject out: one fold per subject (subject-independent; the field's standard)",
            subject_independent=True,
        )
    )
    register(
        ProtocolPlugin(
            name="subject-10fold",
            split=subject_kfold,
            description="Stratified 10-fold grouped by subject (subject-independent; merbench's standard)",
            subject_independent=True,
            options={"n_splits": 10},
        )
    )
    register(
        ProtocolPlugin(
            name="sample-10fold",
            split=sample_kfold,
            description="Stratified 10-fold over samples, as in the CABM-FMER paper (NOT subject-independent)",
            subject_independent=False,
            options={"n_splits": 10},
            warning="sample-10fold puts clips of the same subject in training and test: scores are inflated "
            "and not comparable with subject-independent protocols",
        )
    )
