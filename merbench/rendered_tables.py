"""Markdown score tables rendered from baseline files, between markers in README.md and docs/.

A marker pair names what to render and from which baseline::

    <!-- merbench:table models benchmarks/baselines/synthetic-default.yaml -->
    (generated: do not edit by hand)
    <!-- /merbench:table -->

Kinds: ``models`` (one row per model under the baseline's subject-independent
protocol, beside the scores its paper reported), ``protocols`` (one row per
protocol of each model that has several), ``guard`` (every entry with its
expected value and band, as ``merbench regress`` checks it) and ``main`` (the
first entry's seed-0 run, which is the README's main job). The ``leakage`` kind
names a summary written by ``merbench leakage --json`` instead of a baseline
(``<!-- merbench:table leakage benchmarks/leakage/synthetic-default.json -->``)
and renders its table: each variant, what leaks, its scores and its UF1
inflation over the honest run with the bootstrap interval. Each table ends with
a line that says how many runs it averages, on which machine, when and with
which command: the numbers in the documents are those of the committed files (CI
fails when a table differs from its file; it re-measures only ``ci.yaml``).
``python benchmarks/render_tables.py`` rewrites the tables; with ``--check``
it exits 1 when a committed table differs from what its baseline renders.
A marker line (one that starts with ``<!-- merbench:table`` or
``<!-- /merbench:table``) that is malformed or unpaired is an error naming its
line, so no table escapes the check; a mention inside a sentence is not a marker.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from merbench.errors import UsageError
from merbench.escaping import markdown_cell, markdown_code
from merbench.leaks import engine_leaks
from merbench.leakage_summary import load_summary, study_time
from merbench.regress import Baseline, Entry, load_baseline
from merbench.report import leakage_inflation, leakage_what, resampled_text
from merbench.wording import paper_points, percent

MARKER = re.compile(
    r"^(?P<open><!-- merbench:table (?P<kind>[\w-]+) (?P<baseline>\S+) -->\n)(?P<body>.*?)^(?P<close><!-- /merbench:table -->)",
    re.DOTALL | re.MULTILINE,
)
# Any line that starts like a marker, well-formed or not (a mention inside a sentence is not one).
MARKER_LINE = re.compile(r"^<!-- (?P<close>/)?merbench:table\b.*$", re.MULTILINE)
OPENING = re.compile(r"<!-- merbench:table [\w-]+ \S+ -->")
CLOSING = "<!-- /merbench:table -->"
INDEPENDENT = ("subject-10fold", "loso", "megc2019", "cross-dataset")
MEAN_STD = "Mean ± std over the runs. "


@dataclass(frozen=True)
class Measured:
    """One entry's scores as the baseline records them: mean and std over its runs, and its band."""

    entry: Entry
    derived: dict[str, Any]

    def mean(self, metric: str) -> float:
        """The expected (mean) value of ``metric``."""
        return next(e.expected for e in self.entry.expectations if e.metric == metric)

    def band(self, metric: str) -> float:
        """The tolerance of ``metric``."""
        return next(e.tolerance for e in self.entry.expectations if e.metric == metric)

    def std(self, metric: str) -> float:
        """The standard deviation of ``metric`` over the runs, as the baseline writes it (with the digits that show
        it as computed: ``merbench.regress.written_value``), which ``merbench info`` shows too."""
        return float(self.derived.get("std", {}).get(metric, 0.0))

    def first(self, metric: str) -> float:
        """``metric`` of the first run (the entry's own seed and thread layout)."""
        return float(self.derived["values"][metric][0])


def _measured(baseline: Baseline) -> list[Measured]:
    measured = []
    for entry in baseline.entries:
        if not entry.derived or any(e.expected is None for e in entry.expectations):
            raise UsageError(f"{baseline.path}: entry '{entry.model}' has no derived values; run "
                             f"`merbench regress --baseline {baseline.path} --update --seeds 3` first")
        measured.append(Measured(entry, entry.derived))
    return measured


def _pct(value: float) -> str:
    return percent(value)


def _pm(m: Measured, metric: str) -> str:
    return f"{_pct(m.mean(metric))} ± {_pct(m.std(metric))}"


def _name(entry: Entry, registry: Any = None) -> str:
    """The entry's model with the settings it changes, and ``†`` when it is leaky (``_leaky``)."""
    extra = ", ".join(f"{key}={value}" for key, value in entry.sets.items())
    return (markdown_code(entry.model) + (f" ({markdown_cell(extra)})" if extra else "")
            + (" †" if _leaky(entry, registry) else ""))


def _independent(protocol: str, registry: Any) -> bool:
    """Whether ``protocol`` keeps each subject on one side of every fold (its plugin says; else the built-ins)."""
    try:
        return bool(registry.get("protocols", protocol).subject_independent)
    except Exception:  # no registry, or a protocol plugin that is gone
        return protocol in INDEPENDENT


def _leaky(entry: Entry, registry: Any) -> bool:
    """Whether the entry's scores are inflated: it says ``leaky: true``, its protocol is not subject-independent, or
    its settings ask for selection or normalisation on test data."""
    engine = {key.partition(".")[2]: value for key, value in entry.sets.items() if key.startswith("engine.")}
    return entry.leaky or not _independent(entry.protocol, registry) or bool(engine_leaks(engine))


def _leaky_note(entries: list[Entry], registry: Any) -> str:
    """The note on ``†`` rows, when the table has one."""
    if not any(_leaky(entry, registry) for entry in entries):
        return ""
    return ("† a leaky entry (not subject-independent, or selection or normalisation on test data): its scores are "
            "inflated and not comparable with the others (docs/leakage.md). ")


def _reported(model: str, registry: Any) -> str:
    """The MEGC2019 UF1 / UAR that ``model``'s paper published under the MEGC2019 protocol, ``—`` if not both: of
    two sources for one metric the first the plugin lists, as ``merbench compare`` shows it."""
    if registry is None:
        return "—"
    try:
        scores = registry.get("models", model).reported
    except Exception:  # a model plugin that is gone: its reported scores are unknown
        return "—"
    by_metric: dict[str, float] = {}
    for score in scores:
        if score.dataset == "megc2019" and score.protocol == "megc2019":
            by_metric.setdefault(score.metric.lower(), score.value)
    if "uf1" in by_metric and "uar" in by_metric:
        return f"{paper_points(by_metric['uf1'])} / {paper_points(by_metric['uar'])}"
    return "—"


def _text(value: Any) -> str:
    return markdown_cell(str(value))


def _code(value: Any) -> str:
    return markdown_code(str(value), table=False)


def _provenance(baseline: Baseline, measured: list[Measured]) -> str:
    derived = measured[0].derived
    path = baseline.path  # as the marker names it (render_text), wherever the checkout or the installed merbench is
    runs = sorted({int(m.derived.get("runs", 0)) for m in measured})
    seeds = derived.get("seeds", [])
    threads = ",".join(str(t) for t in derived.get("threads", []))
    seed_text = f"seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0] if seeds else 0}"
    versions = derived.get("versions", {})
    return (f"Pooled scores in % from {'/'.join(str(r) for r in runs)} runs per row ({_text(seed_text)}, thread "
            f"layouts {_text(threads)}); {_text(derived.get('machine', 'unknown machine'))}, {_text(derived.get('date', '?'))}, "
            f"merbench {_text(versions.get('merbench', '?'))}, torch {_text(versions.get('torch', '?'))}. "
            f"Rendered from {_code(path.as_posix())} by `python benchmarks/render_tables.py`; measured with "
            f"{_code(derived.get('command', 'merbench regress --update'))}."
            + (f" Seconds per run: {_text(derived['timing_note'])}." if derived.get("timing_note") else ""))


def render_models(baseline: Baseline, registry: Any) -> str:
    """Models under the subject-independent protocol, with their paper's MEGC2019 UF1/UAR for orientation."""
    measured = [m for m in _measured(baseline) if _independent(m.entry.protocol, registry)]
    several = len({m.entry.protocol for m in measured}) > 1  # then each row names its protocol
    lines = ["| model | UF1 % | UAR % | accuracy % | s per run | reported MEGC2019 UF1 / UAR |",
             "|---|---:|---:|---:|---:|---:|"]
    for m in measured:
        name = f"{_name(m.entry, registry)} ({markdown_code(m.entry.protocol)})" if several else _name(m.entry, registry)
        lines.append(f"| {name} | {_pm(m, 'uf1')} | {_pm(m, 'uar')} | {_pm(m, 'accuracy')} | "
                     f"{float(m.derived.get('seconds_per_run', 0)):.0f} | {_reported(m.entry.model, registry)} |")
    return ("\n".join(lines) + "\n\n" + MEAN_STD + _leaky_note([m.entry for m in measured], registry)
            + _provenance(baseline, measured))


def render_protocols(baseline: Baseline, registry: Any) -> str:
    """Each model measured under several protocols, one row per protocol."""
    measured = _measured(baseline)
    protocols_of: dict[str, list[Measured]] = {}
    for m in measured:
        protocols_of.setdefault(m.entry.model, []).append(m)
    rows = [m for group in protocols_of.values() if len({g.entry.protocol for g in group}) > 1 for m in group]
    if not rows:
        raise UsageError(f"{baseline.path}: no model has entries under two protocols; a 'protocols' table needs them")
    lines = ["| model | protocol | subject-independent | accuracy % | UF1 % | UAR % |",
             "|---|---|---|---:|---:|---:|"]
    for m in rows:
        independent = "yes" if _independent(m.entry.protocol, registry) else "**no**"
        lines.append(f"| {_name(m.entry, registry)} | {markdown_code(m.entry.protocol)} | {independent} | "
                     f"{_pm(m, 'accuracy')} | {_pm(m, 'uf1')} | {_pm(m, 'uar')} |")
    return ("\n".join(lines) + "\n\n" + MEAN_STD + _leaky_note([m.entry for m in rows], registry)
            + _provenance(baseline, rows))


def render_guard(baseline: Baseline, registry: Any) -> str:
    """Every entry as ``merbench regress`` checks it: expected ± tolerance per metric."""
    measured = _measured(baseline)
    lines = ["| model | protocol | UF1 % | UAR % | accuracy % | s per run |", "|---|---|---:|---:|---:|---:|"]
    for m in measured:
        cells = " | ".join(f"{_pct(m.mean(metric))} ± {_pct(m.band(metric))}" for metric in ("uf1", "uar", "accuracy"))
        lines.append(f"| {_name(m.entry, registry)} | {markdown_code(m.entry.protocol)} | {cells} | "
                     f"{float(m.derived.get('seconds_per_run', 0)):.0f} |")
    note = f"Expected value ± tolerance (the band `merbench regress` enforces: {_band_rules(measured, registry)}). "
    return ("\n".join(lines) + "\n\n" + note + _leaky_note([m.entry for m in measured], registry)
            + _provenance(baseline, measured))


def _band_rule(derived: dict[str, Any]) -> str | None:
    """``max(3·std, 3.0 points)`` from a ``derived:`` block's ``k`` and ``floor``; ``None`` when it lacks either."""
    k, floor = derived.get("k"), derived.get("floor")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (k, floor)):
        return None
    return f"max({float(k):g}·std, {percent(float(floor))} points)"


def _band_rules(measured: list[Measured], registry: Any) -> str:
    """The rule each entry's band was derived by, from its ``derived:`` block: one rule when they share it
    (``max(3·std, 3.0 points)``), else each with the entries it holds for."""
    rules: dict[str | None, list[str]] = {}
    for m in measured:
        rules.setdefault(_band_rule(m.derived), []).append(_name(m.entry, registry))
    if len(rules) == 1:
        return next(iter(rules)) or "a rule its derived: block does not record"
    return "; ".join(f"{rule or 'a rule not recorded'} for {', '.join(names)}" for rule, names in rules.items())


def render_main(baseline: Baseline, registry: Any) -> str:
    """The first entry's first run (seed 0, thread layout auto): what the README's main job prints."""
    m = _measured(baseline)[0]
    command = f"merbench run --model {m.entry.model} --dataset {m.entry.dataset}"
    if m.entry.protocol != "subject-10fold":
        command += f" --protocol {m.entry.protocol}"
    if m.entry.profile != "default":
        command += f" --profile {m.entry.profile}"
    if m.entry.sets:
        command += " --set " + " ".join(f"{key}={value}" for key, value in m.entry.sets.items())
    mark = " †" if _leaky(m.entry, registry) else ""
    return (f"| run | accuracy % | UF1 % | UAR % |\n|---|---:|---:|---:|\n"
            f"| {markdown_code(command)} (seed {m.entry.seed}){mark} | "
            f"{_pct(m.first('accuracy'))} | {_pct(m.first('uf1'))} | {_pct(m.first('uar'))} |\n"
            f"| mean ± std over its {int(m.derived.get('runs', 0))} runs | {_pm(m, 'accuracy')} | {_pm(m, 'uf1')} | {_pm(m, 'uar')} |\n\n"
            + MEAN_STD + _leaky_note([m.entry], registry) + _provenance(baseline, [m]))


def render_leakage(summary: dict[str, Any], path: str, by: str = "python benchmarks/render_tables.py") -> str:
    """A leakage study's table (``merbench leakage --json``), rendered from its summary file ``path`` by ``by``."""
    boot = summary.get("bootstrap") or {}
    confidence = 100 * float(boot.get("confidence", 0.95))
    lines = [f"| variant | what leaks | UF1 % | UAR % | accuracy % | ΔUF1 points [{confidence:g} % CI] |",
             "|---|---|---:|---:|---:|---:|"]
    for variant in summary["variants"]:
        name = (f"**honest** ({_text(summary.get('protocol', '?'))})" if variant["name"] == "honest"
                else markdown_code(str(variant["name"]))) + (" †" if variant.get("leaks") else "")  # as recorded
        lines.append(f"| {name} | {markdown_cell(leakage_what(variant))} | {_pct(variant['uf1'])} | {_pct(variant['uar'])} | "
                     f"{_pct(variant['accuracy'])} | {leakage_inflation(variant, summary)} |")
    seeds = summary.get("seeds") or []
    environment = summary.get("environment") or {}
    scores = f"mean over {len(seeds)} seeds of pooled scores" if len(seeds) > 1 else f"pooled scores, seed {seeds[0] if seeds else '?'}"
    return ("\n".join(lines) + "\n\n"
            f"{_code(summary['model'])} on {_code(summary['dataset'])}, {_text(summary.get('profile', '?'))} profile ({scores}). ΔUF1: "
            f"the variant's UF1 minus the honest UF1 of the same seed, with a {confidence:g} % percentile interval "
            f"over {_text(boot.get('resamples', '?'))} paired bootstrap resamples of {_text(resampled_text(summary))}. "
            "† a leaky variant: its scores are inflated (what leaks says how). Measured with "
            f"{_code(summary.get('command', 'merbench leakage'))} in {_text(study_time(summary))} on "
            f"{_text(environment.get('device', 'an unknown device'))}, {_text(summary.get('created', '?'))}, merbench "
            f"{_text(environment.get('merbench', '?'))}, torch {_text(environment.get('torch', '?'))}; rendered from "
            f"{_code(path)} by {_code(by)}."
            + "".join(f" Not run: {markdown_code(str(item['name']))} ({_text(item['why'])})."
                      for item in summary.get("left_out") or []))


RENDERERS: dict[str, Callable[[Baseline, Any], str]] = {
    "models": render_models, "protocols": render_protocols, "guard": render_guard, "main": render_main,
}
SUMMARY_RENDERERS: dict[str, Callable[[dict[str, Any], str], str]] = {"leakage": render_leakage}


def check_markers(text: str, where: str = "document") -> None:
    """Raise ``UsageError`` naming the line of a marker that is malformed, never closed, or closes no table
    (``render_text`` would otherwise skip that table silently, and ``--check`` would never compare it)."""
    opened = None
    for match in MARKER_LINE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if match["close"] and not match[0].startswith(CLOSING):
            raise UsageError(f"{where}, line {line}: malformed closing marker; write it as {CLOSING}")
        if match["close"] and opened is None:
            raise UsageError(f"{where}, line {line}: {CLOSING} closes no table; remove it, or add "
                             "<!-- merbench:table KIND PATH --> above the table it ends")
        if match["close"]:
            opened = None
        elif not OPENING.fullmatch(match[0]):
            raise UsageError(f"{where}, line {line}: malformed merbench:table marker; write it as "
                             "<!-- merbench:table KIND PATH --> alone on its line")
        elif opened is not None:
            raise UsageError(f"{where}, line {opened}: the merbench:table marker is not closed before the one on "
                             f"line {line}; add {CLOSING} after its table")
        else:
            opened = line
    if opened is not None:
        raise UsageError(f"{where}, line {opened}: the merbench:table marker is never closed; add {CLOSING} after its table")


def render_text(text: str, root: Path, registry: Any = None, where: str = "document") -> str:
    """``text`` with every marked table rendered anew from its baseline (paths relative to ``root``)."""
    def replace(match: re.Match) -> str:
        kind, path = match["kind"], root / match["baseline"]
        if kind not in RENDERERS and kind not in SUMMARY_RENDERERS:
            raise UsageError(f"{where}: unknown table kind '{kind}' in a merbench:table marker; use one of "
                             f"{', '.join([*RENDERERS, *SUMMARY_RENDERERS])}")
        if not path.is_file():
            what = "summary" if kind in SUMMARY_RENDERERS else "baseline"
            raise UsageError(f"{where}: the {what} {match['baseline']} named by a merbench:table marker does not exist")
        if kind in SUMMARY_RENDERERS:
            body = SUMMARY_RENDERERS[kind](load_summary(path, f"{where}: marker file"), match["baseline"])
        else:
            try:
                baseline = load_baseline(path)
            except UsageError as exc:  # worded for `regress --baseline FILE`: here the file is the marker's
                raise UsageError(f"{where}: marker file {str(exc).removeprefix('--baseline ')}") from None
            body = RENDERERS[kind](dataclasses.replace(baseline, path=Path(match["baseline"])), registry)
        return f"{match['open']}<!-- generated from {match['baseline']}: do not edit by hand -->\n{body}\n{match['close']}"

    check_markers(text, where)
    return MARKER.sub(replace, text)


def read_document(path: Path) -> str:
    """The text of the Markdown file ``path``; ``UsageError`` naming it when it cannot be read as UTF-8 text."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; give an existing Markdown file (or none: README.md and docs/*.md)") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder; give the Markdown files in it (e.g. {path}/*.md)") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 or leave it out") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror}); check that it is a readable file") from None


def stale_files(files: list[Path], root: Path, registry: Any = None) -> list[Path]:
    """The files whose marked tables differ from what their baselines render."""
    stale = []
    for path in files:
        text = read_document(path)
        if render_text(text, root, registry, str(path)) != text:
            stale.append(path)
    return stale
