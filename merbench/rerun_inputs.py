"""A re-run of a recorded result (``merbench run --config result.json``) checked against the inputs the recorded run
trained on: once the new run's inputs are preprocessed, before any fold trains, it warns when they differ (another
``inputs_key``: another OpenCV, preprocessing option or dataset file), naming what the records say changed, and the
result keeps the warning. Before anything runs it also warns when the recorded run ran under other software, on
another device or on another machine (``merbench.environment.changed_setup``, as ``--resume`` says it), and when the
recorded configuration lacks an option that changes scores (written by a merbench before the option existed), which
the re-run runs at today's default."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

from merbench.environment import FILES_KEY, changed_files, changed_setup
from merbench.progress import ProgressSink
from merbench.recording import Recorder
from merbench.result import RunResult
from merbench.run_settings import NOT_SECTIONS, NOT_SETTINGS, setting_text, unrecorded_options
from merbench.store import StoredFold

INPUTS_NOT_NAMED = {"computed", "cached", "workers", "inputs_key", "labels_key"}
"""What of a result's ``preprocess`` record says how the inputs were made no more than how they were reached."""


class RerunCheck:
    """A re-run of a recorded result (``--config result.json``): once its inputs are preprocessed, before any fold
    trains, it warns when they are not the inputs the recorded run trained on (another ``inputs_key``: another
    OpenCV, preprocessing option or dataset file), and the result keeps that warning."""

    def __init__(self, where: str, recorded: dict[str, Any], recorded_files: Any = None,
                 recorded_environment: dict[str, Any] | None = None, recorded_options: Any = None):
        self.where = where
        """The option that gave the result, ``--config PATH``."""
        self.recorded = recorded
        """The recorded result's ``preprocess`` record."""
        self.recorded_files = recorded_files
        """The recorded result's ``environment.files`` (``None``: not recorded)."""
        self.recorded_environment = recorded_environment
        """The recorded result's ``environment`` (``None``: not recorded)."""
        self.recorded_options = recorded_options
        """The recorded result's ``config.options`` (``None``: not recorded)."""
        self.options_warning: str | None = None
        self.warning: str | None = None
        self.files_warning: str | None = None
        self.setup_warning: str | None = None

    def around(self, inner: Recorder | None, progress: ProgressSink | None) -> Recorder:
        """The ``Recorder`` the runner is given: ``inner``'s (``None``: the run is not stored), checking the inputs."""
        return _CheckedRecorder(self, inner, progress)

    def compare(self, preprocess: dict[str, Any], progress: ProgressSink | None) -> None:
        """Warn, once, when ``preprocess`` (a seed's record) has another ``inputs_key`` than the recorded one."""
        before, now = self.recorded.get("inputs_key"), preprocess.get("inputs_key")
        if self.warning is not None or not before or before == now:
            return
        changed = [f"{key} {old} → {new}" for key, (old, new) in _inputs_facts(self.recorded, preprocess).items()
                   if old != new]
        why = ("; ".join(changed) if changed else
               "the same preprocessing settings, so the dataset's files or the code that preprocesses them changed")
        self.warning = (f"{self.where}: the preprocessed inputs differ from those the recorded run used (key "
                        f"{str(before)[:12]} vs {str(now)[:12]}): its scores may differ (recorded → now: {why})")
        if progress is not None:
            progress.message(f"[bold yellow]Warning:[/] {self.warning}")

    def compare_files(self, files: Any, progress: ProgressSink | None) -> None:
        """Warn when the files the run's options name (``files``: ``environment.files``) hold other bytes than those
        the recorded run read (other weights under the same name)."""
        changed = changed_files(self.recorded_files, files if files is not None else {})
        if not changed or self.recorded_files is None:
            return
        self.files_warning = (f"{self.where}: the files the options name differ from those the recorded run read: "
                              f"its scores may differ (recorded → now: {'; '.join(changed)})")
        if progress is not None:
            progress.message(f"[bold yellow]Warning:[/] {self.files_warning}")

    def compare_setup(self, now: dict[str, Any], progress: ProgressSink | None) -> None:
        """Warn when the recorded run ran under other software, on another device or on another machine than this
        one, whose environment is ``now`` (``changed_setup``, as a resumed run's warning says it; the files are
        ``compare_files``'s)."""
        if self.recorded_environment is None:
            return

        def setup(environment: dict[str, Any]) -> dict[str, Any]:
            return {key: value for key, value in environment.items() if key != FILES_KEY}

        software, machine = changed_setup(setup(self.recorded_environment), setup(now))
        device = [line for line in software if line.startswith("device ")]
        software = [line for line in software if line not in device]
        kinds = [kind for kind, lines in (("under other software", software), ("on another device", device),
                                         ("on another machine", machine)) if lines]
        if not kinds:
            return
        how = ", ".join(kinds[:-1]) + (" and " if len(kinds) > 1 else "") + kinds[-1]
        self.setup_warning = (f"{self.where}: the recorded run ran {how} than this re-run: its scores may differ for "
                              f"that reason (recorded → now: {'; '.join(software + device + machine)})")
        if progress is not None:
            progress.message(f"[bold yellow]Warning:[/] {self.setup_warning}")

    def compare_options(self, sections: Mapping[str, Mapping[str, Any]], given: Iterable[str],
                        progress: ProgressSink | None) -> None:
        """Warn when the recorded configuration lacks options of this re-run's ``sections`` that change scores (stored
        by a merbench before they existed) and that the command does not give itself (``given``: dotted keys): the
        re-run runs them at today's default, which the recorded run may not have used."""
        if not isinstance(self.recorded_options, Mapping):
            return
        given = set(given)
        missing = {f"{section}.{key}": sections[section][key]
                   for section, key in unrecorded_options(self.recorded_options, sections)
                   if section not in NOT_SECTIONS and key not in NOT_SETTINGS.get(section, ())
                   and f"{section}.{key}" not in given}
        if not missing:
            return
        values = [setting_text(name, value) for name, value in missing.items()]
        many = len(missing) > 1
        self.options_warning = (
            f"{self.where}: the recorded run does not record {', '.join(missing)}; this re-run uses today's "
            f"default{'s' if many else ''} {', '.join(values)}, so its scores may differ from the recorded ones; give "
            f"--set {' '.join(f'{name}=VALUE' for name in missing)} to run "
            f"{'other values' if many else 'another value'}")
        if progress is not None:
            progress.message(f"[bold yellow]Warning:[/] {self.options_warning}")

    def kept(self, result: RunResult) -> RunResult:
        """``result`` with the warnings, when there were any."""
        found = [warning for warning in (self.options_warning, self.setup_warning, self.files_warning, self.warning)
                 if warning is not None]
        return dataclasses.replace(result, warnings=[*result.warnings, *found]) if found else result


class _CheckedRecorder:
    """``RerunCheck.around``: ``inner``'s ``Recorder`` (or none), the inputs checked first."""

    def __init__(self, check: RerunCheck, inner: Recorder | None, progress: ProgressSink | None):
        self.check, self.inner, self.progress = check, inner, progress

    def inputs(self, seed: int, preprocess: dict[str, Any]) -> None:
        self.check.compare(preprocess, self.progress)
        if self.inner is not None:
            self.inner.inputs(seed, preprocess)

    def completed_fold(self, seed: int, fold_index: int, test_ids: Sequence[str],
                       test_labels: Sequence[tuple[int, str]] | None = None) -> StoredFold | None:
        return self.inner.completed_fold(seed, fold_index, test_ids, test_labels) if self.inner is not None else None

    def fold_done(self, *args: Any) -> None:
        if self.inner is not None:
            self.inner.fold_done(*args)


def _inputs_facts(before: dict[str, Any], now: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What two ``preprocess`` records say of how the inputs were made, by name (``flow_method``, ``flow.opencv``,
    ``flow.version``), recorded value and value now (``None`` where a record lacks it)."""
    def facts(record: dict[str, Any]) -> dict[str, Any]:
        named = {key: value for key, value in record.items() if key not in INPUTS_NOT_NAMED and key != "chain"}
        steps = record.get("chain") if isinstance(record.get("chain"), list) else []
        for step in steps:
            if isinstance(step, dict):
                params = step.get("params") if isinstance(step.get("params"), dict) else {}
                named.update({f"{step.get('name')}.{key}": value
                              for key, value in {"version": step.get("version"), **params}.items()})
        return named

    old, new = facts(before), facts(now)
    return {key: (old.get(key), new.get(key)) for key in [*old, *(key for key in new if key not in old)]}
