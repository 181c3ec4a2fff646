"""Re-checking a stored result (``--json`` file) for leakage and internal consistency.

A result fails the audit when a subject is in the training and test part of one
fold (declared by a sample-level protocol or put there by the data, as the fold
records say or as the predictions show: a subject tested in two folds that each
train on all they do not test), when it claims subject independence under a
protocol that does not give it, when it has no fold records or predictions of a
fold it keeps no record of, when a fold's predictions are not of its recorded
test subjects, when one clip has samples in training and test of a fold, when
its record says a model or normalisation choice used test samples (its flags,
its configuration, or a fold's record: an epoch selected without a validation
split, statistics with test samples included) or lists any leak
(``leakage.leaks``), when a prediction or label lies outside its class set
or its confusion matrix does not count every prediction once, when its scores
do not follow from its own per-sample predictions, when a sample has two
predictions or its folds are not the ones its protocol makes (a fold left out,
its samples and subjects not all tested under a protocol that tests each once,
fold sizes that do not add up), or when its model, dataset, protocol or profile
is not the one its recorded configuration ran.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from merbench.errors import DataError, MerbenchError
from merbench.leaks import LEAKS, LEAKY_SETTINGS, configured_leaks
from merbench.metrics import METRIC_KEYS, classification_metrics, mean_std
from merbench.registry import distribution_key, get_registry
from merbench.result import (CORE_METRICS, FoldRecord, LeakageRecord, PredictionRow, RunResult, document_kind,
                             document_name)
from merbench.wording import TEST_SAMPLES_INCLUDED, counted, number_spans, plural, some_of

REQUIRED = ("model", "dataset", "protocol", "subject_independent", "classes", "pooled", "folds", "predictions", "leakage")
TOLERANCE = 1e-9
IDENTITY = ("model", "dataset", "protocol", "profile")
"""The keys a result holds twice, at its top and in its recorded ``config``: the run it names and the run it ran."""


@dataclass(frozen=True)
class Check:
    """One audit check: its name, whether it passed, and what was found."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class ProtocolShape:
    """What a result's protocol makes of its samples, as its plugin declares (``ProtocolPlugin.folds``)."""

    folds: int | None
    """How many folds it makes (``None``: the result does not record the option that says)."""
    made: str
    """Why that many, in words: ``protocol.n_splits=4``, ``one per subject, n_subjects=26``, ``always one``."""
    partition: bool
    """Whether its folds test every sample once and each trains on every sample it does not test."""


def _protocol_shape(result: RunResult) -> ProtocolShape | None:
    """The folds the result's protocol makes, as its installed plugin declares them (``ProtocolPlugin.folds`` and
    ``partition``); ``None`` for a protocol not installed here, declaring nothing, or recorded as another
    distribution's (``environment.plugins``) than the one installed."""
    registry = get_registry()
    try:
        spec = registry.get("protocols", result.protocol)
    except MerbenchError:
        return None
    plugins = result.environment.get("plugins")  # {"protocol:loso": "merbench 0.1.0", ...}
    source = plugins.get(f"protocol:{result.protocol}") if isinstance(plugins, dict) else None
    installed = registry.provider("protocols", result.protocol).distribution
    recorded = None if source is None else distribution_key(str(source).rsplit(" ", 1)[0])
    if not spec.folds or recorded not in (None, distribution_key(installed)):
        return None
    if spec.folds == "n_splits":
        options = result.config.get("options")
        protocol = options.get("protocol") if isinstance(options, dict) else None
        n_splits = protocol.get("n_splits") if isinstance(protocol, dict) else None
        folds = n_splits if isinstance(n_splits, int) and not isinstance(n_splits, bool) else None
        return ProtocolShape(folds, f"protocol.n_splits={folds}", spec.partition)
    if spec.folds == "per subject":
        return ProtocolShape(result.n_subjects, f"one per subject, n_subjects={result.n_subjects}", spec.partition)
    return ProtocolShape(1, "always one", spec.partition)


def load_result(path: Path, command: str = "audit") -> RunResult:
    """Read a result file (of this or an older merbench), or raise DataError saying why it is not one
    (``command``: the merbench command the file was given to, named in the advice)."""
    return result_in(read_json_file(path, command), path, command)


def read_json_file(path: Path, command: str = "audit") -> Any:
    """The JSON in ``path``, or ``DataError`` saying why it cannot be read as a merbench file (``command``: the
    merbench command it was given to, named in the advice)."""
    from merbench.store import RUN_ID_LIKE, is_sqlite_file

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
        if is_sqlite_file(path):
            raise DataError(_store_given(path, command)) from None
        raise DataError(f"{path}: not a JSON file ({exc}); give a file written by merbench run --json") from None
    except ValueError as exc:  # an integer of over 4300 digits, which Python does not convert
        raise DataError(f"{path}: holds a value that cannot be read ({str(exc).split(';')[0]}), so not a merbench "
                        "result; give a file written by merbench run --json") from None
    except RecursionError:
        raise DataError(f"{path}: nested too deeply to read (arrays or objects inside each other thousands of levels "
                        "down), so not a merbench result; give a file written by merbench run --json") from None
    return result


def _store_given(path: Path, command: str) -> str:
    """Why an SQLite database ``path`` given to ``merbench command`` as a result file is not one, and what to give."""
    store = shlex.quote(str(path))
    if command == "audit":
        run = (f"or a stored run's id to `merbench show` (`merbench show RUN_ID --store {store} --json FILE` writes "
               "its result file to audit)")
    else:
        run = f"or a stored run's id with --store {store}"
    return (f"{path}: an SQLite database (a results store), not a result file; give a result file written by "
            f"`merbench run --json`, {run}; `merbench runs --store {store}` lists its runs")


def result_in(result: Any, path: Path, command: str = "audit") -> RunResult:
    """The run's result that ``result`` (the JSON read from ``path``) holds, or ``DataError`` saying why it is not
    one: a summary of another kind, or a file missing a result's keys."""
    summary = document_kind(result)
    if summary == "tune" and command == "audit":  # a tune stores no runs, so there is no run to audit
        raise DataError(f"{path}: a tune summary, not a run's result, and a tune stores no runs to audit: it refuses "
                        "leaky engine settings before it runs, and the summary's 'leakage' and 'warnings' record what "
                        "leaks under its protocol")
    if summary == "audit":  # its files are results already: naming them is the way, not `merbench show`
        raise DataError(f"{path}: {document_name(summary)}, not a run's result; give `merbench {command}` the result "
                        "files it audited (their paths are in the report) or a run's id (`merbench runs`)")
    if summary not in (None, "run") and command == "audit":
        raise DataError(f"{path}: {document_name(summary)}, not a run's result; audit the runs it lists: "
                        "`merbench show RUN_ID --json FILE`, then `merbench audit FILE`")
    if summary not in (None, "run"):
        raise DataError(f"{path}: {document_name(summary)}, not a run's result; give `merbench {command}` a run's id "
                        "(`merbench runs`) or its result file (`merbench show RUN_ID --json FILE`)")
    missing = [key for key in REQUIRED if not isinstance(result, dict) or key not in result]
    if missing:
        raise DataError(f"{path}: not a merbench result (missing {', '.join(missing)}); give a file written by merbench run --json")
    return RunResult.from_dict(result, str(path))


def _protocol_declares_overlap(result: RunResult) -> bool | None:
    """Whether the result's protocol declares subjects on both sides (not subject-independent); ``None`` when
    the protocol is not installed here."""
    try:
        spec = get_registry().get("protocols", result.protocol)
    except MerbenchError:
        return None
    return not spec.subject_independent


def _overlap_origin(result: RunResult) -> str:
    """Why a result's folds share subjects, in words: its protocol declares it, or not (its split or the data put
    them there: the run's warning, kept in the result, says which)."""
    if result.subject_independent:
        return "NOT declared: the result claims subject independence"
    declared = _protocol_declares_overlap(result)
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


def _declaration_problems(result: RunResult) -> list[str]:
    """Where the result claims subject independence that its protocol, as installed here, does not give."""
    if result.subject_independent and _protocol_declares_overlap(result):
        return [f"the result claims subject independence, but its protocol {result.protocol} is not "
                "subject-independent (it puts samples of one subject in training and test)"]
    return []


def _derived_overlap_problems(result: RunResult, recorded: set[int]) -> list[str]:
    """The folds the predictions show sharing subjects (a subject tested in several folds is trained on in each,
    as every fold trains on all it does not test) where the fold records do not list them."""
    derived = _subject_folds(result)
    unlisted = sorted(set(derived or ()) - recorded)
    if not unlisted:
        return []
    return [f"the predictions show {len(derived)} of {len(result.folds)} folds testing a subject that another fold "
            f"also tests, so each trained on it too ({_overlap_origin(result)}); the fold records do not "
            f"show it ({plural(unlisted, 'fold')} {some_of([f + 1 for f in unlisted], 10)})"]


def _subject_overlap(result: RunResult) -> Check:
    """Subjects in training and test of a fold, from the fold records, the predictions and the protocol's declaration;
    and whether every fold the predictions name has a record that says whom it trained on."""
    problems = _fold_record_problems(result) + _declaration_problems(result)
    problems += _prediction_subject_problems(result)
    leaking, recorded = [], set()
    for fold in _in_order(result):
        if fold.train_subjects is None:
            return Check("subject overlap", False, f"fold {fold.fold + 1} does not record its training subjects; re-run with this merbench")
        shared = sorted(set(fold.train_subjects) & set(fold.test_subjects))
        if shared:
            leaking.append(f"fold {fold.fold + 1}: {some_of(shared, 5)}")
            recorded.add(fold.fold)
    problems += _derived_overlap_problems(result, recorded) + _fold_size_problems(result)
    if leaking:
        problems.insert(0, f"{len(leaking)} of {len(result.folds)} folds share subjects "
                           f"({_overlap_origin(result)}); " + some_of(leaking, 3, "; "))
    elif "subjects" in _recorded_leaks(result):
        problems.append(f"the result records a 'subjects' leak ({_overlap_origin(result)}), though no fold "
                        "of this split happened to share a subject")
    if problems:
        return Check("subject overlap", False, some_of(problems, 3, "; "))
    unchecked = _unchecked_across_folds(result)
    return Check("subject overlap", True, "no subject is in both training and test of a fold; each fold's predictions "
                                          f"are of its test subjects{unchecked}")


def _fold_size_problems(result: RunResult) -> list[str]:
    """The folds whose recorded sizes (``n_train`` + ``n_test``) do not fit the result's ``n_samples``: more samples
    than it has, or, under a protocol whose every fold trains on all it does not test, any other number."""
    shape = _protocol_shape(result)
    exact = shape is not None and shape.partition
    sized = [fold for fold in _in_order(result) if fold.n_train is not None]
    wrong = [fold for fold in sized if fold.n_train + fold.n_test > result.n_samples
             or (exact and fold.n_train + fold.n_test != result.n_samples)]
    if not wrong:
        return []
    sizes = [f"fold {fold.fold + 1}: {fold.n_train} + {fold.n_test}" for fold in wrong]
    if exact:
        return [f"{len(wrong)} of {len(result.folds)} folds record training and test samples (n_train + n_test) that "
                f"do not add up to the result's {result.n_samples} samples (n_samples), which {result.protocol} "
                f"trains or tests in every fold ({some_of(sizes, 3, '; ')})"]
    return [f"{len(wrong)} of {len(result.folds)} folds record more training and test samples (n_train + n_test) "
            f"than the result's {result.n_samples} (n_samples) ({some_of(sizes, 3, '; ')})"]


def _unchecked_across_folds(result: RunResult) -> str:
    """What the subject check could not re-check from the predictions, as words to add to its finding: whether a
    subject tested in one fold was trained on in another (``""`` where it was, or where there is one fold)."""
    if len(result.folds) < 2 or _subject_folds(result) is not None:
        return ""
    if all(row.subject is None for row in _rows(result)):
        why = "they name no subject"
    elif _protocol_shape(result) is None:
        why = (f"{result.protocol} does not declare the folds it makes, and the recorded fold sizes do not show "
               "that each fold trains on every sample it does not test")
    else:
        why = f"a fold of {result.protocol} need not train on every sample it does not test"
    return ("; whether a subject tested in one fold was trained on in another is not re-checkable from the "
            f"predictions ({why})")


def _trains_on_the_rest(result: RunResult) -> bool:
    """Whether every fold trains on all the samples it does not test (so a clip or subject tested in two folds is
    in the training part of each), as its protocol declares (``ProtocolPlugin.partition``) or else its records and
    predictions show; with one record per fold the predictions name."""
    rows = _rows(result)
    if not result.folds or _unrecorded_folds(result):
        return False
    shape = _protocol_shape(result)
    if shape is not None and shape.partition:  # whatever sizes the records were given
        return True
    return len(rows) == result.n_samples and all(fold.n_train is not None and fold.n_train + fold.n_test == len(rows)
                                                 for fold in result.folds)


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


def uses_test_samples(note: str | None) -> bool:
    """Whether a normalisation note (a fold's, or the result's ``leakage.normalisation``) says the statistics took
    the test samples too."""
    return note is not None and TEST_SAMPLES_INCLUDED in note


def _flag_problem(leakage: LeakageRecord, flag: str) -> list[str]:
    """The finding for a leakage flag recorded true. A flag not recorded fails nothing by itself: results of a
    merbench before 2026-12-02 lack ``normalisation_uses_test_data``, and the fold records and configuration, which
    the checks read, hold what the flags sum up."""
    return [f"the result records {flag}: true"] if getattr(leakage, flag) is True else []


def _unrecorded_flag(leakage: LeakageRecord, flag: str) -> str:
    """Words for a passing row whose flag ``flag`` is not recorded (``""`` when it is)."""
    if getattr(leakage, flag) is not None:
        return ""
    return f"; {flag} not recorded (an older or edited result): judged by its fold records and configuration"


def _chosen_without_validation(fold: FoldRecord) -> bool:
    """Whether a fold not recorded as selecting on test samples scored a selected epoch without a validation split,
    which leaves only its test samples to have chosen it (an honest fold selects on validation subjects or not at
    all: ``selected_epoch`` null)."""
    return fold.selected_on != "test" and fold.selected_epoch is not None and not fold.validation_subjects


def _unsplit_selection(result: RunResult) -> list[str]:
    """The folds whose scored epoch was selected without a validation split, as one finding naming their epochs."""
    folds = [fold for fold in _in_order(result) if _chosen_without_validation(fold)]
    if not folds:
        return []
    epochs = [f"fold {fold.fold + 1}: epoch {fold.selected_epoch}"
              + (f" of the {fold.epochs_trained} it trained" if fold.epochs_trained is not None else "") for fold in folds]
    return [f"{len(folds)} of {len(result.folds)} folds scored an epoch selected without a validation split (no "
            f"validation subjects), so their test samples chose it ({some_of(epochs, 3, '; ')})"]


def _epoch_problem(fold: FoldRecord) -> str | None:
    """What contradicts itself in the epoch a fold records as scored, or ``None``: one it did not train, or selection
    on validation samples it does not have."""
    where, epoch, trained = f"fold {fold.fold + 1}", fold.selected_epoch, fold.epochs_trained
    if epoch is not None and trained is not None and not 1 <= epoch <= trained:
        return f"{where}: records epoch {epoch} as scored, of the {trained} it trained"
    if fold.selected_on == "validation" and not fold.validation_subjects:
        return f"{where}: says its epoch was chosen on validation samples, but records no validation subjects"
    return None


def _validation_problem(fold: FoldRecord) -> str | None:
    """What is wrong with how one fold chose its epoch, or ``None`` (one selected without a validation split is
    ``_unsplit_selection``'s, for all folds at once)."""
    where = f"fold {fold.fold + 1}"
    if fold.selected_on == "test":
        return f"{where}: the epoch was chosen on its test samples"
    epoch = _epoch_problem(fold)
    if epoch:
        return epoch
    validation = set(fold.validation_subjects or ())
    if fold.train_subjects is None:
        shared = validation & set(fold.test_subjects)
        return f"{where}: validation subjects are test subjects; training subjects not recorded" if shared else None
    outside = sorted(validation - set(fold.train_subjects))
    if outside:
        return f"{where}: validation subjects are not training subjects ({some_of(outside, 5)})"
    return None


def _selection_text_problem(result: RunResult) -> list[str]:
    """Where the result says no epoch was selected (``model_selection`` "none: ...") but folds record one."""
    text = (result.leakage or LeakageRecord()).model_selection or ""
    selected = [fold.fold + 1 for fold in _in_order(result) if fold.selected_epoch is not None]
    if not text.startswith("none") or not selected:
        return []
    folds = ", ".join(number_spans(selected))
    return [f"the result says no epoch was selected, but {plural(selected, 'fold')} {folds} "
            f"{plural(selected, 'records', 'record')} a selected epoch"]


def _selection_detail(result: RunResult, problems: list[str]) -> str:
    """The model-selection finding: what failed it (in that order: configuration, flags, folds in order), the
    recorded choice and, where validation subjects also are test subjects, that this is subject overlap, not
    selection on test samples."""
    leakage = result.leakage or LeakageRecord()
    shared = [str(fold.fold + 1) for fold in _in_order(result)
              if set(fold.validation_subjects or ()) & set(fold.test_subjects)
              and set(fold.validation_subjects or ()) <= set(fold.train_subjects or ())]
    recorded = leakage.model_selection or "not recorded"
    if problems:
        parts = [some_of(problems, 3, "; "), f"its record says: {recorded}"]
    else:
        parts = [recorded + _unrecorded_flag(leakage, "selection_uses_test_data")]
    if shared:
        parts.append(f"{plural(shared, 'fold')} {', '.join(shared)}: validation subjects also in the test part (subject overlap); "
                     "the validation samples are training samples, never test samples")
    return "; ".join(parts)


def _declared_leak(result: RunResult, kind: str) -> list[str]:
    """What the result itself says of leak ``kind`` (``selection``, ``normalisation``), in this order: its recorded
    configuration asks for it, its flag ``{kind}_uses_test_data`` is true, its ``leakage.leaks`` lists it."""
    problems = []
    if kind in configured_leaks(result):
        problems.append(f"its recorded configuration sets engine.{LEAKY_SETTINGS[kind]}")
    problems += _flag_problem(result.leakage or LeakageRecord(), f"{kind}_uses_test_data")
    if kind in _recorded_leaks(result):
        problems.append(f"the result records a '{kind}' leak")
    return problems


def _selection_problems(result: RunResult) -> list[str]:
    """Everything that says a fold's scored model was chosen on its test samples, or that the record of the choice
    does not hold together."""
    problems = _declared_leak(result, "selection") + _unsplit_selection(result) + _selection_text_problem(result)
    return problems + [problem for problem in map(_validation_problem, _in_order(result)) if problem]


def _normalisation_problems(result: RunResult) -> list[str]:
    """Everything that says a fold's normalisation statistics took its test samples, or that the result does not say
    they were of training samples only."""
    leakage = result.leakage or LeakageRecord()
    problems = _declared_leak(result, "normalisation")
    leaky = [fold for fold in _in_order(result) if uses_test_samples(fold.normalisation)]
    if leaky:
        numbers = number_spans(fold.fold + 1 for fold in leaky)
        problems.append(f"{plural(leaky, 'fold')} {', '.join(numbers)} of {len(result.folds)} "
                        f"{plural(leaky, 'records', 'record')} statistics with {TEST_SAMPLES_INCLUDED} "
                        f"({leaky[0].normalisation})")
    if leakage.normalisation is None:
        problems.append("leakage.normalisation not recorded")
    elif "training samples only" not in leakage.normalisation or uses_test_samples(leakage.normalisation):
        problems.append("leakage.normalisation does not say the statistics are of training samples only")
    return problems


def _normalisation(result: RunResult) -> Check:
    """Whether every fold's normalisation statistics came from its training samples only."""
    leakage = result.leakage or LeakageRecord()
    recorded = leakage.normalisation or "not recorded"
    problems = _normalisation_problems(result)
    if problems:
        said = f"; its record says: {recorded}" if leakage.normalisation is not None else ""
        return Check("normalisation", False, some_of(problems, 3, "; ") + said)
    return Check("normalisation", True, recorded + _unrecorded_flag(leakage, "normalisation_uses_test_data"))


def _selection(result: RunResult) -> list[Check]:
    """The model-selection and normalisation rows."""
    problems = _selection_problems(result)
    return [Check("model selection", not problems, _selection_detail(result, problems)), _normalisation(result)]


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
    problems += _repeated_sample_problems(rows) + _fold_count_problems(result) + _coverage_problems(result)
    if problems:
        return Check("scores match predictions", False, some_of(problems, 3, "; "))
    seeds = ("" if not result.seeds else
             f"; the mean ± std over its {len(result.seeds)} seeds follows from each seed's scores (the first seed's "
             "are the ones checked above; the others' predictions are not kept)")
    nameless = [row for row in rows if row.domain is None]
    domains = " and per-domain" if len(result.per_domain or {}) > 1 and not nameless else ""
    which = ("the predictions name" if len(nameless) == len(rows) else
             f"{len(nameless)} of {len(rows)} predictions {plural(nameless, 'names', 'name')}")
    unchecked = f"; the per-domain scores are not re-checkable ({which} no domain)" if nameless and result.per_domain else ""
    return Check("scores match predictions", True, f"{len(rows)} predictions reproduce the pooled, per-fold{domains} "
                                                   f"scores and the mean ± std over folds{unchecked}"
                                                   f"{_folds_made(result)}{seeds}")


def _repeated_sample_problems(rows: Sequence[PredictionRow]) -> list[str]:
    """The samples with more than one prediction: a sample is tested in one fold at most and scored once."""
    counts = Counter(row.id for row in rows)
    repeated = [sample for sample, count in counts.items() if count > 1]
    if not repeated:
        return []
    which = (f"sample {repeated[0]} has {counts[repeated[0]]} predictions" if len(repeated) == 1 else
             f"samples {some_of(repeated, 5)} have more than one prediction ({repeated[0]}: {counts[repeated[0]]})")
    return [f"{which}: the scores count {plural(repeated, 'it', 'them')} more than once, where a sample is tested in one "
            "fold and scored once"]


def _counted_predictions(matrix_total: int, rows: Sequence[PredictionRow]) -> str:
    """Words for a confusion matrix that counts ``matrix_total`` samples where the result has ``rows``."""
    return f"the confusion matrix counts {matrix_total} samples, the result has {len(rows)} predictions"


def sample_count_problems(result: RunResult) -> list[str]:
    """Where a result's predictions do not list each sample it scored once: a sample with several predictions, or
    more or fewer predictions than its confusion matrix counts (one listed twice, or one lost). A confusion matrix
    that is not one of counts is left to the audit's class-set check."""
    rows = _rows(result)
    problems = _repeated_sample_problems(rows)
    try:
        matrix_total = int(np.asarray(result.confusion_matrix, dtype=np.int64).sum())
    except (TypeError, ValueError):
        return problems
    if matrix_total != len(rows):
        problems.append(_counted_predictions(matrix_total, rows))
    return problems


def _fold_count_problems(result: RunResult) -> list[str]:
    """Where the fold records are not the folds a protocol makes: numbered 1, 2, ... each once without a gap (every
    protocol's, merbench.splits.check_fold_contract), and as many as the result's protocol declares it
    makes of its samples."""
    numbers = Counter(fold.fold for fold in result.folds)
    problems = []
    twice = sorted(number + 1 for number, count in numbers.items() if count > 1)
    if twice:
        problems.append(f"{plural(twice, 'fold')} {some_of(twice, 10)} {plural(twice, 'is', 'are')} recorded more "
                        "than once")
    missing = sorted(set(range(max(numbers, default=-1) + 1)) - set(numbers))
    if missing:
        problems.append(f"{plural(missing, 'fold')} {some_of([f + 1 for f in missing], 10)} of the "
                        f"{max(numbers) + 1} {plural(missing, 'is', 'are')} missing (a protocol numbers its folds "
                        "from 1 without a gap): the scores leave out its test samples")
    shape = _protocol_shape(result)
    if shape is not None and shape.folds is not None and len(numbers) != shape.folds:
        problems.append(f"the result records {counted(len(numbers), 'fold')}, {result.protocol} makes {shape.folds} "
                        f"({shape.made})")
    return problems


def _coverage_problems(result: RunResult) -> list[str]:
    """Where the predictions cover more samples or subjects than the result has, or, under a protocol that tests
    every sample once (``ProtocolPlugin.partition``), not all of them: the scores are then of a part of the data."""
    rows = _rows(result)
    shape = _protocol_shape(result)
    every = shape is not None and shape.partition
    problems = []
    tested = len({row.id for row in rows})
    if tested > result.n_samples or (every and tested != result.n_samples):
        tests = f", and {result.protocol} tests every sample once" if every else ""
        problems.append(f"the predictions are of {counted(tested, 'sample')}, the result has {result.n_samples} "
                        f"(n_samples){tests}")
    named = {str(row.subject) for row in rows if row.subject is not None}
    recorded = {str(subject) for fold in result.folds for subject in [*fold.test_subjects, *(fold.train_subjects or ())]}
    if len(named | recorded) > result.n_subjects:
        problems.append(f"the folds and predictions name {len(named | recorded)} subjects, the result has "
                        f"{result.n_subjects} (n_subjects)")
    elif every and named and len(named) != result.n_subjects:
        untested = sorted(recorded - named)
        among = (f"; {plural(untested, 'subject')} {some_of(untested, 5)} of the fold records "
                 f"{plural(untested, 'is', 'are')} tested in no fold") if untested else ""
        problems.append(f"the predictions test {len(named)} of the result's {result.n_subjects} subjects "
                        f"(n_subjects), and {result.protocol} tests every subject{among}")
    return problems


def _folds_made(result: RunResult) -> str:
    """Words for the scores check's finding on whether the folds are the ones the result's protocol makes."""
    shape = _protocol_shape(result)
    if shape is None:
        return (f"; whether its {counted(len(result.folds), 'fold')} {plural(result.folds, 'is', 'are')} all that "
                f"{result.protocol} makes is not re-checkable (its plugin does not declare it)")
    if shape.folds is None:
        return (f"; how many folds {result.protocol} made is not re-checkable (the recorded configuration has no "
                "protocol.n_splits)")
    every = f", testing each of the {result.n_samples} samples once" if shape.partition else ""
    return (f"; the {counted(len(result.folds), 'fold')} {plural(result.folds, 'is', 'are')} what {result.protocol} "
            f"makes ({shape.made}){every}")


def _domain_problems(result: RunResult, rows: list[PredictionRow], y_true: np.ndarray, y_pred: np.ndarray,
                     n_classes: int) -> list[str]:
    """Where ``per_domain`` (each source dataset's scores: the composite's per-part figures) disagrees with the
    predictions of that domain, or names a domain no prediction has. Predictions without a domain (written before
    merbench recorded it: the schema keeps the key optional) leave the per-domain scores unchecked, which the scores
    check then says."""
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
            problems.append(_counted_predictions(int(matrix_counts.sum()), rows))
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


def _recorded_configuration(result: RunResult) -> Check | None:
    """A row for a model, dataset, protocol or profile that differs from the one the result's recorded configuration
    ran (the audit reads the configuration's settings, tables and comparisons show the result's names); ``None`` where
    they agree or one side is not recorded."""
    config = result.config
    differing = [f"{key} is {getattr(result, key)!r}, its recorded configuration ran {config[key]!r}" for key in IDENTITY
                 if getattr(result, key) is not None and config.get(key) is not None and getattr(result, key) != config[key]]
    if not differing:
        return None
    return Check("recorded configuration", False, "; ".join(differing))


def audit_result(result: RunResult) -> list[Check]:
    """All audit checks of one result, against the protocol plugins installed here (what the result's protocol
    declares: subjects on both sides, the folds it makes). The clip-overlap, recorded-leaks and recorded-configuration rows appear only
    where they apply."""
    classes = _class_set(result)
    consistency = (_consistency(result) if classes.passed else
                   Check("scores match predictions", False, "not checked: the predictions do not fit the class set"))
    checks = [_recorded_configuration(result), _subject_overlap(result), _clip_overlap(result),
              *_selection(result), _unknown_leaks(result), classes, consistency]
    return [check for check in checks if check is not None]
