"""Classification metrics as MER papers use them (docs/design.md, Metrics and protocols).

* ``accuracy``; ``macro_precision``, ``macro_recall``, ``macro_f1`` from
  scikit-learn with ``zero_division=0`` over the classes that occur in the
  true or predicted labels;
* ``weighted_f1``: per-class F1 weighted by support (a variant some papers report);
* ``uf1``: mean over classes of 2TP / (2TP + FP + FN), and ``uar``: mean over
  classes of TP / N_c, both over classes present in the true labels (MEGC2019).

Applied to predictions pooled over all folds these are the "pooled" scores
(pooled macro-F1 equals UF1 when every class occurs); applied per fold they give
the fold mean ± std.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

METRIC_KEYS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1", "uf1", "uar")


def unweighted_f1_recall(matrix: np.ndarray) -> tuple[float, float]:
    """UF1 and UAR from a confusion matrix (rows: true class, columns: predicted)."""
    true_positive = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    present = support > 0
    if not present.any():
        return 0.0, 0.0
    false_positive = predicted - true_positive
    false_negative = support - true_positive
    f1 = 2 * true_positive[present] / (2 * true_positive[present] + false_positive[present] + false_negative[present])
    recall = true_positive[present] / support[present]
    return float(f1.mean()), float(recall.mean())


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> dict[str, float]:
    """All scalar metrics of one set of predictions."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support  # ~1 s: not for commands that read

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    _, _, weighted_f1, _ = precision_recall_fscore_support(y_true, y_pred, average="weighted", zero_division=0)
    uf1, uar = unweighted_f1_recall(confusion(y_true, y_pred, n_classes))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "macro_f1": float(f1),
        "weighted_f1": float(weighted_f1),
        "uf1": uf1,
        "uar": uar,
    }


def per_domain_scores(domains: Sequence[str], y_true: Sequence[int], y_pred: Sequence[int],
                      n_classes: int) -> dict[str, dict[str, float]]:
    """UF1, UAR and accuracy of each domain's predictions (``domains[i]`` is the domain of prediction ``i``), by
    domain name: the composite protocol's per-part scores (MEGC2019), as ``run`` and ``tune`` report them."""
    domains, y_true, y_pred = np.asarray(domains), np.asarray(y_true), np.asarray(y_pred)
    result = {}
    for domain in sorted(set(domains.tolist())):
        mask = domains == domain
        scores = classification_metrics(y_true[mask], y_pred[mask], n_classes)
        result[str(domain)] = {key: scores[key] for key in ("uf1", "uar", "accuracy")}
    return result


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Confusion matrix over all ``n_classes`` (rows: true, columns: predicted)."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))


def mean_std(scores: Sequence[dict[str, float]], ddof: int = 0,
             keys: Sequence[str] = METRIC_KEYS) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and std of every metric (of ``keys``) over ``scores``: population std (``ddof=0``) over folds, the sample
    std (``ddof=1``, n − 1) over the seeds of a ``--seeds N`` run, as ``merbench regress`` and the README report it."""
    mean = {key: float(np.mean([m[key] for m in scores])) for key in keys}
    std = {key: float(np.std([m[key] for m in scores], ddof=ddof)) if len(scores) > ddof else 0.0 for key in keys}
    return mean, std
