"""A run's result as a type: ``RunResult`` and the records it holds (docs/design.md, Result schema).

``RunResult.to_dict()`` is the JSON object ``merbench run --json`` writes and the
results store keeps: the same keys in the same order as before results had a
type. ``RunResult.from_dict(data, where)`` reads one back, also as older merbench
versions wrote it. Only the minimum keys of docs/design.md are required; any
other key may be absent and reads as ``None`` (not recorded), which ``to_dict``
leaves out again. The keys in a record's ``NULLABLE`` are the exception: their
``null`` is a recorded value (no epoch selected, no domain), so ``to_dict``
writes it, unless the record was read without that key (its ``unrecorded``).
A missing required key or a value of the wrong type raises one ``DataError``
naming the key and ``where`` the result came from.

The configuration, environment, dataset summary, preprocessing record, per-domain
scores, engine plan and memory stay plain dicts: their keys belong to plugins and
machines, not to this schema. Metric scores are plain ``{metric: value}`` dicts
(``result.pooled["uf1"]``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

from merbench.contracts import ReportedScore
from merbench.errors import DataError
from merbench.wording import counted, number_text

Scores = dict[str, float]
"""Metric name → value (fractions 0..1), e.g. ``{"uf1": 0.61, "uar": 0.60, ...}``."""

CORE_METRICS = ("uf1", "uar", "accuracy")
"""The scores every result of every merbench version records, pooled and per fold (the audit checks them)."""

DOMAIN_METRICS = CORE_METRICS
"""The scores every domain of ``per_domain`` has."""

FIX = "the result was not written by merbench or was changed since; run it again with merbench run"

RESULT_SCHEMA = 1
"""The version of a run's JSON (``schema_version``) this merbench writes, and the newest it reads. A result without
the key was written before results carried one (2026-12-05): version 1, read with the conventions of its time."""


def check_schema_version(data: Mapping[str, Any], where: str) -> None:
    """Raise ``DataError`` naming ``where`` when a result's ``schema_version`` is not one this merbench reads: newer
    (written by a newer merbench, whose keys may mean other things) or not a whole number."""
    version = data.get("schema_version", 1)
    if not _integer(version) or version < 1:
        raise DataError(f"{where}: 'schema_version' must be a whole number from 1, not {version!r}; {FIX}")
    if version > RESULT_SCHEMA:
        raise DataError(f"{where}: written by a newer merbench (result schema {version}); this merbench reads "
                        f"result schema {RESULT_SCHEMA} and older: upgrade merbench (pip install -U merbench) to read it")


# ------------------------------------------------------------------ reading JSON values, naming what is wrong


@dataclass(frozen=True)
class Kind:
    """What a JSON value must be: its description in messages (one, several) and the test."""

    what: str
    test: Callable[[Any], bool]
    many: str = "values"
    item: "Kind | None" = None
    """For an object of values of one kind (``SCORES``): that kind, so that a message names the key at fault."""


DOCUMENT_NAMES = {"significance": "a significance comparison", "audit": "an audit report"}
"""How messages name a ``document_kind`` that is not a summary (``a tune summary`` for the others)."""


def document_name(kind: str) -> str:
    """``kind`` (a ``document_kind``) in words: ``a leakage summary``, ``a significance comparison``..."""
    return DOCUMENT_NAMES.get(kind, f"a {kind} summary")


def document_kind(document: Any) -> str | None:
    """What a merbench JSON file holds: ``run`` (a run's result), a ``tune``, ``leakage`` or ``grid`` summary, a
    ``significance`` comparison (``merbench significance --json``), an ``audit`` report (``merbench audit
    --json``), or ``None``. ``DOCUMENT_NAMES`` says each in words."""
    if not isinstance(document, dict):
        return None
    summary = {"tune": "tune", "merbench-leakage": "leakage", "merbench-significance": "significance",
               "merbench-audit": "audit"}.get(str(document.get("kind")))
    if summary:
        return summary
    if "cells" in document and "comparison" in document:
        return "grid"
    if "model" not in document:
        return None
    # a run's result, also one that lost a key (it is then named as damaged, not read as a file of options)
    return "run" if any(key in document for key in ("folds", "pooled", "confusion_matrix", "environment")) else None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _list_of(kind: Kind) -> Kind:
    return Kind(f"a list of {kind.many}", lambda v: isinstance(v, list) and all(kind.test(x) for x in v))


def _or_null(kind: Kind) -> Kind:
    return Kind(f"{kind.what} or null", lambda v: v is None or kind.test(v))


INTEGER = Kind("an integer", _integer, "integers")
NUMBER = Kind("a number", _number, "numbers")
TEXT = Kind("a string", lambda v: isinstance(v, str), "strings")
NAME = Kind("a string or integer", lambda v: isinstance(v, str) or _integer(v), "strings or integers")
BOOLEAN = Kind("true or false", lambda v: isinstance(v, bool))
OBJECT = Kind("a JSON object", lambda v: isinstance(v, dict))
LIST = Kind("a list", lambda v: isinstance(v, list))
SCORES = Kind("an object of numbers", lambda v: isinstance(v, dict) and all(_number(x) for x in v.values()),
              item=NUMBER)
TEXTS = _list_of(TEXT)
NAMES = _list_of(NAME)
MATRIX = Kind("a list of lists of integers", _list_of(_list_of(INTEGER)).test)


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if _number(value) else type(value).__name__)


class Fields:
    """The fields of one JSON object of a result, read with the path they have in it (``folds[2].metrics``)."""

    def __init__(self, data: Any, where: str, path: str = ""):
        if not isinstance(data, dict):
            raise DataError(f"{where}: {f'{path!r} ' if path else ''}must be a JSON object, not "
                            f"{_type_name(data)}; {FIX}")
        self.data, self.where, self.path = data, where, path

    def at(self, key: str) -> str:
        """The path of ``key`` in the result."""
        return f"{self.path}.{key}" if self.path else key

    def need(self, key: str, kind: Kind) -> Any:
        """The value of a key every result has; ``DataError`` when it is missing or not ``kind``."""
        if key not in self.data:
            raise DataError(f"{self.where}: {self.at(key)!r} is missing; {FIX}")
        return self._checked(key, kind)

    def absent(self, keys: tuple[str, ...]) -> frozenset[str]:
        """Which of ``keys`` the object does not have."""
        return frozenset(key for key in keys if key not in self.data)

    def may(self, key: str, kind: Kind) -> Any:
        """The value of a key older results lack (``None`` when absent); ``DataError`` when it is not ``kind``."""
        return self._checked(key, kind) if key in self.data else None

    def record(self, key: str, read: Callable[[Fields], Any], optional: bool = False) -> Any:
        """A nested record read by ``read``; ``None`` when ``optional`` and absent."""
        if key not in self.data:
            if optional:
                return None
            raise DataError(f"{self.where}: {self.at(key)!r} is missing; {FIX}")
        return read(Fields(self.data[key], self.where, self.at(key)))

    def records(self, key: str, read: Callable[[Fields], Any], optional: bool = False) -> list[Any] | None:
        """A list of nested records, each read by ``read``; ``None`` when ``optional`` and absent."""
        if optional and key not in self.data:
            return None
        items = self.need(key, LIST)
        return [read(Fields(item, self.where, f"{self.at(key)}[{i}]")) for i, item in enumerate(items)]

    def _checked(self, key: str, kind: Kind) -> Any:
        value = self.data[key]
        if not kind.test(value) and kind.item is not None and isinstance(value, dict):
            name, item = next((name, item) for name, item in value.items() if not kind.item.test(item))
            null = (" (a result file writes a missing score as NaN, as merbench run --json and merbench show --json "
                    "do; null is how a comparison's JSON writes it)") if item is None else ""
            raise DataError(f"{self.where}: '{self.at(key)}.{name}' must be {kind.item.what}, not "
                            f"{_type_name(item)}{null}; {FIX}")
        if not kind.test(value):
            raise DataError(f"{self.where}: {self.at(key)!r} must be {kind.what}, not {_type_name(value)}; {FIX}")
        return value


def as_json(value: Any) -> Any:
    """``value`` as fresh JSON-ready data: records by their fields in order, dicts and lists copied.

    A record's field that is ``None`` is left out (not recorded), unless the
    record names it in ``NULLABLE`` and not in ``unrecorded``.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        written = set(getattr(value, "NULLABLE", ())) - set(getattr(value, "unrecorded", ()))
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.metadata.get("json", True) and (getattr(value, f.name) is not None or f.name in written)}
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    return value


# ------------------------------------------------------------------ the records


@dataclass(frozen=True, kw_only=True)
class FoldRecord:
    """One trained fold as stored and reported: its subjects, sizes, training facts and metrics.

    ``fold``, ``test_subjects``, ``n_test`` and ``metrics`` are always there; any
    other field is ``None`` in a result that did not record it (older merbench
    versions), except ``selected_epoch`` and ``selected_on``, whose ``None`` says
    no epoch was selected.
    """

    NULLABLE: ClassVar[tuple[str, ...]] = ("selected_epoch", "selected_on")

    fold: int
    test_subjects: list[str]
    train_subjects: list[str] | None = None
    n_train: int | None = None
    n_test: int
    subject_overlap: list[str] | None = None
    final_train_loss: float | None = None
    epochs_trained: int | None = None
    selected_epoch: int | None = None
    validation_subjects: list[str] | None = None
    seconds: float | None = None
    normalisation: str | None = None
    selected_on: str | None = None
    """Which samples chose ``selected_epoch``: ``"validation"``, ``"test"`` (leaky) or ``None`` (no selection)."""
    trained_on: str | None = None
    """``HOST: DEVICE`` of a fold trained as a Ray task, whose worker's device may differ from the run's
    ``environment.device``; ``None``: trained on that device."""
    metrics: Scores
    unrecorded: frozenset[str] = field(default=frozenset(), repr=False, metadata={"json": False})
    """The ``NULLABLE`` keys the stored record did not have (older merbench versions): ``to_dict`` leaves them out."""

    def to_dict(self) -> dict[str, Any]:
        """The fold's JSON object."""
        return as_json(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "fold record") -> FoldRecord:
        """Read a fold's JSON object (``DataError`` naming the key when it is malformed)."""
        return cls.read(Fields(data, where))

    @classmethod
    def read(cls, f: Fields) -> FoldRecord:
        """Read the fields of ``f``."""
        return cls(fold=f.need("fold", INTEGER), test_subjects=f.need("test_subjects", NAMES),
                   train_subjects=f.may("train_subjects", NAMES), n_train=f.may("n_train", INTEGER),
                   n_test=f.need("n_test", INTEGER), subject_overlap=f.may("subject_overlap", NAMES),
                   final_train_loss=f.may("final_train_loss", NUMBER), epochs_trained=f.may("epochs_trained", INTEGER),
                   selected_epoch=f.may("selected_epoch", _or_null(INTEGER)),
                   validation_subjects=f.may("validation_subjects", NAMES), seconds=f.may("seconds", NUMBER),
                   normalisation=f.may("normalisation", TEXT), selected_on=f.may("selected_on", _or_null(TEXT)),
                   trained_on=f.may("trained_on", TEXT), metrics=f.need("metrics", SCORES), unrecorded=f.absent(cls.NULLABLE))


def clip_of(sample_id: Any, clip: Any) -> str:
    """The clip a tested sample shows: the ``clip`` it was made from (``frame-10fold``), else its own id."""
    return str(clip if clip is not None else sample_id)


@dataclass(frozen=True, kw_only=True)
class PredictionRow:
    """One tested sample: where it comes from, its fold, true label and prediction (class indices)."""

    NULLABLE: ClassVar[tuple[str, ...]] = ("domain",)

    id: str
    subject: str | None = None
    domain: str | None = None
    fold: int
    label: int
    prediction: int
    clip: str | None = None
    """The clip a sample was made from, when the protocol made several samples of one clip (``frame-10fold``)."""
    unrecorded: frozenset[str] = field(default=frozenset(), repr=False, metadata={"json": False})
    """The ``NULLABLE`` keys the stored row did not have: ``to_dict`` leaves them out."""

    @property
    def clip_id(self) -> str:
        """The clip this sample shows: ``clip`` when it was made from one, else its own id."""
        return clip_of(self.id, self.clip)

    @classmethod
    def read(cls, f: Fields) -> PredictionRow:
        """Read the fields of ``f``."""
        return cls(id=f.need("id", NAME), subject=f.may("subject", NAME), domain=f.may("domain", _or_null(NAME)),
                   fold=f.need("fold", INTEGER), label=f.need("label", INTEGER),
                   prediction=f.need("prediction", INTEGER), clip=f.may("clip", NAME),
                   unrecorded=f.absent(cls.NULLABLE))


@dataclass(frozen=True, kw_only=True)
class LeakageRecord:
    """What a run checked for leakage and, in ``leaks``, the kinds found (``merbench.leaks.LEAKS``).

    A field is ``None`` when the result did not record it (older merbench versions
    recorded fewer: ``leaks`` is newer than the flags it sums up).
    """

    subject_overlap_folds: int | None = None
    clip_overlap_folds: int | None = None
    normalisation: str | None = None
    normalisation_uses_test_data: bool | None = None
    model_selection: str | None = None
    selection_uses_test_data: bool | None = None
    leaks: list[str] | None = None

    @classmethod
    def read(cls, f: Fields) -> LeakageRecord:
        """Read the fields of ``f``."""
        return cls(subject_overlap_folds=f.may("subject_overlap_folds", INTEGER),
                   clip_overlap_folds=f.may("clip_overlap_folds", INTEGER), normalisation=f.may("normalisation", TEXT),
                   normalisation_uses_test_data=f.may("normalisation_uses_test_data", BOOLEAN),
                   model_selection=f.may("model_selection", TEXT),
                   selection_uses_test_data=f.may("selection_uses_test_data", BOOLEAN), leaks=f.may("leaks", TEXTS))


@dataclass(frozen=True, kw_only=True)
class Seconds:
    """Where a run's time went; ``total_all_seeds`` only in a ``--seeds N`` run (N > 1).

    The times are this process's. A resumed run reused ``earlier_folds`` folds
    trained before it was interrupted, whose recorded training took ``earlier_train``
    seconds (both ``None`` when no fold was reused).
    """

    preprocess: float
    train_eval: float
    total: float
    total_all_seeds: float | None = None
    earlier_folds: int | None = None
    earlier_train: float | None = None

    @classmethod
    def read(cls, f: Fields) -> Seconds:
        """Read the fields of ``f``."""
        return cls(preprocess=f.need("preprocess", NUMBER), train_eval=f.need("train_eval", NUMBER),
                   total=f.need("total", NUMBER), total_all_seeds=f.may("total_all_seeds", NUMBER),
                   earlier_folds=f.may("earlier_folds", INTEGER), earlier_train=f.may("earlier_train", NUMBER))


@dataclass(frozen=True, kw_only=True)
class SeedScores:
    """One seed's pooled, fold-mean and fold-std scores in a ``--seeds N`` run (``fold_std``: not in older results)."""

    seed: int
    pooled: Scores
    fold_mean: Scores
    fold_std: Scores | None = None

    @classmethod
    def read(cls, f: Fields) -> SeedScores:
        """Read the fields of ``f``."""
        return cls(seed=f.need("seed", INTEGER), pooled=f.need("pooled", SCORES), fold_mean=f.need("fold_mean", SCORES),
                   fold_std=f.may("fold_std", SCORES))


@dataclass(frozen=True, kw_only=True)
class AcrossSeeds:
    """Mean and sample std (n − 1; population std in results of merbench before 2026-12-04) over the seeds of a
    ``--seeds N`` run, of the pooled scores."""

    n: int
    mean: Scores
    std: Scores

    @classmethod
    def read(cls, f: Fields) -> AcrossSeeds:
        """Read the fields of ``f``."""
        return cls(n=f.need("n", INTEGER), mean=f.need("mean", SCORES), std=f.need("std", SCORES))


def _reported(f: Fields) -> ReportedScore:
    try:
        return ReportedScore(f.need("dataset", TEXT), f.need("protocol", TEXT), f.need("metric", TEXT),
                             f.need("value", NUMBER), f.need("source", TEXT))
    except ValueError as exc:
        raise DataError(f"{f.where}: {f.path!r}: {exc}; {FIX}") from None


# ------------------------------------------------------------------ the result

WHOLE_ONLY_KEYS = ("folds", "per_domain", "confusion_matrix", "predictions")
"""The keys of a result that ``RunResult.from_dict(..., whole=False)`` leaves out: most of its text, and none of
what names a comparison's row or notes."""


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """The result of one run (one seed, or the first seed of a ``--seeds N`` run with ``seeds`` and ``across_seeds``).

    Field order is the key order of ``to_dict()``. The fields without a default
    are the minimum keys of docs/design.md; every run of this merbench fills the
    others too, except ``seeds`` and ``across_seeds`` (only ``--seeds N``, N > 1)
    and ``run_id`` (only a stored run). ``None``: not recorded.
    """

    model: str
    dataset: str
    protocol: str
    subject_independent: bool
    classes: list[str]
    n_samples: int
    n_subjects: int
    pooled: Scores
    fold_mean: Scores
    fold_std: Scores
    metric_notes: dict[str, str] | None = None
    per_domain: dict[str, Scores]
    folds: list[FoldRecord]
    confusion_matrix: list[list[int]]
    seconds: Seconds
    memory: dict[str, Any] | None = None
    config: dict[str, Any]
    environment: dict[str, Any]
    profile: str | None = None
    seed: int | None = None
    engine_plan: dict[str, Any] | None = None
    warnings: list[str] | None = None
    leakage: LeakageRecord | None = None
    preprocess: dict[str, Any] | None = None
    dataset_summary: dict[str, Any] | None = None
    reported: list[ReportedScore] | None = None
    predictions: list[PredictionRow] | None = None
    metric_keys: list[str] | None = None
    seeds: list[SeedScores] | None = None
    across_seeds: AcrossSeeds | None = None
    run_id: str | None = None
    settings_changed: list[str] | None = None
    """What the run changed from its profile's defaults when it ran (``merbench.run_settings``), kept so that
    ``compare`` and ``show`` can name it once the run's plugins are not installed."""
    schema_version: int | None = RESULT_SCHEMA
    """The version of this JSON layout (``RESULT_SCHEMA`` for a run of this merbench); ``None`` for a result written
    before results carried one, which reads as version 1."""
    clips_tested: int | None = field(default=None, repr=False, metadata={"json": False})
    """How many clips the predictions named, for a result read without them (``from_dict(..., predictions=False)``);
    ``None`` for any other result."""

    def to_dict(self) -> dict[str, Any]:
        """The result's JSON object (docs/design.md, Result schema), as ``merbench run --json`` writes it."""
        if self.clips_tested is not None:
            raise ValueError(f"run {self.run_id}: a result read without its predictions cannot be written; read it "
                             "with predictions=True")
        return as_json(self)

    @property
    def n_tested(self) -> int:
        """How many samples the folds tested (the pooled scores count each once)."""
        return sum(fold.n_test for fold in self.folds)

    @property
    def n_clips_tested(self) -> int:
        """How many clips the folds tested: fewer than ``n_tested`` where the protocol made several samples of one
        clip (``frame-10fold``); ``n_tested`` for a result stored without its predictions."""
        if self.predictions:
            return len({row.clip_id for row in self.predictions})
        return self.n_tested if self.clips_tested is None else self.clips_tested

    def seeds_std(self) -> dict[str, float]:
        """The sample std (n − 1) of each pooled score over the seeds of a ``--seeds N`` run, computed from the
        seeds' own scores: ``across_seeds.std`` of a result written before 2026-12-04 holds the population std."""
        if self.across_seeds is None:
            raise ValueError(f"run {self.run_id or '?'} was not repeated over seeds")
        seeds = self.seeds or []
        std = dict(self.across_seeds.std)
        if len(seeds) < 2:
            return std
        import numpy as np

        for key in std:
            if all(key in seed.pooled for seed in seeds):
                std[key] = float(np.std([float(seed.pooled[key]) for seed in seeds], ddof=1))
        return std

    def fold_stat(self, metric: str) -> tuple[float, float | None]:
        """Mean and population std of ``metric`` over every fold of every seed (each seed has the same folds' count).

        For one seed, the fold mean and std. For a ``--seeds N`` run from the seeds' fold means and stds. The std is
        ``None`` for a run of one fold per seed (cross-dataset), which has no spread over folds (that of several
        seeds' single folds is the spread over seeds, ``seeds_std``), and for a result written before seeds recorded
        their fold std.
        """
        seeds = self.seeds or []
        one_fold = len(self.folds) == 1
        if len(seeds) < 2:
            return float(self.fold_mean[metric]), None if one_fold else float(self.fold_std[metric])
        means = [float(seed.fold_mean[metric]) for seed in seeds]
        mean = sum(means) / len(means)
        if one_fold or any(seed.fold_std is None for seed in seeds):
            return mean, None
        second_moment = sum(float(seed.fold_std[metric]) ** 2 + m ** 2 for seed, m in zip(seeds, means)) / len(seeds)
        variance = second_moment - mean ** 2
        return mean, variance if math.isnan(variance) else max(0.0, variance) ** 0.5  # max(0.0, nan) is 0.0

    @property
    def seed_shown(self) -> str:
        """The run's seed as printed: ``seed``, else the one its recorded configuration holds (an older or damaged
        result without the key), else ``?`` (never ``None``)."""
        seed = self.seed if self.seed is not None else (self.config or {}).get("seed")
        return str(seed) if _integer(seed) else "?"

    @property
    def total_seconds(self) -> float:
        """The run's wall time: all seeds' for a ``--seeds N`` run, else the one run's."""
        return self.seconds.total if self.seconds.total_all_seeds is None else self.seconds.total_all_seeds

    @classmethod
    def from_dict(cls, data: Any, where: str = "result", predictions: bool = True, whole: bool = True) -> RunResult:
        """Read a result's JSON object, of this or an older merbench version.

        ``where`` names its origin in messages (``result of run ID in PATH``,
        ``FILE.json``); a malformed object raises ``DataError`` naming the key.
        With ``predictions=False`` the per-sample rows are not read (half the
        time and most of the memory of a store's results, for commands that
        show scores only): only their clips are counted (``n_clips_tested``).
        With ``whole=False`` the ``WHOLE_ONLY_KEYS`` are neither needed nor
        read: the result has no folds, per-domain scores, confusion matrix or
        predictions (what a comparison needs of its older runs).
        """
        f = Fields(data, where)
        if isinstance(data, Mapping):
            check_schema_version(data, where)
        result = cls(
            model=f.need("model", TEXT), dataset=f.need("dataset", TEXT), protocol=f.need("protocol", TEXT),
            subject_independent=f.need("subject_independent", BOOLEAN), classes=f.need("classes", NAMES),
            n_samples=f.need("n_samples", INTEGER), n_subjects=f.need("n_subjects", INTEGER),
            pooled=f.need("pooled", SCORES), fold_mean=f.need("fold_mean", SCORES), fold_std=f.need("fold_std", SCORES),
            metric_notes=f.may("metric_notes", OBJECT), per_domain=f.need("per_domain", OBJECT) if whole else {},
            folds=f.records("folds", FoldRecord.read) if whole else [],
            confusion_matrix=f.need("confusion_matrix", MATRIX) if whole else [],
            seconds=f.record("seconds", Seconds.read), memory=f.may("memory", OBJECT), config=f.need("config", OBJECT),
            environment=f.need("environment", OBJECT), profile=f.may("profile", TEXT), seed=f.may("seed", INTEGER),
            engine_plan=f.may("engine_plan", OBJECT), warnings=f.may("warnings", TEXTS),
            leakage=f.record("leakage", LeakageRecord.read, optional=True), preprocess=f.may("preprocess", OBJECT),
            dataset_summary=f.may("dataset_summary", OBJECT), reported=f.records("reported", _reported, optional=True),
            predictions=f.records("predictions", PredictionRow.read, optional=True) if predictions and whole else None,
            metric_keys=f.may("metric_keys", TEXTS),
            seeds=f.records("seeds", SeedScores.read, optional=True),
            across_seeds=f.record("across_seeds", AcrossSeeds.read, optional=True), run_id=f.may("run_id", TEXT),
            settings_changed=f.may("settings_changed", TEXTS), schema_version=f.may("schema_version", INTEGER),
            clips_tested=None if predictions or not whole else _clips_named(f),
        )
        result.check_consistent(where, whole)
        return result

    def _score_records(self) -> list[tuple[str, Scores]]:
        """Every record of scores (or of their std) but ``per_domain``, with its path in the result: ``pooled``,
        ``fold_mean``, ``fold_std``, each fold's ``metrics``, each seed's and ``across_seeds``' records."""
        records = [("pooled", self.pooled), ("fold_mean", self.fold_mean), ("fold_std", self.fold_std)]
        records += [(f"folds[{i}].metrics", fold.metrics) for i, fold in enumerate(self.folds)]
        for i, seed in enumerate(self.seeds or []):
            records += [(f"seeds[{i}].{name}", scores) for name, scores in
                        (("pooled", seed.pooled), ("fold_mean", seed.fold_mean), ("fold_std", seed.fold_std)) if scores is not None]
        if self.across_seeds is not None:
            records += [("across_seeds.mean", self.across_seeds.mean), ("across_seeds.std", self.across_seeds.std)]
        return records

    def check_consistent(self, where: str, whole: bool = True) -> None:
        """Raise ``DataError`` naming ``where`` unless every score record holds the metrics of ``pooled`` and the
        confusion matrix has a row and a column per class (not checked unless ``whole``: a result read without it):
        what the readers (show, compare, report) index by."""
        wanted = list(self.pooled)
        for path, scores in self._score_records():
            missing = [metric for metric in wanted if metric not in scores]
            if missing:
                raise DataError(f"{where}: {path!r} lacks the {_quoted(missing)} score{'s' if len(missing) > 1 else ''} "
                                f"that 'pooled' has; {FIX}")
        for domain, scores in self.per_domain.items():
            if not SCORES.test(scores) or any(metric not in scores for metric in DOMAIN_METRICS):
                raise DataError(f"{where}: 'per_domain.{domain}' must be an object of numbers with "
                                f"{_quoted(list(DOMAIN_METRICS))}; {FIX}")
        size = len(self.classes)
        if whole and (len(self.confusion_matrix) != size or any(len(row) != size for row in self.confusion_matrix)):
            widths = "/".join(str(width) for width in sorted({len(row) for row in self.confusion_matrix})) or "0"
            raise DataError(f"{where}: 'confusion_matrix' must have {size} rows of {size} counts (one per class of "
                            f"'classes'), not {counted(self.confusion_matrix, 'row')} of {widths}; {FIX}")
        self.check_scores_are_fractions(where)

    def check_scores_are_fractions(self, where: str) -> None:
        """Raise ``DataError`` naming ``where`` and the first score at fault unless every score, and every std of
        scores, is a finite fraction from 0 to 1: what merbench computes, so NaN, an infinity, a negative or a huge
        number is a result changed outside merbench (shown, it would read nan, a 27-digit percentage or a traceback)."""
        records = self._score_records()
        records += [(f"per_domain.{domain}", scores) for domain, scores in self.per_domain.items()]
        for path, scores in records:
            for metric, value in scores.items():
                if not 0 <= value <= 1:  # also NaN, which no comparison holds for
                    raise DataError(f"{where}: '{path}.{metric}' is {_score_text(value)}, not a score from 0 to 1 (a "
                                    f"fraction, as merbench records every score); {FIX}")


def _score_text(value: float) -> str:
    """A stored score as a message quotes it: ``NaN``, ``Infinity`` and ``-Infinity`` as the result's JSON writes
    them, any other number as typed (``1e300``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return number_text(value)


def _clips_named(f: Fields) -> int | None:
    """How many clips the ``predictions`` of a result name, without reading each row (``None``: it has none); a list
    holding something other than objects is read in full, which names the bad row."""
    rows = f.may("predictions", LIST)
    if not rows:
        return None
    if not all(isinstance(row, dict) for row in rows):
        f.records("predictions", PredictionRow.read)
    return len({clip_of(row.get("id"), row.get("clip")) for row in rows})


def _quoted(names: list[str]) -> str:
    """``'uf1'`` or ``'uf1', 'uar'``."""
    return ", ".join(repr(name) for name in names)


def trained_how(description: str) -> str:
    """An engine plan's ``description`` as it follows "Folds trained": "as Ray tasks …", "in 2 worker processes",
    "fold by fold in this process", "2 folds at a time as …"."""
    if description.startswith("Ray tasks"):
        return f"as {description}"
    if re.match(r"\d+ worker process", description):
        return f"in {description}"
    return description


def threads_phrase(plan: Mapping[str, Any]) -> str:
    """How a plan (a result's ``engine_plan``) uses torch threads: per fold, or shared by a batched group."""
    threads = plan["threads_per_fold"]
    count = f"{threads} torch thread{'' if threads == 1 else 's'}" if threads else "the default torch threads"
    return f"{count} for the whole group" if plan.get("executor") == "BatchedFolds" else f"{count} per fold"
