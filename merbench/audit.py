"""Re-checking a stored result (``--json`` file) for leakage and internal consistency.

A result fails the audit when a subject is in the training and test part of one
fold (declared by a sample-level protocol or put there by the data, as the fold
records say or as the predictions show: a subject tested in two folds that each
train on all they do not test), when it claims subject independence under a
protocol that does not give it, when it has no fold records or predictions of a
fold it keeps no record of, when a fold's predictions are not of its recorded
test subjects, when one clip has samples in training and test of a fold, when
its record says a model or normalisation choice used test samples or lists any
leak (``leakage.leaks``), when a prediction or label lies outside its class set
or its confusion matrix does not count every prediction once, or when its scores
do not follow from its own per-sample predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from merbench.errors import DataError, MerbenchError
from merbench.leaks import LEAKS, LEAKY_SETTINGS, stored_engine_leaks
from merbench.metrics import METRIC_KEYS, classification_metrics, mean_std
from merbench.registry import get_registry
from merbench.result import CORE_METRICS, FoldRecord, LeakageRecord, PredictionRow, RunResult, document_kind
from merbench.wording import counted, plural, some_of

REQUIRED = ("model", "dataset", "protocol", "subject_independent", "classes", "pooled", "folds", "predictions", "leakage")
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Check:
    """One audit check: its name, whether it passed, and what was found."""

    name: str
    passed: bool
    detail: str


def load_result(path: Path, command: str = "audit") -> RunResult:
    """Read a result file (of this or an older merbench), or raise DataError saying why it is not one
    (``command``: the merbench command the file was given to, named in the advice)."""
    return result_in(read_json_file(path, command), path, command)


def read_json_file(path: Path, command: str = "audit") -> Any:
    """The JSON in ``path``, or ``DataError`` saying why it cannot be read as a merbench file (``command``: the
    merbench command it was given to, named in the advice)."""
    from merbench.store import RUN_ID_LIKE

    try:
        if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO or device: reading could wait
            raise DataError(f"{path}: not a regular file (a pipe or device); give a result file written by merbench "
                            "run --json")
        result = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM, as some editors save, is no problem
    except FileNotFoundError:
        hint = (f"; {command} reads result files: for a stored run write one with `merbench show {path} --json "
                f"{path}.json`") if command == "audit" and RUN_ID_LIKE.fullmatch(str(path)) else ""
        raise DataError(f"{path}: file not found{hint}") from None
    except OSError as exc:  # a folder, no permission
        raise DataError(f"{path}: cannot be read ({exc.strerror}); give a result file written by merbench run --json") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a JSON file ({exc}); give a file written by merbench run --json") from None
    except ValueError as exc:  # an integer of over 4300 digits, which Python does not convert
        raise DataError(f"{path}: holds a value that cannot be read ({str(exc).split(';')[0]}), so not a merbench "
                        "result; give a file written by merbench run --json") from None
    except RecursionError:
        raise DataError(f"{path}: nested too deeply to read (arrays or objects inside each other thousands of levels "
                        "down), so not a merbench result; give a file written by merbench run --json") from None
    return result


def result_in(result: Any, path: Path, command: str = "audit") -> RunResult:
    """The run's result that ``result`` (the JSON read from ``path``) holds, or ``DataError`` saying why it is not
    one: a summary of another kind, or a file missing a result's keys."""
    summary = document_kind(result)
    if summary == "tune" and command == "audit":  # a tune stores no runs, so there is no run to audit
        raise DataError(f"{path}: a tune summary, not a run's result, and a tune stores no runs to audit: it refuses "
                        "leaky engine settings before it runs, and the summary's 'leakage' and 'warnings' record what "
                        "leaks under its protocol")
    if summary not in (None, "run") and command == "audit":
        raise DataError(f"{path}: a {summary} summary, not a run's result; audit the runs it lists: "
                        "`merbench show RUN_ID --json FILE`, then `merbench audit FILE`")
    if summary not in (None, "run"):
        raise DataError(f"{path}: a {summary} summary, not a run's result; give `merbench {command}` a run's id "
                        "(`merbench runs`) or its result file (`merbench show RUN_ID --json FILE`)")
    missing = [key for key in REQUIRED if not isinstance(result, dict) or key not in result]
    if missing:
        raise DataError(f"{path}: not a merbench result (missing {', '.join(missing)}); give a file written by merbench run --json")
    return RunResult.from_dict(result, str(path))


def _protocol_declares_overlap(result: RunResult, registry: Any) -> bool | None:
    """Whether the result's protocol declares subjects on both sides (not subject-independent); ``None`` when
    the protocol is not installed here."""
    try:
        spec = (registry or get_registry()).get("protocols", result.protocol)
    except MerbenchError:
        return None
    return not spec.subject_independent


def _overlap_origin(result: RunResult, registry: Any) -> str:
    """Why a result's folds share subjects, in words: its protocol declares it, or not (its split or the data put
    them there: the run's warning, kept in the result, says which)."""
    if result.subject_independent:
        return "NOT declared: the result claims subject independence"
    declared = _protocol_declares_overlap(result, registry)
    if declared is None:
        return f"the result is not subject-independent; protocol {result.protocol!r} is not installed to say why"
    if declared:
        return "declared by the protocol"
    return (f"not declared: {result.protocol} is declared subject-independent, yet its folds share subjects (its "
            "split put a subject on both sides, or one subject id is in two domains or parts; the result's warnings "
            "say which)")


def _recorded_leaks(result: RunResult) -> list[str]:
    """The leak kinds the result's own ``leakage.leaks`` lists."""
    return [str(kind) for kind in (result.leakage.leaks or [])] if result.leakage else []


def _configured_leaks(result: RunResult) -> list[str]:
    """The leak kinds the result's own recorded configuration asks for (``engine.select_on=test``,
    ``engine.normalise_on=all``), whatever its leakage section says: an edited one cannot hide them. Selection counts
    only where a fold trained more than one epoch: an estimator fitted once (recorded as one epoch) has none to
    choose from."""
    kinds = stored_engine_leaks(result.config)
    if "selection" in kinds and result.folds and all(fold.epochs_trained is not None and fold.epochs_trained <= 1
                                                      for fold in result.folds):
        kinds.remove("selection")
    return kinds


def _in_order(result: RunResult) -> list[FoldRecord]:
    """The result's folds by number (messages name them in that order)."""
    return sorted(result.folds, key=lambda f: f.fold)


def _rows_by_fold(result: RunResult) -> dict[int, list[PredictionRow]]:
    by_fold: dict[int, list[PredictionRow]] = {}
    for row in _rows(result):
        by_fold.setdefault(row.fold, []).append(row)
    return by_fold


def _prediction_subject_problems(result: RunResult) -> list[str]:
    """Where a fold's predictions name a subject that is not one of its test subjects (a training subject or
    another), or a test subject has no prediction."""
    problems = []
    by_fold = _rows_by_fold(result)
    named = any(row.subject is not None for row in _rows(result))  # a result names every prediction's or none's
    for fold in _in_order(result):
        given = by_fold.get(fold.fold, [])
        rows = [row for row in given if row.subject is not None]
        nameless = [row.id for row in given if row.subject is None]
        if named and nameless:
            problems.append(f"fold {fold.fold + 1}: {plural(nameless, 'sample')} {some_of(nameless, 5)} "
                            f"{plural(nameless, 'names', 'name')} no subject where the result's other predictions do, "
                            f"so {plural(nameless, 'it', 'they')} cannot be checked against the fold's test subjects")
        if not rows:
            continue
        test, train = set(fold.test_subjects), set(fold.train_subjects or ())
        for row in rows:
            if str(row.subject) not in test:
                role = "a training subject of the fold" if str(row.subject) in train else "not a subject of the fold"
                problems.append(f"fold {fold.fold + 1}, sample {row.id}: subject {row.subject} is {role}, "
                                "not one of its test subjects")
        untested = sorted(test - {str(row.subject) for row in rows})
        if untested:
            problems.append(f"fold {fold.fold + 1}: test {plural(untested, 'subject')} {some_of(untested, 5)} without a prediction")
    return problems


def _unrecorded_folds(result: RunResult) -> list[int]:
    """The folds (0-based) that predictions name but no fold record describes."""
    return sorted({row.fold for row in _rows(result)} - {fold.fold for fold in result.folds})


def _fold_record_problems(result: RunResult) -> list[str]:
    """Predictions of folds the result keeps no record of (whose training subjects cannot be checked), or no fold."""
    if not result.folds:
        return ["the result records no fold, so no fold's training subjects can be checked"]
    missing = _unrecorded_folds(result)
    if not missing:
        return []
    rows = [row for row in _rows(result) if row.fold in set(missing)]
    return [f"{counted(rows, 'prediction')} of {plural(missing, 'fold')} {some_of([f + 1 for f in missing], 10)} "
            "that the result records nothing about (no training subjects to check)"]


def _declaration_problems(result: RunResult, registry: Any) -> list[str]:
    """Where the result claims subject independence that its protocol, as installed here, does not give."""
    if result.subject_independent and _protocol_declares_overlap(result, registry):
        return [f"the result claims subject independence, but its protocol {result.protocol} is not "
                "subject-independent (it puts samples of one subject in training and test)"]
    return []


def _derived_overlap_problems(result: RunResult, recorded: set[int], registry: Any) -> list[str]:
    """The folds the predictions show sharing subjects (a subject tested in several folds is trained on in each,
    as every fold trains on all it does not test) where the fold records do not list them."""
    derived = _subject_folds(result)
    unlisted = sorted(set(derived or ()) - recorded)
    if not unlisted:
        return []
    return [f"the predictions show {len(derived)} of {len(result.folds)} folds testing a subject that another fold "
            f"also tests, so each trained on it too ({_overlap_origin(result, registry)}); the fold records do not "
            f"show it ({plural(unlisted, 'fold')} {some_of([f + 1 for f in unlisted], 10)})"]


def _subject_overlap(result: RunResult, registry: Any = None) -> Check:
    """Subjects in training and test of a fold, from the fold records, the predictions and the protocol's declaration;
    and whether every fold the predictions name has a record that says whom it trained on."""
    problems = _fold_record_problems(result) + _declaration_problems(result, registry)
    problems += _prediction_subject_problems(result)
    leaking, recorded = [], set()
    for fold in _in_order(result):
        if fold.train_subjects is None:
            return Check("subject overlap", False, f"fold {fold.fold + 1} does not record its training subjects; re-run with this merbench")
        shared = sorted(set(fold.train_subjects) & set(fold.test_subjects))
        if shared:
            leaking.append(f"fold {fold.fold + 1}: {some_of(shared, 5)}")
            recorded.add(fold.fold)
    problems += _derived_overlap_problems(result, recorded, registry)
    if leaking:
        problems.insert(0, f"{len(leaking)} of {len(result.folds)} folds share subjects "
                           f"({_overlap_origin(result, registry)}); " + some_of(leaking, 3, "; "))
    elif "subjects" in _recorded_leaks(result):
        problems.append(f"the result records a 'subjects' leak ({_overlap_origin(result, registry)}), though no fold "
                        "of this split happened to share a subject")
    if problems:
        return Check("subject overlap", False, some_of(problems, 3, "; "))
    return Check("subject overlap", True, "no subject is in both training and test of a fold; "
                                          "each fold's predictions are of its test subjects")


def _trains_on_the_rest(result: RunResult) -> bool:
    """Whether every fold trains on all the samples it does not test (so a clip or subject tested in two folds is
    in the training part of each), as its records and predictions show: one record per fold the predictions name."""
    rows = _rows(result)
    return (bool(result.folds) and len(rows) == result.n_samples and not _unrecorded_folds(result)
            and all(fold.n_train is not None and fold.n_train + fold.n_test == len(rows) for fold in result.folds))


def _folds_sharing(rows: Sequence[PredictionRow], group: Callable[[PredictionRow], str]) -> list[int]:
    """The folds (0-based) that test a member of a ``group(row)`` (a clip, a subject) that another fold tests too."""
    folds_of: dict[str, set[int]] = {}
    for row in rows:
        folds_of.setdefault(group(row), set()).add(row.fold)
    return sorted(set().union(*(folds for folds in folds_of.values() if len(folds) > 1)))


def _subject_folds(result: RunResult) -> list[int] | None:
    """The folds (0-based) that test a subject whose other samples they trained on, from the predictions;
    ``None`` when they cannot tell: no subjects named, or a fold's training part is not all it does not test."""
    rows = [row for row in _rows(result) if row.subject is not None]
    if not rows or not _trains_on_the_rest(result):
        return None
    return _folds_sharing(rows, lambda row: str(row.subject))


def _clip_folds(result: RunResult) -> list[int] | None:
    """The folds (0-based) that test a sample of a clip whose other samples they trained on, from the predictions;
    ``None`` when they cannot tell: no clips named, or a fold's training part is not all the samples it does not test."""
    rows = _rows(result)
    if not _trains_on_the_rest(result) or not any(row.clip is not None for row in rows):
        return None
    return _folds_sharing(rows, lambda row: row.clip_id)


def _clip_overlap(result: RunResult) -> Check | None:
    """Samples of one clip in training and test of a fold, re-checked from the predictions where they name clips;
    ``None`` for a result without clips of several samples and without a recorded clip overlap."""
    leakage = result.leakage or LeakageRecord()
    recorded = leakage.clip_overlap_folds or 0
    kind = "clips" in _recorded_leaks(result)
    named = any(row.clip is not None for row in _rows(result))
    if not (named or recorded or kind):
        return None
    derived = _clip_folds(result)
    n = len(result.folds)
    findings = []
    if derived:
        findings.append(f"{len(derived)} of {n} folds test a clip whose other samples they train on "
                        f"(folds {some_of([f + 1 for f in derived], 10)})")
    if recorded and (derived is None or len(derived) != recorded):
        seen = "not re-checkable from the predictions" if derived is None else f"the predictions show {len(derived)}"
        findings.append(f"the result records {recorded} of {n} folds with one clip in training and test ({seen})")
    if kind:
        findings.append("the result records a 'clips' leak")
    if findings:
        return Check("clip overlap", False, "; ".join(findings))
    if derived is None:
        return Check("clip overlap", True, "the result records no clip in training and test of a fold "
                                           "(not re-checkable from the predictions)")
    return Check("clip overlap", True, "no clip has samples in training and test of a fold")


def _unknown_leaks(result: RunResult) -> Check | None:
    """A row for recorded leak kinds no other check covers; ``None`` when there are none."""
    unknown = [kind for kind in _recorded_leaks(result) if kind not in LEAKS]
    if not unknown:
        return None
    return Check("recorded leaks", False, f"the result records unknown leak {plural(unknown, 'kind')} {', '.join(unknown)}")


def _validation_problem(fold: FoldRecord) -> str | None:
    """What is wrong with how one fold chose its epoch, or ``None``."""
    where = f"fold {fold.fold + 1}"
    if fold.selected_on == "test":
        return f"{where}: the epoch was chosen on its test samples"
    validation = set(fold.validation_subjects or ())
    if fold.train_subjects is None:
        shared = validation & set(fold.test_subjects)
        return f"{where}: validation subjects are test subjects; training subjects not recorded" if shared else None
    outside = sorted(validation - set(fold.train_subjects))
    if outside:
        return f"{where}: validation subjects are not training subjects ({some_of(outside, 5)})"
    return None


def _selection_detail(result: RunResult, problems: list[str], leaked: bool) -> str:
    """The model-selection finding: the problems (folds in order), the recorded choice and, where validation
    subjects also are test subjects, that this is subject overlap, not selection on test samples."""
    shared = [str(fold.fold + 1) for fold in _in_order(result)
              if set(fold.validation_subjects or ()) & set(fold.test_subjects)
              and set(fold.validation_subjects or ()) <= set(fold.train_subjects or ())]
    parts = [some_of(problems, 3, "; ")] if problems else []
    if leaked:
        parts.append("the result records a 'selection' leak")
    parts.append((result.leakage or LeakageRecord()).model_selection or "not recorded")
    if shared:
        parts.append(f"{plural(shared, 'fold')} {', '.join(shared)}: validation subjects also in the test part (subject overlap); "
                     "the validation samples are training samples, never test samples")
    return "; ".join(parts)


def _selection(result: RunResult) -> list[Check]:
    leakage = result.leakage or LeakageRecord()
    recorded = _recorded_leaks(result)
    configured = _configured_leaks(result)
    folds = _in_order(result)
    problems = [problem for problem in map(_validation_problem, folds) if problem]
    if "selection" in configured:
        problems.insert(0, f"its recorded configuration sets engine.{LEAKY_SETTINGS['selection']}")
    selection_ok = leakage.selection_uses_test_data is False and not problems and "selection" not in recorded
    normalisation = leakage.normalisation or "not recorded"
    normalisation_ok = ("training samples only" in normalisation and leakage.normalisation_uses_test_data is not True
                        and "normalisation" not in recorded and "normalisation" not in configured)
    if "normalisation" in configured:
        normalisation = f"its recorded configuration sets engine.{LEAKY_SETTINGS['normalisation']}; {normalisation}"
    if "normalisation" in recorded:
        normalisation = f"the result records a 'normalisation' leak; {normalisation}"
    return [
        Check("model selection", selection_ok, _selection_detail(result, problems, "selection" in recorded)),
        Check("normalisation", normalisation_ok, normalisation),
    ]


def _rows(result: RunResult) -> list[PredictionRow]:
    return result.predictions or []


def _consistency(result: RunResult) -> Check:
    rows = _rows(result)
    n_classes = len(result.classes)
    y_true = np.array([row.label for row in rows])
    y_pred = np.array([row.prediction for row in rows])
    folds = np.array([row.fold for row in rows])
    problems = _missing_core_metrics(result)
    pooled = classification_metrics(y_true, y_pred, n_classes)
    for key in METRIC_KEYS:
        if key in result.pooled and not abs(pooled[key] - result.pooled[key]) <= TOLERANCE:  # NaN fails too
            problems.append(f"pooled {key} is {result.pooled[key]:.4f}, predictions give {pooled[key]:.4f}")
    for fold in result.folds:
        mask = folds == fold.fold
        if mask.sum() != fold.n_test:
            problems.append(f"fold {fold.fold + 1} records {fold.n_test} test samples, predictions have {mask.sum()}")
            continue
        scores = classification_metrics(y_true[mask], y_pred[mask], n_classes)
        for key in METRIC_KEYS:
            if key in fold.metrics and not abs(scores[key] - fold.metrics[key]) <= TOLERANCE:
                problems.append(f"fold {fold.fold + 1} {key} is {fold.metrics[key]:.4f}, predictions give {scores[key]:.4f}")
    problems += _domain_problems(result, rows, y_true, y_pred, n_classes)
    unrecorded = _unrecorded_folds(result)
    if unrecorded:
        problems.append(f"predictions of {plural(unrecorded, 'fold')} {some_of([f + 1 for f in unrecorded], 10)} "
                        "without a fold record, whose scores cannot be checked")
    problems += _fold_summary_problems(result) + _seed_summary_problems(result)
    if problems:
        return Check("scores match predictions", False, some_of(problems, 3, "; "))
    seeds = ("" if not result.seeds else
             f"; the mean ± std over its {len(result.seeds)} seeds follows from each seed's scores (the first seed's "
             "are the ones checked above; the others' predictions are not kept)")
    return Check("scores match predictions", True, f"{len(rows)} predictions reproduce the pooled, per-fold"
                                                   f"{' and per-domain' if len(result.per_domain or {}) > 1 else ''} "
                                                   f"scores and the mean ± std over folds{seeds}")


def _domain_problems(result: RunResult, rows: list[PredictionRow], y_true: np.ndarray, y_pred: np.ndarray,
                     n_classes: int) -> list[str]:
    """Where ``per_domain`` (each source dataset's scores: the composite's per-part figures) disagrees with the
    predictions of that domain, or names a domain no prediction has. Predictions without a domain (written before
    merbench recorded it) leave the per-domain scores unchecked."""
    if not rows or any(row.domain is None for row in rows):
        return []
    domains = np.array([row.domain for row in rows])
    problems = []
    for domain, recorded in (result.per_domain or {}).items():
        mask = domains == domain
        if not mask.any():
            problems.append(f"domain {domain} has scores but no prediction")
            continue
        scores = classification_metrics(y_true[mask], y_pred[mask], n_classes)
        for key, value in recorded.items():
            if key in scores and not abs(scores[key] - value) <= TOLERANCE:
                problems.append(f"domain {domain} {key} is {value:.4f}, its predictions give {scores[key]:.4f}")
    unscored = sorted(set(domains.tolist()) - set(result.per_domain or {}))
    if unscored and result.per_domain:
        problems.append(f"{plural(unscored, 'domain')} {some_of(unscored, 3)} of the predictions without scores")
    return problems


def _missing_core_metrics(result: RunResult) -> list[str]:
    """The pooled or fold scores without one of the metrics every merbench result records (``CORE_METRICS``): a
    score taken out of a result would otherwise go unchecked."""
    lacking: dict[tuple[str, ...], list[str]] = {}  # the metrics missing → where: one line for folds alike
    for name, scores in [("pooled", result.pooled)] + [(f"{fold.fold + 1}", fold.metrics) for fold in _in_order(result)]:
        missing = tuple(key for key in CORE_METRICS if key not in scores)
        if missing:
            lacking.setdefault(missing, []).append(name)
    problems = []
    for missing, places in lacking.items():
        folds = [place for place in places if place != "pooled"]
        where = (["pooled"] if "pooled" in places else []) + ([f"{plural(folds, 'fold')} {some_of(folds, 10)}"]
                                                              if folds else [])
        problems.append(f"{' and '.join(where)} {plural(len(places), 'lacks', 'lack')} {', '.join(missing)}, which "
                        f"every merbench result records, so {plural(missing, 'it', 'they')} cannot be checked")
    return problems


def _fold_summary_problems(result: RunResult) -> list[str]:
    """Where the result's ``fold_mean``/``fold_std`` (what compare and report show by default) differ from the
    mean and std of its own per-fold scores."""
    if not result.folds:
        return []
    held = [key for key in METRIC_KEYS if all(key in fold.metrics for fold in result.folds)]  # others: said above
    mean, std = mean_std([fold.metrics for fold in result.folds], keys=held)
    problems = []
    for name, stored, derived in (("fold_mean", result.fold_mean, mean), ("fold_std", result.fold_std, std)):
        for key in METRIC_KEYS:
            if key in stored and key in derived and not abs(stored[key] - derived[key]) <= TOLERANCE:
                problems.append(f"{name} {key} is {stored[key]:.4f}, the folds give {derived[key]:.4f}")
    return problems


def _seed_summary_problems(result: RunResult) -> list[str]:
    """Where a ``--seeds N`` result's ``across_seeds`` (what compare and report show with ``--stat pooled``) does not
    follow from its ``seeds``, or its first seed's scores are not the result's own."""
    seeds, across = result.seeds or [], result.across_seeds
    if across is None:
        return ["seeds are recorded without across_seeds"] if seeds else []
    if len(seeds) != across.n:
        return [f"across_seeds is over {across.n} seeds, the result records {len(seeds)}"]
    if not seeds:
        return ["across_seeds is recorded without any seed's scores"]
    if any(set(METRIC_KEYS) - set(seed.pooled) for seed in seeds):
        return ["a seed's pooled scores lack some metrics, so the mean over seeds cannot be checked"]
    first = seeds[0]
    problems = [] if first.seed == result.seed else [f"seeds[0] is seed {first.seed}, the result's seed {result.seed}"]
    for name, stored, own in (("pooled", first.pooled, result.pooled), ("fold_mean", first.fold_mean, result.fold_mean)):
        for key in METRIC_KEYS:
            if key in stored and key in own and not abs(stored[key] - own[key]) <= TOLERANCE:
                problems.append(f"seeds[0] (seed {first.seed}) {name} {key} is {stored[key]:.4f}, the result's own "
                                f"{own[key]:.4f}")
    mean, sample_std = mean_std([seed.pooled for seed in seeds], ddof=1)
    _, population_std = mean_std([seed.pooled for seed in seeds])  # what results before 2026-12-04 recorded
    for key in METRIC_KEYS:
        if key in across.mean and not abs(across.mean[key] - mean[key]) <= TOLERANCE:
            problems.append(f"across_seeds mean {key} is {across.mean[key]:.4f}, the seeds give {mean[key]:.4f}")
        if key in across.std and not (abs(across.std[key] - sample_std[key]) <= TOLERANCE
                                      or abs(across.std[key] - population_std[key]) <= TOLERANCE):
            problems.append(f"across_seeds std {key} is {across.std[key]:.4f}, the seeds give {sample_std[key]:.4f}")
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
            problems.append(f"{counted(outside, name)} outside the {n_classes} classes 0..{n_classes - 1}, "
                            f"first sample {outside[0].id}: {getattr(outside[0], name)!r}")
    matrix = result.confusion_matrix
    try:
        matrix_counts = np.asarray(matrix, dtype=np.int64)
        if matrix_counts.shape != (n_classes, n_classes):
            problems.append(f"the confusion matrix is {matrix_counts.shape}, not {n_classes}x{n_classes}")
        elif int(matrix_counts.sum()) != len(rows):
            problems.append(f"the confusion matrix counts {int(matrix_counts.sum())} samples, the result has {len(rows)} predictions")
        elif not problems:
            truth = np.array([row.label for row in rows], dtype=np.int64)
            predicted = np.array([row.prediction for row in rows], dtype=np.int64)
            expected = np.bincount(truth * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
            if not np.array_equal(expected, matrix_counts):
                problems.append("the confusion matrix differs from the one the predictions give")
    except (TypeError, ValueError):
        problems.append("the confusion matrix is missing or not a matrix of counts")
    if problems:
        return Check("class set", False, some_of(problems, 3, "; "))
    return Check("class set", True, f"{len(rows)} predictions in the {n_classes} classes; the confusion matrix counts each once")


def audit_result(result: RunResult, registry: Any = None) -> list[Check]:
    """All audit checks of one result; ``registry`` (default: the installed plugins) tells whether its protocol
    declares subjects on both sides. The clip-overlap and recorded-leaks rows appear only where they apply."""
    classes = _class_set(result)
    consistency = (_consistency(result) if classes.passed else
                   Check("scores match predictions", False, "not checked: the predictions do not fit the class set"))
    checks = [_subject_overlap(result, registry), _clip_overlap(result), *_selection(result), _unknown_leaks(result),
              classes, consistency]
    return [check for check in checks if check is not None]
