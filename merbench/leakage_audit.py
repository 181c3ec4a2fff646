"""Re-checking a leakage summary (``merbench leakage --json``) against the stored runs it lists.

A summary holds numbers a reader quotes (each variant's UF1, UAR, accuracy and
its ΔUF1 interval) and that ``report --leakage`` and the README render as they
are. ``audit_summary`` reads every run the summary lists from the results store
and computes the summary again from them (``leakage_summary.summarise``, with
the summary's own bootstrap settings): a check fails when a run is missing or is
not the run the summary says (model, dataset, seed), or when a variant's scores,
interval or recorded leaks differ from what its runs give.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from merbench.audit import TOLERANCE, Check
from merbench.errors import MerbenchError
from merbench.leakage_summary import SCORES, summarise
from merbench.report import leakage_inflation
from merbench.result import RunResult
from merbench.wording import counted, percent

COMPUTED = ("leaks", "not_occurred", *SCORES, "inflation", "n_samples", "runs")
"""The keys of a variant's entry that ``summarise`` computes from its runs; the others describe the variant."""


def audit_summary(summary: Mapping[str, Any], store: Any) -> list[Check]:
    """The checks of a leakage ``summary`` (as ``load_summary`` read it) against the runs in ``store``."""
    variants = summary["variants"]
    runs, problems = _stored_runs(summary, store)
    checks = [Check("runs in the store", not problems,
                    "; ".join(problems) if problems else
                    f"{counted(sum(len(each) for each in runs), 'run')} of {counted(variants, 'variant')}, each the "
                    f"model, dataset, protocol and seed the summary names")]
    if problems:
        return checks
    bootstrap = summary.get("bootstrap") or {}
    descriptions = [{key: value for key, value in variant.items() if key not in COMPUTED} for variant in variants[1:]]
    again = summarise({"protocol": summary.get("protocol") or variants[0].get("protocol")}, runs[0],
                      list(zip(descriptions, runs[1:])), resamples=int(bootstrap.get("resamples", 1000)),
                      confidence=float(bootstrap.get("confidence", 0.95)), unit=f"{bootstrap.get('unit', 'subject')}s")
    for stated, computed in zip(variants, again["variants"]):
        differences = _differences(stated, computed)
        interval = "" if computed["inflation"] is None else f", ΔUF1 {leakage_inflation(computed, again)} points"
        checks.append(Check(f"{stated['name']}: scores and leaks", not differences, "; ".join(differences) or
                            f"UF1 {percent(computed['uf1'])} %, UAR {percent(computed['uar'])} %, accuracy "
                            f"{percent(computed['accuracy'])} %{interval} and leaks "
                            f"{', '.join(computed['leaks']) or 'none'}, as its {counted(computed['runs'], 'run')} "
                            f"{'gives' if len(computed['runs']) == 1 else 'give'}"))
    return checks


def _stored_runs(summary: Mapping[str, Any], store: Any) -> tuple[list[list[RunResult]], list[str]]:
    """Each variant's runs, read from ``store`` (seed order as listed), and what keeps any from being checked."""
    runs: list[list[RunResult]] = []
    problems: list[str] = []
    for variant in summary["variants"]:
        results = []
        for run in variant["runs"]:
            where = f"{variant['name']}, seed {run['seed']}"
            if not run.get("run_id"):
                problems.append(f"{where}: no run id (the study ran with --no-store, so its runs cannot be read "
                                "again; run it with a store to audit it)")
                continue
            try:
                result = store.result(str(run["run_id"]))
            except MerbenchError as exc:
                problems.append(f"{where}: {exc}")
                continue
            stated = (summary["model"], summary["dataset"], variant.get("protocol") or result.protocol, run["seed"])
            if (result.model, result.dataset, result.protocol, result.seed) != stated:
                problems.append(f"{where}: run {run['run_id']} is {result.model} on {result.dataset}, "
                                f"{result.protocol}, seed {result.seed}, not {stated[0]} on {stated[1]}, {stated[2]}, "
                                f"seed {stated[3]}")
            results.append(result)
        runs.append(results)
    return runs, problems


NAMES = {"uf1": "UF1", "uar": "UAR", "accuracy": "accuracy"}
BOUNDS = {"uf1": "ΔUF1", "low": "ΔUF1 interval low", "high": "ΔUF1 interval high"}


def _differences(stated: Mapping[str, Any], computed: Mapping[str, Any]) -> list[str]:
    """How a variant's entry differs from the one its runs give, in words."""
    found = [f"{NAMES[key]} {_shown(stated.get(key))} in the summary, {_shown(computed[key])} from its runs"
             for key in SCORES if not _close(stated.get(key), computed[key])]
    for said, given in zip(stated["runs"], computed["runs"]):
        found += [f"seed {given['seed']}'s {NAMES[key]} {_shown(said.get(key))} in the summary, "
                  f"{_shown(given[key])} stored" for key in SCORES if not _close(said.get(key), given[key])]
    inflation, again = stated.get("inflation"), computed["inflation"]
    if (inflation is None) != (again is None):
        found.append(f"ΔUF1 {'missing' if inflation is None else 'given'} in the summary, "
                     f"{'none' if again is None else 'one'} from its runs")
    elif again is not None:
        found += [f"{BOUNDS[key]} {_shown(inflation.get(key), ' points')} in the summary, "
                  f"{_shown(again[key], ' points')} from its runs"
                  for key in BOUNDS if not _close(inflation.get(key), again[key])]
    if sorted(stated.get("leaks") or []) != sorted(computed["leaks"]):
        found.append(f"leaks {', '.join(stated.get('leaks') or []) or 'none'} in the summary, "
                     f"{', '.join(computed['leaks']) or 'none'} recorded by its run")
    return found


def _close(value: Any, expected: float) -> bool:
    """Whether a summary's ``value`` is the ``expected`` number (NaN matches NaN)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if math.isnan(expected):
        return math.isnan(value)
    return abs(float(value) - expected) <= TOLERANCE


def _shown(value: Any, unit: str = " %") -> str:
    """A score as the tables write it (``48.7 %``; a difference ``+2.0 points``), or the value as it is."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return repr(value)
    return f"{percent(value)}{unit}" if unit == " %" else f"{100 * value:+.1f}{unit}"

