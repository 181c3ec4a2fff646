"""Notes and tables that fit an 80-column pipe or log: notes wrap at spaces, and a table whose rows are wider prints
one block of ``header: value`` lines per row (``merbench info``); on a terminal both print as Rich lays them out."""

from __future__ import annotations

from rich.console import Console

from merbench.escaping import console_line, printable_line


PIPE_WIDTH = 80
"""The widest line ``info`` writes to a pipe or a log (``--format plain``; narrower where COLUMNS says so): its notes
wrap at spaces, and a table whose rows are wider prints one block of ``header: value`` lines per row, so that an
80-column log shows every name, id and number whole; only a word longer than a line (a long path) is wider. The same
text at any wider COLUMNS."""


def _pipe_width(out: Console) -> int:
    """The width ``info`` wraps to in a pipe or log: ``PIPE_WIDTH``, or COLUMNS where narrower."""
    return min(out.width, PIPE_WIDTH)


def piped_lines(line: str, width: int) -> list[str]:
    """``line`` wrapped at spaces within ``width`` terminal cells, each continuation indented 4 more than the line;
    a word longer than that (a long path) stays whole on a line of its own, as a log keeps it to be copied."""
    from rich.cells import cell_len

    margin = line[:len(line) - len(line.lstrip(" "))]
    lines, current = [], ""
    for word in line.split():
        if current and cell_len(f"{current} {word}") > width:
            lines.append(current)
            current = f"{margin}    {word}"
        else:
            current = f"{current} {word}" if current else f"{margin}{word}"
    return [*lines, current]


def say(out: Console, text: str, markup: str | None = None) -> None:
    """Print the note ``text`` (taken literally; ``markup``: the same with Rich styles, for a terminal): on a terminal
    as Rich wraps it, in a pipe or log wrapped at spaces within ``PIPE_WIDTH`` (``piped_lines``)."""
    from merbench.tables import wants_plain

    if not wants_plain(out):
        out.print(markup or console_line(text), highlight=False)
        return
    for line in piped_lines(printable_line(text), _pipe_width(out)):
        out.out(line, highlight=False)


def show_table(out: Console, table) -> None:
    """Print the ``DataTable`` ``table``: on a terminal as ``print_table`` does; in a pipe or log as plain rows when
    they fit ``PIPE_WIDTH``, else one block per row (``DataTable.record_lines``), its title, caption and long values
    wrapped at spaces (``say``)."""
    from rich.cells import cell_len

    from merbench.tables import print_table, wants_plain

    if not wants_plain(out):
        print_table(out, table)
        return
    width = _pipe_width(out)
    title, caption = table.title, table.caption
    table.title = table.caption = None
    rows = table.plain_lines()
    if any(cell_len(row) > width for row in rows):
        rows = [part for row in table.record_lines() for part in piped_lines(row, width)]
    table.title, table.caption = title, caption
    if title:
        say(out, title)
    for line in rows:
        out.out(line, highlight=False)
    if caption:
        say(out, caption)
