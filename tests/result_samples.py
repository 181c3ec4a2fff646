"""Small results for tests that need a ``RunResult`` without training anything."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any
from unittest import mock

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
    """``minimal_dict(**changes)`` as a ``RunResult``. Scores that are no fraction (NaN, inf), which ``from_dict``
    refuses as a damaged result, are kept as given: the tests of what a reader does with one anyway use them."""
    with mock.patch.object(RunResult, "check_scores_are_fractions"):
        return RunResult.from_dict(minimal_dict(**changes), "a test's minimal result")


def store_trained_with(source: Path, target: Path, torch_version: str) -> Path:
    """A copy of the results store ``source`` at ``target`` whose stored results say they were trained with
    ``torch_version`` (as if torch had been upgraded since), for the ``--stored`` provenance notes."""
    shutil.copyfile(source, target)
    with sqlite3.connect(target) as db:
        for run_id, text in db.execute("SELECT id, result_json FROM runs").fetchall():
            result = json.loads(text)
            result["environment"]["torch"] = torch_version
            db.execute("UPDATE runs SET result_json = ? WHERE id = ?", (json.dumps(result), run_id))
    db.close()
    return target


def samples_as_the_dataset_gives(config: Any) -> dict[str, Any]:
    """``classes``, ``n_samples`` and ``predictions`` (each right) of a result tested on exactly the samples and labels
    that ``config``'s dataset gives now: what ``--stored`` needs before it reuses a fabricated run (merbench.stored_runs)."""
    from merbench.registry import get_registry
    from merbench.stored_runs import inputs_now, labels_of

    classes, labels = labels_of(inputs_now(config, get_registry()))
    rows = [{"id": sample, "subject": "s", "domain": None, "fold": 0, "label": classes.index(name),
             "prediction": classes.index(name)} for sample, name in labels.items()]
    return {"classes": classes, "n_samples": len(rows), "predictions": rows}


def store_results(path: Path, results: Any) -> Path:
    """A results store at ``path`` holding ``results`` as finished runs (each under its own ``run_id``)."""
    from merbench.store import ResultStore

    with ResultStore(path) as store:
        for result in results:
            store.begin_run(result.config, 1, {}, run_id=result.run_id)
            store.finish_run(result.run_id, result)
    return path
