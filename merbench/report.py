"""Tables of a run's result: per fold, fold mean ± std, pooled, and reported scores.

They are ``merbench.tables.DataTable``s: names, subjects and numbers are never
cut, and every text from the result (class names, subjects, plugin sources) is
printed literally, never read as Rich markup.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from merbench.environment import FILES_KEY
from merbench.escaping import printable_line
from merbench.leaks import LEAKY_SETTINGS, describe, result_leaks, stored_engine_leaks
from merbench.result import FoldRecord, LeakageRecord, RunResult, Seconds, threads_phrase, trained_how
from merbench.tables import TEXT, Column, DataTable, print_table, styled, wants_plain
from merbench.wording import counted, no_subject_shared, paper_points, percent, percent_points

COLUMNS = (
    ("accuracy", "Acc"),
    ("macro_precision", "P"),
    ("macro_recall", "R"),
    ("macro_f1", "F1"),
    ("weighted_f1", "wF1"),
    ("uf1", "UF1"),
    ("uar", "UAR"),
)
REPORTED_METRICS = {"accuracy": "accuracy", "precision": "macro_precision", "recall": "macro_recall", "f1": "macro_f1", "uf1": "uf1", "uar": "uar"}
SHORT_NAMES = dict(COLUMNS)


def _pct(value: float) -> str:
    return percent(value)


def _score(scores: dict[str, float], metric: str) -> str:
    """``metric`` of ``scores`` in %; a dash for a metric the result did not record (an older merbench's)."""
    return _pct(scores[metric]) if metric in scores else "—"


def sample_count(result: RunResult) -> str:
    """``196 clips``, or for a protocol that made several samples per clip ``36 clips (72 frame-pair samples)``."""
    pairs = (result.dataset_summary or {}).get("frame_pairs")
    if isinstance(pairs, dict) and pairs.get("clips") and pairs.get("samples") != pairs.get("clips"):
        return f"{pairs['clips']} clips ({result.n_samples} frame-pair samples)"
    return f"{result.n_samples} clips"


def train_test_domains(result: RunResult) -> tuple[str, str] | None:
    """The domains a run trained and tested on, for a protocol with ``protocol.train`` and ``protocol.test``
    (``cross-dataset``); ``None`` for any other."""
    options = (result.config.get("options") or {}).get("protocol") if isinstance(result.config, dict) else None
    if not isinstance(options, dict) or not options.get("train") or not options.get("test"):
        return None
    return str(options["train"]), str(options["test"])


def seed_label(result: RunResult) -> str:
    """``seed 0 (of 3 seeds)`` for a ``--seeds N`` run, whose folds, pooled scores, predictions and confusion matrix
    are its first seed's (only ``seeds`` and ``across_seeds`` cover all); ``""`` for a run of one seed."""
    if result.across_seeds is None:
        return ""
    return f"seed {result.seed_shown} (of {result.across_seeds.n} seeds)"


def result_table(result: RunResult) -> DataTable:
    """The per-fold / mean / std / pooled table of one run (scores in %)."""
    title = (f"{result.model} on {result.dataset} · {result.protocol} · {sample_count(result)}, "
             f"{counted(result.n_subjects, 'subject')}")
    domains = train_test_domains(result)
    if domains:
        title += f" · trained on {domains[0]}, tested on {domains[1]} ({counted(result.n_tested, 'clip')})"
    if result.across_seeds is not None:  # the folds, predictions and confusion matrix kept are the first seed's
        title += f" · {seed_label(result)}"
    table = DataTable(
        title,
        [Column("Fold", justify="right"), Column("n", justify="right"),
         *(Column(header, justify="right") for _, header in COLUMNS), Column("Test subjects", TEXT)],
        caption="Scores in %. P, R, F1: macro precision, recall, F1 (scikit-learn); wF1: support-weighted F1. "
        "Pooled: all folds' predictions together (MEGC2019 UF1, UAR).",
    )
    for fold in result.folds:
        table.add_row(*_fold_cells(fold))
    table.add_section()
    table.add_row("mean", "", *(_score(result.fold_mean, k) for k, _ in COLUMNS), "over folds", style="bold")
    if len(result.folds) == 1:  # cross-dataset: one fold has no spread; 0.0 would claim a perfectly stable score
        table.add_row("std", "", *("—" for _ in COLUMNS), "one fold: no spread")
    else:
        table.add_row("std", "", *(_score(result.fold_std, k) for k, _ in COLUMNS), "")
    table.add_row("pooled", str(result.n_tested), *(_score(result.pooled, k) for k, _ in COLUMNS), "all folds",
                  style="bold cyan")
    return table


def _fold_cells(fold: FoldRecord) -> list[str]:
    """A fold's row: its number, test size, scores and test subjects."""
    return [str(fold.fold + 1), str(fold.n_test), *(_score(fold.metrics, k) for k, _ in COLUMNS),
            ", ".join(str(subject) for subject in fold.test_subjects)]


def finished_folds_table(title: str, folds: list[tuple[int, FoldRecord]]) -> DataTable:
    """The folds an unfinished run has stored so far, without mean, std or pooled row (they would be partial)."""
    several_seeds = len({seed for seed, _ in folds}) > 1
    seed_column = [Column("Seed", justify="right")] if several_seeds else []
    table = DataTable(
        title,
        [*seed_column, Column("Fold", justify="right"), Column("n", justify="right"),
         *(Column(header, justify="right") for _, header in COLUMNS), Column("Test subjects", TEXT)],
        caption="Scores in %, of the finished folds only: no mean or pooled score until every fold has run.",
    )
    for seed, fold in folds:
        table.add_row(*([str(seed)] if several_seeds else []), *_fold_cells(fold))
    return table


def reported_rows(result: RunResult) -> list[tuple[str, str, str, dict[str, float]]]:
    """The paper-reported scores of a result's model as table rows ``(dataset, protocol, source, {metric: value in
    %})``, each row of one source, the rows of a setting together in the order the plugin lists them: two sources of a
    setting get a row each, as does a second value one source gives for a metric, so that no score hides another."""
    rows: list[tuple[str, str, str, dict[str, float]]] = []
    for entry in result.reported or []:
        key = (entry.dataset, entry.protocol, str(entry.source))
        row = next((row for row in rows if row[:3] == key and entry.metric not in row[3]), None)
        if row is not None:
            row[3][entry.metric] = entry.value
            continue
        same = [i for i, row in enumerate(rows) if row[:2] == key[:2]]
        rows.insert(same[-1] + 1 if same else len(rows), (*key, {entry.metric: entry.value}))
    return rows


def last_of_setting(rows: list[tuple[str, str, str, dict[str, float]]], index: int) -> bool:
    """Whether ``rows[index]`` (``reported_rows``) is the last row of its dataset and protocol: the measured row
    follows it."""
    return index + 1 == len(rows) or rows[index + 1][:2] != rows[index][:2]


def reported_leaks(result: RunResult, protocol: str) -> list[str]:
    """The leak kinds (``subjects``, ``clips``) of ``protocol``, under which the model's paper reported a score: those
    its protocol plugin declares, as a measured run under it records them. A protocol not installed here is known
    only when it is the run's own (its recorded ``subject_independent``); otherwise none is assumed."""
    from merbench.errors import MerbenchError
    from merbench.leaks import protocol_leaks
    from merbench.registry import get_registry

    try:
        return protocol_leaks(get_registry().get("protocols", protocol))
    except MerbenchError:
        return [] if protocol != result.protocol or result.subject_independent else ["subjects"]


def reported_leak_note(leaks: dict[str, list[str]], mark: str) -> str:
    """The sentence under a table of reported scores that explains ``mark``: ``leaks`` maps each protocol of its rows
    to its leak kinds (``reported_leaks``); ``""`` when none leaks."""
    named = "; ".join(f"{protocol}: {describe(kinds)}" for protocol, kinds in leaks.items() if kinds)
    if not named:
        return ""
    return (f"{mark} the protocol leaks ({named}): scores under it, the paper's as well as measured ones, are inflated "
            "and not comparable with subject-independent results (docs/leakage.md).")


def reported_sources(reported) -> list[str]:
    """The sources of ``reported`` scores in order of first appearance: source ``n`` of the Source column and the
    caption's list is ``sources[n - 1]``."""
    return list(dict.fromkeys(str(entry.source) for entry in reported))


def from_own_paper(reported, citation: str) -> bool:
    """Whether every score of ``reported`` cites the model's own paper: its source begins with the first part of the
    model's ``citation`` (``"Author: Title, Venue; as tabulated in ..."`` still does); else another source published
    them (the organisers of a challenge, say) and they are not "the paper's"."""
    def plain(text: str) -> str:
        return " ".join(str(text).split()).casefold()

    own = plain(str(citation or "").split(";")[0])
    return bool(own) and all(plain(entry.source).startswith(own) for entry in reported)


def model_citation(model: str) -> str:
    """The citation of the installed ``model``; ``""`` when it is not installed here."""
    from merbench.errors import MerbenchError
    from merbench.registry import get_registry

    try:
        return get_registry().get("models", model).citation
    except MerbenchError:
        return ""


def reported_title(result: RunResult) -> str:
    """What the table of ``result``'s reported scores is called: ``Reported in the MODEL paper`` where they all cite
    the model's own paper (``from_own_paper``), else ``Published scores for MODEL``."""
    if from_own_paper(result.reported or [], model_citation(result.model)):
        return f"Reported in the {result.model} paper"
    return f"Published scores for {result.model}"


def reported_table(result: RunResult) -> DataTable | None:
    """Scores the model's paper (or another source) reported, beside this run's pooled scores; ``None`` if none. A row whose protocol
    leaks (``sample-10fold``) is marked ⚠ in red, as the comparison marks a measured run under it."""
    if not result.reported:
        return None
    rows = reported_rows(result)
    leaks = {row[1]: reported_leaks(result, row[1]) for row in rows}
    note = reported_leak_note(leaks, "⚠")
    metrics = [m for m in REPORTED_METRICS if any(m in row[3] for row in rows)]
    sources = reported_sources(result.reported)
    numbered = len(sources) > 1  # each reported row names its source by number, the caption lists them
    table = DataTable(
        f"{reported_title(result)} (%, for reference) vs measured here",
        [Column("Dataset"), Column("Protocol", stack=True), Column(""),
         *(Column(SHORT_NAMES[REPORTED_METRICS[m]], justify="right") for m in metrics),
         *([Column("Source", justify="right")] if numbered else [])],
        caption=(("Sources: " + "; ".join(f"{n}: {text}" for n, text in enumerate(sources, 1))) if numbered
                 else sources[0]).rstrip(".") + (f". {note}" if note else ""),
    )
    for index, (dataset, protocol, source, scores) in enumerate(rows):
        shown = styled(f"{protocol} ⚠", "red") if leaks[protocol] else protocol
        table.add_row(dataset, shown, "reported", *(paper_points(scores[m]) if m in scores else "—" for m in metrics),
                      *([str(sources.index(source) + 1)] if numbered else []))
        if dataset == result.dataset and protocol == result.protocol and last_of_setting(rows, index):
            measured = [_score(result.pooled, REPORTED_METRICS[m]) for m in metrics]
            label, partial = measured_label(result)
            leaked = bool(result_leaks(result))
            table.add_row(dataset, shown, styled(f"{label} ⚠", "red") if leaked else label, *measured,
                          *([""] if numbered else []), style="dim" if partial else "bold")
            table.caption = table.caption.rstrip(".") + partial if partial else table.caption
            if result.across_seeds is not None:  # as the run's tables above: the mean over seeds is in the seeds table
                table.caption = (table.caption.rstrip(".") + f". {label.capitalize()}: the pooled scores of "
                                 f"{seed_label(result)}; their mean over the seeds is in the seeds table.")
            if leaked:
                table.caption = (table.caption.rstrip(".") + ". ⚠ measured: this run leaked test information (its "
                                 "leakage lines say how): its scores are inflated.")
    return table


COMPARABILITY_SETTINGS = ("protocol.", "dataset.classes=", "dataset.list=")
"""Settings that change which samples, classes or folds a score is measured on (``settings_changed`` prefixes)."""


def comparability(result: RunResult) -> tuple[str, str]:
    """The label of the run's row beside the paper's scores, and what makes it not comparable with them (``""``
    when nothing does): ``measured``; ``measured on 14/442`` when its dataset has an official sample list (MEGC2019)
    that its copies do not cover in full ("measured on 14 of the 442 samples of the official list ..."); ``measured*``
    when the run used a derived sample list or changed the protocol's folds or the class set ("measured with
    protocol.n_splits=2")."""
    summary = result.dataset_summary or {}
    coverage = summary.get("official_list") or {}
    try:
        found, listed = int(coverage["found"]), int(coverage["listed"])
    except (KeyError, TypeError, ValueError):
        found = listed = 0
    if found < listed:
        return (f"measured on {found}/{listed}", f"measured on {found} of the {listed} samples of the official list "
                "(the rest are not in your copies)")
    changed = [setting for setting in result.settings_changed or [] if setting.startswith(COMPARABILITY_SETTINGS)]
    if summary.get("list") == "derived" and not any(setting.startswith("dataset.list=") for setting in changed):
        changed.append("dataset.list=derived")
    if not changed:
        return "measured", ""
    return "measured*", f"measured with {', '.join(sorted(changed))}"


def measured_label(result: RunResult) -> tuple[str, str]:
    """The label of the run's row beside the paper's scores (``comparability``), and a caption sentence saying why
    it is not comparable with the papers' scores (``""`` when it is)."""
    label, why = comparability(result)
    if not why:
        return label, ""
    if label == "measured*":
        return label, (f". * M{why[1:]}: other samples, classes or folds than the protocol the paper reports, so not "
                       "comparable with its scores")
    return label, f". M{why[1:]}: not comparable with the reported scores"


def seeds_table(result: RunResult) -> DataTable:
    """Pooled scores of each seed of a repeated run and their mean ± std (the run must have ``across_seeds``)."""
    across, seeds = result.across_seeds, result.seeds or []
    if across is None:
        raise ValueError(f"run {result.run_id or '?'} was not repeated over seeds: it has no table of seeds")
    table = DataTable(f"Pooled scores over {across.n} seeds (%)",
                      [Column("Seed", justify="right"), *(Column(header, justify="right") for _, header in COLUMNS)],
                      caption="std: sample standard deviation over the seeds (n − 1), as merbench regress and the "
                      "README report it")
    for run in seeds:
        table.add_row(str(run.seed), *(_score(run.pooled, k) for k, _ in COLUMNS))
    table.add_section()
    table.add_row("mean", *(_score(across.mean, k) for k, _ in COLUMNS), style="bold")
    table.add_row("std", *(_score(result.seeds_std(), k) for k, _ in COLUMNS))
    return table


def confusion_table(result: RunResult, numbered: bool = False) -> DataTable:
    """The pooled confusion matrix: rows are true classes, columns predicted classes.

    ``numbered``: columns headed 1..K (the rows say which class each number is),
    for terminals too narrow for one column per class name.
    """
    classes = [str(name) for name in result.classes]
    headers = [str(i + 1) for i in range(len(classes))] if numbered else classes
    of_seed = f", seed {result.seed_shown}" if result.across_seeds is not None else ""
    table = DataTable(f"Confusion matrix (pooled{of_seed}; rows true, columns predicted)",
                      [Column("true \\ predicted"), *(Column(header, justify="right") for header in headers)])
    for i, (name, row) in enumerate(zip(classes, result.confusion_matrix)):
        table.add_row(f"{i + 1} {name}" if numbered else name, *(str(count) for count in row))
    return table


def per_domain_table(result: RunResult) -> DataTable:
    """Pooled UF1, UAR and accuracy per domain (source dataset) of a composite run."""
    of_seed = f", {seed_label(result)}" if result.across_seeds is not None else ""
    table = DataTable(f"Per domain (pooled{of_seed})",
                      [Column("Domain"), *(Column(h, justify="right") for h in ("UF1", "UAR", "Acc"))])
    for domain, scores in result.per_domain.items():
        table.add_row(str(domain), _pct(scores["uf1"]), _pct(scores["uar"]), _pct(scores["accuracy"]))
    return table


def leakage_lines(result: RunResult) -> str:
    """The run's leakage record as short clauses (subjects, clips, normalisation, selection)."""
    if result.leakage is None:
        return "Leakage audit: not recorded in this result."
    leakage = result.leakage
    overlap = leakage.subject_overlap_folds
    subjects = (
        "subject overlap not recorded" if overlap is None
        else "no subject is in both training and test of any fold" if overlap == 0
        else f"{overlap} of {len(result.folds)} folds share subjects between training and test"
    )
    clips = leakage.clip_overlap_folds
    clip_text = f"; {clips} of {len(result.folds)} folds have frames of one clip in training and test" if clips else ""
    uses_test = leakage.selection_uses_test_data
    selection = "not recorded" if uses_test is None else "YES" if uses_test else "never"
    return (
        f"Leakage audit: {subjects}{clip_text}; normalisation: {leakage.normalisation or 'not recorded'}; "
        f"model selection: {leakage.model_selection or 'not recorded'}; selection on test data: {selection}."
    )


def kept_warnings(result: RunResult) -> list[str]:
    """The warnings the run printed and its result keeps that its leakage lines do not say again (``print_result``):
    a resume under other software, batched folds' dropout masks, an option without effect; ``merbench show`` prints
    them, so that a run read back later says what it said when it ran."""
    from merbench.leaks import ENGINE_WARNINGS

    leaks = set(ENGINE_WARNINGS.values())
    own = protocol_warning(result)
    return [warning for warning in result.warnings or []
            if warning not in leaks and not (own and warning.rstrip(". ") == own)]


def protocol_warning(result: RunResult) -> str:
    """The run's protocol's own ``warning`` (what its plugin says leaks), as the run showed it; ``""`` when it has
    none, or the protocol is not installed here or no longer says what the run recorded."""
    from merbench.errors import MerbenchError
    from merbench.registry import get_registry

    try:
        warning = get_registry().get("protocols", result.protocol).warning
    except MerbenchError:
        return ""
    return warning.rstrip(". ") if isinstance(warning, str) and warning and warning in (result.warnings or []) else ""


def leakage_warnings(result: RunResult) -> list[str]:
    """One sentence per kind of leak the result records (none for an honest run)."""
    leakage = result.leakage or LeakageRecord()
    n_folds = len(result.folds)
    subjects = "some" if leakage.subject_overlap_folds is None else leakage.subject_overlap_folds
    clips = "some" if leakage.clip_overlap_folds is None else leakage.clip_overlap_folds
    own = protocol_warning(result)
    # Not "this protocol": a subject-independent protocol can share subjects when the data gives one person two ids.
    shared_subjects = ("This run is NOT subject-independent: clips of the same subject are in training and test "
                       f"({subjects} of {n_folds} folds)." + (f" Its protocol says: {own}." if own else ""))
    if subjects == 0:
        said = f": {own}. In" if own else " (it splits clips, not subjects); in"
        shared_subjects = f"This protocol is NOT subject-independent{said} this run {no_subject_shared(n_folds)}."
    texts = {
        "subjects": shared_subjects,
        "clips": "Several samples made from one clip are in training and test "
        f"({clips} of {n_folds} folds): near-copies of test clips were trained on.",
        "selection": "Each fold's scored epoch was chosen on that fold's own test samples (engine.select_on=test).",
        "normalisation": "Inputs were standardised with statistics of all samples, test samples included "
        "(engine.normalise_on=all).",
    }
    found = [texts[kind] for kind in result_leaks(result) if kind in texts]
    if found:
        found.append("Scores are inflated and must not be compared with honest results (docs/leakage.md).")
    return found


def print_result(console: Console, result: RunResult) -> None:
    """Print a run's tables, its leakage record and warning, and where its time went."""
    print_table(console, result_table(result))
    confusion = confusion_table(result)
    if not wants_plain(console) and confusion.render_for(console.width) is None:
        confusion = confusion_table(result, numbered=True)
    print_table(console, confusion)
    warnings = leakage_warnings(result)
    console.print(escape(leakage_lines(result)), style="red" if warnings else "dim")
    if warnings:
        kinds = ", ".join(result_leaks(result))
        warning = " ".join(warnings)
        if wants_plain(console):
            console.print(escape(f"Warning: leakage ({kinds}): {warning}"), style="bold red")
        else:
            console.print(Panel(escape(warning), title=escape(f"Warning: leakage ({kinds})"), border_style="bold red"))
    if len(result.per_domain) > 1:
        print_table(console, per_domain_table(result))
    if result.across_seeds is not None:
        print_table(console, seeds_table(result))
    reported = reported_table(result)
    if reported is not None:
        print_table(console, reported)
    console.print(escape(f"Time: {time_text(result)}"))
    plan = result.engine_plan
    if plan:
        console.print(escape(f"Folds trained {trained_how(str(plan['description']))}, {threads_phrase(plan)}"))
    console.print(escape(provenance_line(result)), highlight=False)


def time_text(result: RunResult, device: bool = True) -> str:
    """Where the run's time went: all seeds' time first for a ``--seeds N`` run, preprocessing and training, the
    ``device`` it ran on (left out where the page names it apart), and the folds a resumed run trained before it was
    interrupted, which the time does not count."""
    seconds = result.seconds
    prep = result.preprocess or {}
    first_seed = (f"{result.total_seconds:.1f} s for {result.across_seeds.n} seeds; seed {result.seed_shown}: "
                  if result.across_seeds is not None and seconds.total_all_seeds is not None else "")
    where = f" on {result.environment.get('device', 'an unrecorded device')}" if device else ""
    return (f"{first_seed}{seconds.total:.1f} s (preprocessing {seconds.preprocess:.1f} s: {prep.get('computed', '?')} "
            f"computed, {prep.get('cached', '?')} from cache; training and evaluation {seconds.train_eval:.1f} s)"
            f"{where}{_earlier_folds(seconds)}")


def provenance_line(result: RunResult) -> str:
    """What the run was, for a terminal log read later without its JSON: seed, profile, the options it changed from
    the profile's defaults (``merbench.run_settings``; leaky engine options too, which comparisons name apart), the
    content of the files its options name (``environment.files``: which weights) and the software that trained it."""
    from merbench.registry import get_registry
    from merbench.run_settings import changed_settings

    config = result.config or {}
    profile = result.profile or config.get("profile")
    parts = [f"seed {result.seed_shown}" + (f" (and {result.across_seeds.n - 1} more)" if result.across_seeds else "")]
    if profile:
        changed = changed_settings(result, get_registry())  # None: the run's plugins are not installed here
        leaky = [f"engine.{LEAKY_SETTINGS[kind]}" for kind in stored_engine_leaks(config)]
        changed = None if changed is None else (*changed, *leaky)
        if changed is None:
            parts.append(f"profile {profile}" + (f", leaky options: {', '.join(leaky)}" if leaky else ""))
        elif changed:
            parts.append(f"profile {profile}, options changed from it: {', '.join(changed)}")
        else:
            parts.append(f"profile {profile}, no option changed from it")
    environment = result.environment or {}
    files = environment.get(FILES_KEY) if isinstance(environment.get(FILES_KEY), dict) else {}
    parts += [f"{key} sha256 {str(record.get('sha256'))[:12]}" for key, record in files.items() if isinstance(record, dict)]
    software = ", ".join(f"{name} {environment[key]}" for name, key in
                         (("merbench", "merbench"), ("commit", "git_commit"), ("torch", "torch")) if environment.get(key))
    return printable_line("Run: " + "; ".join(parts + ([software] if software else [])))  # one line, whatever the data


def _earlier_folds(seconds: Seconds) -> str:
    """What the Time line leaves out of a resumed run: the folds trained before it was interrupted."""
    if not seconds.earlier_folds:
        return ""
    folds = f"{seconds.earlier_folds} fold{'' if seconds.earlier_folds == 1 else 's'}"
    summed = "summed over them: folds trained side by side count each" if seconds.earlier_folds > 1 else "its own"
    return (f"; not counted: {folds} trained before the run was resumed "
            f"({seconds.earlier_train or 0.0:.1f} s of training, {summed})")


def _points(value: float) -> str:
    return percent(value, signed=True)


def shown_difference(a: float, b: float) -> str:
    """``B - A`` of two fractions as the difference of the two percentages shown (one decimal each), so that the
    table's arithmetic adds up (43.3 - 27.0 is +16.3, not the +16.2 of the unrounded scores)."""
    difference = percent_points(b) - percent_points(a)
    return f"{abs(difference) if difference == 0 else difference:+}"


def leakage_inflation(variant: dict[str, Any], summary: dict[str, Any] | None = None) -> str:
    """``+12.3 [+8.1,+16.4]``: a variant's UF1 inflation in points with its interval; ``—`` for the honest run.

    Given the ``summary``, an inflation that is the variant's UF1 minus the honest UF1 (as it is when both ran on
    the same seeds) is shown as the difference of the two UF1 columns as printed, so that the row adds up."""
    gain = variant.get("inflation")
    if not gain:
        return "—"
    point = _points(gain["uf1"])
    honest = next((v for v in (summary or {}).get("variants", []) if v.get("name") == "honest"), None)
    if honest is not None and math.isclose(gain["uf1"], variant["uf1"] - honest["uf1"], abs_tol=1e-9):
        point = shown_difference(honest["uf1"], variant["uf1"])
    return f"{point} [{_points(gain['low'])},{_points(gain['high'])}]"


def leakage_what(variant: dict[str, Any]) -> str:
    """What leaks in a variant, in words, with each expected leak that did not occur and why, and the variant's note.

    A variant that recorded none of its leaks (``select_on=test`` for a model
    fitted once) is "not applicable to this model, nothing leaked"; one that
    recorded some (``frame-10fold`` with ``protocol.pairs=1``: subjects but not
    clips) names each missing kind: "clips: did not occur (one sample per clip
    with protocol.pairs=1)". Summaries written before ``not_occurred`` existed
    give no reason. The options a variant's run changed beyond those every run
    shares (its ``settings``, which the title does not name) follow:
    "ran with protocol.pairs=2".
    """
    if variant["name"] == "honest":  # its configuration cannot leak (refused); its data or protocol plugin can
        recorded = [str(kind) for kind in variant.get("leaks") or []]
        return "nothing" if not recorded else (f"{describe(recorded)}, recorded by the run although its settings are "
                                               "honest (the data or the protocol plugin): every Δ is measured against "
                                               "a leaky baseline")
    expected = [str(kind) for kind in variant.get("expected_leaks") or []]
    leaks = {str(kind) for kind in variant.get("leaks") or []}
    missing = [kind for kind in expected if kind not in leaks]
    reasons = variant.get("not_occurred") or {}
    if expected and len(missing) == len(expected):
        text = f"{variant['what']}: not applicable to this model, nothing leaked"
    else:
        text = "; ".join([str(variant["what"])] + [
            f"{kind}: did not occur" + (f" ({reasons[kind]})" if reasons.get(kind) else "") for kind in missing])
    settings = variant.get("settings") or []
    if settings:
        text += f"; ran with {printable_line(', '.join(map(str, settings)))}"
    return f"{text}; {variant['note']}" if variant.get("note") else text


def resampled_text(summary: dict[str, Any]) -> str:
    """What each bootstrap draw of a summary picked, for a caption: "the test subjects, each with all its clips"
    (``bootstrap.unit`` ``subject``) or "the clips" (``clip``, the unit of summaries written before there was a
    choice)."""
    unit = (summary.get("bootstrap") or {}).get("unit", "clip")
    return "the test subjects, each with all its clips" if unit == "subject" else "the clips"


def summary_seeds(summary: dict[str, Any]) -> list[int]:
    """The study's seeds: its ``seeds``, or, in a summary without them, the seeds of the honest variant's runs."""
    seeds = summary.get("seeds")
    if seeds:
        return list(seeds)
    variants = summary.get("variants") or [{}]
    return [run["seed"] for run in variants[0].get("runs") or [] if isinstance(run, dict) and "seed" in run]


def leakage_caption(summary: dict[str, Any]) -> str:
    """What the leakage table's numbers are, in one paragraph."""
    seeds = summary_seeds(summary)
    boot = summary.get("bootstrap") or {}
    over = f"mean over {len(seeds)} seeds of each run's pooled scores" if len(seeds) > 1 else "pooled over folds"
    left_out = "".join(f" Not run: {item['name']} ({item['why']})." for item in summary.get("left_out") or [])
    return (f"Scores in % ({over}). ΔUF1: the variant's UF1 minus the honest UF1 of the same seed, in points, "
            f"with a {100 * float(boot.get('confidence', 0.95)):g} % bootstrap interval "
            f"({boot.get('resamples', '?')} paired resamples of {resampled_text(summary)}).{left_out}")


def leakage_table(summary: dict[str, Any]) -> DataTable:
    """A leakage study's table: variant, what leaks, UF1, UAR, accuracy, inflation over the honest UF1."""
    seeds = summary_seeds(summary)
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}" if seeds else "seeds ?"
    changed = summary.get("settings_changed") or []
    title = (f"Leakage: {summary['model']} on {summary['dataset']}, honest {summary.get('protocol', '?')} vs "
             f"leaky variants · {summary.get('profile', '?')} profile"
             + (f", options changed from it: {printable_line(', '.join(map(str, changed)))}" if changed else "")
             + f" · {seed_text}")
    confidence = 100 * float((summary.get("bootstrap") or {}).get("confidence", 0.95))
    table = DataTable(title, [Column("Variant"), Column("What leaks", TEXT), Column("UF1", justify="right"),
                              Column("UAR", justify="right"), Column("Acc", justify="right"),
                              Column(f"ΔUF1 [{confidence:g} % CI]", justify="right")], caption=leakage_caption(summary))
    for variant in summary["variants"]:
        table.add_row(str(variant["name"]), leakage_what(variant),
                      _pct(variant["uf1"]), _pct(variant["uar"]), _pct(variant["accuracy"]), leakage_inflation(variant, summary),
                      style="bold" if variant["name"] == "honest" else None)
    return table
