"""Stratified folds grouped by subject, the same for a seed on every supported scikit-learn.

``StratifiedGroupKFold(shuffle=True)`` shuffled its per-subject class counts
without their subjects before scikit-learn 1.8, so one seed gave other, barely
stratified folds on older versions (1.8 needs Python 3.11; merbench supports
3.10). The subjects are put in a seeded random order here instead and the
splitter runs without its own shuffle: the folds are those scikit-learn >= 1.8
gives with ``shuffle=True``, on every version.
"""

from __future__ import annotations

import numpy as np


def seeded_subject_order(subjects: np.ndarray, seed: int) -> np.ndarray:
    """Each sample's subject renumbered 0, 1, … in a random order drawn from ``seed``: what scikit-learn >= 1.8's
    ``StratifiedGroupKFold(shuffle=True, random_state=seed)`` makes of the groups before it assigns them."""
    _, subject_of = np.unique(subjects, return_inverse=True)
    drawn = np.arange(int(subject_of.max()) + 1 if subject_of.size else 0)
    np.random.RandomState(seed).shuffle(drawn)
    number = np.empty_like(drawn)
    number[drawn] = np.arange(drawn.size)
    return number[subject_of.ravel()]


def stratified_subject_folds(labels: np.ndarray, subjects: np.ndarray, n_splits: int,
                             seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` positions of ``n_splits`` folds stratified by ``labels`` with no subject in two folds, in
    the seeded order of ``seeded_subject_order``. scikit-learn's ``ValueError`` and warnings pass through."""
    from sklearn.model_selection import StratifiedGroupKFold  # imported here: listing plugins stays fast

    splitter = StratifiedGroupKFold(n_splits=n_splits)
    return list(splitter.split(np.zeros(len(labels)), labels, groups=seeded_subject_order(subjects, seed)))
