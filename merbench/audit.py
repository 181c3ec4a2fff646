"""Re-checking a stored result (``--json`` file) for leakage and internal consistency.

A result fails the audit when a subject is in the training and test part of one
fold (declared by a sample-level protocol or not), when its record says a model
or normalisation choice used test data, when a prediction or label lies outside
its class set or its confusion matrix does not count every prediction once, or
when its scores do not follow from its own per-sample predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from merbench.errors import DataError
from merbench.metrics import METRIC_KEYS, classification_metrics, mean_std
from merbench.result import LeakageRecord, PredictionRow, RunResult

REQUIRED = ("model", "dataset", "protocol", "subject_independent", "classes", "pooled", "folds", "predictions", "leakage")
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Check:
    """One audit check: its name, whether it passed, and what was found."""

    name: str
    passed: bool
    detail: str


def _summary_kind(document: Any) -> str | None:
    """``tune``, ``leakage`` or ``grid`` for the JSON summaries those commands write, else ``None``."""
    if not isinstance(document, dict):
        return None
    kind = {"tune": "tune", "merbench-leakage": "leakage"}.get(str(document.get("kind")))
    return kind or ("grid" if "cells" in document and "comparison" in document else None)


def load_result(path: Path) -> RunResult:
    """Read a result file (of this or an older merbench), or raise DataError saying why it is not one."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:  # a folder, no permission
        raise DataError(f"{path}: cannot be read ({exc.strerror}); give a result file written by merbench run --json") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a JSON file ({exc}); give a file written by merbench run --json") from None
    summary = _summary_kind(result)
    if summary:
        raise DataError(f"{path}: a {summary} summary, not a run's result; audit the runs it lists: "
                        "`merbench show RUN_ID --json FILE`, then `merbench audit FILE`")
    missing = [key for key in REQUIRED if not isinstance(result, dict) or key not in result]
    if missing:
        raise DataError(f"{path}: not a merbench result (missing {', '.join(missing)}); give a file written by merbench run --json")
    return RunResult.from_dict(result, str(path))


def _subject_overlap(result: RunResult) -> Check:
    leaking = []
    for fold in result.folds:
        if fold.train_subjects is None:
            return Check("subject overlap", False, f"fold {fold.fold + 1} does not record its training subjects; re-run with this merbench")
        shared = sorted(set(fold.train_subjects) & set(fold.test_subjects))
        if shared:
            leaking.append(f"fold {fold.fold + 1}: {', '.join(shared[:5])}{' ...' if len(shared) > 5 else ''}")
    if not leaking:
        return Check("subject overlap", True, "no subject is in both training and test of a fold")
    declared = "declared by the protocol" if not result.subject_independent else "NOT declared: the result claims subject independence"
    return Check("subject overlap", False, f"{len(leaking)} of {len(result.folds)} folds share subjects ({declared}); " + "; ".join(leaking[:3]))


def _selection(result: RunResult) -> list[Check]:
    leakage = result.leakage or LeakageRecord()
    selection = leakage.model_selection or "not recorded"
    normalisation = leakage.normalisation or ""
    selection_ok = leakage.selection_uses_test_data is False
    for fold in result.folds:
        validation = set(fold.validation_subjects or ())
        trained_on = validation if fold.train_subjects is None else set(fold.train_subjects)
        if validation & set(fold.test_subjects) or not validation <= trained_on:
            selection_ok = False
            selection = f"fold {fold.fold + 1}: validation subjects are not training subjects; " + selection
    return [
        Check("model selection", selection_ok, selection),
        Check("normalisation", "training samples only" in normalisation, normalisation or "not recorded"),
    ]


def _rows(result: RunResult) -> list[PredictionRow]:
    return result.predictions or []


def _consistency(result: RunResult) -> Check:
    rows = _rows(result)
    n_classes = len(result.classes)
    y_true = np.array([row.label for row in rows])
    y_pred = np.array([row.prediction for row in rows])
    folds = np.array([row.fold for row in rows])
    problems = []
    pooled = classification_metrics(y_true, y_pred, n_classes)
    for key in METRIC_KEYS:
        if key in result.pooled and abs(pooled[key] - result.pooled[key]) > TOLERANCE:
            problems.append(f"pooled {key} is {result.pooled[key]:.4f}, predictions give {pooled[key]:.4f}")
    for fold in result.folds:
        mask = folds == fold.fold
        if mask.sum() != fold.n_test:
            problems.append(f"fold {fold.fold + 1} records {fold.n_test} test samples, predictions have {mask.sum()}")
            continue
        scores = classification_metrics(y_true[mask], y_pred[mask], n_classes)
        for key in METRIC_KEYS:
            if key in fold.metrics and abs(scores[key] - fold.metrics[key]) > TOLERANCE:
                problems.append(f"fold {fold.fold + 1} {key} is {fold.metrics[key]:.4f}, predictions give {scores[key]:.4f}")
    problems += _fold_summary_problems(result)
    if problems:
        return Check("scores match predictions", False, "; ".join(problems[:3]))
    return Check("scores match predictions", True, f"{len(rows)} predictions reproduce the pooled and per-fold scores "
                                                   "and the mean ± std over folds")


def _fold_summary_problems(result: RunResult) -> list[str]:
    """Where the result's ``fold_mean``/``fold_std`` (what compare and report show by default) differ from the
    mean and std of its own per-fold scores."""
    if not result.folds:
        return []
    mean, std = mean_std([fold.metrics for fold in result.folds])
    problems = []
    for name, stored, derived in (("fold_mean", result.fold_mean, mean), ("fold_std", result.fold_std, std)):
        for key in METRIC_KEYS:
            if key in stored and key in derived and not abs(stored[key] - derived[key]) <= TOLERANCE:
                problems.append(f"{name} {key} is {stored[key]:.4f}, the folds give {derived[key]:.4f}")
    return problems


def outside_classes(rows: Sequence[PredictionRow], n_classes: int, field: str) -> list[PredictionRow]:
    """The prediction rows whose ``field`` (``label`` or ``prediction``) is not a class 0..n_classes-1."""
    return [row for row in rows if not 0 <= getattr(row, field) < n_classes]


def _class_set(result: RunResult) -> Check:
    """Every label and prediction is a class of the result, and the confusion matrix counts every prediction once."""
    rows = _rows(result)
    n_classes = len(result.classes)
    problems = []
    for name in ("prediction", "label"):
        outside = outside_classes(rows, n_classes, name)
        if outside:
            problems.append(f"{len(outside)} {name}(s) outside the {n_classes} classes 0..{n_classes - 1}, "
                            f"first sample {outside[0].id}: {getattr(outside[0], name)!r}")
    matrix = result.confusion_matrix
    try:
        counted = np.asarray(matrix, dtype=np.int64)
        if counted.shape != (n_classes, n_classes):
            problems.append(f"the confusion matrix is {counted.shape}, not {n_classes}x{n_classes}")
        elif int(counted.sum()) != len(rows):
            problems.append(f"the confusion matrix counts {int(counted.sum())} samples, the result has {len(rows)} predictions")
        elif not problems:
            truth = np.array([row.label for row in rows], dtype=np.int64)
            predicted = np.array([row.prediction for row in rows], dtype=np.int64)
            expected = np.bincount(truth * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
            if not np.array_equal(expected, counted):
                problems.append("the confusion matrix differs from the one the predictions give")
    except (TypeError, ValueError):
        problems.append("the confusion matrix is missing or not a matrix of counts")
    if problems:
        return Check("class set", False, "; ".join(problems[:3]))
    return Check("class set", True, f"{len(rows)} predictions in the {n_classes} classes; the confusion matrix counts each once")


def audit_result(result: RunResult) -> list[Check]:
    """All audit checks of one result."""
    classes = _class_set(result)
    consistency = (_consistency(result) if classes.passed else
                   Check("scores match predictions", False, "not checked: the predictions do not fit the class set"))
    return [_subject_overlap(result), *_selection(result), classes, consistency]
