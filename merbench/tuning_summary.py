"""The summary of a ``merbench tune``: per-fold choices, pooled outer scores, stability and compute spent."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

import numpy as np

from merbench.leaks import engine_leaks, protocol_leaks
from merbench.metrics import classification_metrics, mean_std, per_domain_scores
from merbench.splits import check_folds
from merbench.tuning_space import SearchSpace


def trial_seconds(trial: Any) -> float:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return 0.0
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def trial_row(trial: Any, number: int) -> dict[str, Any]:
    """A trial of an outer fold: ``number`` its place among the fold's counted trials (0, 1, …, as an uninterrupted
    tune numbers them), ``optuna_number`` Optuna's own (a trial redone after an interruption gets a new one)."""
    return {"number": number, "optuna_number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
            "params": dict(trial.params), "inner_uf1": trial.user_attrs.get("inner_uf1"),
            "error": trial.user_attrs.get("error"), "seconds": trial_seconds(trial)}




# ------------------------------------------------------------------ summary


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def choice_stability(space: SearchSpace, folds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How alike the folds' choices are, per parameter: counts of each value, or min/median/max of numbers.

    ``agreement`` is the share of folds that chose the most common value
    (categorical, and whole numbers of at most ``FEW_VALUES`` searched values,
    which are counted like choices); ``spread`` is the range of the chosen
    values as a share of the searched range (on a log scale for ``log: true``):
    one outlying fold of a few values would make the range the whole search.
    """
    rows = []
    for param in space.params:
        values = [fold["selected"][param.key] for fold in folds if param.key in fold["selected"]]
        row: dict[str, Any] = {"key": param.key, "type": param.type, "folds": len(values)}
        if param.type == "categorical" or few_values(param):
            counts = Counter(json_key(v) for v in values)
            row["counts"] = dict(counts.most_common())
            row["agreement"] = counts.most_common(1)[0][1] / len(values) if values else 0.0
        elif values:
            scale = np.log if param.log else (lambda x: x)
            width = float(scale(param.high) - scale(param.low))
            row.update(min=min(values), median=_median(values), max=max(values),
                       spread=float(scale(max(values)) - scale(min(values))) / width if width else 0.0)
        rows.append(row)
    return rows


FEW_VALUES = 10
"""A whole-number option searched over at most this many values is counted like a categorical one."""


def few_values(param: Any) -> bool:
    """Whether ``param`` is a whole number searched over at most ``FEW_VALUES`` values."""
    if param.type != "int" or param.log:
        return False
    return (int(param.high) - int(param.low)) // int(param.step or 1) + 1 <= FEW_VALUES


def json_key(value: Any) -> str:
    """A chosen categorical value as text (``true``, ``3,5,8``, ``cbam``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def leakage_record(base: Any, protocol: Any, overlaps: list[list[str]], folds: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary's ``leakage`` section, from what ran: the resolved configuration, the outer folds and the refits.

    Kinds as in ``merbench.leaks`` (and a run's result): ``subjects`` and
    ``clips`` from the protocol (allowed, and warned about) or a fold sharing
    subjects; ``selection`` and ``normalisation`` from the engine options.
    ``merbench.tuning.refuse_leaks`` refuses the last two before anything runs
    and a space may not search them, so they are false in any summary a tune
    writes; they are derived here all the same, so the record can never claim
    more than what ran (a refit that chose its epoch on its test fold counts).
    """
    engine = base.section("engine")
    found = protocol_leaks(protocol) + engine_leaks(engine)
    if any(overlaps) and "subjects" not in found:
        found.insert(0, "subjects")
    if any(fold.get("selected_on") == "test" for fold in folds) and "selection" not in found:
        found.append("selection")
    selection, normalisation = "selection" in found, "normalisation" in found
    return {
        "selection_uses_test_data": selection,
        "normalisation_uses_test_data": normalisation,
        "subject_overlap_folds": sum(bool(o) for o in overlaps),
        "leaks": found,
        "model_selection": "per outer fold, the configuration with the best mean inner UF1 (inner folds by "
                           "subject within the outer training part); each outer test fold is used once"
                           + ("; but each epoch was chosen on the fold's own test samples (engine.select_on=test)"
                              if selection else ""),
        "normalisation": "channel statistics of " + ("every sample, test samples included (engine.normalise_on=all)"
                                                     if normalisation else "each fold's training part"),
    }


def summarise(folds: list[dict[str, Any]], outer_folds: list[Any], dataset: Any, base: Any, space: SearchSpace,
              protocol: Any, search: dict[str, Any], environment: dict[str, Any], seconds: float,
              notes: list[str] | None = None, preprocessing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tune's JSON-ready summary: per-fold choices, pooled outer scores, stability and compute spent.

    ``folds`` are ``merbench.tuning.tune_fold`` summaries in the order of
    ``outer_folds``; ``base`` is the resolved ``RunConfig`` without trial
    values; ``protocol`` the protocol's spec; ``search`` how the search ran; ``notes`` what else the
    ``warnings`` list (annotation rows the loader left out, stored work of other software reused);
    ``preprocessing`` what the base configuration's preprocessing recorded (the ``preprocess`` of a run's result:
    the resolved flow method, ``inputs_key``), kept with the dataset's summary, so that the data tuned on is named.
    """
    samples, labels, subjects = dataset.samples, dataset.labels, dataset.subjects
    rows, tested, truth, predicted = [], [], [], []
    for fold, outer in zip(folds, outer_folds):
        for i, prediction in zip(outer.test, fold["predictions"]):
            rows.append({"id": samples[i].id, "subject": samples[i].subject, "domain": samples[i].domain,
                         "fold": outer.index, "label": int(labels[i]), "prediction": int(prediction)})
            tested.append(int(i))
            truth.append(int(labels[i]))
            predicted.append(int(prediction))
    pooled = classification_metrics(truth, predicted, len(dataset.classes))
    per_domain = per_domain_scores(dataset.domains[np.asarray(tested, dtype=int)], truth, predicted, len(dataset.classes))
    fold_mean, fold_std = mean_std([fold["metrics"] for fold in folds])
    if len(folds) < 2:  # a spread over one outer fold (cross-dataset) is not measured, not 0
        fold_std = {key: None for key in fold_std}
    overlaps = check_folds(outer_folds, subjects, base.protocol)
    counts: Counter = Counter()
    for fold in folds:
        counts.update(fold["trial_counts"])
    return {
        "kind": "tune",
        "model": base.model,
        "dataset": base.dataset,
        "protocol": base.protocol,
        "profile": base.profile,
        "seed": base.seed,
        "classes": list(dataset.classes),
        "n_samples": len(samples),
        "n_subjects": int(len(np.unique(subjects))),
        "subject_independent": bool(protocol.subject_independent) and not any(overlaps),
        "space": space.to_dict(),
        "search": search,
        "folds": [{k: v for k, v in fold.items() if k != "predictions"} for fold in folds],
        "pooled": pooled,
        "fold_mean": fold_mean,
        "fold_std": fold_std,
        "per_domain": per_domain,  # as merbench run's: pooled scores of each domain's outer predictions
        "stability": choice_stability(space, folds),
        "compute": {
            "trials": sum(counts.values()),
            "complete": counts.get("complete", 0),
            "pruned": counts.get("pruned", 0),
            "failed": counts.get("failed", 0),
            "inner_fits": sum(fold["inner_fits"] for fold in folds),
            "outer_refits": len(folds),
            "trial_seconds": sum(fold["trial_seconds"] for fold in folds),
            "refit_seconds": sum(fold["refit_seconds"] for fold in folds),
            "wall_seconds": seconds,
        },
        "leakage": leakage_record(base, protocol, overlaps, folds),
        "warnings": ([protocol.warning] if protocol.warning else []) + list(notes or []),
        "config": base.to_dict(),
        "environment": environment,
        "dataset_summary": dict(dataset.summary),
        "preprocess": dict(preprocessing or {}),
        "predictions": rows,
    }
