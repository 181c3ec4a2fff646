"""What a model that predicts one class for every sample, or guesses at random, scores, and the regression bands
that cannot tell it apart.

A model that has stopped learning (a broken loss, a learning rate of 0, labels
detached from the inputs, a gradient that never reaches the weights) ends up
predicting one class, or scattering its predictions with no regard to the input:
a random guess. A score band whose lower edge lies at or below what such a model
scores on the same test samples passes it: the check guards nothing. A band whose
upper edge lies at or above 100 % can never call a score ``high`` (suspicious: a
leak, a metric computed on the wrong data): that alarm is off. ``merbench regress``
says so for every such band, when it derives bands (``--update``) and when it
checks them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from merbench.metrics import classification_metrics, unweighted_f1_recall
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


def chance_scores(confusion_matrix: Any) -> dict[str, float]:
    """Per metric (accuracy, UAR, UF1), the pooled score a model guessing at random is expected to reach on the test
    samples whose true classes the rows of ``confusion_matrix`` count: the better of two guessers.

    A guesser predicts class j with probability q_j whatever the input. On n_i test samples of class i (N in all,
    p_i = n_i / N) it is expected to predict j for n_i · q_j of them: that expected confusion matrix gives its scores
    by the rules of a run's (``metrics.unweighted_f1_recall``: UF1 and UAR averaged over the K' classes that have
    test samples). The guessers are

    * uniform over the K classes the model predicts (q_j = 1/K): accuracy 1/K, UAR 1/K,
      UF1 = mean over i of 2 p_i / (1 + K p_i);
    * following the class prior (q_j = p_j): accuracy Σ p_i², UAR 1/K', UF1 1/K' (each class's F1 is p_i).

    The prior guesser is never worse (Σ p_i² ≥ 1/K' ≥ 1/K, and the uniform UF1 is at most 2/(K + K') by Jensen), so
    the scores are the prior's; both are computed, so the rule reads as stated. UF1 is the F1 of the expected counts,
    the value a guesser's F1 tends to on many test samples (on a few it scatters around it). Three balanced classes
    give 1/3 for every metric, where a one-class model scores UF1 1/6.
    """
    counts = np.asarray(confusion_matrix, dtype=float).sum(axis=1)
    total = counts.sum()
    if total <= 0:
        return {}
    best: dict[str, float] = {}
    for guess in (np.full(len(counts), 1 / len(counts)), counts / total):
        expected = np.outer(counts, guess)
        uf1, uar = unweighted_f1_recall(expected)
        for metric, value in (("accuracy", float(np.trace(expected) / total)), ("uar", uar), ("uf1", uf1)):
            best[metric] = max(best.get(metric, 0.0), float(value))
    return best


def blind_bands(label: str, bands: list[tuple], confusion_matrix: Any) -> list[str]:
    """One sentence per band of the entry ``label`` that cannot raise one of its alarms on the test samples of
    ``confusion_matrix``; empty when every band can.

    A band is ``(metric, expected, tolerance)`` or ``(metric, expected, tolerance, tolerance_high)`` (``None`` or
    left out: ``tolerance``, as the check reads it). Named are a band whose lower edge is not above the larger of
    what a model predicting one class scores (``one_class_scores``) and what a model guessing at random is expected
    to score (``chance_scores``): it cannot catch a model that stopped learning; and a band whose upper edge is at or
    above 100 %: no score can be ``high``. Both are decided on the numbers as printed, so a sentence adds up.
    """
    one_class, chance = one_class_scores(confusion_matrix), chance_scores(confusion_matrix)
    notes = []
    for metric, expected, tolerance, *rest in bands:
        if expected is None:
            continue
        if metric in one_class:
            shown = percent_points(expected) - percent_points(tolerance)  # decided and said as printed, so it adds up
            by_chance = percent_points(chance.get(metric, 0.0)) > percent_points(one_class[metric])
            floor = chance[metric] if by_chance else one_class[metric]
            who = ("a model guessing at random (by the class frequencies) is expected to score" if by_chance else
                   "a model predicting one class scores")
            if shown <= percent_points(floor):
                notes.append(f"{label}: the {metric} band {percent(expected)} ± {percent(tolerance)} reaches down to "
                             f"{shown}, not above the {percent(floor)} that {who} on these test samples: it cannot "
                             "catch a model that stopped learning")
        high = tolerance if not rest or rest[0] is None else rest[0]
        top = percent_points(expected) + percent_points(high)
        if top >= 100 and percent_points(expected) < 100:  # runs that score 100 %: no band could call one high
            band = (f"{percent(expected)} ± {percent(tolerance)}" if high == tolerance else
                    f"{percent(expected)} -{percent(tolerance)}/+{percent(high)}")
            notes.append(f"{label}: the {metric} band {band} reaches up to {top}, not below the 100.0 that no score "
                         "exceeds: it cannot call a score high (suspicious: a leak, a metric computed on the wrong "
                         "data)")
    return notes
