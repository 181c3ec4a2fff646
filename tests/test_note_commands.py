"""The notes under a comparison show the commands merbench advises as code (Markdown, LaTeX, HTML), and a data name
that holds a command in backticks as written: a model named ``a`merbench x`b`` became a code span ``merbench x``
in the Markdown notes and ``\\texttt{merbench x}`` in the LaTeX ones."""

from __future__ import annotations

import io
import json
import math

import pytest
from rich.console import Console

from merbench.compare import build_comparison, comparison_table
from merbench.escaping import html_text, latex_escape, note_data, note_text, with_commands
from merbench.export import to_json, to_latex, to_markdown
from merbench.html_report import render_report
from merbench.tables import print_table
from result_samples import minimal_result

FORGED = "a`merbench x`b"
SLASHED = "c\\d`e"


@pytest.fixture()
def comparison():
    """Runs of seeds 0 and 1 (the seeds note names each model), one model's older run hidden (the hidden-runs note
    advises `merbench show ID`), one score NaN, a dataset name with a backtick."""
    nan = {"accuracy": math.nan, "uf1": math.nan, "uar": math.nan}
    results = [minimal_result(run_id="20250611-000001-000001", model=FORGED, dataset="d`s", seed=0),
               minimal_result(run_id="20250611-000002-000002", model=FORGED, dataset="d`s", seed=0),
               minimal_result(run_id="20250611-000003-000003", model=SLASHED, dataset="d`s", seed=1,
                              pooled=nan, fold_mean=nan)]
    return build_comparison(results, "uf1")


def _notes(text: str, after: str) -> str:
    return text[text.index(after):]


def test_a_name_holding_a_command_in_backticks_is_shown_as_written_in_every_format(comparison):
    seeds = f"(seed 0: {FORGED}; seed 1: {SLASHED})"
    markdown = _notes(to_markdown(comparison), "Values:")
    assert "(seed 0: a\\`merbench x\\`b; seed 1: c\\\\d\\`e)" in markdown  # as markdown_cell shows data
    assert "on d\\`s · loso" in markdown and "See it with `merbench show ID`" in markdown  # merbench's own: code
    latex = _notes(to_latex(comparison), r"\par\smallskip")
    assert latex_escape(seeds) in latex and r"\texttt{merbench x}" not in latex
    assert r"See it with \texttt{merbench show ID}" in latex
    page = render_report(comparison, [])
    assert html_text(seeds) in page and "<code>merbench x</code>" not in page
    assert "See it with <code>merbench show ID</code>" in page
    notes = " ".join(json.loads(to_json(comparison))["notes"])
    assert seeds in notes and f"{SLASHED} on d`s · loso" in notes and "See it with `merbench show ID`" in notes
    console = Console(file=io.StringIO(), width=400, color_system=None)
    print_table(console, comparison_table(comparison))
    assert seeds in " ".join(console.file.getvalue().split())


@pytest.mark.parametrize("data", ["plain", "a`merbench x`b", "back\\slash", "\\`", "``", "\\"])
def test_note_data_reads_back_as_written_and_never_as_a_command(data):
    note = f"Named {note_data(data)}; see `merbench show ID`."
    assert note_text(note) == f"Named {data}; see `merbench show ID`."
    assert with_commands(note, str.upper, lambda command: f"<{command}>") == f"NAMED {data.upper()}; SEE <merbench show ID>."


def test_a_run_s_kept_warnings_keep_their_backslashes_and_backticks_in_the_html_report():
    """A run's warning is stored as merbench show prints it, not as a note: the page showed ``\\\\nas\\mer`` as
    ``\\nas\\mer`` and a model `a\\`b` as `a`b`, undoing escapes the warning never had."""
    import html
    import re

    warning = r"frames read \\nas\mer\casme2 (2 unreadable); model `a\`b` ran; see `merbench show X`"
    result = minimal_result(run_id="20250611-000001-000001", warnings=[warning])
    page = render_report(build_comparison([result]), [result], draw=lambda result, metric: (b"", b""))
    shown = [html.unescape(re.sub(r"<[^>]+>", "", text))
             for text in re.findall(r'<p class="warning kept">(.*?)</p>', page, re.S)]
    assert shown == [f"Warning: {warning}".replace("`merbench show X`", "merbench show X")], shown
    assert "see <code>merbench show X</code>" in page
