"""Rich tables of a run's result: per fold, fold mean ± std, pooled, and reported scores."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

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


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def result_table(result: dict[str, Any]) -> Table:
    """The per-fold / mean / std / pooled table of one run (scores in %)."""
    title = (
        f"{result['model']} on {result['dataset']} · {result['protocol']} · "
        f"{result['n_samples']} clips, {result['n_subjects']} subjects"
    )
    table = Table(
        title=title,
        caption="Scores in %. P, R, F1: macro precision, recall, F1 (scikit-learn); wF1: support-weighted F1. "
        "Pooled: all folds' predictions together (MEGC2019 UF1, UAR).",
    )
    table.add_column("Fold", justify="right")
    table.add_column("Test subjects")
    table.add_column("n", justify="right")
    for _, header in COLUMNS:
        table.add_column(header, justify="right")
    for fold in result["folds"]:
        subjects = _short(",".join(fold["test_subjects"]), 11)
        table.add_row(str(fold["fold"] + 1), subjects, str(fold["n_test"]), *(_pct(fold["metrics"][k]) for k, _ in COLUMNS))
    table.add_section()
    table.add_row("mean", "over folds", "", *(_pct(result["fold_mean"][k]) for k, _ in COLUMNS), style="bold")
    table.add_row("std", "", "", *(_pct(result["fold_std"][k]) for k, _ in COLUMNS))
    n_pooled = sum(f["n_test"] for f in result["folds"])
    table.add_row("pooled", "all folds", str(n_pooled), *(_pct(result["pooled"][k]) for k, _ in COLUMNS), style="bold cyan")
    return table


def reported_table(result: dict[str, Any]) -> Table | None:
    """Scores the model's paper reported, beside this run's pooled scores; ``None`` if none."""
    reported = result.get("reported") or []
    if not reported:
        return None
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for entry in reported:
        rows.setdefault((entry["dataset"], entry["protocol"]), {})[entry["metric"]] = entry["value"]
    metrics = [m for m in REPORTED_METRICS if any(m in scores for scores in rows.values())]
    table = Table(title=f"Reported in the {result['model']} paper (%, for reference) vs measured here", caption=reported[0]["source"])
    table.add_column("Dataset")
    table.add_column("Protocol")
    table.add_column("")
    for metric in metrics:
        table.add_column(metric.capitalize() if len(metric) > 3 else metric.upper(), justify="right")
    for (dataset, protocol), scores in rows.items():
        table.add_row(dataset, protocol, "reported", *(f"{scores[m]:.2f}" if m in scores else "—" for m in metrics))
        if dataset == result["dataset"] and protocol == result["protocol"]:
            measured = [_pct(result["pooled"][REPORTED_METRICS[m]]) for m in metrics]
            table.add_row(dataset, protocol, "measured", *measured, style="bold")
    return table


def seeds_table(result: dict[str, Any]) -> Table:
    """Pooled scores of each seed of a repeated run and their mean ± std."""
    across = result["across_seeds"]
    table = Table(title=f"Pooled scores over {across['n']} seeds (%)")
    table.add_column("Seed", justify="right")
    for _, header in COLUMNS:
        table.add_column(header, justify="right")
    for run in result["seeds"]:
        table.add_row(str(run["seed"]), *(_pct(run["pooled"][k]) for k, _ in COLUMNS))
    table.add_section()
    table.add_row("mean", *(_pct(across["mean"][k]) for k, _ in COLUMNS), style="bold")
    table.add_row("std", *(_pct(across["std"][k]) for k, _ in COLUMNS))
    return table


def confusion_table(result: dict[str, Any]) -> Table:
    """The pooled confusion matrix: rows are true classes, columns predicted classes."""
    classes = result["classes"]
    table = Table(title="Confusion matrix (pooled; rows true, columns predicted)")
    table.add_column("true \\ predicted")
    for name in classes:
        table.add_column(name, justify="right")
    for name, row in zip(classes, result["confusion_matrix"]):
        table.add_row(name, *(str(count) for count in row))
    return table


def leakage_lines(result: dict[str, Any]) -> str:
    """The run's leakage record as three short lines (subjects, normalisation, selection)."""
    leakage = result["leakage"]
    overlap = leakage["subject_overlap_folds"]
    subjects = (
        "no subject is in both training and test of any fold"
        if overlap == 0
        else f"{overlap} of {len(result['folds'])} folds share subjects between training and test"
    )
    selection = "never" if not leakage["selection_uses_test_data"] else "YES"
    return (
        f"Leakage audit: {subjects}; normalisation: {leakage['normalisation']}; "
        f"model selection: {leakage['model_selection']}; selection on test data: {selection}."
    )


def print_result(console: Console, result: dict[str, Any]) -> None:
    """Print a run's tables, its leakage record and warning, and where its time went."""
    console.print(result_table(result))
    console.print(confusion_table(result))
    console.print(leakage_lines(result), style="dim" if result["subject_independent"] else "red")
    if not result["subject_independent"]:
        console.print(
            Panel(
                "This protocol is NOT subject-independent: clips of the same subject are in training and test "
                f"({result['leakage']['subject_overlap_folds']} of {len(result['folds'])} folds). Scores are inflated "
                "and must not be compared with subject-independent results.",
                title="Warning: subject leakage",
                border_style="bold red",
            )
        )
    per_domain = result.get("per_domain") or {}
    if len(per_domain) > 1:
        table = Table(title="Per domain (pooled)")
        for header in ("Domain", "UF1", "UAR", "Acc"):
            table.add_column(header)
        for domain, scores in per_domain.items():
            table.add_row(domain, _pct(scores["uf1"]), _pct(scores["uar"]), _pct(scores["accuracy"]))
        console.print(table)
    if "across_seeds" in result:
        console.print(seeds_table(result))
    reported = reported_table(result)
    if reported is not None:
        console.print(reported)
    seconds = result["seconds"]
    prep = result["preprocess"]
    console.print(
        f"Time: {seconds['total']:.1f} s (preprocessing {seconds['preprocess']:.1f} s: {prep['computed']} computed, "
        f"{prep['cached']} from cache; training and evaluation {seconds['train_eval']:.1f} s) on {result['environment']['device']}"
    )
    plan = result.get("engine_plan")
    if plan:
        console.print(f"Folds trained {plan['description']}, {plan['threads_per_fold'] or 'default'} torch thread(s) per fold")
