"""Is one run better than another? A paired test over folds and a bootstrap interval.

Both results must come from the same dataset and protocol with the same folds
(same test samples in every fold, which the same seed gives). The per-fold
scores are compared with the Wilcoxon signed-rank test; the difference of the
pooled score gets a paired bootstrap confidence interval over samples.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from scipy.stats import wilcoxon

from merbench.audit import outside_classes
from merbench.errors import DataError
from merbench.metrics import unweighted_f1_recall
from merbench.result import RunResult


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing run A with run B on one metric (B minus A)."""

    metric: str
    fold_scores_a: list[float]
    fold_scores_b: list[float]
    wilcoxon_statistic: float
    p_value: float
    pooled_a: float
    pooled_b: float
    ci_low: float
    ci_high: float
    n_bootstrap: int

    @property
    def pooled_difference(self) -> float:
        """Pooled score of B minus that of A."""
        return self.pooled_b - self.pooled_a


def _folds(result: RunResult) -> dict[int, tuple[str, ...]]:
    folds: dict[int, list[str]] = {}
    for row in result.predictions or []:
        folds.setdefault(int(row.fold), []).append(str(row.id))
    return {fold: tuple(sorted(ids)) for fold, ids in folds.items()}


def _pooled(metric: str, y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    matrix = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    if metric == "uf1":
        return unweighted_f1_recall(matrix)[0]
    if metric == "uar":
        return unweighted_f1_recall(matrix)[1]
    return float(np.trace(matrix) / matrix.sum())


def _check_classes_in_range(name: str, result: RunResult, n_classes: int) -> None:
    """DataError when a prediction row of run ``name`` has a label or prediction outside 0..n_classes-1."""
    for field in ("label", "prediction"):
        outside = outside_classes(result.predictions or [], n_classes, field)
        if outside:
            raise DataError(
                f"run {name} ({result.model}): sample {outside[0].id} has {field} {getattr(outside[0], field)}, "
                f"outside 0..{n_classes - 1} of its {n_classes} classes; the result file is damaged "
                "(`merbench audit` checks it)")


def compare_runs(a: RunResult, b: RunResult, metric: str = "uf1", n_bootstrap: int = 2000, seed: int = 0) -> Comparison:
    """Compare two results on the same folds; raises DataError when they are not comparable."""
    if metric not in ("uf1", "uar", "accuracy"):
        raise DataError(f"--metric {metric}: choose uf1, uar or accuracy")
    for key, value_a, value_b in (("dataset", a.dataset, b.dataset), ("protocol", a.protocol, b.protocol),
                                  ("classes", a.classes, b.classes)):
        if value_a != value_b:
            raise DataError(f"the runs differ in {key} ({value_a} vs {value_b}); compare runs of one dataset and protocol")
    for name, result in (("A", a), ("B", b)):
        if not result.predictions:
            raise DataError(f"run {name} ({result.model}) records no per-sample predictions; re-run it with this merbench")
    n_classes = len(a.classes)
    for name, result in (("A", a), ("B", b)):
        _check_classes_in_range(name, result, n_classes)
    if _folds(a) != _folds(b):
        raise DataError("the runs were not made on the same folds (different test samples); re-run both with the same --seed")
    fold_a = [f.metrics[metric] for f in sorted(a.folds, key=lambda f: f.fold)]
    fold_b = [f.metrics[metric] for f in sorted(b.folds, key=lambda f: f.fold)]
    differences = np.subtract(fold_b, fold_a)
    if np.allclose(differences, 0):
        statistic, p_value = 0.0, 1.0
    else:
        test = wilcoxon(fold_b, fold_a)
        statistic, p_value = float(test.statistic), float(test.pvalue)

    rows_a, rows_b = a.predictions or [], {str(row.id): row for row in b.predictions or []}
    ids = [str(row.id) for row in rows_a]
    y_true = np.array([row.label for row in rows_a])
    pred_a = np.array([row.prediction for row in rows_a])
    pred_b = np.array([rows_b[i].prediction for i in ids])
    if not np.array_equal(y_true, [rows_b[i].label for i in ids]):
        raise DataError("the runs give different true labels to the same samples; compare runs of one dataset copy")
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        pick = rng.integers(0, len(ids), len(ids))
        deltas[i] = _pooled(metric, y_true[pick], pred_b[pick], n_classes) - _pooled(metric, y_true[pick], pred_a[pick], n_classes)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return Comparison(
        metric=metric,
        fold_scores_a=fold_a,
        fold_scores_b=fold_b,
        wilcoxon_statistic=statistic,
        p_value=p_value,
        pooled_a=_pooled(metric, y_true, pred_a, n_classes),
        pooled_b=_pooled(metric, y_true, pred_b, n_classes),
        ci_low=float(low),
        ci_high=float(high),
        n_bootstrap=n_bootstrap,
    )

