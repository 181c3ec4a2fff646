"""A protocol's folds: the samples it splits, and the checks every fold passes before anything trains."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from merbench.contracts import Dataset, Fold, resolve_factory
from merbench.errors import DataError
from merbench.wording import counted


def protocol_dataset(dataset: Dataset, protocol_spec: Any, options: dict[str, Any]) -> Dataset:
    """The samples the protocol splits: the dataset's, or those its ``expand`` makes (``frame-10fold``)."""
    if protocol_spec.expand is None:
        return dataset
    return resolve_factory(protocol_spec.expand)(dataset, dict(options))


def clip_ids(dataset: Dataset) -> np.ndarray:
    """The clip each sample comes from: ``extra["source_clip"]`` where a protocol expanded clips, else the sample's id."""
    return np.array([str(s.extra.get("source_clip", s.id)) for s in dataset.samples])


def clip_overlaps(folds: list[Fold], clips: np.ndarray) -> int:
    """How many folds have samples of one clip in both training and test."""
    return sum(bool(set(clips[fold.train]) & set(clips[fold.test])) for fold in folds)


def check_folds(folds: list[Fold], subjects: np.ndarray, protocol: str) -> list[list[str]]:
    """Validate folds and return, per fold, the subjects found in both train and test."""
    overlaps = []
    for fold in folds:
        if len(fold.train) == 0 or len(fold.test) == 0:
            raise DataError(f"protocol '{protocol}' produced fold {fold.index + 1} with an empty training or test part")
        if np.intersect1d(fold.train, fold.test).size:
            raise DataError(f"protocol '{protocol}' put the same sample in training and test of fold {fold.index + 1}")
        overlaps.append(sorted(set(subjects[fold.train]) & set(subjects[fold.test])))
    return overlaps


RARE_CLASS_WARNING = "The least populated class in y has only"
"""The start of scikit-learn's warning that a class has fewer samples than folds (said in the user's terms instead)."""


def split_noting_rare_classes(split: Any, labels: np.ndarray, subjects: np.ndarray, seed: int, options: dict[str, Any],
                              domains: Any, classes: list[str], kind: str = "") -> tuple[list[Fold], str | None]:
    """The protocol's folds, and a note in the user's terms when a class has fewer samples than folds (``kind``
    names them, e.g. ``"outer"`` for a tune's).

    scikit-learn's own warning for that (``RARE_CLASS_WARNING``, in its words: "y", "n_splits") is kept back;
    other warnings are shown as they come.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folds = split(labels, subjects, seed, options, domains)
    rare = False
    for warning in caught:
        if issubclass(warning.category, UserWarning) and str(warning.message).startswith(RARE_CLASS_WARNING):
            rare = True
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return folds, rare_class_note(labels, classes, len(folds), "n_splits" in options, kind) if rare else None


def rare_class_note(labels: np.ndarray, classes: list[str], n_folds: int, has_n_splits: bool, kind: str = "") -> str:
    """The note on a class with fewer samples than folds: some test folds have none of it."""
    counts = np.bincount(np.asarray(labels), minlength=len(classes))
    present = [index for index, count in enumerate(counts) if count > 0]
    rarest = min(present, key=lambda index: (counts[index], index))
    count = int(counts[rarest])
    name = classes[rarest] if rarest < len(classes) else str(rarest)
    advice = f"; consider --set protocol.n_splits={count}" if has_n_splits and count >= 2 else ""
    folds = f"{kind} fold" if kind else "fold"
    tests = f"{kind} test folds" if kind else "test folds"
    return (f"{counted(n_folds, folds)}: class '{name}' has only {counted(count, 'sample')}, so some {tests} "
            f"have none of it{advice}")
