"""Writing a ``Comparison`` as Markdown, CSV, JSON, LaTeX or HTML.

CSV and JSON hold one record per cell with fractions (0..1) as stored, for
scripts; Markdown, LaTeX and HTML hold the paper-style table in % with the best
value of each column in bold, leakage warnings marked with a dagger and listed
under the table, and lines saying which metric and averaging it shows and which
profile(s) the runs ran with (rows name their profile when there are several). HTML is
the full report of ``merbench.html_report`` (figures, per-fold tables, provenance).
Files are written atomically, with the user's umask.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

from merbench.compare import Comparison, cell_text, one_line, reported_pct
from merbench.errors import UsageError
from merbench.escaping import (latex_escape, markdown_cell, markdown_code, note_data, note_text, printable_line,
                               with_commands)
from merbench.html_report import render_report
from merbench.outputs import write_output
from merbench.result import RunResult

FORMATS = ("md", "csv", "json", "latex", "html")
SUFFIXES = {".md": "md", ".markdown": "md", ".csv": "csv", ".json": "json", ".tex": "latex", ".latex": "latex",
            ".html": "html", ".htm": "html"}
"""The format of each file suffix."""
SUFFIX_OF = {fmt: suffix for suffix, fmt in reversed(SUFFIXES.items())}
"""The suffix of each format (the first one ``SUFFIXES`` gives it), for a file name a message suggests."""
RECORD_FIELDS = ("model", "row", "dataset", "protocol", "metric", "stat", "mean", "std", "best", "reported", "reported_source",
                 "subject_independent", "warnings", "run_id", "n_runs", "profile", "settings", "seeds", "software")
CSV_FIELDS = (*RECORD_FIELDS, "notes")
"""A CSV row is a record and the notes under the table that concern its cell (``cell_notes``): a CSV has no
place under its table, and a row is read alone."""


def _header(comparison: Comparison) -> list[str]:
    header = ["Model"]
    for column in comparison.columns:
        header.append(f"{column[0]} · {column[1]}")
        if comparison.has_reported(column):
            header.append("reported")
    return header


def _rows(comparison: Comparison, escape: Callable[[str], str], bold: Callable[[str], str], mark: str) -> list[list[str]]:
    """The table's rows, each cell's data text passed through ``escape`` before merbench's own markup is added:
    ``mark`` after a value with a leakage warning, and after a reported score under a protocol that is not
    subject-independent (inflated as a measured one is, as ``compare`` and the HTML report mark it), and ``bold``
    around the best value of its column."""
    rows = []
    for model in comparison.models:
        row = [escape(model)]
        for column in comparison.columns:
            cell = comparison.cells.get((model, column))
            text = ""
            if cell is not None:
                text = escape(cell_text(cell)) + (mark if cell.warnings else "")
                text = bold(text) if cell.best else text
            row.append(text)
            if comparison.has_reported(column):
                reported = ""
                if cell is not None and cell.reported is not None:
                    reported = escape(reported_pct(cell.reported)) + ("" if cell.subject_independent else mark)
                row.append(reported)
        rows.append(row)
    return rows


def _footer(comparison: Comparison) -> list[str]:
    """The notes under the table, as ``Comparison.notes`` writes them (for ``with_commands``); they explain only the
    columns and marks the table has, and name where the reported scores come from."""
    line = f"Values: {comparison.description}."
    reported = comparison.reported_note("†")
    if reported:
        line += f" {reported}"
    return [note_data(line)] + comparison.notes() + [note_data(f"† {warning}") for warning in comparison.warnings()]


def _legend(comparison: Comparison, best: str, dagger: str) -> str:
    """What the table's marks mean, only those it holds: ``best`` (bold cells) and ``dagger`` (a leakage warning, or a
    published score that is not subject-independent), as ``"best; dagger."``; ``""`` for none."""
    cells = comparison.cells.values()
    marks = [text for text, shown in (
        (best, any(cell.best for cell in cells)),
        (dagger, any(cell.warnings or (cell.reported is not None and not cell.subject_independent) for cell in cells)),
    ) if shown]
    return f"{'; '.join(marks)}." if marks else ""


def to_markdown(comparison: Comparison) -> str:
    """A GitHub-flavoured Markdown table plus notes, the first saying what bold and † mean (as LaTeX's caption)."""
    header = _header(comparison)
    lines = ["| " + " | ".join(markdown_cell(h) for h in header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(comparison, markdown_cell, lambda t: f"**{t}**", " †")]
    legend = _legend(comparison, "Best per column in **bold**", "†: leakage warning")
    notes = [legend] if legend else []
    notes += (with_commands(line, markdown_cell, lambda command: markdown_code(command, table=False))
              for line in _footer(comparison))
    return "\n".join(lines) + "\n\n" + "\n".join(f"{note}  " for note in notes) + "\n"


FORMULA_STARTS = ("=", "+", "-", "@")
"""What makes a spreadsheet read a CSV cell as a formula (OWASP's list, whose tab and carriage return ``csv_text``
writes as ``\\x09`` and ``\\x0d``): such text cells get a leading ``'``."""


def csv_text(value: Any) -> Any:
    """A CSV cell: text on one line with control characters shown as ``\\xNN`` (as every other format shows them),
    and a leading ``'`` where a spreadsheet would run it as a formula (``=cmd|' /C calc'!A0`` from a plugin's
    reported source); numbers, booleans and empty cells as they are."""
    if not isinstance(value, str):
        return value
    text = printable_line(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def to_csv(comparison: Comparison) -> str:
    """One CSV row per cell (fractions 0..1) with its ``notes`` (``cell_notes``), UTF-8 without a byte-order mark;
    text cells as ``csv_text`` gives."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in comparison.records():
        notes = cell_notes(comparison, (record["row"], (record["dataset"], record["protocol"])))
        writer.writerow({key: csv_text(value) for key, value in {**record, "notes": notes}.items()})
    return buffer.getvalue()


def cell_notes(comparison: Comparison, key: tuple[str, tuple[str, str]]) -> str:
    """The notes under the table that concern the cell at ``key`` (row, column), as plain text in the words of the
    other formats: other published scores of its setting, the paper's score withheld beside it, no score or no std,
    no best in its column; ``""`` for none. What the notes say of every run (profile, settings, seeds) and the
    leakage warnings have columns of their own."""
    alone = dataclasses.replace(comparison, cells={key: comparison.cells[key]},
                                unlike_data=[column for column in comparison.unlike_data if column == key[1]])
    notes = (alone.data_note(), alone.no_score_note(), alone.no_spread_note(), alone.withheld_note(),
             alone.other_reported_note())
    return " ".join(note_text(note) for note in notes if note)


def comparison_document(comparison: Comparison) -> dict[str, Any]:
    """The comparison as one JSON object, the same from ``compare --json``, ``report --format json`` and ``grid
    --json``: metric, stat, description, profiles, the settings every run changed from its profile's defaults, the
    notes under the table, the rows' and columns' names, one record per cell (``rows``), the warnings and the ids of
    the older runs no cell shows (``hidden_runs``: each cell shows the run that finished last)."""
    return {
        "metric": comparison.metric,
        "stat": comparison.stat,
        "description": comparison.description,
        "profiles": comparison.profiles,
        "common_settings": list(comparison.common_settings),
        "notes": [note_text(note) for note in comparison.notes()],
        "models": comparison.models,
        "columns": [{"dataset": d, "protocol": p} for d, p in comparison.columns],
        "rows": comparison.records(),
        "warnings": comparison.warnings(),
        "hidden_runs": comparison.hidden,
    }


def to_json(comparison: Comparison) -> str:
    """``comparison_document`` as indented JSON text, ending in a newline (as every text file merbench writes)."""
    return strict_json(comparison_document(comparison))


def strict_json(data: Any, sort_keys: bool = False) -> str:
    """``data`` as indented, strict JSON text ending in a newline: NaN and infinity, which JSON has not (browsers'
    ``JSON.parse`` refuses Python's ``NaN``), written as ``null``."""
    return json.dumps(_finite(data), indent=2, sort_keys=sort_keys, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float in it (in dicts and lists) replaced by ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def to_latex(comparison: Comparison) -> str:
    """A ``table`` with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    header = _header(comparison)
    legend = _legend(comparison, "Best per column in bold", r"$^\dagger$: leakage warning")
    legend = f" {legend}" if legend else ""
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(comparison.description)}.{legend}}}",
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(_latex_cell(h) for h in header) + r" \\",
        r"\midrule",
    ]
    for row in _rows(comparison, _latex_cell, lambda t: rf"\textbf{{{t}}}", r" $^\dagger$"):
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"{\footnotesize"]
    # The notes as text under the table, as Markdown and HTML list them: what each mark means, which runs leak.
    lines += [with_commands(one_line(line), latex_escape, lambda command: rf"\texttt{{{latex_escape(command)}}}")
              + r"\par" for line in _footer(comparison)]
    lines += ["}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _latex_cell(text: str) -> str:
    """``text`` for a cell of the tabular: escaped, on one line (a blank line would end the paragraph in it)."""
    return latex_escape(one_line(text))


def to_html(comparison: Comparison, results: Sequence[RunResult] = (), metric: str | None = None) -> str:
    """A self-contained HTML page: the table and notes, and per run its tables, figures and provenance
    (``merbench.html_report``)."""
    return render_report(comparison, results, metric)


WRITERS = {"md": to_markdown, "csv": to_csv, "json": to_json, "latex": to_latex, "html": to_html}


def format_for(output: Path, fmt: str | None, formats: Sequence[str] = FORMATS, what: str = "a comparison") -> str:
    """The export format: the one given, else the output file's suffix; one of ``formats``, those ``what`` is written as.

    An existing folder gets a format too (the one given, else its suffix's, else html), and is left to
    ``outputs.check_output_path`` to refuse, suggesting a file of that format (``SUFFIX_OF``) in it."""
    if fmt is not None:
        if fmt not in formats:
            raise UsageError(f"--format {fmt}: {what} is written as {', '.join(formats)}")
        return fmt
    guessed = SUFFIXES.get(output.suffix.lower())
    if output.is_dir():
        return guessed if guessed in formats else "html" if "html" in formats else formats[0]
    if guessed is None and str(output) == "-":
        raise UsageError(f"--output -: give the format of standard output with --format {'|'.join(formats)}")
    if guessed is None:
        raise UsageError(f"--output {output}: cannot tell the format from '{output.suffix}'; add --format {'|'.join(formats)}")
    if guessed not in formats:
        raise UsageError(f"--output {output}: {what} is written as {', '.join(formats)}, not {guessed}; "
                         f"choose a file ending in {', '.join('.' + f for f in formats)}")
    return guessed


def write_comparison(comparison: Comparison, output: Path | None, fmt: str,
                     results: Sequence[RunResult] = (), metric: str | None = None) -> None:
    """Write ``comparison`` in ``fmt`` to ``output``, a file checked by ``check_output_path`` (None: stdout).

    ``results`` (the runs the comparison was built from) and ``metric`` (drawn per fold) are used by html only.
    """
    text = to_html(comparison, results, metric) if fmt == "html" else WRITERS[fmt](comparison)
    write_output(output, text)
