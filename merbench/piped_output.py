"""Notes and tables that fit an 80-column pipe or log: notes wrap at spaces, and a table whose rows are wider prints
one block of ``header: value`` lines per row (``merbench info``) or wraps its text column under itself (``merbench
datasets check``); on a terminal both print as Rich lays them out."""

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


TEXT_MIN_ROOM = 20
"""The fewest columns the other columns of a table must leave its text column for ``show_table(..., in_place=True)``
to wrap it in place; with less, the table prints one block per row."""


def _under(left: str, words: list[str], offset: int, width: int) -> list[str]:
    """``words`` wrapped at spaces within ``width`` cells from column ``offset``, the first line after ``left``; a word
    too long for that room gets a line of its own, starting further left so that it ends at the edge (a path kept
    whole), or at most 4 in when it is longer than a line."""
    from rich.cells import cell_len

    lines, current, empty = [], left + " " * max(0, offset - cell_len(left)), True
    for word in words:
        if not empty and cell_len(current) + 1 + cell_len(word) <= width:
            current += " " + word
            continue
        if not empty:
            lines.append(current)
            current = " " * offset
        if cell_len(current) + cell_len(word) > width:
            if current.strip():
                lines.append(current.rstrip())
            room = width - cell_len(word)
            current = " " * (min(offset, room) if room > 0 else min(offset, 4))
        current, empty = current + word, False
    return [*lines, current.rstrip()]


def rows_wrapped_in_place(table, width: int, apart: bool = False) -> list[str] | None:
    """The plain rows of ``table`` within ``width`` cells, its text columns (a reason, a value; a file then its
    problem) wrapped at spaces under the first of them, one after the other as a plain row has them; ``None`` when the
    table has no text column or its other columns leave them under ``TEXT_MIN_ROOM`` columns. ``apart``: each text
    column starts a line of its own, in the order of the header's (a description, then an input, then a provider),
    an empty one shown as ``-``."""
    from rich.cells import cell_len
    from rich.text import Text

    from merbench.tables import TEXT, DataTable

    texts = [i for i, column in enumerate(table.columns) if column.kind == TEXT]
    keys = [i for i in range(len(table.columns)) if i not in texts]
    if not texts or not keys:
        return None
    left = DataTable(None, [table.columns[i] for i in keys], show_header=table.show_header)
    for cells, _, _ in table.rows:
        left.add_row(*(cells[i] for i in keys))
    lefts = left.plain_lines()
    offset = max(map(cell_len, lefts)) + 2
    if width - offset < TEXT_MIN_ROOM:
        return None
    rows = [[cells[i] for i in texts] for cells, _, _ in table.rows]
    rows = [[table.columns[i].header for i in texts], *rows] if table.show_header else rows
    words = [[(cell.plain if isinstance(cell, Text) else str(cell)).split() for cell in row] for row in rows]
    if apart:
        return [line for key, row in zip(lefts, words) for i, cell in enumerate(row)
                for line in _under(key if i == 0 else "", cell or ["-"], offset, width)]
    return [line for key, row in zip(lefts, words) for line in _under(key, sum(row, []), offset, width)]


def show_table(out: Console, table, in_place: bool = False, apart: bool = False) -> None:
    """Print the ``DataTable`` ``table``: on a terminal as ``print_table`` does; in a pipe or log as plain rows when
    they fit ``PIPE_WIDTH``, else one block per row (``DataTable.record_lines``), its title, caption and long values
    wrapped at spaces (``say``). ``in_place``: rows too wide stay rows, their text column wrapped under itself
    (``rows_wrapped_in_place``, each text column on lines of its own with ``apart``) where the other columns leave it
    room."""
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
        rows = (rows_wrapped_in_place(table, width, apart) if in_place else None) or \
            [part for row in table.record_lines() for part in piped_lines(row, width)]
    table.title, table.caption = title, caption
    if title:
        say(out, title)
    for line in rows:
        out.out(line, highlight=False)
    if caption:
        say(out, caption)
