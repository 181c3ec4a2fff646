"""Small results for tests that need a ``RunResult`` without training anything."""

from __future__ import annotations

from typing import Any

from merbench.result import RunResult


def minimal_dict(**changes: Any) -> dict[str, Any]:
    """A result with only the minimum keys of docs/design.md (Result schema): 2 folds of 2 samples, 3 classes.

    ``changes`` replace or add top-level keys.
    """
    scores = {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}
    return {
        "model": "m", "dataset": "d", "protocol": "loso", "subject_independent": True, "classes": ["a", "b", "c"],
        "n_samples": 4, "n_subjects": 2, "pooled": dict(scores), "fold_mean": dict(scores),
        "fold_std": {key: 0.0 for key in scores}, "per_domain": {},
        "folds": [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": dict(scores)} for i in range(2)],
        "confusion_matrix": [[1, 1, 0], [0, 1, 0], [0, 0, 1]],
        "seconds": {"preprocess": 0.0, "train_eval": 1.0, "total": 1.0},
        "config": {}, "environment": {"device": "cpu"},
        **changes,
    }


def minimal_result(**changes: Any) -> RunResult:
    """``minimal_dict(**changes)`` as a ``RunResult``."""
    return RunResult.from_dict(minimal_dict(**changes), "a test's minimal result")
