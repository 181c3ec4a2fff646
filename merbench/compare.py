"""Comparison of stored runs: models as rows, dataset · protocol as columns.

Each cell holds one metric of the selected run of that model, dataset and protocol
that finished last (a run continued with ``--resume`` keeps its first start, and
counts as of when it finished): by default the mean ± std over folds (``stat="fold"``), or the pooled
score (``stat="pooled"``, ± std over seeds for a ``--seeds N`` run). The best
value of each column is marked, the model's reported score (from its plugin
metadata, as stored with the run) is kept beside the measured one, and cells of
runs that are not subject-independent or selected on test data carry a
leakage warning. Runs of different profiles (``--profile``) are never compared
silently: when the selected runs span more than one, each row names its profile
(so a model has a row per profile), no best is marked in a column that mixes
profiles, and a note says so; the same holds for a column whose runs changed the dataset's or the
protocol's options differently (other samples or folds). Runs made with settings other than their profile's defaults
(``merbench.run_settings``) are not compared silently either: a row names the settings its
run changed (so runs that differ in them get a row each), and settings that every run
changed are named once, in a note. Nor are runs made by different merbench code (version or git commit): a note
names each cell's, and no best is marked in a column that mixes them. ``merbench.export`` writes a ``Comparison`` to
files.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Sequence

from merbench.environment import known_software, trained_with
from merbench.errors import DataError, UsageError
from merbench.escaping import note_data, note_text, printable
from merbench.leaks import LEAKY_SETTINGS, stored_engine_leaks
from merbench.metrics import METRIC_KEYS
from merbench.report import REPORTED_METRICS, comparability
from merbench.result import LeakageRecord, RunResult
from merbench.tables import Column, DataTable, styled
from merbench.wording import counted, no_subject_shared, paper_points, pct, percent_points, some_of

STATS = ("fold", "pooled")
METRIC_NAMES = {
    "accuracy": "accuracy",
    "macro_precision": "macro precision (scikit-learn)",
    "macro_recall": "macro recall (scikit-learn)",
    "macro_f1": "macro F1 (scikit-learn)",
    "weighted_f1": "support-weighted F1",
    "uf1": "UF1 (MEGC2019 unweighted F1)",
    "uar": "UAR (MEGC2019 unweighted average recall)",
}
FOLD_METRIC_NAMES = {"uf1": "UF1 (unweighted F1) per fold", "uar": "UAR (unweighted average recall) per fold"}
"""MEGC2019 defines UF1 and UAR on the predictions pooled over all folds: a fold mean of them is not its score."""


NAMED_CELLS = 12
"""The most cells a note names per group (``seeds_note``), then ``(and N more)``: a comparison of a year's store named
every one of 4,264 cells, in one line of 287,000 characters (``--json`` gives each cell's seeds)."""

@dataclass
class Cell:
    """One model on one dataset · protocol."""

    mean: float
    std: float | None
    run_id: str | None
    n_runs: int
    subject_independent: bool
    reported: float | None = None
    reported_source: str | None = None
    warnings: list[str] = field(default_factory=list)
    best: bool = False
    profile: str | None = None
    settings: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    """The seeds of the cell's run (one, or each of a ``--seeds N`` run); empty when not recorded."""
    reported_others: tuple[str, ...] = ()
    """Other published values of the cell's setting and metric than ``reported`` (``70.00 from SOURCE``), which the
    model's plugin lists after it: named in a note, as one reported column holds one score."""
    reported_withheld: str = ""
    """Why the paper's score is not shown beside this cell (``merbench.report.comparability``: measured on part of
    an official list, or on other samples, classes or folds); empty when it is shown or there is none."""
    software: str = ""
    """The merbench code that trained the cell's run (``software_of``): its version and git commit."""


@dataclass
class Comparison:
    """A model × (dataset, protocol) table of one metric."""

    metric: str
    stat: str
    models: list[str]
    columns: list[tuple[str, str]]
    cells: dict[tuple[str, tuple[str, str]], Cell]
    profiles: list[str | None] = field(default_factory=list)
    common_settings: tuple[str, ...] = ()
    runs: dict[tuple[str, tuple[str, str]], RunResult] = field(default_factory=dict, repr=False, compare=False)
    """The run behind each cell."""
    unlike_data: list[tuple[str, str]] = field(default_factory=list)
    """Columns whose runs scored different samples or folds (``dataset.*``/``protocol.*`` settings): no best there."""
    hidden: list[str] = field(default_factory=list)
    """Run ids of runs of a shown cell (same row, dataset and protocol) that finished before the one it shows: only
    each cell's last finished run is shown."""
    column_settings: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    """``dataset.*``/``protocol.*`` settings every run of a column changed (not every run of the table): they
    describe the column, not a row (a grid's ``--set protocol.n_splits=5`` reaches only the protocols that have it)."""
    hidden_seeds: dict[str, tuple[tuple[str, tuple[str, str]], tuple[int, ...]]] = field(default_factory=dict)
    """Per run id of ``hidden``: the cell it belongs to and the seeds it ran, so that a note says when they are not
    the seeds of the run the cell shows."""

    @property
    def mixed_profiles(self) -> bool:
        """Whether the runs compared come from more than one profile (then each row names its profile)."""
        return len(self.profiles) > 1

    def profile_note(self) -> str | None:
        """One sentence on the runs' profile(s) for the notes under the table; ``None`` when none is recorded."""
        names = [PROFILE_UNKNOWN if profile is None else profile for profile in self.profiles]
        if self.mixed_profiles:
            return (f"Runs of {len(names)} profiles ({note_data(', '.join(names))}): each row names its profile, and no best is "
                    "marked in a column that mixes profiles; compare alike with --profile NAME.")
        return f"Profile: {note_data(names[0])}." if self.profiles and self.profiles[0] is not None else None

    def settings_note(self) -> str | None:
        """One sentence on settings other than the profiles' defaults; ``None`` when no run has any."""
        parts = []
        if self.common_settings:
            parts.append(f"Every run changed from its profile's defaults: "
                         f"{note_data(one_line(', '.join(self.common_settings)))}.")
        for (dataset, protocol), column_settings in self.column_settings.items():
            parts.append(f"Every run in {note_data(f'{dataset} · {protocol}')} changed: "
                         f"{note_data(one_line(', '.join(column_settings)))}.")
        if any(cell.settings for cell in self.cells.values()):
            parts.append("Settings in parentheses after a model: what its run changed from its profile's defaults.")
        return " ".join(parts) or None

    def seeds_note(self) -> str | None:
        """One sentence on the seeds behind the cells: once when every cell's run used the same (``Every cell: 3
        seeds (0, 1, 2).``, which says how many seeds a mean and std are over), else each cell's (a cell of another
        seed, or a best seed picked per model, is not a like-for-like comparison); ``None`` when none is recorded."""
        by_seeds = self._cells_by(lambda cell: cell.seeds)
        if len(by_seeds) == 1:
            seeds = next(iter(by_seeds))
            return f"Every cell: {_seeds_count(seeds)}." if seeds else None
        if not by_seeds:
            return None
        groups = "; ".join(f"{_seeds_count(seeds)}: {some_of(names, NAMED_CELLS)}"
                           for seeds, names in sorted(by_seeds.items()))  # a store of a year names thousands
        return (f"The runs shown used different seeds ({groups}); run them with one --seed (or the same --seeds N) "
                "to compare alike.")

    def software_note(self) -> str | None:
        """One sentence naming each cell's merbench version and git commit when the cells shown come from runs of
        different merbench code (their scores do not measure one code: no best is marked in a column that mixes
        them); ``None`` otherwise."""
        by_software = self._cells_by(lambda cell: cell.software)
        if len(by_software) < 2:
            return None
        groups = "; ".join(f"{note_data(_short_commits(software))}: {some_of(names, NAMED_CELLS)}"
                           for software, names in sorted(by_software.items()))
        return (f"The runs shown were made by different merbench code ({groups}), so their scores do not measure one "
                "code: no best is marked in a column that mixes them; run them again with one merbench to compare "
                "alike.")

    def _cells_by(self, value_of: Callable[[Cell], Any]) -> dict[Any, list[str]]:
        """The cells shown, named as a note names them (by model alone in a table of one column), grouped by
        ``value_of`` their cell, each name once."""
        grouped: dict[Any, list[str]] = {}
        for (model, column), cell in self.cells.items():
            grouped.setdefault(value_of(cell), []).append(note_data(one_line(model)) if len(self.columns) == 1 else
                                                          _in_note(model, column))
        return {value: list(dict.fromkeys(names)) for value, names in grouped.items()}

    def notes(self) -> list[str]:
        """The notes on the compared runs' profiles, settings, seeds and software, for under the table. Each names the
        commands it advises in backticks and has the backslashes and backticks of the data it names escaped
        (``note_data``): ``escaping.with_commands`` writes it in a format, ``escaping.note_text`` as plain text."""
        return [note for note in (self.profile_note(), self.settings_note(), self.data_note(), self.seeds_note(),
                                  self.software_note(), self.hidden_note(), self.no_score_note(), self.no_spread_note(),
                                  self.withheld_note(), self.other_reported_note()) if note]

    def other_reported_note(self) -> str | None:
        """One sentence naming the published values of a cell's setting that its reported column does not show (the
        column shows the first score the model's plugin lists); ``None`` when no source differs."""
        others = [f"{_in_note(model, column)}: {note_data(one_line('; '.join(cell.reported_others)))}"
                  for (model, column), cell in self.cells.items() if cell.reported is not None and cell.reported_others]
        if not others:
            return None
        return (f"Other sources publish other scores, not in the reported column (it shows the first that the model "
                f"plugin lists): {'; '.join(others)}. `merbench show ID` sets each beside its run.")

    def withheld_note(self) -> str | None:
        """One sentence naming the cells beside which the paper's score is not shown, and why; ``None`` if none."""
        withheld = [f"{_in_note(model, column)} ({note_data(one_line(cell.reported_withheld))})"
                    for (model, column), cell in self.cells.items() if cell.reported_withheld]
        if not withheld:
            return None
        return (f"The paper's score is not shown beside {', '.join(withheld)}: not comparable with it (`merbench show "
                "ID` gives both).")

    def no_spread_note(self) -> str | None:
        """Sentences naming the repeated runs whose std over folds is not shown: runs of one fold per seed (the spread
        of their folds is the one over seeds), and runs made by a merbench that did not record each seed's fold std;
        ``None`` when there is none."""
        if self.stat != "fold":
            return None
        one_fold: list[str] = []
        unrecorded: list[str] = []
        for (model, column), cell in self.cells.items():
            if cell.std is None and len(cell.seeds) > 1:
                run = self.runs.get((model, column))
                (one_fold if run is not None and len(run.folds) == 1 else unrecorded).append(
                    f"{_in_note(model, column)} (run {note_data(str(cell.run_id))})")
        sentences = []
        if one_fold:
            sentences.append(f"No std over folds for {', '.join(one_fold)}: each seed tested one fold, so there is "
                             "no spread over folds; --stat pooled shows the std over seeds.")
        if unrecorded:
            sentences.append(f"No std over folds for {', '.join(unrecorded)}: the merbench that made "
                             f"{'it' if len(unrecorded) == 1 else 'them'} did not record each seed's fold std; "
                             "--stat pooled shows the std over seeds.")
        return " ".join(sentences) or None

    def no_score_note(self) -> str | None:
        """One sentence naming the cells whose run has no score (NaN) for the metric, shown as — and never marked
        best; ``None`` when every cell has one."""
        empty = [_in_note(model, column) for (model, column), cell in self.cells.items() if math.isnan(cell.mean)]
        if not empty:
            return None
        return (f"No score (NaN in the stored result), shown as — and left out of the best per column: "
                f"{', '.join(empty)}.")

    def hidden_note(self) -> str | None:
        """One sentence naming the runs left out that finished before the run their cell shows (each cell shows the
        run that finished last); ``None`` when none was."""
        if not self.hidden:
            return None
        these, ids = ("it", "its id") if len(self.hidden) == 1 else ("them", "their ids")
        named = [note_data(run_id) + self._hidden_seeds_text(run_id) for run_id in self.hidden[:3]]
        other_seeds = any(self._hidden_seeds_text(run_id) for run_id in self.hidden)
        return (f"Not shown: {counted(self.hidden, 'run')} of a cell shown here that finished before the run the cell "
                f"shows (same model, settings, dataset and protocol{'; some with other seeds' if other_seeds else ''}; "
                f"each cell shows the run that finished last): {', '.join(named)}"
                + ("" if len(self.hidden) <= 3 else f" (and {len(self.hidden) - 3} more: `merbench compare --json` lists "
                   "every one under hidden_runs)")
                + f". See {these} with `merbench show ID`, or compare by run id, naming {ids} and not the shown "
                "run's.")

    def _hidden_seeds_text(self, run_id: str) -> str:
        """`` (MODEL on COLUMN: a run that finished earlier, with 3 seeds (0, 1, 2); the cell shows the one that
        finished last, seed 7)`` when the hidden run ``run_id`` ran other seeds than the run its cell shows; empty when
        they are the same or unknown."""
        key, seeds = self.hidden_seeds.get(run_id, (None, ()))
        cell = self.cells.get(key) if key is not None else None
        if cell is None or seeds == cell.seeds:
            return ""
        return (f" ({_in_note(*key)}: a run that finished earlier, with {_seeds_count(seeds)}; the cell shows the one "
                f"that finished last, {_seeds_count(cell.seeds)})")

    def data_note(self) -> str | None:
        """One sentence naming the columns left without a best because their runs scored other data or folds."""
        if not self.unlike_data:
            return None
        named = note_data(", ".join(f"{dataset} · {protocol}" for dataset, protocol in self.unlike_data))
        return (f"No best is marked in {named}: its runs changed the dataset's or the protocol's options differently "
                "(dataset.*, protocol.* in parentheses), or read the dataset from other folders (root=) or manifest "
                "files (manifest=), so they scored other samples or folds.")

    @property
    def description(self) -> str:
        """What the numbers are, in one sentence (which F1, which averaging)."""
        what = METRIC_NAMES[self.metric]
        if self.stat == "fold":
            if self.metric in FOLD_METRIC_NAMES:
                return (f"{FOLD_METRIC_NAMES[self.metric]}, mean ± std over folds (every seed's folds when repeated), "
                        f"in %; MEGC2019's {self.metric.upper()} is computed on the predictions pooled over all folds "
                        "(--stat pooled)")
            return f"{what}, mean ± std over folds (every seed's folds when repeated), in %"
        return (f"{what} on predictions pooled over all folds (± sample std over seeds, n − 1, when repeated), "
                "in %")

    def has_reported(self, column: tuple[str, str]) -> bool:
        """Whether any model has a reported score for ``column``."""
        return any(cell.reported is not None for (_, col), cell in self.cells.items() if col == column)

    def reported_note(self, mark: str, only: str = "") -> str | None:
        """The sentence under the table on its *reported* column: what it is, its sources (which often say how the
        paper averaged F1, or that it did not say) and what ``mark`` on a reported score means; ``None`` when the
        table has no reported score. ``only``: words after "for reference" (`` only``)."""
        cells = [cell for cell in self.cells.values() if cell.reported is not None]
        if not cells:
            return None
        sources = sorted({one_line(cell.reported_source).rstrip(".") for cell in cells if cell.reported_source})
        note = (f"Reported: the model's published score, for reference{only}"
                + (f"; from {'; '.join(sources)}." if sources else "."))
        if any(not cell.subject_independent for cell in cells):
            note += (f" {mark} on a reported score: the paper used a protocol that is not subject-independent, so that "
                     "score is inflated as a measured one under it is.")
        if self.stat == "fold" and self.metric in FOLD_METRIC_NAMES:
            note += (f" A published {self.metric.upper()} is MEGC2019's, on the predictions pooled over all folds; "
                     "the measured cells here are fold means: --stat pooled sets the pooled score beside it.")
        return note

    def records(self) -> list[dict[str, Any]]:
        """One flat record per cell (for CSV and JSON), fractions 0..1 as stored: ``model`` is the model's name,
        ``row`` the table's row (the name with what sets the row apart: profile, settings, leak), ``settings``
        everything the cell's run changed from its profile's defaults (the comparison's common settings, its
        column's and its row's), so that a record read alone, as a CSV row is, says how its run was made."""
        rows = []
        for model in self.models:
            for column in self.columns:
                cell = self.cells.get((model, column))
                if cell is None:
                    continue
                rows.append({
                    "model": self.runs[(model, column)].model if (model, column) in self.runs else model,
                    "row": model, "dataset": column[0], "protocol": column[1], "metric": self.metric,
                    "stat": self.stat, "mean": _number(cell.mean), "std": _number(cell.std), "best": cell.best,
                    "reported": _number(cell.reported), "reported_source": cell.reported_source,
                    "subject_independent": cell.subject_independent, "warnings": "; ".join(cell.warnings),
                    "run_id": cell.run_id, "n_runs": cell.n_runs, "profile": cell.profile,
                    "settings": "; ".join(_in_run_order((*self.common_settings, *self.column_settings.get(column, ()),
                                                         *cell.settings))),
                    "seeds": ", ".join(str(seed) for seed in cell.seeds),
                    "software": cell.software,
                })
        return rows

    def warnings(self) -> list[str]:
        """Every leakage warning, prefixed with its model and column."""
        return [
            f"{one_line(model)} on {column[0]} · {column[1]}: {warning}"
            for (model, column), cell in self.cells.items()
            for warning in cell.warnings
        ]


def _reported(result: RunResult, metric: str) -> tuple[float | None, str | None, tuple[str, ...]]:
    """The paper's score of ``result``'s setting for ``metric``, as a fraction (the paper's 99.4 % as 0.994, not
    99.4 / 100 = 0.9940000000000001), and its source: the first the model lists, as ``merbench show`` lists it first;
    and the other values published for it, each ``70.00 from SOURCE``."""
    names = [name for name, key in REPORTED_METRICS.items() if key == metric]
    entries = [entry for entry in result.reported or []
               if entry.dataset == result.dataset and entry.protocol == result.protocol and entry.metric in names]
    if not entries:
        return None, None, ()
    first = entries[0]
    others = [f"{paper_points(entry.value)} from {one_line(str(entry.source)).rstrip('.')}" for entry in entries[1:]
              if paper_points(entry.value) != paper_points(first.value)]
    return float(_decimal(first.value) / 100), first.source, tuple(dict.fromkeys(others))


def _decimal(value: float) -> Decimal:
    """``value`` as the decimal number it was written as (``76.05``, not the binary float's 76.04999…)."""
    return Decimal(repr(float(value)))


def _leakage_warnings(result: RunResult) -> list[str]:
    warnings = []
    leakage = result.leakage or LeakageRecord()
    if not result.subject_independent and leakage.subject_overlap_folds == 0:
        warnings.append(f"not subject-independent by design ({no_subject_shared(len(result.folds))})")
    elif not result.subject_independent:
        overlap = "some" if leakage.subject_overlap_folds is None else leakage.subject_overlap_folds
        warnings.append(
            f"not subject-independent ({overlap} of {len(result.folds)} folds share subjects between training and test): "
            "scores are inflated"
        )
    if leakage.clip_overlap_folds:
        warnings.append(f"frames of one clip in training and test ({leakage.clip_overlap_folds} of "
                        f"{len(result.folds)} folds)")
    if leakage.selection_uses_test_data:
        warnings.append("model selection used test data")
    if leakage.normalisation_uses_test_data:
        warnings.append("normalisation statistics included test samples")
    return warnings


def check_has_metric(result: RunResult, metric: str) -> None:
    """A ``DataError`` when ``result`` did not record ``metric`` (an older merbench's result)."""
    if metric not in result.pooled:
        raise DataError(f"run {result.run_id or result.model} recorded no {metric!r} score (it has "
                        f"{', '.join(result.pooled) or 'none'}); choose one of those with --metric, or leave the run "
                        "out (run ids, --model, --dataset, --protocol)")


def cell_of(result: RunResult, metric: str, stat: str) -> Cell:
    """The cell value of one result for ``metric`` and ``stat``; ``DataError`` when the result did not record
    ``metric`` (an older merbench's result)."""
    check_has_metric(result, metric)
    if stat == "fold":
        mean, std = result.fold_stat(metric)  # no std for one fold (a seed): no spread over folds
    elif result.across_seeds is not None:
        mean, std = float(result.across_seeds.mean[metric]), float(result.seeds_std()[metric])
    else:
        mean, std = float(result.pooled[metric]), None
    reported, source, others = _reported(result, metric)
    _, withheld = comparability(result)
    if reported is None:
        withheld = ""
    elif withheld:
        reported, source, others = None, None, ()
    seeds = seeds_of(result)
    return Cell(mean, std, result.run_id, 1, result.subject_independent, reported, source, _leakage_warnings(result),
                profile=profile_of(result), seeds=seeds, reported_others=others, reported_withheld=withheld,
                software=software_of(result))


def software_of(result: RunResult) -> str:
    """The merbench code whose scores ``result`` holds: ``merbench 0.1.0, commit 52fee11105ee…`` as its environment
    records them (``unknown`` where not recorded; a run resumed under other software names both, ``0.0.9 + 0.1.0``,
    as ``environment.trained_with`` gives them)."""
    software = known_software(trained_with(result.environment or {}))
    return f"merbench {software['merbench']}, commit {software['git_commit']}"


def _short_commits(software: str) -> str:
    """``software_of``'s text with each 40-digit commit hash shortened to its first 12 digits, as git shows one."""
    return re.sub(r"\b([0-9a-f]{12})[0-9a-f]{28}\b", r"\1", software)


def _seeds_text(seeds: tuple[int, ...]) -> str:
    """``seed 0``, ``seeds 0, 1, 2``, or ``seed not recorded``."""
    if not seeds:
        return "seed not recorded"
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(seed) for seed in seeds)}"


def _seeds_count(seeds: tuple[int, ...]) -> str:
    """``seed 7``, ``3 seeds (0, 1, 2)``, or ``seed not recorded``: how many seeds a cell's mean is over, and which."""
    if len(seeds) < 2:
        return _seeds_text(seeds)
    return f"{len(seeds)} seeds ({', '.join(str(seed) for seed in seeds)})"


def seeds_of(result: RunResult) -> tuple[int, ...]:
    """The seeds ``result`` ran: each of a ``--seeds N`` run, its one seed, or none when not recorded."""
    return tuple(seed.seed for seed in result.seeds) if result.seeds else (
        (result.seed,) if result.seed is not None else ())


PROFILE_UNKNOWN = "profile not recorded"


def profile_of(result: RunResult) -> str | None:
    """The profile a result ran with (``--profile``), from the result or its config; ``None``: not recorded."""
    profile = result.profile if result.profile is not None else (result.config or {}).get("profile")
    return profile if isinstance(profile, str) else None


def profiles_of(results: Sequence[RunResult]) -> list[str | None]:
    """The distinct profiles of ``results``, sorted by name, an unrecorded one last."""
    found = {profile_of(result) for result in results}
    return sorted(p for p in found if p is not None) + ([None] if None in found else [])


def row_name(result: RunResult, with_profile: bool = False, settings: Sequence[str] = ()) -> str:
    """The comparison row of a result: its model, with the leaky ``engine.*`` settings it ran with, so that a
    leaky variant (``merbench leakage``) gets a row of its own instead of replacing the honest run's cell,
    ``with_profile`` (the compared runs span several profiles) its profile, so that a row holds one profile, and
    the other ``settings`` it changed from its profile's defaults (``merbench.run_settings``)."""
    profile = profile_of(result)
    named = [PROFILE_UNKNOWN if profile is None else f"profile={profile}"] if with_profile else []
    named += list(settings) + [LEAKY_SETTINGS[kind] for kind in stored_engine_leaks(result.config or {})]
    return f"{result.model} ({', '.join(named)})" if named else result.model


def shown_runs(comparison: Comparison) -> list[RunResult]:
    """The run behind each cell of ``comparison`` (the last finished of its row, dataset and protocol), in table
    order."""
    return [comparison.runs[(model, column)] for model in comparison.models for column in comparison.columns
            if (model, column) in comparison.runs]


def _own_settings(known: Sequence[tuple[str, ...] | None]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The settings every result changed (when each result's are known: not ``None``), and each result's others."""
    common: tuple[str, ...] = ()
    if known and all(entry is not None for entry in known):
        common = tuple(s for s in known[0] or () if all(s in (entry or ()) for entry in known))
    return common, [tuple(s for s in entry or () if s not in common) for entry in known]


def build_comparison(results: Sequence[RunResult], metric: str = "uf1", stat: str = "fold",
                     settings: Sequence[tuple[str, ...] | None] | None = None) -> Comparison:
    """Compare results (in the order they finished, as ``ResultStore.complete_ids`` gives them: for a model, dataset
    and protocol the last one is shown; of each profile, when they span several, each in a row naming its profile).
    ``settings``: each result's settings other than its profile's defaults, in the order of ``results``
    (``merbench.run_settings.changed_settings_of``; ``None``: not known); a run's own ones make its row, those of every
    run a note."""
    if settings is not None and len(settings) != len(results):
        raise ValueError("settings: one entry per result")
    selection = Selection(metric, stat)
    for position, result in enumerate(results):
        selection.add(result, None if settings is None else settings[position])
    return selection.comparison()


class Selection:
    """The results a comparison is built from, added one at a time in the order they finished (``add``), so that
    they need not all be held at once: of each, its cell and a copy without its folds (``light``: what its row, the
    notes and the hidden runs need), and in full only the last of those alike in all that can set their rows apart
    (model, dataset, protocol, profile, settings, folder, manifest, leaky options), of which a cell shows the last (a
    thousand LOSO runs held 700 MB as full results).

    ``read_whole``: for results added without their folds (``add(..., whole=False)``), reads one in full
    (``RunResult.from_dict``'s ``whole``); it is called for the newest of each alike group only, by ``comparison``.
    """

    def __init__(self, metric: str = "uf1", stat: str = "fold",
                 read_whole: Callable[[RunResult], RunResult] | None = None) -> None:
        if metric not in METRIC_KEYS:
            raise UsageError(f"--metric {metric}: choose one of {', '.join(METRIC_KEYS)}")
        if stat not in STATS:
            raise UsageError(f"--stat {stat}: choose one of {', '.join(STATS)}")
        self.metric, self.stat = metric, stat
        self.results: list[RunResult] = []
        """Every result added, in order, without its folds (``light``)."""
        self.settings: list[tuple[str, ...] | None] = []
        self._keys: list[tuple] = []
        self._seeds: list[tuple[int, ...]] = []
        """The seeds of each result added (``light`` drops a ``--seeds N`` run's)."""
        self._newest: dict[tuple, tuple[RunResult, bool]] = {}
        """The newest result of each alike group, and whether it was added whole."""
        self._read_whole = read_whole

    def add(self, result: RunResult, settings: tuple[str, ...] | None = None, whole: bool = True) -> None:
        """Take ``result``, finished after those added before, with its ``settings`` (``build_comparison``'s); ``whole``:
        with its folds (else read by ``read_whole`` if it is shown). A ``DataError`` when it has no score for the
        metric (``cell_of``)."""
        if not whole and self._read_whole is None:
            raise ValueError("a result added without its folds needs read_whole")
        check_has_metric(result, self.metric)
        key = (result.model, result.dataset, result.protocol, profile_of(result), settings, _folder(result),
               _manifest(result), tuple(stored_engine_leaks(result.config or {})))
        self._newest[key] = (result, whole)
        self.results.append(light(result))
        self.settings.append(settings)
        self._keys.append(key)
        self._seeds.append(seeds_of(result))

    def _newest_cell(self, key: tuple) -> tuple[RunResult, Cell]:
        """The newest result of the alike group ``key``, whole, and its cell."""
        result, whole = self._newest[key]
        if not whole:
            result = self._read_whole(result)
            self._newest[key] = (result, True)
        return result, cell_of(result, self.metric, self.stat)

    def comparison(self) -> Comparison:
        """The comparison of the results added; a ``UsageError`` when there are none."""
        results = self.results
        if not results:
            raise UsageError("no complete runs match; see `merbench runs`, or run one with `merbench run`")
        newest: dict[tuple[str, tuple[str, str]], int] = {}
        counts: dict[tuple[str, tuple[str, str]], int] = {}
        models: list[str] = []
        columns: list[tuple[str, str]] = []
        hidden: list[str] = []
        hidden_seeds: dict[str, tuple[tuple[str, tuple[str, str]], tuple[int, ...]]] = {}
        profiles = profiles_of(results)
        common, column_settings, own = _row_settings(results, self.settings)
        for position, result in enumerate(results):
            model, column = row_name(result, len(profiles) > 1, own[position]), (result.dataset, result.protocol)
            if model not in models:
                models.append(model)
            if column not in columns:
                columns.append(column)
            counts[(model, column)] = counts.get((model, column), 0) + 1
            if (model, column) in newest and results[newest[(model, column)]].run_id:
                older = newest[(model, column)]
                hidden.append(str(results[older].run_id))
                hidden_seeds[hidden[-1]] = ((model, column), self._seeds[older])
            newest[(model, column)] = position
        cells: dict[tuple[str, tuple[str, str]], Cell] = {}
        runs: dict[tuple[str, tuple[str, str]], RunResult] = {}
        for key, position in newest.items():  # alike results share a row: the newest of them is the row's newest
            runs[key], cell = self._newest_cell(self._keys[position])
            cells[key] = dataclasses.replace(cell, settings=own[position], n_runs=counts[key])
        unlike_data: list[tuple[str, str]] = []
        for column in columns:
            in_column = [cells[(m, column)] for m in models if (m, column) in cells]
            if len({cell.profile for cell in in_column}) > 1 or len({cell.software for cell in in_column}) > 1:
                continue  # runs of different profiles, or of different merbench code, are not alike: no best
            if len({frozenset(_data_settings((*column_settings.get(column, ()), *cell.settings)))
                    for cell in in_column}) > 1:
                unlike_data.append(column)  # other samples or folds: not alike either
                continue
            contenders = [cell for cell in in_column if not cell.warnings] or in_column  # leaky: best among leaky
            _mark_best([cell for cell in contenders if math.isfinite(cell.mean)], len(in_column) > 1)
        return Comparison(self.metric, self.stat, sorted(models), columns, cells, profiles, common, runs, unlike_data,
                          hidden, column_settings, hidden_seeds)


def light(result: RunResult) -> RunResult:
    """``result`` without its folds, seeds' scores, predictions, per-domain scores and confusion matrix: what a
    comparison needs of a run to name its row and notes (a LOSO run's folds with their subject lists are most of
    the half megabyte it holds)."""
    return dataclasses.replace(result, folds=[], seeds=None, predictions=None, per_domain={}, confusion_matrix=[])


def row_names(results: Sequence[RunResult], settings: Sequence[tuple[str, ...] | None] | None = None) -> list[str]:
    """The row each of ``results`` gets in a comparison of them (``build_comparison``, whose ``settings`` these are):
    its model with its profile where they span several, the settings it changed that not all of them did, and the
    folder or manifest file it read its dataset from where they read it from several."""
    with_profile = len(profiles_of(results)) > 1
    _, _, own = _row_settings(results, settings)
    return [row_name(result, with_profile, own[position]) for position, result in enumerate(results)]


def _row_settings(results: Sequence[RunResult], settings: Sequence[tuple[str, ...] | None] | None
                  ) -> tuple[tuple[str, ...], dict[tuple[str, str], tuple[str, ...]], list[tuple[str, ...]]]:
    """The settings every result changed (a note), those every run of a column changed (``_column_settings``), and
    each result's own, which name its row (``root=DIR`` or ``manifest=FILE`` among them where the results read a
    dataset from several folders or manifest files: ``_with_roots``; a manifest file named by several texts named by
    its path: ``_manifests_named_alike``)."""
    if settings is not None and len(settings) != len(results):
        raise ValueError("settings: one entry per result")
    manifests = [_manifest(result) for result in results]  # resolved once: a path each, through the file system
    known = _manifests_named_alike(results, settings if settings is not None else [None] * len(results), manifests)
    common, own = _own_settings(_with_roots(results, known, manifests))
    column_settings = _column_settings(results, own)
    return common, column_settings, _without_column_settings(results, own, column_settings)


MANIFEST_SETTING = "dataset.manifest="


def _manifests_named_alike(results: Sequence[RunResult], settings: Sequence[tuple[str, ...] | None],
                           manifests: Sequence[str]) -> list[tuple[str, ...] | None]:
    """``settings`` with the ``dataset.manifest=TEXT`` of each manifest file that ``results`` named by several texts
    (``labels.csv`` from the folder it lies in, its absolute path from another) as ``dataset.manifest=FILE``, the
    file itself (``_manifest``), so that runs reading one file share a row, and a best; a file every run named by
    one text keeps that text (short, and the one the user typed). ``manifests``: each result's ``_manifest``."""
    texts: dict[tuple[str, str], set[str]] = {}
    for result, entry, manifest in zip(results, settings, manifests):
        if not os.path.isabs(manifest):
            continue  # the file read is not known (an older merbench's run recorded none): its text names it
        for item in entry or ():
            if item.startswith(MANIFEST_SETTING):
                texts.setdefault((result.dataset, manifest), set()).add(item)
    several = {key for key, found in texts.items() if len(found) > 1}
    return [_naming_manifest(entry, manifest) if (result.dataset, manifest) in several else entry
            for result, entry, manifest in zip(results, settings, manifests)]


def _naming_manifest(entry: tuple[str, ...] | None, manifest: str) -> tuple[str, ...] | None:
    """The settings ``entry`` with its ``dataset.manifest=`` setting as ``dataset.manifest=MANIFEST``."""
    return None if entry is None else tuple(f"{MANIFEST_SETTING}{manifest}" if item.startswith(MANIFEST_SETTING)
                                            else item for item in entry)


def _with_roots(results: Sequence[RunResult], settings: Sequence[tuple[str, ...] | None], manifests: Sequence[str]
                ) -> list[tuple[str, ...] | None]:
    """``settings`` with ``root=DIR`` added to each entry (known or not) whose dataset was read from several folders
    among ``results``, and ``manifest=FILE`` to each whose dataset was listed by several manifest files that its
    folders do not tell apart (two ``labels.csv``, one found in the working folder): such runs may hold other data,
    so they are not one cell, nor compared for a best. ``manifests``: each result's ``_manifest``."""
    folders = [_folder(result) for result in results]
    roots: dict[str, set[str]] = {}
    sources: dict[str, set[tuple[str, str]]] = {}
    for result, folder, manifest in zip(results, folders, manifests):
        roots.setdefault(result.dataset, set()).add(folder)
        sources.setdefault(result.dataset, set()).add((folder, manifest))
    labelled = []
    for result, entry, folder, manifest in zip(results, settings, folders, manifests):
        if len(roots[result.dataset]) > 1:
            entry = (*(entry or ()), f"root={folder or '-'}")
        if len(sources[result.dataset]) > len(roots[result.dataset]) and not _names_file(entry, manifest):
            entry = (*(entry or ()), f"manifest={manifest or '-'}")  # one folder, several manifests
        labelled.append(entry)
    return labelled


def _names_file(entry: tuple[str, ...] | None, manifest: str) -> bool:
    """Whether the settings ``entry`` name the manifest file ``manifest`` by its resolved path already
    (``_manifests_named_alike``), so that ``manifest=FILE`` would say it twice."""
    return os.path.isabs(manifest) and f"{MANIFEST_SETTING}{manifest}" in (entry or ())


def _folder(result: RunResult) -> str:
    """The folder a run read its dataset from, links resolved (one copy reached through a link is one folder)."""
    root = (result.config or {}).get("root")
    return os.path.realpath(root) if isinstance(root, str) and root else ""


def _manifest(result: RunResult) -> str:
    """The manifest file that listed a run's samples: the one its dataset summary records, else its
    ``dataset.manifest`` option; resolved where absolute (a relative one, as an older merbench recorded a file found
    in the working folder, as it is); ``""`` when the run has none."""
    options = ((result.config or {}).get("options") or {}).get("dataset")
    for value in ((result.dataset_summary or {}).get("manifest"),
                  options.get("manifest") if isinstance(options, dict) else None):
        if isinstance(value, str) and value:
            return os.path.realpath(value) if os.path.isabs(value) else value
    return ""


def _mark_best(contenders: Sequence[Cell], compared: bool) -> None:
    """Mark the cells of ``contenders`` (scores, no NaN) with the top mean best, when cells are ``compared``: the
    mean as shown (``percent_points``), so that every cell showing the top score is marked, never one of two cells
    that both show 74.7."""
    top = max((percent_points(cell.mean) for cell in contenders), default=None)
    for cell in contenders:
        cell.best = compared and percent_points(cell.mean) == top


def _column_settings(results: Sequence[RunResult], own: Sequence[tuple[str, ...]]
                     ) -> dict[tuple[str, str], tuple[str, ...]]:
    """Per column (dataset, protocol) of a table of several columns, the ``dataset.*``/``protocol.*`` settings that
    every one of its runs changed, so that they do not split its rows."""
    by_column: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for result, settings in zip(results, own):
        by_column.setdefault((result.dataset, result.protocol), []).append(_data_settings(settings))
    if len(by_column) < 2:
        return {}
    shared = {column: tuple(item for item in entries[0] if all(item in entry for entry in entries))
              for column, entries in by_column.items()}
    return {column: items for column, items in shared.items() if items}


def _without_column_settings(results: Sequence[RunResult], own: Sequence[tuple[str, ...]],
                             column_settings: dict[tuple[str, str], tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Each result's own settings without its column's (``_column_settings``), where that keeps its row whole: the
    runs that would share a row by their own settings drop them only if they all drop the same ones (otherwise a
    model run alike everywhere would show as two rows, one of them unnamed)."""
    reduced = [tuple(item for item in settings if item not in column_settings.get((r.dataset, r.protocol), ()))
               for r, settings in zip(results, own)]
    by_row: dict[tuple[str, tuple[str, ...]], set[tuple[str, ...]]] = {}
    for result, settings, fewer in zip(results, own, reduced):
        by_row.setdefault((result.model, settings), set()).add(fewer)
    return [fewer if len(by_row[(result.model, settings)]) == 1 else settings
            for result, settings, fewer in zip(results, own, reduced)]


def _in_run_order(settings: Sequence[str]) -> list[str]:
    """``settings`` (``key=value``) once each, in the order ``merbench.run_settings.changed_settings`` gives a run's:
    a ``preprocess`` chain first, then by section and key; the same run's list, whatever the runs compared with it."""
    return sorted(set(settings), key=lambda item: (not item.startswith("preprocess="),
                                                    item.partition("=")[0].split(".", 1)))


def _data_settings(settings: Sequence[str] | None) -> tuple[str, ...]:
    """The settings among ``settings`` (``key=value``) that change which samples or folds a run scores (``root=`` the
    folder a dataset was read from and ``manifest=`` the file that listed it, where runs differ in it:
    ``_with_roots``)."""
    return tuple(sorted(item for item in settings or () if item.startswith(("dataset.", "protocol.", "root=",
                                                                            "manifest="))))


def reported_pct(value: float | None) -> str:
    """A reported score (a fraction, ``Cell.reported``) as the paper's percentage, with two decimals rounded as
    decimals (0.7605 → ``76.05``, never the binary float's ``76.0``), as ``wording.paper_points`` shows a paper's
    score everywhere; a dash for ``None`` or NaN."""
    return "—" if value is None else paper_points(float(_decimal(value) * 100))


def _in_note(model: str, column: tuple[str, str]) -> str:
    """A cell named in a note, ``MODEL on DATASET · PROTOCOL``, its data escaped (``note_data``)."""
    return note_data(f"{one_line(model)} on {column[0]} · {column[1]}")


def one_line(text: str) -> str:
    """``text`` (a row name, a setting's value) on one line, for a sentence under a table: line breaks as spaces,
    as the table itself shows them."""
    return " ".join(text.splitlines())


def _number(value: float | None) -> float | None:
    """``value`` for a JSON or CSV record: ``None`` (JSON null) for NaN or infinity, which strict JSON has not."""
    return value if value is None or math.isfinite(value) else None


def cell_text(cell: Cell) -> str:
    """``mean ± std`` in % (no std, or no score: mean only, a dash for no score)."""
    return pct(cell.mean) if cell.std is None or math.isnan(cell.mean) else f"{pct(cell.mean)} ± {pct(cell.std)}"


def comparison_table(comparison: Comparison) -> DataTable:
    """The comparison as a table: best per column marked * (and bold green on a terminal), leaky cells in red with ⚠;
    names never cut."""
    columns = [Column("Model")]
    for dataset, protocol in comparison.columns:
        columns.append(Column(f"{dataset} ·\n{protocol}", justify="right"))
        if comparison.has_reported((dataset, protocol)):
            columns.append(Column("reported", justify="right", style="dim"))
    cells = comparison.cells.values()
    legend = [text for text, shown in (
        ("*: best per column (bold green on a terminal).", any(cell.best for cell in cells)),
        ("⚠: leakage warning (listed below).", any(cell.warnings for cell in cells)),
        (comparison.reported_note("⚠", " only"), True),
    ) if shown and text]  # only the markers the table holds
    notes = [printable(note_text(note)) for note in comparison.notes()]
    table = DataTable(f"Comparison: {comparison.description}", columns, caption=" ".join(legend + notes) or None)
    for model in comparison.models:
        row: list = [model]
        for column in comparison.columns:
            cell = comparison.cells.get((model, column))
            if cell is None:
                row.append("")
            else:
                text = cell_text(cell) + (" ⚠" if cell.warnings else "") + (" *" if cell.best else "")
                style = " ".join(s for s, on in (("red", bool(cell.warnings)), ("bold green", cell.best)) if on)
                row.append(styled(text, style) if style else text)
            if comparison.has_reported(column):  # a published score under a leaky protocol leaks as the run does
                reported = reported_pct(cell.reported) if cell is not None and cell.reported is not None else ""
                row.append(f"{reported} ⚠" if reported and cell is not None and not cell.subject_independent
                           else reported)
        table.add_row(*row)
    return table
