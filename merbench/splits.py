"""A protocol's folds: the samples it splits, and the checks every fold passes before anything trains."""

from __future__ import annotations

from typing import Any

import numpy as np

from merbench.contracts import Dataset, Fold, resolve_factory
from merbench.errors import DataError


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
