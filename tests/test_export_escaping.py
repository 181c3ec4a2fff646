"""Data text in exported reports: control characters, Markdown pipes and line breaks, LaTeX specials and HTML
shown literally in each format (merbench.escaping), never acting on a terminal or breaking the file's structure."""

from __future__ import annotations

import json
import re

import pytest

from result_samples import minimal_result

from merbench.compare import build_comparison
from merbench.escaping import html_text, latex_escape, markdown_cell, printable
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
    assert "\x1b" not in text and "net\\x1b[31m\\|x row" in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 3 and len({_columns(line) for line in table}) == 1


def test_latex_escapes_specials_and_control_characters(hostile):
    _, comparison = hostile
    text = to_latex(comparison)
    assert "\x1b" not in text and "\\textbackslash{}x1b" in text and r"d\_50\%\&\#" in text
    assert all(line.startswith("%") or not line.startswith(" ") for line in text.splitlines())


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
