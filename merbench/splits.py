"""A protocol's folds: the samples it splits, and the checks every fold passes before anything trains."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from merbench.contracts import Dataset, Fold, resolve_factory
from merbench.dataset_check import DATASET_FIX, check_samples
from merbench.errors import MerbenchError, PluginError, UsageError, error_line
from merbench.registry import get_registry
from merbench.wording import counted, plural

SPLIT_FIX = "fix the protocol plugin's split() or report it to the plugin's author"
EXPAND_FIX = "fix the protocol plugin's expand() or report it to the plugin's author"


def protocol_label(protocol: str) -> str:
    """``protocol plugin 'NAME' (DISTRIBUTION VERSION)`` for a registered protocol (``Registry.label``), else
    ``protocol 'NAME'``: who to blame in a message about the protocol's folds."""
    try:
        return get_registry().label("protocols", protocol)
    except (MerbenchError, KeyError):
        return f"protocol '{protocol}'"


def protocol_dataset(dataset: Dataset, protocol_spec: Any, options: dict[str, Any], who: str | None = None) -> Dataset:
    """The samples the protocol splits: the dataset's, or those its ``expand`` makes (``frame-10fold``).

    What ``expand`` returns is checked as a dataset loader's output is (``dataset_check.check_samples``): a
    ``PluginError`` naming ``who`` (default: ``protocol_label``) and its ``expand()`` when it raises or returns
    something else.
    """
    if protocol_spec.expand is None:
        return dataset
    who = who or protocol_label(protocol_spec.name)
    expand = resolve_factory(protocol_spec.expand, who, "expand")
    try:
        expanded = expand(dataset, dict(options))
    except (MerbenchError, MemoryError):
        raise
    except Exception as exc:
        raise PluginError(f"{who}: its expand() raised {error_line(exc)}; check the protocol.* settings given, or "
                          "report it to the plugin's author") from exc
    if not isinstance(expanded, Dataset):
        raise PluginError(f"{who}: its expand() returned {type(expanded).__name__}, not a merbench.contracts.Dataset "
                          f"(e.g. dataclasses.replace(dataset, samples=...)); {EXPAND_FIX}")
    try:
        check_samples(expanded, f"{who}: its expand()'s dataset")
    except PluginError as exc:
        raise PluginError(str(exc).replace(DATASET_FIX, EXPAND_FIX)) from None
    return expanded


def clip_ids(dataset: Dataset) -> np.ndarray:
    """The clip each sample comes from: ``extra["source_clip"]`` where a protocol expanded clips, else the sample's id."""
    return np.array([sample.clip_id for sample in dataset.samples])


def clip_overlaps(folds: list[Fold], clips: np.ndarray) -> int:
    """How many folds have samples of one clip in both training and test."""
    return sum(bool(set(clips[fold.train]) & set(clips[fold.test])) for fold in folds)


def check_fold_contract(folds: Any, n_samples: int, who: str) -> None:
    """``PluginError`` naming ``who`` (the protocol plugin) when its ``split`` did not return what the contract
    says: a non-empty list of ``Fold``, each with its place in the list as its index (0, 1, 2, ...; a numpy
    integer is made an ``int``), each part a 1-D array of distinct integer positions 0..n-1, and no sample in the
    test part of two folds.

    Checked before anything else reads the folds: a negative position would silently wrap round to a test sample
    (training on it), a boolean mask would read as positions 0 and 1, and a repeated position or fold index would
    count a prediction twice in the scores or overwrite another fold's.
    """
    fix = SPLIT_FIX
    if not isinstance(folds, (list, tuple)):
        raise PluginError(f"{who}: its split() returned {type(folds).__name__}, not a list of "
                          f"merbench.contracts.Fold; {fix}")
    if not folds:
        raise PluginError(f"{who}: its split() returned no folds; {fix}")
    tested_in = np.zeros(n_samples, dtype=np.int64)  # the fold (numbered from 1) that tests each sample; 0: none
    for number, fold in enumerate(folds, start=1):
        if not isinstance(fold, Fold):
            raise PluginError(f"{who}: its split() returned {type(fold).__name__} as fold {number}, expected "
                              f"merbench.contracts.Fold(index, train, test); {fix}")
        index = fold.index
        if not isinstance(index, (int, np.integer)) or isinstance(index, (bool, np.bool_)) or index < 0:
            raise PluginError(f"{who}: fold {number}'s index is {index!r}, not an integer from 0 (give each fold "
                              f"its number from 0: Fold({number - 1}, train, test)); {fix}")
        if int(index) < number - 1:  # every earlier fold has its place as its index: fold index + 1 has this one
            raise PluginError(f"{who}: folds {int(index) + 1} and {number} both have index {index} (results "
                              f"and stored folds are told apart by it); give each fold its own, e.g. "
                              f"Fold({number - 1}, train, test); {fix}")
        if int(index) != number - 1:
            raise PluginError(f"{who}: the fold at place {number - 1} of the list (counting from 0) has index {index}; "
                              f"the indices are the folds' "
                              f"places in the list, 0, 1, 2, ... (results, stored folds and per-fold leakage are "
                              f"matched by them): Fold({number - 1}, train, test); {fix}")
        if not isinstance(index, int):  # a numpy integer: the contract's int, as training and the store expect
            object.__setattr__(fold, "index", int(index))
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
            values, counts = np.unique(positions, return_counts=True)
            if (counts > 1).any():
                repeated = int(values[counts > 1][0])
                raise PluginError(f"{where} repeats position {repeated} ({int(counts[counts > 1][0])} times); each "
                                  f"sample is in a part once (np.unique(positions)); {fix}")
        if fold.test.size == 0:
            continue  # an empty part: said by check_folds
        earlier = tested_in[fold.test]
        if (earlier > 0).any():
            first = int(np.flatnonzero(earlier > 0)[0])
            raise PluginError(f"{who}: sample position {int(fold.test[first])} is in the test part of folds "
                              f"{int(earlier[first])} and {number}; each sample is tested in one fold at most (its "
                              f"prediction is scored once); {fix}")
        tested_in[fold.test] = number


def same_folds(first: Any, second: Any) -> bool:
    """Whether two results of a ``split`` give the same folds: the same indices and the same positions in each part,
    in order (``second`` need not be well formed)."""
    try:
        return len(first) == len(second) and all(
            int(a.index) == int(b.index) and np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
            for a, b in zip(first, second))
    except (TypeError, AttributeError, ValueError):
        return False


def check_folds(folds: list[Fold], subjects: np.ndarray, protocol: str, who: str | None = None) -> list[list[str]]:
    """Validate folds and return, per fold, the subjects found in both train and test.

    ``who`` names the protocol plugin in a message about a broken fold (default: ``protocol_label(protocol)``).
    """
    who = who or protocol_label(protocol)
    check_fold_contract(folds, len(subjects), who)
    overlaps = []
    for number, fold in enumerate(folds, start=1):
        for part, positions in (("train", fold.train), ("test", fold.test)):
            if len(positions) == 0:
                raise PluginError(f"{who}: fold {number}'s {part} part is empty; every fold needs samples to train "
                                  f"on and samples to test; {SPLIT_FIX}")
        shared = np.intersect1d(fold.train, fold.test)
        if shared.size:
            more = f" ({counted(shared.size - 1, 'other sample')} too)" if shared.size > 1 else ""
            raise PluginError(f"{who}: sample position {int(shared[0])} (subject {subjects[shared[0]]}) is in both "
                              f"the training and the test part of fold {number}{more}; a fold never trains on a "
                              f"sample it tests; {SPLIT_FIX}")
        overlaps.append(sorted(set(subjects[fold.train]) & set(subjects[fold.test])))
    return overlaps


def _class_name(classes: list[str], index: int) -> str:
    return classes[index] if index < len(classes) else str(index)


ONE_CLASS_FIX = ("use a dataset with more subjects of each class, or a protocol or settings that give each "
                 "training part two classes (fewer folds; for cross-dataset, a training domain with two classes)")


def check_training_classes(folds: list[Fold], labels: np.ndarray, classes: list[str], protocol: str,
                           kind: str = "", fix: str = ONE_CLASS_FIX) -> None:
    """Refuse folds whose training part holds a single class: nothing can be learnt from it, and the fold's
    score would say only which class its test clips happen to have (``kind`` names them, e.g. ``"outer"``;
    ``protocol`` empty for folds no protocol made, such as a tune's inner folds)."""
    labels = np.asarray(labels)
    for number, fold in enumerate(folds, start=1):
        present = np.unique(labels[fold.train])
        if len(present) < 2:
            name = f"{kind} fold" if kind else "fold"
            raise UsageError(
                f"{name} {number}{f' of protocol {protocol!r}' if protocol else ''} trains on one class only "
                f"('{_class_name(classes, int(present[0]))}', "
                f"{counted(len(fold.train), 'clip')}): a classifier needs at least two classes to learn from; {fix}"
            )


def untrained_classes_warning(folds: list[Fold], labels: np.ndarray, classes: list[str], kind: str = "") -> str | None:
    """The warning for folds that test a class their training part has no clip of (``None``: every fold trains on
    each class it tests). A model cannot learn those clips' class, so whatever it predicts for them is a guess."""
    labels = np.asarray(labels)
    gaps = []
    for number, fold in enumerate(folds, start=1):
        missing = sorted(set(labels[fold.test].tolist()) - set(labels[fold.train].tolist()))
        if missing:
            gaps.append((number, missing, int(np.isin(labels[fold.test], missing).sum())))
    if not gaps:
        return None
    number, missing, tested = gaps[0]
    name = f"{kind} folds" if kind else "folds"
    names = ", ".join(f"'{_class_name(classes, index)}'" for index in missing)
    return (f"{len(gaps)} of {len(folds)} {name} test a class their training part has no clip of (first: fold "
            f"{number}, {plural(missing, 'class')} {names}, {counted(tested, 'test clip')}): the model "
            "cannot learn it there, so its predictions for those clips are guesses (the class has too few subjects "
            "for this protocol, or none in the training domain)")


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
