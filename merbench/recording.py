"""Recording a run in the results store while it runs, and continuing a stored run.

``run_recorded`` is how the commands start a run: it records the run in a
``ResultStore`` (status ``running``), runs it through the runner with a
``RunRecorder`` that stores each fold as soon as it completes, and writes the
final result. The store below only persists; this module decides what a
resumed run may reuse (see docs/design.md, "Results").
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence


from merbench import runner  # as a module: tests replace runner.run_with_seeds
from merbench.run_settings import with_recorded_settings
from merbench.cache import cache_root
from merbench.config import RunConfig, check_seeds
from merbench.environment import (EARLIER_FOLDS_KEY, EARLIER_SETUPS_KEY, EARLIER_SOFTWARE_KEY, FILES_KEY,
                                  describe_environment, earlier_folds, folds_named, software_of, with_earlier_setups)
from merbench.errors import DataError, FoldsLost, UsageError
from merbench.recorded_files import files_record
from merbench.progress import ProgressSink
from merbench.registry import Registry
from merbench.result import FoldRecord, PredictionRow, RunResult
from merbench.store import BUSY_TIMEOUT_MS, ResultStore, StoredFold, disk_full_error, is_disk_full, is_locked
from merbench.wording import counted, plural

LOCKED_FOLD_WAIT_S = 600.0
"""How long a trained fold waits to be saved while another program holds the store: training it again costs more."""


class Recorder(Protocol):
    """What the runner calls to persist a run as it goes; ``RunRecorder`` stores it, a grid cell keeps it."""

    def inputs(self, seed: int, preprocess: dict[str, Any]) -> None:
        """Called once per seed, after preprocessing, with its record (the chain, counts and the model inputs'
        content key, ``preprocess["inputs_key"]``)."""

    def completed_fold(self, seed: int, fold_index: int, test_ids: Sequence[str],
                       test_labels: Sequence[tuple[int, str]] | None = None) -> StoredFold | None:
        """Called before a fold is trained: the stored fold to reuse instead, or ``None`` to train it.
        ``test_labels``: each test sample's label and subject now."""

    def fold_done(self, seed: int, record: FoldRecord, test_ids: Sequence[str], predictions: Sequence[int],
                  sample_rows: Sequence[PredictionRow]) -> None:
        """Called as soon as a fold has completed, with its record, test predictions and per-sample rows."""


class InputsCheck(Protocol):
    """A check of a run's inputs that watches its ``Recorder`` and may add to its result (``merbench.rerun_inputs``:
    a re-run's inputs against the recorded run's)."""

    def around(self, inner: Recorder | None, progress: ProgressSink | None) -> Recorder:
        """The ``Recorder`` the runner is given: ``inner``'s (``None``: the run is not stored), the inputs checked."""

    def kept(self, result: RunResult) -> RunResult:
        """``result`` with what the check found."""

    def compare_files(self, files: Any, progress: ProgressSink | None) -> None:
        """Before anything runs: compare the files the run's options name (``environment.files``) with the record's."""


def check_same_test_samples(run_id: str, fold_index: int, stored: StoredFold, test_ids: Sequence[str]) -> None:
    """``UsageError`` when a stored fold tested other samples than the fold about to be reused."""
    if list(stored.test_ids) != [str(i) for i in test_ids]:
        raise UsageError(
            f"run {run_id}: fold {fold_index + 1} now tests other samples than when it was stored; the folds changed "
            "(dataset or protocol), so the run cannot be resumed. Start a new run"
        )


def check_same_labels(run_id: str, fold_index: int, stored: Mapping[str, tuple[int, str]], test_ids: Sequence[str],
                      test_labels: Sequence[tuple[int, str]]) -> None:
    """``UsageError`` naming the first test sample whose label or subject differs from the one stored with the fold
    (a run stored before the runs recorded a key of the labels, ``labels_key``, is checked this way)."""
    for sample_id, (label, subject) in zip(test_ids, test_labels):
        before = stored.get(str(sample_id))
        if before is not None and (int(before[0]), str(before[1])) != (int(label), str(subject)):
            raise UsageError(
                f"run {run_id}: sample {sample_id} of fold {fold_index + 1} had label {before[0]} and subject "
                f"{before[1]} when the fold was stored, and has label {label} and subject {subject} now: the fold was "
                "trained and scored with the old annotation, so the run cannot be resumed. Start a new run")


class RunRecorder:
    """The ``Recorder`` of a stored run: persists each fold, and hands back the folds a resumed run finished."""

    def __init__(self, store: ResultStore, run_id: str, resuming: bool = False,
                 notify: Callable[[str], None] | None = None):
        self.store = store
        self.run_id = run_id
        self.resuming = resuming
        self.reused = 0
        self.stored = 0
        """How many folds this process has stored."""
        self.notify = notify

    def inputs(self, seed: int, preprocess: dict[str, Any]) -> None:
        """Record the preprocessing and the inputs' content key (checked against the stored one on resume)."""
        self.store.record_inputs(self.run_id, seed, preprocess, preprocess["inputs_key"])

    def completed_fold(self, seed: int, fold_index: int, test_ids: Sequence[str],
                       test_labels: Sequence[tuple[int, str]] | None = None) -> StoredFold | None:
        """The stored fold to reuse, or ``None`` to train it; a fold whose test samples changed, or whose samples'
        labels or subjects (``test_labels``) differ from those stored with it, is an error."""
        if not self.resuming:
            return None
        stored = self.store.stored_folds(self.run_id, seed).get(fold_index)
        if stored is None:
            return None
        check_same_test_samples(self.run_id, fold_index, stored, test_ids)
        if test_labels is not None:
            check_same_labels(self.run_id, fold_index, self.store.fold_sample_labels(self.run_id, seed, fold_index),
                              test_ids, test_labels)
        self.reused += 1
        return stored

    def fold_done(self, seed: int, record: FoldRecord, test_ids: Sequence[str], predictions: Sequence[int],
                  sample_rows: Sequence[PredictionRow]) -> None:
        """Persist a fold that has just completed.

        While another program holds the store the fold waits (``LOCKED_FOLD_WAIT_S``, saying so once) rather than
        being thrown away; past that the run stops resumably (``FoldsLost``), its earlier folds kept.
        """
        deadline = time.monotonic() + LOCKED_FOLD_WAIT_S
        told = False
        while True:
            try:
                self.store.add_fold(self.run_id, seed, record, test_ids, predictions, sample_rows)
                self.stored += 1
                return
            except sqlite3.OperationalError as exc:
                if not is_locked(exc):
                    raise
                waited = LOCKED_FOLD_WAIT_S + BUSY_TIMEOUT_MS / 1000
                if time.monotonic() >= deadline:
                    raise FoldsLost(
                        f"results store {self.store.path}: locked by another program for more than {waited:.0f} s "
                        f"while fold {record.fold + 1} was being saved ({exc}), so that fold is not stored; the store is "
                        "not damaged") from None
                if self.notify is not None and not told:
                    self.notify(f"[bold yellow]Warning:[/] results store {self.store.path} is locked by another "
                                f"program; fold {record.fold + 1} waits (up to {waited:.0f} s) to be saved")
                    told = True
                time.sleep(1.0)


def run_or_continue(store: ResultStore | None, config: RunConfig, registry: Registry, n_seeds: int,
                    progress: ProgressSink | None, resume_id: str | None, cannot_continue: Callable[[str], None],
                    announce: Any = None) -> tuple[RunResult, str | None, int | None]:
    """``run_recorded``, continuing the interrupted run ``resume_id`` (``store.interrupted_run`` of this
    configuration, or ``None``) from its finished folds, as ``--stored`` does in ``grid``, ``regress`` and
    ``leakage``. A run that cannot be continued (another process holds it, or its inputs changed since) is
    ``cannot_continue(reason)`` and the configuration is trained anew. Returns the result, the run id and how many
    folds the continued run kept (``None`` when no run was continued)."""
    if resume_id is not None:
        try:
            return run_recorded(store, config, registry, n_seeds, progress, resume_id=resume_id, announce=announce)
        except UsageError as exc:
            cannot_continue(f"interrupted run {resume_id} cannot be continued ({exc})")
    result, run_id, _ = run_recorded(store, config, registry, n_seeds, progress, announce=announce)
    return result, run_id, None


def _environment_at_start(config: RunConfig, registry: Registry, choice: Any, files: dict[str, Any]) -> dict[str, Any]:
    """What a run records of its environment when it starts: its device ``choice``'s, its plugins' versions and the
    files its options name (``files_record``)."""
    return {**describe_environment(choice.description), "plugins": runner.plugin_versions(config, registry), **files}


def run_recorded(store: ResultStore | None, config: RunConfig, registry: Registry, n_seeds: int = 1,
                 progress: ProgressSink | None = None, resume_id: str | None = None,
                 announce: Any = None, rerun: InputsCheck | None = None) -> tuple[RunResult, str | None, int]:
    """Run ``config`` (``n_seeds`` seeds), recording it in ``store`` as it goes.

    With ``resume_id`` the stored run is continued: its completed folds are
    reused. ``announce(run_id)`` is called once the run is recorded. ``rerun``: the check of a re-run from a
    result (``--config result.json``), whose warning the result keeps. A run stopped by Ctrl-C is marked ``interrupted``, one that raised
    ``failed``. Returns the result (with ``run_id``), the run id (``None``
    without a store) and how many stored folds were reused.
    """
    def written() -> list[Path]:  # where a run writes: the full one is named when the error does not say
        return [cache_root(create=False)] + ([store.path] if store is not None else [])

    files = files_record(config, registry)
    if rerun is not None:
        rerun.compare_files(files.get(FILES_KEY), progress)
        rerun.compare_setup(_environment_at_start(config, registry, runner.choose_run_device(config), files), progress)
    if store is None:
        try:
            result = runner.run_with_seeds(config, registry, n_seeds, progress, rerun and rerun.around(None, progress))
            return with_recorded_settings(rerun.kept(result) if rerun else result, registry), None, 0
        except FoldsLost as exc:
            raise how_to_continue(exc, None) from None
        except (OSError, sqlite3.OperationalError) as exc:
            if is_disk_full(exc):
                raise disk_full_error(exc, written()) from None
            raise
    check_seeds(n_seeds, config.seed)
    choice = runner.choose_run_device(config)  # imports torch (not at the import of the commands); once for all seeds
    environment = _environment_at_start(config, registry, choice, files)
    setups: dict[str, Any] = {}
    try:
        if resume_id is None:
            run_id = store.begin_run(config.to_dict(), n_seeds, environment)
        else:
            run_id = resume_id
            claimed: dict[str, Any] = {}

            def kept_setups(before: dict[str, Any], stored: list[tuple[int, int]]) -> dict[str, Any]:
                claimed.update(with_earlier_setups(before, environment, stored))
                return claimed

            store.claim_run(run_id, environment, kept_setups)
            setups = claimed.get(EARLIER_SETUPS_KEY, {})
    except sqlite3.OperationalError as exc:
        if is_disk_full(exc):
            raise disk_full_error(exc, written()) from None
        raise
    recorder = RunRecorder(store, run_id, resuming=resume_id is not None,
                           notify=progress.message if progress is not None else None)
    if announce is not None:
        announce(run_id)
    try:
        result = runner.run_with_seeds(config, registry, n_seeds, progress,
                                       rerun.around(recorder, progress) if rerun else recorder, choice)
        result = dataclasses.replace(with_recorded_settings(rerun.kept(result) if rerun else result, registry),
                                     run_id=run_id)
        mixed = mixed_setups(setups, environment, recorder.reused, n_seeds)
        if mixed is not None:
            warning, recorded = mixed
            result = dataclasses.replace(result, warnings=[*result.warnings, warning],
                                         environment={**result.environment, **recorded})
            if progress is not None:
                progress.message(f"[bold yellow]Warning:[/] {warning}")
        store.finish_run(run_id, result)
    except KeyboardInterrupt:
        _mark_stopped(store, run_id, "interrupted")
        raise
    except BaseException as exc:
        if is_disk_full(exc):  # resumable: left 'running' with this process gone, it reads 'interrupted'
            _mark_stopped(store, run_id, "interrupted")
            raise disk_full_error(exc, written(), run_id, store.store_option()) from None
        if isinstance(exc, FoldsLost):  # stopped around its folds, not by them: resumable, as an interruption is
            _mark_stopped(store, run_id, "interrupted", str(exc))
            raise how_to_continue(exc, run_id, store) from None
        if isinstance(exc, (UsageError, DataError)) and (resume_id is not None or recorder.stored):
            if not recorder.stored:
                _unclaim(store, run_id)  # a refused resume changed nothing: the run stays as it was, resumable
                raise
            _mark_stopped(store, run_id, "interrupted", str(exc))  # its folds stored so far are sound: resumable
            kept = counted(store.folds_stored(run_id), "stored fold")
            raise type(exc)(f"{exc}; run {run_id} keeps its {kept} and stays interrupted: "
                            f"`{store.resume_command(run_id)}` continues it") from None
        _mark_stopped(store, run_id, "failed", str(exc) or type(exc).__name__)
        raise
    return result, run_id, recorder.reused


def mixed_setups(setups: dict[str, Any], now: dict[str, Any], reused: int, n_seeds: int
                 ) -> tuple[str, dict[str, Any]] | None:
    """The warning of a run resumed in ``now``'s setup whose ``reused`` stored folds were trained (``setups``: the
    stored ``EARLIER_SETUPS_KEY`` record) partly or wholly in other setups, and what its result's environment records
    of them: each such setup with its folds (``EARLIER_FOLDS_KEY``) and the software of the first
    (``EARLIER_SOFTWARE_KEY``: ``--stored`` never takes the run for one software's); ``None`` when every reused fold
    was trained in ``now``'s setup."""
    differing = earlier_folds(setups, now)
    if differing is None:  # recorded by a merbench that kept no folds: its change lines, said of every stored fold
        software, machine = setups.get("software", []), setups.get("machine", [])
        lines, count, n_setups = software + machine, reused, 2
        recorded = {key: setups[key] for key in (EARLIER_SOFTWARE_KEY,) if key in setups}
    else:
        software = [line for entry in differing for line in entry["software"]]
        machine = [line for entry in differing for line in entry["machine"]]
        lines = [f"{folds_named(entry['folds'], n_seeds > 1)}: {'; '.join(entry['software'] + entry['machine'])}"
                 for entry in differing]
        count = min(reused, sum(len(folds) for entry in differing for folds in entry["folds"].values()))
        n_setups = len({json.dumps(entry["setup"], sort_keys=True) for entry in differing}) + 1
        recorded = {EARLIER_FOLDS_KEY: differing}
        first = next((entry["setup"] for entry in differing if entry["software"]), None)
        if first is not None:
            recorded[EARLIER_SOFTWARE_KEY] = software_of(first)
    if not (software or machine) or not reused:
        return None
    folds = f"its {counted(reused, 'stored fold')}"
    folds = f"{folds if count == reused else f'{count} of {folds}'} {plural(count, 'was', 'were')}"
    how = {(True, False): f"under other software than {folds} trained with",
           (False, True): f"on another machine than the one {folds} trained on",
           (True, True): f"under other software and on another machine than {folds} trained with and on",
           }[bool(software), bool(machine)]
    mix = "both" if n_setups == 2 else f"{n_setups} setups"
    return (f"resumed {how} ({'; '.join(lines)}): the result mixes folds of {mix}; run it again without --resume for "
            "folds of one setup"), recorded


def how_to_continue(exc: FoldsLost, run_id: str | None, store: ResultStore | None = None) -> FoldsLost:
    """``exc`` with what the user can do next: resume the stored run ``run_id`` (of ``store``, named in the command
    when it is not the default one), or, not stored, run it again."""
    if run_id is None:
        return FoldsLost(f"{exc}; the run was not stored in a results store, so its completed folds are lost: run it again")
    command = store.resume_command(run_id) if store is not None else f"merbench run --resume {run_id}"
    return FoldsLost(f"{exc}; the completed folds are kept in the results store: continue with `{command}`")


def continue_with_stored(exc: FoldsLost, run_id: str | None, store: ResultStore | None, command: str,
                         part: str) -> FoldsLost:
    """``exc``, a run of a command that runs several (``command``: ``grid``, ``regress``, ``leakage``; ``part``: what
    the run is of it, ``cell``), stopped around its folds, with that command's way to continue it: the same
    command with ``--stored``, which continues every stopped run and the runs not made yet (``merbench run --resume
    ID``, which ``how_to_continue`` advises, continues that run alone)."""
    advice = str(how_to_continue(FoldsLost(""), run_id, store)) if run_id is not None else None
    if advice is None or not str(exc).endswith(advice):
        return exc
    resume = store.resume_command(run_id) if store is not None else f"merbench run --resume {run_id}"
    return FoldsLost(f"{str(exc)[:-len(advice)]}; the completed folds are kept in the results store: run the same "
                     f"{command} command with --stored to continue the {part} from them (`{resume}` continues "
                     f"this {part} alone)")


def _unclaim(store: ResultStore, run_id: str) -> None:
    """``store.unclaim_run``; a run it cannot put back (a full disk) reads ``interrupted``, as ``_mark_stopped``'s."""
    try:
        store.unclaim_run(run_id)
    except sqlite3.OperationalError:
        pass


def _mark_stopped(store: ResultStore, run_id: str, status: str, error: str | None = None) -> None:
    """``store.mark_stopped``, unless the store cannot be written (a full disk): the run then reads ``interrupted``."""
    try:
        store.mark_stopped(run_id, status, error)
    except sqlite3.OperationalError:
        pass
