"""What a model that predicts one class for every sample scores, and the regression bands that cannot tell it apart.

A model that has stopped learning (a broken loss, a learning rate of 0, labels
detached from the inputs) ends up predicting one class. A score band whose
lower edge lies at or below what such a model scores on the same test samples
passes it: the check guards nothing. ``merbench regress`` says so for every
such band, when it derives bands (``--update``) and when it checks them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from merbench.metrics import classification_metrics
from merbench.wording import percent, percent_points


def one_class_scores(confusion_matrix: Any) -> dict[str, float]:
    """Per metric, the best pooled score a model predicting one class for every sample reaches on the test samples
    whose true classes the rows of ``confusion_matrix`` count (rows: true class, columns: predicted)."""
    counts = np.asarray(confusion_matrix, dtype=int).sum(axis=1)
    truth = np.repeat(np.arange(len(counts)), counts)
    best: dict[str, float] = {}
    if truth.size == 0:
        return best
    for predicted in range(len(counts)):
        for metric, value in classification_metrics(truth, np.full_like(truth, predicted), len(counts)).items():
            best[metric] = max(best.get(metric, 0.0), float(value))
    return best


def blind_bands(label: str, bands: list[tuple[str, float | None, float]], confusion_matrix: Any) -> list[str]:
    """One sentence per band ``(metric, expected, tolerance)`` of the entry ``label`` whose lower edge is not above
    what a one-class model scores on the test samples of ``confusion_matrix``; empty when every band would catch it."""
    floor = one_class_scores(confusion_matrix)
    notes = []
    for metric, expected, tolerance in bands:
        if expected is None or metric not in floor:
            continue
        shown = percent_points(expected) - percent_points(tolerance)  # decided and said as printed, so it adds up
        if shown <= percent_points(floor[metric]):
            notes.append(f"{label}: the {metric} band {percent(expected)} ± {percent(tolerance)} reaches down to "
                         f"{shown}, not above the {percent(floor[metric])} that a model predicting one class "
                         f"scores on these test samples: it cannot catch a model that stopped learning")
    return notes
