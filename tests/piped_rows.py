"""Reading a table's rows from piped output, where a row too wide for 80 columns goes on over indented lines (its
text wrapped under its column, or one ``Header: value`` block per row; ``merbench.piped_output``)."""

from __future__ import annotations

import re


def piped_rows(out: str) -> list[str]:
    """Each row (or block) of ``out``: a line not indented and the indented lines under it, joined at spaces."""
    return [" ".join(row.split()) for row in re.split(r"\n(?! )", out) if row.strip()]


def piped_row(out: str, name: str) -> str:
    """The row of ``out`` whose first cell is ``name`` (``name …``, or ``Header: name`` starting a block), joined at
    spaces."""
    for row in piped_rows(out):
        first = row.split(": ", 1)[1] if re.match(r"[A-Z][\w -]*: ", row) else row
        if first == name or first.startswith(f"{name} "):
            return row
    raise AssertionError(f"no row for {name!r} in:\n{out}")
