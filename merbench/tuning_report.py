"""Tables of a ``merbench tune`` summary: per outer fold, pooled outer scores, choice stability and compute.

``merbench.tables.DataTable``s: names and numbers are never cut and every
value from the summary (option values, subjects) prints literally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from merbench.escaping import printable_line
from merbench.tables import TEXT, Column, DataTable, print_table
from merbench.tuning_summary import FEW_VALUES
from merbench.wording import counted, percent


def _pct(value: float | None) -> str:
    return "—" if value is None else percent(value)


def value_text(value: Any) -> str:
    """A chosen value, short: floats to 3 significant digits, everything else as it is."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def folds_table(summary: dict[str, Any]) -> DataTable:
    """One row per outer fold: its trials, the selected trial's inner UF1 and the outer scores."""
    search = summary["search"]
    table = DataTable(
        f"Tuned {summary['model']} on {summary['dataset']} · {summary['protocol']} · "
        f"{counted(search['trials_per_fold'], 'trial')} × {counted(search['inner_folds'], 'inner fold')} per outer fold",
        [Column("Fold", justify="right"), Column("n", justify="right"), Column("Trials", justify="right"),
         Column("Pruned", justify="right"), Column("Failed", justify="right"), Column("Inner UF1", justify="right"),
         Column("Outer UF1", justify="right"), Column("Outer UAR", justify="right")],
        caption="Scores in %. Inner UF1: the selected trial's mean over inner folds (it chose the configuration, "
                "so it is optimistic: never quote it). Outer: the selected configuration trained once on the "
                "outer training part and scored once on the outer test part.",
    )
    for fold in summary["folds"]:
        counts = fold["trial_counts"]
        table.add_row(str(fold["fold"] + 1), str(fold["n_test"]), str(sum(counts.values())), str(counts["pruned"]),
                      str(counts["failed"]), _pct(fold["inner_uf1"]), _pct(fold["metrics"]["uf1"]),
                      _pct(fold["metrics"]["uar"]))
    return table


def choices_table(summary: dict[str, Any]) -> DataTable:
    """The configuration each outer fold selected (the trial and its values)."""
    table = DataTable("Configuration selected per outer fold",
                      [Column("Fold", justify="right"), Column("Trial", justify="right"),
                       Column("Selected configuration", TEXT, keep=True)])
    for fold in summary["folds"]:
        chosen = ", ".join(f"{key}={value_text(value)}" for key, value in fold["selected"].items())
        table.add_row(str(fold["fold"] + 1), str(fold["selected_trial"]), chosen)
    return table


def scores_table(summary: dict[str, Any]) -> DataTable:
    """The tuned result: outer UF1, UAR and accuracy pooled over folds, and their fold mean ± std."""
    table = DataTable(
        "Tuned result (outer folds; quote the pooled row)",
        [Column(""), Column("UF1", justify="right"), Column("UAR", justify="right"), Column("Acc", justify="right"),
         Column("n", justify="right")],
        caption="Scores in %. Pooled: all outer folds' predictions together (MEGC2019 UF1, UAR)."
        + (" Fold std: —, one outer fold has no spread to measure." if len(summary["folds"]) < 2 else ""),
    )
    n = sum(fold["n_test"] for fold in summary["folds"])
    for label, scores, style in (("pooled", summary["pooled"], "bold cyan"), ("fold mean", summary["fold_mean"], None),
                                 ("fold std", summary["fold_std"], None)):
        table.add_row(label, _pct(scores["uf1"]), _pct(scores["uar"]), _pct(scores["accuracy"]),
                      str(n) if label == "pooled" else "", style=style)
    return table


@dataclass(frozen=True)
class _Domains:
    """What ``merbench.report.per_domain_table`` reads of a run, taken from a tune's summary."""

    per_domain: dict[str, Any]
    across_seeds: None = None


def domains_table(summary: dict[str, Any]) -> DataTable:
    """The tuned result per domain (source dataset), pooled over outer folds: ``merbench run``'s table."""
    from merbench.report import per_domain_table

    return per_domain_table(_Domains(summary["per_domain"]))  # type: ignore[arg-type]  # reads only these


ONE_FOLD_STABILITY = ("Stability of the choice: not measured, it needs two or more outer folds to compare (this "
                      "protocol has one); report the chosen configuration as one fold's choice")
"""Said instead of the stability table when a tune has a single outer fold (cross-dataset): agreement is 1.00."""


def stability_table(summary: dict[str, Any]) -> DataTable:
    """Per searched option: what the outer folds chose and how much they agree (two or more folds)."""
    n_folds = len(summary["folds"])
    table = DataTable(
        f"Stability of the choice over {counted(n_folds, 'outer fold')}",
        [Column("Option"), Column("Agreement", justify="right"), Column("Chosen", TEXT, keep=True)],
        caption=f"Agreement: categorical, and whole numbers of at most {FEW_VALUES} values, share of folds choosing "
                "the most common value; other numbers, 1 − (range of chosen values ÷ searched range, log scale where "
                "searched on one). Low agreement: the data do not pin the option down; report the spread, not one "
                "value.",
    )
    for row in summary["stability"]:
        if "counts" in row:
            agreement = row["agreement"]
            chosen = ", ".join(f"{value} ×{count}" for value, count in row["counts"].items())
        elif row["folds"]:
            agreement = 1 - row["spread"]
            chosen = (f"median {value_text(row['median'])} (min {value_text(row['min'])}, "
                      f"max {value_text(row['max'])})")
        else:
            agreement, chosen = None, "—"
        table.add_row(row["key"], "—" if agreement is None else f"{agreement:.2f}", chosen)
    return table


def compute_line(summary: dict[str, Any]) -> str:
    """The compute spent, in one line (what an honest report states beside the score)."""
    c = summary["compute"]
    return (f"Compute: {counted(c['trials'], 'trial')} ({c['complete']} complete, {c['pruned']} pruned, "
            f"{c['failed']} failed), {counted(c['inner_fits'], 'inner fit')} and "
            f"{counted(c['outer_refits'], 'outer refit')}; {c['trial_seconds']:.1f} s in trials, "
            f"{c['refit_seconds']:.1f} s in refits, {c['wall_seconds']:.1f} s wall (this call).")


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    """Print the tune's tables and its compute line."""
    print_table(console, folds_table(summary))
    print_table(console, choices_table(summary))
    print_table(console, scores_table(summary))
    if len((summary.get("per_domain") or {})) > 1:
        print_table(console, domains_table(summary))
    if len(summary["folds"]) >= 2:
        print_table(console, stability_table(summary))
    else:
        console.print(Text(ONE_FOLD_STABILITY))
    console.print(Text(compute_line(summary)))
    for warning in summary.get("warnings", []):
        console.print(Text(f"Warning: {warning}"))
    console.print(Text(provenance(summary)), highlight=False)


@dataclass(frozen=True)
class _Provenance:
    """What ``merbench.report.provenance_line`` reads of a run, taken from a tune's summary."""

    model: str
    dataset: str
    protocol: str
    seed: int | None
    profile: str | None
    config: dict[str, Any]
    environment: dict[str, Any]
    across_seeds: None = None
    settings_changed: list[str] | None = None
    dataset_summary: dict[str, Any] | None = None

    @property
    def seed_shown(self) -> str:
        """The tune's seed as printed, as ``RunResult.seed_shown``."""
        return str(self.seed) if isinstance(self.seed, int) else "?"


def provenance(summary: dict[str, Any]) -> str:
    """What the tune was, for a log read later without its JSON: ``merbench run``'s closing line (seed, profile,
    the fixed options changed from it, merbench, commit, torch) with the space file and the trials storage."""
    from merbench.report import provenance_line

    view = _Provenance(model=summary["model"], dataset=summary["dataset"], protocol=summary["protocol"],
                       seed=summary.get("seed"), profile=summary.get("profile"), config=summary.get("config") or {},
                       environment=summary.get("environment") or {},
                       dataset_summary=summary.get("dataset_summary") or {})
    line = provenance_line(view)  # type: ignore[arg-type]  # reads only these attributes
    body = line.split(": ", 1)[1] if line.startswith("Run: ") else line
    search = summary.get("search") or {}
    where = [f"space {summary['space']['file']}"] if (summary.get("space") or {}).get("file") else []
    if search.get("storage"):
        where.append(f"trials stored in {search['storage']}")
    return printable_line("Tune: " + "; ".join([body, *where]))
