"""A protocol's folds: the samples it splits, and the checks every fold passes before anything trains."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from merbench.contracts import Dataset, Fold, resolve_factory
from merbench.errors import DataError, PluginError
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


def check_fold_contract(folds: Any, n_samples: int, who: str) -> None:
    """``PluginError`` naming ``who`` (the protocol plugin) when its ``split`` did not return what the contract
    says: a non-empty list of ``Fold``, each part a 1-D array of integer positions 0..n-1.

    Checked before anything else reads the folds: a negative position would silently wrap round to a test sample
    (training on it), and a boolean mask would read as positions 0 and 1.
    """
    fix = "fix the protocol plugin's split() or report it to the plugin's author"
    if not isinstance(folds, (list, tuple)):
        raise PluginError(f"{who}: its split() returned {type(folds).__name__}, not a list of "
                          f"merbench.contracts.Fold; {fix}")
    if not folds:
        raise PluginError(f"{who}: its split() returned no folds; {fix}")
    for number, fold in enumerate(folds, start=1):
        if not isinstance(fold, Fold):
            raise PluginError(f"{who}: its split() returned {type(fold).__name__} as fold {number}, expected "
                              f"merbench.contracts.Fold(index, train, test); {fix}")
        for part in ("train", "test"):
            positions = getattr(fold, part)
            where = f"{who}: fold {number}'s {part} part"
            if not isinstance(positions, np.ndarray):
                raise PluginError(f"{where} is {type(positions).__name__}, not a 1-D numpy array of sample positions; "
                                  f"{fix}")
            if positions.ndim != 1:
                raise PluginError(f"{where} is ndarray with {positions.ndim} dimensions, not a 1-D numpy array of "
                                  f"sample positions; {fix}")
            if positions.size == 0:
                continue  # said below, as an empty part of a fold whatever its dtype
            if positions.dtype == bool:
                raise PluginError(f"{where} is a boolean mask; give integer sample positions "
                                  f"(np.flatnonzero(mask)); {fix}")
            if not np.issubdtype(positions.dtype, np.integer):
                raise PluginError(f"{where} holds {positions.dtype} values; give integer sample positions; {fix}")
            if positions.min() < 0 or positions.max() >= n_samples:
                bad = int(positions.min()) if positions.min() < 0 else int(positions.max())
                raise PluginError(f"{where} holds position {bad}; the dataset has {counted(n_samples, 'sample')} "
                                  f"(positions 0..{n_samples - 1}); {fix}")


def check_folds(folds: list[Fold], subjects: np.ndarray, protocol: str, who: str | None = None) -> list[list[str]]:
    """Validate folds and return, per fold, the subjects found in both train and test.

    ``who`` names the protocol plugin in a message about a broken fold (default: ``protocol 'NAME'``).
    """
    check_fold_contract(folds, len(subjects), who or f"protocol '{protocol}'")
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
