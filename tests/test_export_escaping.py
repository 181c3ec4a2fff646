"""Data text in exported reports: control characters, Markdown pipes and line breaks, LaTeX specials and HTML
shown literally in each format (merbench.escaping), never acting on a terminal or breaking the file's structure."""

from __future__ import annotations

import json
import re

import pytest

from result_samples import minimal_result

from merbench.compare import build_comparison
from merbench.escaping import html_text, latex_escape, markdown_cell, markdown_code, printable
from merbench.export import to_latex, to_markdown
from merbench.html_report import render_report

def _columns(line: str) -> int:
    """How many cells a Markdown table line has (pipes not escaped by a backslash)."""
    return len(re.findall(r"(?<!\\)\|", line)) - 1


HOSTILE_MODEL = "net\x1b[31m|x\nrow"


@pytest.fixture()
def hostile():
    """A result whose model name holds ESC, a pipe and a line break, and its comparison."""
    result = minimal_result(model=HOSTILE_MODEL, dataset="d_50%&#")
    return result, build_comparison([result], "uf1")


def test_markdown_keeps_one_row_per_model_and_shows_control_characters(hostile):
    _, comparison = hostile
    text = to_markdown(comparison)
    assert "\x1b" not in text and r"net\\x1b\[31m\|x row" in text  # shows as net\x1b[31m|x row
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 3 and len({_columns(line) for line in table}) == 1


def test_latex_escapes_specials_and_control_characters(hostile):
    _, comparison = hostile
    text = to_latex(comparison)
    assert "\x1b" not in text and "\\textbackslash{}x1b" in text and r"d\_50\%\&\#" in text
    assert all(line.startswith("%") or not line.startswith(" ") for line in text.splitlines())


def test_latex_keeps_names_with_doubled_hyphens_quotes_and_backticks_as_written():
    """LaTeX reads `--` as a dash and two backticks or apostrophes as quotation marks: a name would print changed."""
    from merbench.escaping import latex_escape

    mark = r"\textcompwordmark{}"
    assert latex_escape("l--b``c''d,,e.csv") == rf"l-{mark}-b\textasciigrave{{}}\textasciigrave{{}}c'{mark}'d,{mark},e.csv"
    assert latex_escape("convmixer-256-8") == "convmixer-256-8" and latex_escape("a — b") == "a --- b"


@pytest.mark.filterwarnings("error::UserWarning")  # matplotlib warns of a glyph it cannot draw (the figures' titles)
def test_html_shows_control_characters(hostile):
    result, comparison = hostile
    page = render_report(comparison, [result])
    assert "\x1b" not in page and "net\\x1b[31m|x" in page


def test_rendered_leakage_table_escapes_its_cells(tmp_path):
    from merbench.rendered_tables import render_leakage

    summary = json.loads(open("benchmarks/leakage/synthetic-default-ststnet.json", encoding="utf-8").read())
    summary["model"] = HOSTILE_MODEL
    summary["protocol"] = "a|b"
    text = render_leakage(summary, "study.json")
    assert "\x1b" not in text and "(a\\|b)" in text
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len({_columns(line) for line in rows}) == 1


@pytest.mark.parametrize("escape", [printable, markdown_cell, latex_escape, html_text])
def test_every_escape_removes_terminal_control_characters(escape):
    for code in (0x00, 0x07, 0x1b, 0x7f, 0x9b):
        assert chr(code) not in escape(f"a{chr(code)}b")


MARKUP_MODEL = "ev[red]x[/red]<script>alert(1)</script>a|b50%_&#*b* ~~s~~ `c` \\|d $x$"


def _gfm():
    """A CommonMark renderer with GFM tables and strikethrough (markdown-it-py comes with rich)."""
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _body_cells(page: str) -> list[str]:
    """The contents of every ``<td>`` of a rendered page."""
    return re.findall(r"<td[^>]*>(.*?)</td>", page, re.DOTALL)


@pytest.fixture()
def marked_up():
    """A comparison whose best model has a name full of Markdown/HTML markup, and a flagged model in a second column."""
    scores = {"accuracy": 0.9, "uf1": 0.9, "uar": 0.9}
    best = minimal_result(model=MARKUP_MODEL, pooled=scores, fold_mean=scores)
    flagged = minimal_result(model="[1] ours", protocol="sample-10fold", subject_independent=False)
    return build_comparison([best, minimal_result(model="plain"), flagged], "uf1")


def test_markdown_shows_markup_in_data_literally_and_keeps_its_own(marked_up):
    text = to_markdown(marked_up)
    assert "<script>" not in text and r"ev\[red\]x\[/red\]&lt;script&gt;" in text and r"\*b\* \~\~s\~\~ \`c\`" in text
    page = _gfm().render(text)
    assert html_text(MARKUP_MODEL) in _body_cells(page) and html_text("[1] ours") in _body_cells(page)
    assert "<script>" not in page and "<em>" not in page and "<del>" not in page and "<code>" not in page
    assert "<strong>90.0 ± 0.0</strong>" in page and "50.0 ± 0.0 †" in _body_cells(page)
    assert f"† {html_text('[1] ours')} on d · sample-10fold" in page  # the note under the table too


@pytest.mark.parametrize("name", [MARKUP_MODEL, "`a`", "a``b|c\\|d", "x86_64 _a_ __b__", "**bold**", "<b>&amp;</b>"])
def test_markdown_cells_and_code_spans_render_as_the_text(name):
    page = _gfm().render(f"| code | text |\n|---|---|\n| {markdown_code(name)} | {markdown_cell(name)} |\n")
    assert _body_cells(page) == [f"<code>{html_text(name)}</code>", html_text(name)]


def test_latex_prints_angle_brackets_and_bars_and_guards_row_starts(marked_up):
    text = to_latex(build_comparison([minimal_result(model="[1] a|<b>"), minimal_result(model="*c")], "uf1"))
    assert r"{}[1] a\textbar{}\textless{}b\textgreater{} &" in text and r"{}*c &" in text
    assert not re.search(r"[|<>]", text.split(r"\midrule")[1].split(r"\bottomrule")[0])
    rows = text.split(r"\midrule")[1].splitlines()
    assert not [row for row in rows if row.startswith(("[", "*"))]
    assert r"\textbf{90.0 $\pm$ 0.0}" in to_latex(marked_up) and r"50.0 $\pm$ 0.0 $^\dagger$ \\" in to_latex(marked_up)


def test_rendered_leakage_names_stay_inside_their_code_spans():
    from merbench.rendered_tables import render_leakage

    summary = json.loads(open("benchmarks/leakage/synthetic-default-ststnet.json", encoding="utf-8").read())
    summary["variants"][1]["name"] = "a`b|c"
    summary["protocol"] = "**x**<i>"
    summary["model"] = "m|`n`"
    page = _gfm().render(render_leakage(summary, "study.json"))
    assert "<code>a`b|c</code> †" in _body_cells(page) and "<strong>honest</strong> (**x**&lt;i&gt;)" in _body_cells(page)
    assert "<p><code>m|`n`</code> on" in page and "<i>" not in page
    assert len({row.count("<td") for row in page.split("<tr>")[2:]}) == 1


@pytest.mark.parametrize("stat", ["fold", "pooled"])
@pytest.mark.parametrize("metric", ["uf1", "uar", "accuracy"])
def test_latex_table_of_ascii_names_is_ascii_so_pdflatex_needs_no_extra_package(metric, stat):
    """pdfLaTeX's default UTF-8 input stops at symbols it has no definition for (the pooled caption's "n − 1" did:
    U+2212); with ASCII names, every line TeX reads (not the % comments) is ASCII."""
    results = [minimal_result(model="convmixer", dataset="synthetic"),
               minimal_result(model="sample-model", dataset="synthetic", protocol="sample-10fold")]
    text = to_latex(build_comparison(results, metric, stat))
    read_by_tex = [line for line in text.splitlines() if not line.startswith("%")]
    assert [line for line in read_by_tex if not line.isascii()] == []
    assert "\\caption{" in text


def test_latex_escape_writes_merbench_symbols_as_latex():
    assert latex_escape("n − 1, 2 × 3, a → b, Δ, ≥ ≤, 1–2, …") == \
        r"n $-$ 1, 2 $\times$ 3, a $\to$ b, $\Delta$, $\geq$ $\leq$, 1--2, \ldots{}"


@pytest.mark.parametrize("name, fmt", [("t.tex", "latex"), ("t.latex", "latex"), ("t.markdown", "md"), ("t.htm", "html")])
def test_an_output_file_named_by_a_format_or_its_suffix_gets_that_format(tmp_path, name, fmt):
    """A refusal suggests a file ending in '.' + the format's name (``.latex``), so that ending is accepted too."""
    from merbench.export import format_for
    assert format_for(tmp_path / name, None) == fmt
