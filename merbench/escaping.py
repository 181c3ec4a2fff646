"""Data text made safe for each place merbench writes it: a terminal, Markdown, LaTeX and HTML.

Names, sample ids, labels and plugin messages come from datasets and plugins, so they may hold
characters that mean something to the output: control characters (an escape sequence acts on a
terminal, and one saved in a report acts on whoever ``cat``\\s it), ``|`` in a Markdown table,
LaTeX's specials, HTML's ``<&"``. Each function here shows such text literally in one output.
"""

from __future__ import annotations

import html
import unicodedata
from typing import Any


def printable(text: str) -> str:
    """``text`` with control characters other than line breaks and tabs shown as ``\\xNN`` (an escape sequence in
    data, e.g. ESC, would otherwise act on the terminal)."""
    return "".join(c if c in "\n\t" or unicodedata.category(c) != "Cc" else f"\\x{ord(c):02x}" for c in text)


def markdown_cell(text: str) -> str:
    """``text`` as one cell of a Markdown table: control characters shown, ``|`` escaped, line breaks as spaces."""
    return " ".join(printable(text).replace("|", "\\|").splitlines())


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "·": r"$\cdot$",
                  "†": r"$^\dagger$", "—": "---"}


def latex_escape(text: str) -> str:
    """``text`` for LaTeX: its special characters escaped, control characters shown as ``\\xNN`` (escaped too)."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in printable(text))


def html_text(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes (control characters shown as ``\\xNN``:
    HTML does not allow them)."""
    return html.escape(printable(str(value)), quote=True)
