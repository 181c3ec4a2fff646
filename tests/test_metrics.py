"""Metrics of docs/design.md, Metrics and protocols, checked against small hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from merbench.metrics import METRIC_KEYS, classification_metrics, confusion, mean_std, unweighted_f1_recall


def test_metric_keys_are_the_six_documented_scores():
    metrics = classification_metrics([0, 1, 1], [0, 1, 0], n_classes=2)
    assert set(metrics) == set(METRIC_KEYS)
    assert set(METRIC_KEYS) == {"accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1", "uf1", "uar"}
    assert all(isinstance(value, float) for value in metrics.values())


def test_hand_computed_example_with_a_class_never_predicted():
    # 3 classes, class 2 occurs in y_true but is never predicted.
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 0, 1]
    # Confusion (rows true, cols pred):
    #   true 0: [2, 1, 0]
    #   true 1: [1, 1, 0]
    #   true 2: [0, 1, 0]
    # accuracy = 3 correct / 6 = 1/2
    # precision: c0 = 2/3 (3 predicted 0), c1 = 1/3 (3 predicted 1), c2 = 0 (none predicted, zero_division=0)
    #   macro = (2/3 + 1/3 + 0) / 3 = 1/3
    # recall: c0 = 2/3, c1 = 1/2, c2 = 0/1
    #   macro = (2/3 + 1/2 + 0) / 3 = 7/18
    # F1 = 2TP / (2TP + FP + FN): c0 = 4/(4+1+1) = 2/3, c1 = 2/(2+2+1) = 2/5, c2 = 0/(0+0+1) = 0
    #   macro = (2/3 + 2/5 + 0) / 3 = 16/45
    # Every class occurs in y_true, so UF1 = macro F1 = 16/45 and UAR = macro recall = 7/18.
    metrics = classification_metrics(y_true, y_pred, n_classes=3)
    assert metrics["accuracy"] == pytest.approx(1 / 2)
    assert metrics["macro_precision"] == pytest.approx(1 / 3)
    assert metrics["macro_recall"] == pytest.approx(7 / 18)
    assert metrics["macro_f1"] == pytest.approx(16 / 45)
    assert metrics["uf1"] == pytest.approx(16 / 45)
    assert metrics["uar"] == pytest.approx(7 / 18)
    np.testing.assert_array_equal(confusion(y_true, y_pred, 3), [[2, 1, 0], [1, 1, 0], [0, 1, 0]])


def test_class_absent_from_y_true_but_predicted():
    # A fold whose test part has no sample of class 2, yet the model predicts 2 once.
    y_true = [0, 0, 1, 1]
    y_pred = [0, 2, 1, 1]
    # Confusion: true 0: [1, 0, 1]; true 1: [0, 2, 0]; true 2: [0, 0, 0]
    # accuracy = 3/4
    # scikit-learn averages over the classes in y_true OR y_pred = {0, 1, 2}:
    #   precision: c0 = 1/1, c1 = 2/2, c2 = 0/1  -> (1 + 1 + 0)/3 = 2/3
    #   recall:    c0 = 1/2, c1 = 2/2, c2 = 0 (no support, zero_division=0) -> (1/2 + 1 + 0)/3 = 1/2
    #   F1:        c0 = 2/(2+0+1) = 2/3, c1 = 4/4 = 1, c2 = 0/(0+1+0) = 0 -> (2/3 + 1 + 0)/3 = 5/9
    # UF1 / UAR average only over classes present in y_true = {0, 1}:
    #   UF1 = (2/3 + 1)/2 = 5/6, UAR = (1/2 + 1)/2 = 3/4
    metrics = classification_metrics(y_true, y_pred, n_classes=3)
    assert metrics["accuracy"] == pytest.approx(3 / 4)
    assert metrics["macro_precision"] == pytest.approx(2 / 3)
    assert metrics["macro_recall"] == pytest.approx(1 / 2)
    assert metrics["macro_f1"] == pytest.approx(5 / 9)
    assert metrics["uf1"] == pytest.approx(5 / 6)
    assert metrics["uar"] == pytest.approx(3 / 4)
    # The two F1 definitions disagree here, which is why a report must say which one it shows.
    assert metrics["macro_f1"] != pytest.approx(metrics["uf1"])
    np.testing.assert_array_equal(confusion(y_true, y_pred, 3), [[1, 0, 1], [0, 2, 0], [0, 0, 0]])


def test_class_absent_from_both_true_and_predicted_is_ignored():
    # n_classes=3 but class 2 appears nowhere in this fold.
    y_true = [0, 0, 1, 1]
    y_pred = [0, 1, 1, 1]
    # Classes considered by every score: {0, 1}.
    # accuracy = 3/4
    # precision: c0 = 1/1, c1 = 2/3 -> (1 + 2/3)/2 = 5/6
    # recall:    c0 = 1/2, c1 = 2/2 -> (1/2 + 1)/2 = 3/4
    # F1: c0 = 2/(2+0+1) = 2/3, c1 = 4/(4+1+0) = 4/5 -> (2/3 + 4/5)/2 = 11/15
    metrics = classification_metrics(y_true, y_pred, n_classes=3)
    assert metrics["accuracy"] == pytest.approx(3 / 4)
    assert metrics["macro_precision"] == pytest.approx(5 / 6)
    assert metrics["macro_recall"] == pytest.approx(3 / 4)
    assert metrics["macro_f1"] == pytest.approx(11 / 15)
    assert metrics["uf1"] == pytest.approx(11 / 15)
    assert metrics["uar"] == pytest.approx(3 / 4)
    matrix = confusion(y_true, y_pred, 3)
    assert matrix.shape == (3, 3)  # always n_classes x n_classes
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 2, 0], [0, 0, 0]])


def test_perfect_predictions_score_one():
    y = [0, 1, 2, 2, 1, 0]
    metrics = classification_metrics(y, y, n_classes=3)
    for key in METRIC_KEYS:
        assert metrics[key] == pytest.approx(1.0), key


def test_confusion_matrix_rows_are_true_and_columns_predicted():
    # Two samples of true class 0 predicted as 1; nothing of class 1 predicted as 0.
    y_true = [0, 0, 0, 1]
    y_pred = [1, 1, 0, 1]
    matrix = confusion(y_true, y_pred, 2)
    # m[true, pred]: m[0, 0] = 1, m[0, 1] = 2, m[1, 0] = 0, m[1, 1] = 1
    np.testing.assert_array_equal(matrix, [[1, 2], [0, 1]])
    assert matrix[0, 1] == 2 and matrix[1, 0] == 0
    np.testing.assert_array_equal(matrix.sum(axis=1), [3, 1])  # row sums = true class counts


def test_unweighted_f1_recall_from_a_matrix():
    # rows true, cols pred
    matrix = np.array([[3, 1], [2, 4]])
    # c0: TP=3, FP=2, FN=1 -> F1 = 6/(6+2+1) = 2/3, recall = 3/4
    # c1: TP=4, FP=1, FN=2 -> F1 = 8/(8+1+2) = 8/11, recall = 4/6 = 2/3
    # UF1 = (2/3 + 8/11)/2 = (22/33 + 24/33)/2 = 23/33; UAR = (3/4 + 2/3)/2 = 17/24
    uf1, uar = unweighted_f1_recall(matrix)
    assert uf1 == pytest.approx(23 / 33)
    assert uar == pytest.approx(17 / 24)
    # Transposing swaps the roles of true and predicted: UAR changes,
    # c0 recall = 3/5, c1 recall = 4/5 -> 7/10; F1 is symmetric in FP and FN so UF1 stays.
    uf1_t, uar_t = unweighted_f1_recall(matrix.T)
    assert uar_t == pytest.approx(7 / 10)
    assert uf1_t == pytest.approx(23 / 33)


def test_unweighted_f1_recall_of_an_empty_matrix_is_zero():
    assert unweighted_f1_recall(np.zeros((3, 3), dtype=int)) == (0.0, 0.0)


def test_pooled_macro_f1_equals_uf1_when_every_class_occurs():
    rng = np.random.default_rng(7)
    n_classes = 5
    y_true = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, 195)])
    # A noisy classifier: right about half the time.
    y_pred = np.where(rng.random(y_true.size) < 0.5, y_true, rng.integers(0, n_classes, y_true.size))
    metrics = classification_metrics(y_true, y_pred, n_classes)
    assert metrics["macro_f1"] == pytest.approx(metrics["uf1"], abs=1e-12)
    assert metrics["macro_recall"] == pytest.approx(metrics["uar"], abs=1e-12)
    assert 0.3 < metrics["uf1"] < 0.9  # the example is not degenerate


def test_per_fold_mean_f1_differs_from_pooled_f1():
    # Fold A: true [0, 0], pred [0, 0] -> only class 0 present: UF1 = 1
    # Fold B: true [1, 1, 0], pred [1, 0, 0]
    #   c0: TP=1, FP=1, FN=0 -> 2/3; c1: TP=1, FP=0, FN=1 -> 2/3; UF1 = 2/3
    # fold mean = (1 + 2/3)/2 = 5/6
    # Pooled: true [0,0,1,1,0], pred [0,0,1,0,0]
    #   c0: TP=3, FP=1, FN=0 -> 6/7; c1: TP=1, FP=0, FN=1 -> 2/3; UF1 = (6/7 + 2/3)/2 = 16/21
    fold_a = classification_metrics([0, 0], [0, 0], 2)
    fold_b = classification_metrics([1, 1, 0], [1, 0, 0], 2)
    mean, _ = mean_std([fold_a, fold_b])
    pooled = classification_metrics([0, 0, 1, 1, 0], [0, 0, 1, 0, 0], 2)
    assert mean["uf1"] == pytest.approx(5 / 6)
    assert pooled["uf1"] == pytest.approx(16 / 21)


def test_mean_std_uses_population_std():
    values = {
        "accuracy": [0.2, 0.4, 0.9],
        "macro_precision": [0.5, 0.5, 0.5],
        "macro_recall": [0.0, 1.0, 0.5],
        "macro_f1": [0.1, 0.2, 0.3],
        "weighted_f1": [0.3, 0.3, 0.6],
        "uf1": [0.6, 0.6, 0.9],
        "uar": [1.0, 0.0, 0.0],
    }
    folds = [{key: values[key][i] for key in METRIC_KEYS} for i in range(3)]
    mean, std = mean_std(folds)
    assert set(mean) == set(METRIC_KEYS) == set(std)
    # accuracy: mean 1.5/3 = 0.5; deviations -0.3, -0.1, 0.4; population var = (0.09+0.01+0.16)/3 = 0.26/3
    assert mean["accuracy"] == pytest.approx(0.5)
    assert std["accuracy"] == pytest.approx(math.sqrt(0.26 / 3))
    assert std["accuracy"] != pytest.approx(math.sqrt(0.26 / 2))  # not the sample (ddof=1) std
    # constant metric: std 0
    assert mean["macro_precision"] == pytest.approx(0.5)
    assert std["macro_precision"] == pytest.approx(0.0)
    # macro_recall: mean 0.5; deviations -0.5, 0.5, 0 -> var = 0.5/3
    assert mean["macro_recall"] == pytest.approx(0.5)
    assert std["macro_recall"] == pytest.approx(math.sqrt(0.5 / 3))
    # macro_f1: mean 0.2; deviations -0.1, 0, 0.1 -> var = 0.02/3
    assert mean["macro_f1"] == pytest.approx(0.2)
    assert std["macro_f1"] == pytest.approx(math.sqrt(0.02 / 3))
    # uf1: mean 0.7; deviations -0.1, -0.1, 0.2 -> var = 0.06/3 = 0.02
    assert mean["uf1"] == pytest.approx(0.7)
    assert std["uf1"] == pytest.approx(math.sqrt(0.02))
    # uar: mean 1/3; deviations 2/3, -1/3, -1/3 -> var = (4/9 + 1/9 + 1/9)/3 = 2/9
    assert mean["uar"] == pytest.approx(1 / 3)
    assert std["uar"] == pytest.approx(math.sqrt(2 / 9))


def test_mean_std_of_a_single_fold_has_zero_std():
    fold = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], 2)
    mean, std = mean_std([fold])
    assert mean == pytest.approx(fold)
    assert all(value == 0.0 for value in std.values())


def test_weighted_f1_weights_per_class_f1_by_support():
    # y_true = [0,0,0,0,1,1], y_pred = [0,0,0,1,1,0]
    # class 0: TP 3, FP 1, FN 1 -> F1 = 6/8 = 0.75 (support 4)
    # class 1: TP 1, FP 1, FN 1 -> F1 = 2/4 = 0.5  (support 2)
    # weighted = (4*0.75 + 2*0.5)/6 = 4/6; macro = (0.75+0.5)/2 = 0.625
    scores = classification_metrics([0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0], 2)
    assert scores["weighted_f1"] == pytest.approx(4 / 6)
    assert scores["macro_f1"] == pytest.approx(0.625)
