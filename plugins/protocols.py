"""Protocols: ``subject-10fold`` (merbench's standard), ``loso``, ``megc2019``, ``cross-dataset``, and the leaky
``sample-10fold`` (the CABM-FMER paper's) and ``frame-10fold``.

The k-fold protocols use scikit-learn splitters, shuffled with the run's seed:

* ``subject-10fold``: ``StratifiedGroupKFold`` grouped by subject, so no subject
  is ever in both the training and the test part of a fold;
* ``loso``: ``LeaveOneGroupOut`` by subject, one fold per subject;
* ``megc2019``: LOSO over a composite whose samples come from several domains;
* ``cross-dataset``: train on one domain, test on another;
* ``sample-10fold``: ``StratifiedKFold`` over samples. The same person appears
  in training and test, which inflates scores; runs under it are always flagged
  as not subject-independent;
* ``frame-10fold``: each clip becomes several samples, one per onset→apex'
  frame pair (apex' = the apex and its neighbours), split by
  ``StratifiedKFold`` without grouping by clip or subject: near-copies of a
  clip sit in training and test. A leaky variant for ``merbench leakage``
  (docs/leakage.md), always flagged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from merbench.contracts import Dataset, Fold, ProtocolPlugin
from merbench.errors import UsageError
from merbench.hookspecs import hookimpl
from merbench.subject_folds import stratified_subject_folds


def _n_splits(options: dict[str, Any]) -> int:
    n_splits = int(options["n_splits"])
    if n_splits < 2:
        raise UsageError(f"protocol.n_splits={n_splits}: must be at least 2")
    return n_splits


def _to_folds(splits) -> list[Fold]:
    return [Fold(index=i, train=np.asarray(train), test=np.asarray(test)) for i, (train, test) in enumerate(splits)]


def subject_kfold(
    labels: np.ndarray, subjects: np.ndarray, seed: int, options: dict[str, Any], domains: np.ndarray | None = None
) -> list[Fold]:
    """Stratified k-fold grouped by subject (no subject in two folds)."""
    n_splits = _n_splits(options)
    n_subjects = len(np.unique(subjects))
    if n_subjects < n_splits:
        raise UsageError(
            f"subject-10fold needs at least {n_splits} subjects, the dataset has {n_subjects}; "
            f"use --set protocol.n_splits={n_subjects} or a dataset with more subjects"
        )
    return _to_folds(stratified_subject_folds(labels, subjects, n_splits, seed))


def sample_kfold(
    labels: np.ndarray, subjects: np.ndarray, seed: int, options: dict[str, Any], domains: np.ndarray | None = None,
    name: str = "sample-10fold",
) -> list[Fold]:
    """Stratified k-fold over samples (subjects leak between train and test)."""
    n_splits = _n_splits(options)
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() < n_splits:
        rare, fewest = classes[counts.argmin()], int(counts.min())
        fix = (f"use --set protocol.n_splits={fewest}" if fewest >= 2 else
               "fewer folds do not help (even 2 folds need 2 samples of every class): add samples of that class or "
               "leave it out with the dataset's class set (dataset.classes)")
        raise UsageError(f"{name} with {n_splits} folds (protocol.n_splits) needs at least {n_splits} samples of every "
                         f"class; class {rare} has {fewest}: {fix}")
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return _to_folds(splitter.split(np.zeros(len(labels)), labels))


def frame_apexes(onset: int, apex: int, offset: int, n_frames: int, pairs: int) -> list[int]:
    """Up to ``pairs`` apex frames for one clip: the apex, then its neighbours alternately after and before it.

    Every chosen frame lies after the onset and at most at the offset (and
    inside the clip's frames), so each pair is a real onset→later-frame motion.
    """
    last = min(offset, n_frames - 1)
    chosen = [apex] if onset < apex <= last else []
    distance = 1
    while len(chosen) < pairs and (apex + distance <= last or apex - distance > onset):
        for candidate in (apex + distance, apex - distance):
            if len(chosen) < pairs and onset < candidate <= last:
                chosen.append(candidate)
        distance += 1
    return chosen or [apex]


def expand_frame_pairs(dataset: Dataset, options: dict[str, Any]) -> Dataset:
    """One sample per onset→apex' frame pair of each clip (``protocol.pairs`` per clip at most).

    Sample ids get ``#apexN`` (N: the frame index used as apex); ``extra["source_clip"]``
    keeps the clip's id. A clip without an apex annotation starts from its middle frame.
    """
    if dataset.gives != "frames":
        raise UsageError(f"frame-10fold makes several frame pairs of each clip, but dataset '{dataset.name}' gives one "
                         "precomputed image per sample; use sample-10fold or a dataset of frames")
    pairs = int(options["pairs"])
    samples = []
    for sample in dataset.samples:
        apex = sample.apex if sample.apex is not None else (sample.onset + sample.offset) // 2
        for index in frame_apexes(sample.onset, apex, sample.offset, len(sample.frames), pairs):
            samples.append(dataclasses.replace(sample, id=f"{sample.id}#apex{index}", apex=index,
                                               extra={**sample.extra, "source_clip": sample.id}))
    summary = {**dataset.summary, "frame_pairs": {"clips": len(dataset.samples), "samples": len(samples),
                                                  "pairs_per_clip": pairs}}
    return dataclasses.replace(dataset, samples=tuple(samples), summary=summary)


def frame_kfold(
    labels: np.ndarray, subjects: np.ndarray, seed: int, options: dict[str, Any], domains: np.ndarray | None = None
) -> list[Fold]:
    """Stratified k-fold over frame-pair samples (frames of one clip, and subjects, leak between train and test)."""
    return sample_kfold(labels, subjects, seed, options, domains, name="frame-10fold")


def leave_one_subject_out(
    labels: np.ndarray, subjects: np.ndarray, seed: int, options: dict[str, Any], domains: np.ndarray | None = None
) -> list[Fold]:
    """One fold per subject, tested on that subject alone (folds in sorted subject order)."""
    if len(np.unique(subjects)) < 2:
        raise UsageError("loso needs at least 2 subjects; the dataset has 1")
    from sklearn.model_selection import LeaveOneGroupOut

    return _to_folds(LeaveOneGroupOut().split(np.zeros(len(labels)), labels, groups=subjects))


def megc2019_loso(
    labels: np.ndarray, subjects: np.ndarray, seed: int, options: dict[str, Any], domains: np.ndarray | None = None
) -> list[Fold]:
    """LOSO over a composite of several source datasets (scores are also reported per domain)."""
    found = sorted(set(domains)) if domains is not None else []
    if len(found) < 2:
        raise UsageError(
            f"megc2019 scores a composite of several datasets, but every sample comes from {found[0] if found else 'one source'}; "
            "use --dataset megc2019 (or a dataset with a domain per sample: a manifest with a domain column, synthetic "
            "with --set dataset.domains=3), or --protocol loso"
        )
    return leave_one_subject_out(labels, subjects, seed, options)


def cross_dataset(
    labels: np.ndarray, subjects: np.ndarray, seed: int, options: dict[str, Any], domains: np.ndarray | None = None
) -> list[Fold]:
    """One fold: train on every sample of domain ``protocol.train``, test on domain ``protocol.test``."""
    found = sorted(set(domains)) if domains is not None else []
    if len(found) < 2:
        raise UsageError(
            f"cross-dataset trains on one domain and tests on another, but every sample comes from "
            f"{found[0] if found else 'one source'}; use a dataset with two domains or more (megc2019, a manifest "
            "with a domain column, synthetic with --set dataset.domains=2) or another protocol (subject-10fold, loso)"
        )
    train, test = str(options["train"]), str(options["test"])
    for key, value in (("train", train), ("test", test)):
        if value not in found:
            raise UsageError(
                f"protocol.{key}={value or '(not set)'}: choose a domain of the dataset: {', '.join(found) or 'none'} "
                f"(e.g. --set protocol.train={found[0]} protocol.test={found[1]})"
            )
    if train == test:
        raise UsageError(f"protocol.train and protocol.test are both {train}; cross-dataset needs two different domains")
    positions = np.arange(len(labels))
    return [Fold(index=0, train=positions[domains == train], test=positions[domains == test])]


@hookimpl
def merbench_register_protocols(register):
    """Register ``subject-10fold``, ``sample-10fold``, ``frame-10fold``, ``loso``, ``megc2019`` and ``cross-dataset``."""
    register(
        ProtocolPlugin(
            name="megc2019",
            folds="per subject",
            partition=True,
            split=megc2019_loso,
            description="MEGC2019: LOSO over a composite of datasets, UF1/UAR overall and per domain",
            subject_independent=True,
        )
    )
    register(
        ProtocolPlugin(
            name="cross-dataset",
            folds="one",
            partition=False,
            split=cross_dataset,
            description="Train on one domain, test on another (--set protocol.train=A protocol.test=B)",
            subject_independent=True,
            options={"train": "", "test": ""},
        )
    )
    register(
        ProtocolPlugin(
            name="loso",
            folds="per subject",
            partition=True,
            split=leave_one_subject_out,
            description="Leave one subject out: one fold per subject (subject-independent; the field's standard)",
            subject_independent=True,
        )
    )
    register(
        ProtocolPlugin(
            name="subject-10fold",
            folds="n_splits",
            partition=True,
            split=subject_kfold,
            description="Stratified 10-fold grouped by subject (subject-independent; merbench's standard)",
            subject_independent=True,
            options={"n_splits": 10},
            option_ranges={"n_splits": ">= 2"},
        )
    )
    register(
        ProtocolPlugin(
            name="sample-10fold",
            folds="n_splits",
            partition=True,
            split=sample_kfold,
            description="Stratified 10-fold over samples, as in the CABM-FMER paper (NOT subject-independent)",
            subject_independent=False,
            options={"n_splits": 10},
            option_ranges={"n_splits": ">= 2"},
            warning="sample-10fold puts clips of the same subject in training and test: scores are inflated "
            "and not comparable with subject-independent protocols",
        )
    )
    register(
        ProtocolPlugin(
            name="frame-10fold",
            folds="n_splits",
            partition=True,
            split=frame_kfold,
            description="Leaky: several frame pairs of each clip as samples, stratified 10-fold without grouping by clip",
            subject_independent=False,
            options={"n_splits": 10, "pairs": 5},
            option_ranges={"n_splits": ">= 2", "pairs": ">= 1"},
            warning="frame-10fold uses several frame pairs of each clip as separate samples and splits them without "
            "grouping by clip: near-copies of a test clip are in training, so scores are inflated (docs/leakage.md)",
            expand=expand_frame_pairs,
        )
    )
