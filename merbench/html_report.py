"""The HTML report: one self-contained page a researcher can send to a colleague.

The page holds the comparison table (paper-reported scores beside the measured
ones, leakage marks), a table per dataset, and for each shown run its per-fold
table, confusion matrix, figures (PNG as ``data:`` URIs), leakage audit and
provenance (configuration, versions, git commit, device, seed). Its only script
and style sheet are inline and pinned by hash in a Content-Security-Policy that
allows nothing from the network. Every text from a result is HTML-escaped.
Each table scrolls sideways in its own box (a narrow window keeps the page's
width), and names and ids in its cells are never broken over lines.
The script makes table columns sortable and marks figures the browser could
not decode; it sets ``data-sortable="ready"`` on each table it prepared and
``data-figures-shown`` on ``<body>`` once the page has loaded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

from merbench import __version__
from merbench.compare import METRIC_NAMES, Comparison, cell_text, pct, reported_pct, shown_runs
from merbench.environment import FILES_KEY
from merbench.escaping import html_text as esc, note_data, with_commands
from merbench.leakage_summary import study_time
from merbench.leaks import LEAKS, describe, result_leaks
from merbench.report import (COLUMNS, REPORTED_METRICS, kept_warnings, leakage_caption, leakage_inflation,
                             last_of_setting, leakage_lines, summary_seeds, leakage_what, measured_label,
                             reported_leak_note, reported_leaks, reported_rows, reported_sources, reported_title, sample_count,
                             seed_label, time_text, train_test_domains)
from merbench.result import RunResult, threads_phrase, trained_how
from merbench.wording import counted, no_subject_shared, paper_points

SHORT = dict(COLUMNS)
LEGEND = {
    "Acc": "accuracy",
    "P": "macro precision (scikit-learn)",
    "R": "macro recall (scikit-learn)",
    "F1": "macro F1 (scikit-learn)",
    "wF1": "support-weighted F1",
    "UF1": "MEGC2019 unweighted F1: the mean of each class's F1 over the classes present in the true labels, on "
           "predictions pooled over all folds (per fold: over the classes in that fold's true labels; macro F1 "
           "averages over the true and the predicted classes, so a fold's UF1 and F1 differ when it predicts a "
           "class it does not hold)",
    "UAR": "MEGC2019 unweighted average recall: the mean recall over the classes present in the true labels",
    "reported": "the score the model's paper published (from the model plugin's metadata), for reference only; "
                "never a result of this benchmark",
    "†": "leakage warning: the protocol is not subject-independent, frames of one clip are in training and test, "
         "or model selection or normalisation used test data (docs/leakage.md); scores are inflated and must not "
         "be compared with honest ones",
}

TITLE_MODELS = 4
"""The models a page's title names (the rest are counted): a browser tab or window list shows a few words."""

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;margin:0 auto;max-width:1180px;padding:16px 24px 40px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:2px solid #d5dae3;padding-bottom:3px}
h3{font-size:15px;margin:18px 0 6px}p.meta,p.note{color:#5a6475;margin:4px 0}
p,li,dd,caption,figcaption,h1,h2,h3{overflow-wrap:anywhere}code{white-space:nowrap}
nav ul{margin:4px 0;padding-left:20px}
/* each table scrolls on its own; a shadow at an edge shows that more of it lies past that edge */
div.scroll{overflow-x:auto;max-width:100%;background:
 linear-gradient(to right,#fff 30%,#fff0) left/32px 100% no-repeat local,
 linear-gradient(to left,#fff 30%,#fff0) right/32px 100% no-repeat local,
 radial-gradient(farthest-side at 0 50%,#0003,#0000) left/12px 100% no-repeat scroll,
 radial-gradient(farthest-side at 100% 50%,#0003,#0000) right/12px 100% no-repeat scroll}
table{border-collapse:collapse;margin:6px 0 4px;font-variant-numeric:tabular-nums}
th,td{padding:3px 9px;border-bottom:1px solid #dde1e8;text-align:right;white-space:nowrap}
th{background:#f1f3f7;font-weight:600}th:first-child,td:first-child,td.text,th.text{text-align:left}
td.prose{white-space:normal;min-width:16em}
table.sortable thead th{cursor:pointer;user-select:none}
table.sortable thead th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
table.sortable thead th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
tfoot td{font-weight:600;background:#fafbfc}
td.reported,th.reported{color:#5a6475;font-style:italic}
td.leak{color:#b3261e}.best{font-weight:700}
.hidden-text{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
.warning{border-left:4px solid #b3261e;background:#fdf0ef;padding:6px 10px;margin:8px 0}
.warning.kept{border-left-color:#b26a00;background:#fff6e5}
.figures{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:6px 0}figure img{max-width:100%;height:auto;border:1px solid #e3e6ec}
caption{caption-side:bottom;text-align:left;font-size:12px;color:#5a6475;padding-top:3px}
figcaption{font-size:12px;color:#5a6475}figure.broken figcaption::before{content:"figure could not be shown: ";color:#b3261e}
td.c0{background:#f7fbff}td.c1{background:#c6dbef}td.c2{background:#6baed6}td.c3{background:#2171b5;color:#fff}
td.c4{background:#08306b;color:#fff}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:6px 0}dt{color:#5a6475}dd{margin:0}
pre{background:#f6f7f9;padding:8px;overflow:auto;font-size:12px}
footer{margin-top:32px;border-top:1px solid #d5dae3;padding-top:8px;color:#5a6475;font-size:13px}
"""

SCRIPT = """
(function () {
  "use strict";
  function key(cell) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null) { raw = cell.textContent.trim(); }
    if (raw === "" || raw === "\u2014") { return null; }  // no value (a dash): last, whichever the order
    var number = Number(raw);
    return isNaN(number) ? raw.toLowerCase() : number;
  }
  function compare(a, b) {
    if (a === null || b === null) { return a === b ? 0 : (a === null ? 1 : -1); }
    if (typeof a !== typeof b) { return typeof a === "number" ? -1 : 1; }
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  function prepare(table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (head, index) {
      head.tabIndex = 0;
      head.title = "sort by this column";
      head.setAttribute("aria-sort", "none");
      function sort() {
        var body = table.tBodies[0];
        var descending = head.getAttribute("aria-sort") === "ascending";
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var order = compare(key(a.cells[index]), key(b.cells[index]));
          return descending && key(a.cells[index]) !== null && key(b.cells[index]) !== null ? -order : order;
        });
        Array.prototype.forEach.call(heads, function (other) { other.setAttribute("aria-sort", "none"); });
        head.setAttribute("aria-sort", descending ? "descending" : "ascending");
        rows.forEach(function (row) { body.appendChild(row); });
      }
      head.addEventListener("click", sort);
      head.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
    table.setAttribute("data-sortable", "ready");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), prepare);
  window.addEventListener("load", function () {
    var shown = 0;
    Array.prototype.forEach.call(document.querySelectorAll("figure img"), function (image) {
      if (image.complete && image.naturalWidth > 0) { shown += 1; } else { image.parentNode.classList.add("broken"); }
    });
    document.body.setAttribute("data-figures-shown", String(shown));
  });
}());
"""


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _td(text: Any, sort: float | None = None, cls: str = "") -> str:
    """A cell showing ``text``, sorted by ``sort`` (default: its text; NaN or infinity: no value, sorted last)."""
    if sort is None:
        key = ""
    elif math.isfinite(float(sort)):
        key = f' data-sort="{float(sort)!r}"'
    else:
        key = ' data-sort=""'
    attrs = key + (f' class="{cls}"' if cls else "")
    return f"<td{attrs}>{esc(text)}</td>"


class _Page:
    """Collects the page's parts and the table columns it used (the footer explains only those)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.used: set[str] = set()
        self.figures = 0

    def add(self, *parts: str) -> None:
        self.parts.extend(parts)

    def table(self, headers: Sequence[tuple[str, str]], rows: Iterable[str], foot: Iterable[str] = (),
              caption: str = "", sortable: bool = True) -> None:
        """A table; ``headers`` are (text, class) pairs; ``rows``/``foot`` are ready ``<tr>`` strings."""
        self.used.update(text for text, _ in headers if text in LEGEND)
        head = "".join(f'<th scope="col" class="{cls}">{esc(text)}</th>' if cls else f'<th scope="col">{esc(text)}</th>'
                       for text, cls in headers)
        foot = list(foot)
        # Each table scrolls sideways in its own box: a wide one never widens the page past its other parts.
        self.add('<div class="scroll">' + ('<table class="sortable">' if sortable else "<table>"),
                 f"<caption>{esc(caption)}</caption>" if caption else "",
                 f"<thead><tr>{head}</tr></thead>", "<tbody>", *rows, "</tbody>",
                 ("<tfoot>" + "".join(foot) + "</tfoot>") if foot else "", "</table></div>")

    def figure(self, png: bytes, alt: str, caption: str) -> None:
        self.figures += 1
        data = base64.b64encode(png).decode("ascii")
        size = ""
        if png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) >= 24:
            # Shown at 3/4 of its pixel size: sharp on high-density screens, not oversized elsewhere.
            width, height = (int.from_bytes(png[at:at + 4], "big") for at in (16, 20))
            size = f' width="{width * 3 // 4}" height="{height * 3 // 4}"'
        self.add(f'<figure><img src="data:image/png;base64,{data}"{size} alt="{esc(alt)}">'
                 f"<figcaption>{esc(caption)}</figcaption></figure>")


def _comparison_section(page: _Page, comparison: Comparison) -> None:
    headers = [("Model", "")]
    for dataset, protocol in comparison.columns:
        headers.append((f"{dataset} · {protocol}", ""))
        if comparison.has_reported((dataset, protocol)):
            headers.append(("reported", "reported"))
    rows = []
    for model in comparison.models:
        cells = [_td(model, cls="text")]
        for column in comparison.columns:
            cell = comparison.cells.get((model, column))
            if cell is None:
                cells.append('<td data-sort=""></td>')
            else:
                mark = " †" if cell.warnings else ""
                cls = " ".join(c for c, on in (("best", cell.best), ("leak", bool(cell.warnings))) if on)
                shown = _td(cell_text(cell) + mark, cell.mean, cls)
                if cell.best:  # bold is not read out, nor copied: the words are, for screen readers and pastes
                    shown = shown.replace("</td>", '<span class="hidden-text"> (best in column)</span></td>')
                cells.append(shown)
                page.used.update({"†"} if mark else set())
            if comparison.has_reported(column):
                value = cell.reported if cell is not None else None
                # A paper's score under a protocol that is not subject-independent is inflated as a measured one is.
                mark = " †" if value is not None and not cell.subject_independent else ""
                cells.append(_td(reported_pct(value) + mark if value is not None else "", value,
                                 "reported leak" if mark else "reported"))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    # The reported note (as md, LaTeX and compare give it) names the papers and says how they averaged.
    reported = comparison.reported_note("†", " only")
    page.add('<section id="comparison"><h2>Comparison</h2>',
             f'<p class="note">{esc(comparison.description[0].upper() + comparison.description[1:])}. '
             + ("Best per column in bold. " if any(c.best for c in comparison.cells.values()) else "")
             + (f"{esc(reported)} " if reported else "")
             + "".join(f"{_with_code(note)} " for note in comparison.notes())
             + "Click a column heading to sort.</p>")
    page.table(headers, rows, caption=f"Models (rows) on each dataset and protocol (columns): "
               f"{comparison.description}.")
    warnings = comparison.warnings()
    if warnings:
        page.add('<ul class="leakage">', *(f"<li>† {esc(w)}</li>" for w in warnings), "</ul>")
    page.add("</section>")


def _with_code(note: str) -> str:
    """A note, escaped, with each command it names in backticks as ``<code>`` (the backticks are Markdown's)."""
    return with_commands(note, esc, lambda command: f"<code>{esc(command)}</code>")


KEPT_COMMAND = re.compile(r"(`merbench [^`]*`)")
"""A command a run's warning names in backticks, as ``escaping.COMMAND_SPAN`` finds one in a note."""


def _kept_warning(warning: str) -> str:
    """A warning the run kept, escaped, as ``merbench show`` prints it (its text is not a note: its backslashes and
    backticks are the data's own), with each command it names in backticks as ``<code>``."""
    parts = KEPT_COMMAND.split(warning)  # odd positions: the commands
    return _with_code("".join(part if index % 2 else note_data(part) for index, part in enumerate(parts)))


def _metric_keys(result: RunResult) -> list[str]:
    return [key for key, _ in COLUMNS if key in result.pooled]


def _seeded(result: RunResult, text: str) -> str:
    """``text`` with `` · seed 0 (of 3 seeds)`` for a ``--seeds N`` run (what it shows is its first seed's)."""
    label = seed_label(result)
    return f"{text} · {label}" if label else text


def _dataset_section(page: _Page, runs: Sequence[RunResult], anchors: dict[int, str], labels: dict[int, str]) -> None:
    seeded = any(run.across_seeds is not None for run in runs)
    page.add('<section id="datasets"><h2>Per dataset</h2>',
             '<p class="note">Scores on predictions pooled over all folds, in %.'
             + (" A run repeated over seeds (--seeds N) is shown here by its first seed, as its row says; its "
                "comparison cell and its table of pooled scores over seeds cover every seed." if seeded else "")
             + "</p>")
    for dataset in dict.fromkeys(run.dataset for run in runs):
        on_dataset = [run for run in runs if run.dataset == dataset]
        keys = [key for key, _ in COLUMNS if all(key in run.pooled for run in on_dataset)]
        headers = [("Model", ""), ("Protocol", "text"), ("Subject-independent", "text"), ("Clips tested", ""),
                   ("Subjects", ""), ("Folds", ""), *((SHORT[key], "") for key in keys)]
        rows = []
        for run in on_dataset:
            leak = not run.subject_independent
            other = [kind for kind in result_leaks(run) if kind != "subjects"]  # test-fold selection, normalisation, clips
            page.used.update({"†"} if leak or other else set())
            domains = train_test_domains(run)
            named = f"{run.protocol} (trained on {domains[0]}, tested on {domains[1]})" if domains else run.protocol
            protocol = _td(f"{named} †", cls="text leak") if other else _td(named, cls="text")
            seed = f" · {esc(seed_label(run))}" if run.across_seeds is not None else ""
            rows.append("<tr>" + f'<td class="text"><a href="#{anchors[id(run)]}">{esc(labels[id(run)])}</a>{seed}</td>'
                        + protocol + _td("no †" if leak else "yes", cls="text leak" if leak else "text")
                        + _td(run.n_clips_tested, run.n_clips_tested) + _td(run.n_subjects, run.n_subjects)
                        + _td(len(run.folds), len(run.folds))
                        + "".join(_td(pct(run.pooled[key]), run.pooled[key]) for key in keys) + "</tr>")
        page.add(f"<h3>{esc(dataset)}</h3>")
        page.table(headers, rows, caption=f"Runs on {dataset}: scores pooled over all folds, in %.")
    page.add("</section>")


def _fold_table(page: _Page, result: RunResult) -> None:
    keys = _metric_keys(result)
    headers = [("Fold", ""), ("n", ""), *((SHORT[key], "") for key in keys), ("Test subjects", "text")]
    rows = ["<tr>" + _td(fold.fold + 1, fold.fold + 1) + _td(fold.n_test, fold.n_test)
            + "".join(_td(pct(fold.metrics[key]), fold.metrics[key]) for key in keys)
            + _td(", ".join(str(s) for s in fold.test_subjects), cls="text") + "</tr>"
            for fold in result.folds]
    foot = []
    one_fold = len(result.folds) == 1  # one fold has no spread: a dash, not 0.0
    for label, scores, note in (("mean", result.fold_mean, "over folds"),
                                ("std", result.fold_std, "one fold: no spread" if one_fold else ""),
                                ("pooled", result.pooled, "all folds' predictions")):
        n = str(result.n_tested) if label == "pooled" else ""
        cells = ("—" if label == "std" and one_fold else pct(scores[key]) for key in keys)
        foot.append("<tr>" + _td(label) + _td(n) + "".join(_td(cell) for cell in cells) + _td(note, cls="text") + "</tr>")
    page.add(f"<h3>{esc(_seeded(result, 'Per fold'))}</h3>")
    page.table(headers, rows, foot, caption="Scores in %; sorting moves the folds only.")


def _confusion_table(page: _Page, result: RunResult) -> None:
    matrix = result.confusion_matrix
    top = max((count for row in matrix for count in row), default=0) or 1
    headers = [("true \\ predicted", ""), *((str(name), "") for name in result.classes)]
    rows = ["<tr>" + _td(name, cls="text") + "".join(_td(count, cls=f"c{min(4, int(5 * count / top))}") for count in row)
            + "</tr>" for name, row in zip(result.classes, matrix)]
    page.add(f"<h3>{esc(_seeded(result, 'Confusion matrix'))}</h3>")
    page.table(headers, rows, caption="Pooled over all folds; rows: true class, columns: predicted class.", sortable=False)


def _reported_table(page: _Page, result: RunResult) -> None:
    reported = result.reported or []
    if not reported:
        return
    rows = reported_rows(result)
    metrics = [m for m in REPORTED_METRICS if any(m in row[3] for row in rows)]
    # Several sources are numbered, and each reported row names its own, as the terminal's Source column does.
    sources = reported_sources(reported)
    numbered = len(sources) > 1
    headers = [("Dataset", ""), ("Protocol", "text"), ("Scores", "text"),
               *((SHORT[REPORTED_METRICS[m]], "") for m in metrics), *([("Source", "")] if numbered else [])]
    leaks = {row[1]: reported_leaks(result, row[1]) for row in rows}
    note = reported_leak_note(leaks, "†")
    measured, coverage = measured_label(result)
    lines = []
    shown_measured = False
    leaked = bool(result_leaks(result))  # the run itself leaked: its measured row is marked
    for index, (dataset, protocol, source, scores) in enumerate(rows):
        shown = _td(f"{protocol} †", cls="text leak") if leaks[protocol] else _td(protocol, cls="text")
        lines.append("<tr>" + _td(dataset, cls="text") + shown + _td("reported", cls="text reported")
                     + "".join(_td(paper_points(scores[m]) if m in scores else "—", cls="reported") for m in metrics)
                     + (_td(sources.index(source) + 1) if numbered else "") + "</tr>")
        if dataset == result.dataset and protocol == result.protocol and last_of_setting(rows, index):
            shown_measured = True
            lines.append("<tr>" + _td(dataset, cls="text") + shown
                         + _td(_seeded(result, measured) + (" †" if leaked else ""), cls="text leak" if leaked else "text")
                         + "".join(_td(pct(result.pooled[REPORTED_METRICS[m]])) for m in metrics)
                         + (_td("") if numbered else "") + "</tr>")
    page.used.add("reported")
    page.used.update({"†"} if note or (shown_measured and leaked) else set())
    # Sentences, each ended once: a source or the leak note may end in a full stop of its own.
    sentences = ["In %", ("Sources: " + "; ".join(f"{n}: {text}" for n, text in enumerate(sources, 1))) if numbered
                 else sources[0], note,
                 # why the measured row is not comparable: only under a measured row
                 coverage.removeprefix(". ") if shown_measured else ""]
    page.add(f"<h3>{esc(reported_title(result))} vs measured here</h3>")
    page.table(headers, lines, caption=" ".join(f"{sentence.rstrip('.')}." for sentence in sentences if sentence),
               sortable=False)


def _fact_text(value: Any) -> str:
    """An environment value as the provenance list shows it: a list (``fold_devices``) one item after another, a
    mapping (``earlier_setups``) as compact JSON, any other value as its text."""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _provenance(page: _Page, result: RunResult) -> None:
    environment = dict(result.environment)
    config = result.config
    plan = result.engine_plan or {}
    chain = (result.preprocess or {}).get("chain") or []
    facts = [
        ("run id", result.run_id or "—"),
        ("git commit", environment.pop("git_commit", None) or "unknown"),
        ("device", environment.pop("device", None) or "unknown"),
        ("seed", result.seed_shown if result.across_seeds is None
         else f"{result.seed_shown}, the first of {result.across_seeds.n} seeds "
              f"({', '.join(str(run.seed) for run in result.seeds or [])})"),
        ("profile", result.profile or config.get("profile", "—")),
        ("preprocessing", " → ".join(f"{s.get('name')} v{s.get('version')}" for s in chain) or "—"),
        ("folds trained", (trained_how(str(plan["description"])) if plan.get("description") else "—")
         + (f", {threads_phrase(plan)}" if "threads_per_fold" in plan else "")),
        ("time", time_text(result, device=False)),
    ]
    plugins = environment.pop("plugins", {}) or {}
    files = environment.pop(FILES_KEY, {}) or {}
    facts += [(name, _fact_text(value)) for name, value in environment.items()]
    facts += [(f"plugin {name}", provider) for name, provider in plugins.items()]
    facts += [(f"file {name}", f"{record.get('path')} (sha256 {record.get('sha256')}, {record.get('bytes')} bytes)"
               if isinstance(record, dict) else _fact_text(record)) for name, record in files.items()]
    page.add("<h3>Provenance</h3><dl>", *(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts), "</dl>",
             "<details><summary>Configuration (resolved)</summary>",
             f"<pre>{esc(json.dumps(config, indent=2, sort_keys=True, default=str))}</pre></details>")


def _run_section(page: _Page, result: RunResult, anchor: str, metric: str,
                 draw: Callable[[RunResult, str], tuple[bytes, bytes]], label: str) -> None:
    title = f"{label} on {result.dataset} · {result.protocol}"
    domains = train_test_domains(result)
    tested = (f" · trained on {esc(domains[0])}, tested on {esc(domains[1])} ({counted(result.n_tested, 'clip')})"
              if domains else "")
    page.add(f'<section id="{anchor}"><h2>{esc(title)}</h2>',
             f'<p class="meta">Run {esc(result.run_id or "—")} · {esc(sample_count(result))}, '
             f'{esc(counted(result.n_subjects, "subject"))}, {counted(result.folds, "fold")}{tested} · classes: '
             f'{esc(", ".join(str(c) for c in result.classes))}</p>')
    if result.across_seeds is not None:
        page.add(f'<p class="note">Repeated over {esc(result.across_seeds.n)} seeds. The figures, the per-fold table, '
                 f"the confusion matrix and the measured scores below are those of {esc(seed_label(result))}, the "
                 f"first; the table of pooled scores over {esc(result.across_seeds.n)} seeds and the comparison "
                 "cell cover every seed.</p>")
    if not result.subject_independent:
        page.used.add("†")
        if result.leakage is not None and result.leakage.subject_overlap_folds == 0:  # as compare and show say it
            page.add(f'<p class="warning">† Not subject-independent by design: in this run '
                     f"{esc(no_subject_shared(len(result.folds)))}. Its scores must not be compared with "
                     "subject-independent results.</p>")
        else:
            page.add('<p class="warning">† Not subject-independent: clips of the same subject are in training and '
                     "test. Scores are inflated and must not be compared with subject-independent results.</p>")
    other = [kind for kind in result_leaks(result) if kind != "subjects"]
    if other:
        page.used.add("†")
        page.add(f'<p class="warning">† Leakage: {esc(describe(other))}. Scores are inflated and must not be '
                 "compared with honest results (docs/leakage.md).</p>")
    if result.leakage is not None:
        page.add(f'<p class="note">{esc(leakage_lines(result))}</p>')
    # What the run warned of when it ran, as merbench show prints it again (an option without effect, a data issue):
    # amber, not the red of a leak, as the terminal prints it in yellow.
    page.add(*(f'<p class="warning kept">Warning: {_kept_warning(warning)}</p>' for warning in kept_warnings(result)))
    confusion, folds = draw(result, metric)
    page.add('<div class="figures">')
    page.figure(confusion, f"confusion matrix of {title}", _seeded(result, "Confusion matrix, pooled over all folds"))
    page.figure(folds, f"{metric} per fold of {title}",
                _seeded(result, f"{METRIC_NAMES.get(metric, metric)} per fold; dashed: fold mean"))
    page.add("</div>")
    _fold_table(page, result)
    _confusion_table(page, result)
    if len(result.per_domain) > 1:
        rows = ["<tr>" + _td(domain, cls="text") + "".join(_td(pct(s[k]), s[k]) for k in ("uf1", "uar", "accuracy")) + "</tr>"
                for domain, s in result.per_domain.items()]
        page.add(f"<h3>{esc(_seeded(result, 'Per domain (pooled)'))}</h3>")
        page.table([("Domain", ""), ("UF1", ""), ("UAR", ""), ("Acc", "")], rows)
    across = result.across_seeds
    if across is not None:
        keys = _metric_keys(result)
        rows = ["<tr>" + _td(run.seed, run.seed) + "".join(_td(pct(run.pooled[k]), run.pooled[k]) for k in keys)
                + "</tr>" for run in result.seeds or []]
        foot = ["<tr>" + _td(label) + "".join(_td(pct(scores[k])) for k in keys) + "</tr>"
                for label, scores in (("mean", across.mean), ("std", result.seeds_std()))]
        page.add(f"<h3>Pooled scores over {esc(across.n)} seeds</h3>")
        page.table([("Seed", ""), *((SHORT[k], "") for k in keys)], rows, foot,
                   caption="In %. std: the sample standard deviation over the seeds (n − 1), as merbench show, "
                   "regress and the README report it; the std of the per-fold table is over folds (n).")
    _reported_table(page, result)
    _provenance(page, result)
    page.add('<p class="note"><a href="#top">back to the top</a></p></section>')


def _figures(result: RunResult, metric: str, row: str | None = None) -> tuple[bytes, bytes]:
    from merbench.figures import confusion_png, folds_png

    return confusion_png(result, row), folds_png(result, metric, row)


def render_report(comparison: Comparison, results: Sequence[RunResult], metric: str | None = None,
                  draw: Callable[[RunResult, str], tuple[bytes, bytes]] | None = None) -> str:
    """The report page of ``comparison`` and the runs behind its cells (``results``: oldest first).

    ``metric`` is the one drawn per fold (default: the comparison's); ``draw`` gives a run's
    confusion-matrix and per-fold PNGs (default: ``merbench.figures``', titled with the run's row).
    """
    metric = metric or comparison.metric
    runs = shown_runs(comparison)
    anchors = {id(run): f"run-{i + 1}" for i, run in enumerate(runs)}
    # Each run is named by its comparison row (the model with its profile, settings or leak), as the table names it.
    labels = {id(run): row for (row, _), run in comparison.runs.items()}
    drawing = draw or (lambda result, drawn: _figures(result, drawn, labels[id(result)]))
    page = _Page()
    rows = len(comparison.models)
    models = len(dict.fromkeys(run.model for run in runs)) if runs else rows
    datasets = len(dict.fromkeys(d for d, _ in comparison.columns))
    in_rows = f" in {counted(rows, 'row')}" if rows != models else ""
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page.add('<header id="top"><h1>merbench report</h1>',
             f'<p class="meta">{counted(runs, "run")}: {counted(models, "model")}{in_rows} on {counted(datasets, "dataset")} · generated {generated} '
             f"by merbench {esc(__version__)}</p>")
    page.add('<nav><ul><li><a href="#comparison">Comparison</a></li><li><a href="#datasets">Per dataset</a></li>',
             *(f'<li><a href="#{anchors[id(run)]}">{esc(labels[id(run)])} on {esc(run.dataset)} · '
               f'{esc(run.protocol)}</a></li>' for run in runs), "</ul></nav></header>")
    _comparison_section(page, comparison)
    if runs:
        _dataset_section(page, runs, anchors, labels)
    for run in runs:
        _run_section(page, run, anchors[id(run)], metric, drawing, labels[id(run)])
    legend = [f"<li><b>{esc(name)}</b>: {esc(text)}</li>" for name, text in LEGEND.items() if name in page.used]
    page.add("<footer>", "<p>Columns and marks:</p><ul>" + "".join(legend) + "</ul>" if legend else "",
             "<p>Measured scores are computed by merbench from the runs' stored predictions. This file is complete "
             "in itself: it needs no network.</p>",
             "</footer>")
    policy = (f"default-src 'none'; img-src data:; style-src {_digest(STYLE)}; script-src {_digest(SCRIPT)}; "
              "base-uri 'none'; form-action 'none'")
    shown = comparison.models[:TITLE_MODELS]
    more = len(comparison.models) - len(shown)
    title = "merbench report: " + ", ".join(shown) + (f" and {more} more" if more else "")  # a tab shows a few words
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(part for part in page.parts if part)
        + f"\n<script>{SCRIPT}</script>\n</body></html>\n"
    )


def render_leakage_page(summary: dict[str, Any]) -> str:
    """A self-contained page of a leakage study (``merbench leakage --json``): the table, what each variant leaks,
    the runs behind each row and how the intervals were computed."""
    page = _Page()
    seeds = ", ".join(str(seed) for seed in summary_seeds(summary)) or "?"
    changed = ", ".join(str(setting) for setting in summary.get("settings_changed") or [])
    title = f"Leakage: {summary['model']} on {summary['dataset']}"
    page.add(f'<header id="top"><h1>{esc(title)}</h1>',
             f'<p class="meta">Honest protocol {esc(summary.get("protocol", "?"))} against each leaky variant · '
             f'{esc(summary.get("profile", "?"))} profile'
             + (f', options changed from it: {esc(changed)}' if changed else '')
             + f' · seeds {esc(seeds)} · {esc(summary.get("created", ""))} · '
             f"{esc(study_time(summary))}</p></header>")
    rows = []
    for variant in summary["variants"]:
        gain = variant.get("inflation") or {}
        leak = variant["name"] != "honest"
        page.used.update({"†"} if leak and variant.get("leaks") else set())
        name = f"{variant['name']} †" if leak and variant.get("leaks") else variant["name"]
        # The honest row has no inflation: its "—" sorts last whichever the order, as an empty cell does.
        inflation = gain.get("uf1")
        rows.append("<tr>" + _td(name, cls="text leak" if leak else "text")
                    + _td(leakage_what(variant), cls="text prose")
                    + "".join(_td(pct(variant[key]), variant[key]) for key in ("uf1", "uar", "accuracy"))
                    + _td(leakage_inflation(variant, summary), math.nan if inflation is None else inflation) + "</tr>")
    confidence = 100 * float((summary.get("bootstrap") or {}).get("confidence", 0.95))
    page.add('<section id="variants"><h2>Variants</h2>')
    page.table([("Variant", "text"), ("What leaks", "text"), ("UF1", ""), ("UAR", ""), ("Acc", ""),
                (f"ΔUF1 [{confidence:g} % CI]", "")], rows, caption=leakage_caption(summary))
    kinds = [kind for variant in summary["variants"] for kind in variant.get("leaks", [])]
    page.add("<h3>What each leak is</h3><ul>",
             *(f"<li><b>{esc(kind)}</b>: {esc(LEAKS.get(kind, kind))}</li>" for kind in dict.fromkeys(kinds)),
             "</ul><p class=\"note\">Why each one inflates scores and where published numbers use it: docs/leakage.md "
             "in the merbench repository.</p></section>")
    run_rows = ["<tr>" + _td(variant["name"], cls="text") + _td(run["seed"], run["seed"]) + _td(run.get("run_id") or "—", cls="text")
                + _td(run["n_samples"], run["n_samples"]) + "".join(_td(pct(run[key]), run[key]) for key in ("uf1", "uar", "accuracy"))
                + _td(f"{run['seconds']:.1f}", run["seconds"]) + "</tr>"
                for variant in summary["variants"] for run in variant["runs"]]
    page.add('<section id="runs"><h2>Runs</h2>')
    page.table([("Variant", "text"), ("Seed", ""), ("Run", "text"), ("Samples", ""), ("UF1", ""), ("UAR", ""),
                ("Acc", ""), ("Seconds", "")], run_rows,
               caption="Each run is in the results store (merbench show RUN_ID) unless the study ran with --no-store.")
    page.add("</section>")
    boot = summary.get("bootstrap") or {}
    environment = summary.get("environment") or {}
    page.add('<section id="provenance"><h2>Provenance</h2><dl>',
             *(f"<dt>{esc(label)}</dt><dd>{esc(value)}</dd>" for label, value in (
                 ("command", summary.get("command", "")), ("bootstrap", boot.get("method", "")),
                 ("device", environment.get("device", "")), ("merbench", environment.get("merbench", "")),
                 ("torch", environment.get("torch", "")), ("git commit", environment.get("git_commit", "")))
               if value),
             "</dl></section>")
    legend = [f"<li><b>{esc(name)}</b>: {esc(text)}</li>" for name, text in LEGEND.items() if name in page.used]
    page.add("<footer>", "<p>Columns and marks:</p><ul>" + "".join(legend) + "</ul>" if legend else "",
             "<p>Scores are computed by merbench from the runs' predictions. This file is complete in itself: it "
             "needs no network.</p>", "</footer>")
    policy = (f"default-src 'none'; img-src data:; style-src {_digest(STYLE)}; script-src {_digest(SCRIPT)}; "
              "base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc('merbench ' + title)}</title>\n<style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(part for part in page.parts if part)
        + f"\n<script>{SCRIPT}</script>\n</body></html>\n"
    )
