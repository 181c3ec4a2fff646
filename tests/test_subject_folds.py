"""Folds grouped by subject do not depend on scikit-learn's own shuffle, which changed in 1.8 (merbench.subject_folds)."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
import sklearn.model_selection

from merbench.contracts import Fold
from merbench.subject_folds import seeded_subject_order, stratified_subject_folds
from merbench.tuning import nested_split
from merbench_plugins.protocols import subject_kfold


def mixed_dataset(seed: int = 0, n_subjects: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Subjects named out of order with 3 to 8 clips each and imbalanced labels."""
    rng = np.random.default_rng(seed)
    labels: list[int] = []
    subjects: list[str] = []
    for s in rng.permutation(n_subjects):
        n = int(rng.integers(3, 9))
        labels += rng.choice(3, size=n, p=[0.5, 0.3, 0.2]).tolist()
        subjects += [f"sub{s}"] * n
    return np.array(labels), np.array(subjects)


class ShuffleRefused(sklearn.model_selection.StratifiedGroupKFold):
    """A ``StratifiedGroupKFold`` that refuses its own shuffle: before scikit-learn 1.8 it gave other folds."""

    def __init__(self, n_splits=5, shuffle=False, random_state=None):
        assert not shuffle, "folds must not depend on StratifiedGroupKFold's shuffle, which changed in scikit-learn 1.8"
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)


def parts_of(splits) -> list[list[int]]:
    return [sorted(np.asarray(test).tolist()) for _, test in splits]


def test_subject_10fold_and_the_inner_folds_of_tune_do_not_use_scikit_learns_shuffle(monkeypatch):
    labels, subjects = mixed_dataset()
    folds = subject_kfold(labels, subjects, 7, {"n_splits": 10})
    outer = Fold(0, folds[0].train, folds[0].test)
    positions, inner = nested_split(labels, subjects, outer, 3, 7)
    monkeypatch.setattr(sklearn.model_selection, "StratifiedGroupKFold", ShuffleRefused)
    again = subject_kfold(labels, subjects, 7, {"n_splits": 10})
    assert parts_of((f.train, f.test) for f in again) == parts_of((f.train, f.test) for f in folds)
    positions_again, inner_again = nested_split(labels, subjects, outer, 3, 7)
    np.testing.assert_array_equal(positions_again, positions)
    assert parts_of((f.train, f.test) for f in inner_again) == parts_of((f.train, f.test) for f in inner)


@pytest.mark.skipif(tuple(int(part) for part in sklearn.__version__.split(".")[:2]) < (1, 8),
                    reason="scikit-learn's own shuffle keeps each subject with its class counts from 1.8 on")
@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1])
@pytest.mark.parametrize("n_splits", [2, 5, 10])
def test_the_folds_are_those_scikit_learn_1_8_gives_with_its_own_shuffle(seed, n_splits):
    labels, subjects = mixed_dataset(seed % 1000)
    own = sklearn.model_selection.StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    expected = list(own.split(np.zeros(len(labels)), labels, groups=subjects))
    assert parts_of(stratified_subject_folds(labels, subjects, n_splits, seed)) == parts_of(expected)


def test_the_seeded_order_keeps_each_subjects_samples_together_and_changes_with_the_seed():
    subjects = np.array(["b", "a", "c", "a", "b", "d", "c"])
    first = seeded_subject_order(subjects, 0)
    for name in set(subjects.tolist()):
        assert len(set(first[subjects == name].tolist())) == 1
    assert sorted(set(first.tolist())) == [0, 1, 2, 3]
    np.testing.assert_array_equal(seeded_subject_order(subjects, 0), first)
    orders = {tuple(seeded_subject_order(subjects, seed).tolist()) for seed in range(10)}
    assert len(orders) > 1
