"""Tables that never cut names, ids or numbers, drawn with Rich on a terminal and as plain text elsewhere.

A ``DataTable`` has *key* columns (names, run ids, metric names, numbers),
which are never wrapped, folded or cut, and *text* columns (descriptions,
notes), which wrap at spaces and are dropped, lowest ``priority`` first, when
the terminal is too narrow for all of them; the last one left is kept and
folds a file path longer than its room over lines, but never another word (a
name, an id): a column too narrow for one is dropped, with a note, or, when it is
one the table needs (``keep``), the table prints as one block per row. Widths
are terminal cells: a CJK character takes two. Cells are plain text, never Rich
markup, so data and plugin text such as ``[domain]`` or ``[/]`` print
literally, and control characters show as ``\\xNN``; a cell may be a
``rich.text.Text`` to carry a style.

On a terminal too narrow for the key columns side by side, each row prints
as a block of ``header: value`` lines, a long value continued on indented lines. When the output is not a terminal (a
pipe, a CI log) or ``--format plain`` is given, tables print as plain rows aligned with spaces under a header line: no
box characters, no ellipsis and the same text whatever the width.
"""

from __future__ import annotations

import codecs
import io
import os
import sys
from dataclasses import dataclass, replace
from typing import Any, Sequence

from rich import box
from rich.cells import cell_len, chop_cells
from rich.console import Console, Group
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from merbench.escaping import printable
from merbench.json_stdout import drop_the_rest

FORMATS = ("auto", "table", "plain")
KEY = "key"
TEXT = "text"
CELL_OVERHEAD = {True: 3, False: 2}  # boxed: a space each side and a border; box-less: the spaces only
EDGE = {True: 1, False: 0}  # the closing border of a boxed table
MIN_TEXT_WIDTH = 12


@dataclass(frozen=True)
class Column:
    """One column: ``kind`` is ``"key"`` (never cut) or ``"text"`` (wraps; dropped when narrow).

    ``stack``: on a narrow terminal the column is shown under the one before it,
    in the same cell (each value on its own line, never cut). ``breakable``: a
    text column whose file paths may be folded over lines when it is the last one
    left; one that is not (``key=value`` settings) is dropped instead. Other words
    are never broken. ``keep``: a text column the table means nothing without (a
    check's finding, what a plugin registers): never dropped for width; where it
    cannot be shown with its words whole, the table prints as one block per row.
    """

    header: str
    kind: str = KEY
    justify: str = "left"
    priority: int = 0
    style: str | None = None
    stack: bool = False
    breakable: bool = True
    keep: bool = False


Cell = str | Text


def styled(text: str, style: str) -> Text:
    """A cell whose ``text`` (taken literally, never as markup) is shown in ``style`` on a terminal."""
    return Text(str(text), style=style)


def _safe(cell: Cell) -> Cell:
    if isinstance(cell, Text):
        shown = printable(cell.plain)
        return cell if shown == cell.plain else Text(shown, style=cell.style)
    return printable(str(cell))


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _lines(cell: Cell) -> list[str]:
    return _plain(cell).splitlines() or [""]


def _is_path(word: str) -> bool:
    """Whether ``word`` is a file path (absolute, or of two folders or more), which a narrow column may fold over
    lines; a sample id such as ``sub01/EP02_01f`` is not one."""
    word = word.strip("'\"(),;:")
    return word.startswith(("/", "~")) or word.count("/") >= 2 or "\\" in word


def _padded(text: str, width: int, right: bool) -> str:
    """``text`` padded with spaces to ``width`` terminal cells (a CJK character takes two)."""
    space = " " * max(0, width - cell_len(text))
    return space + text if right else text + space


def hanging_lines(line: str, width: int) -> list[str]:
    """``line`` wrapped at spaces to ``width`` terminal cells, each continuation indented 4 more than the line, so
    that it cannot be taken for a line of its own (a word too long for that indent gets less, ending at the edge);
    only a word longer than a whole line (a path) is folded."""
    if cell_len(line) <= width:
        return [line]
    margin = line[:len(line) - len(line.lstrip(" "))]
    indent = " " * min(len(margin) + 4, max(0, width - 20))
    lines: list[str] = []
    current, empty = margin, True
    for word in line.split():
        if not empty and cell_len(f"{current} {word}") <= width:
            current += " " + word
            continue
        if not empty:
            lines.append(current)
            current = indent
        if cell_len(current + word) <= width:
            current, empty = current + word, False
            continue
        if cell_len(word) <= width:  # whole on a line of its own, indented less
            current, empty = " " * (width - cell_len(word)) + word, False
            continue
        pieces = chop_cells(word, max(1, width - len(indent)))
        lines += [current + pieces[0], *(indent + piece for piece in pieces[1:-1])]
        current, empty = indent + pieces[-1], False
    return [*lines, current]


class _PrintableText:
    """A text attribute (a title, a caption: they may hold data, a model or file name) whose control characters
    are shown as ``\\xNN`` however it is set, at construction or later."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, table: object, owner: type | None = None) -> Any:
        return self if table is None else getattr(table, self.slot)

    def __set__(self, table: object, text: str | None) -> None:
        setattr(table, self.slot, None if text is None else printable(text))


class DataTable:
    """A table of plain-text cells that prints whole at any width (see the module docstring)."""

    title = _PrintableText()
    caption = _PrintableText()

    def __init__(self, title: str | None, columns: Sequence[Column | str], caption: str | None = None,
                 show_header: bool = True):
        self.title = title
        self.caption = caption
        self.show_header = show_header
        self.columns = [replace(column, header=printable(column.header)) if isinstance(column, Column)
                        else Column(printable(column)) for column in columns]
        self.rows: list[tuple[list[Cell], str | None, bool]] = []
        self._section = False

    def add_row(self, *cells: Cell, style: str | None = None) -> None:
        """Add a row; ``None`` cells are empty; ``style`` applies to the whole row on a terminal."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(([("" if cell is None else _safe(cell)) for cell in cells], style, self._section))
        self._section = False

    def add_section(self) -> None:
        """Draw a line before the next row (terminal only)."""
        self._section = True

    # ------------------------------------------------------------------ layout

    def _natural(self, index: int) -> int:
        cells = [row[0][index] for row in self.rows]
        header = [self.columns[index].header] if self.show_header else []
        return max((cell_len(line) for cell in [*header, *cells] for line in _lines(cell)), default=0)

    def _longest_word(self, index: int, unbreakable: bool = False) -> int:
        """The widest word of column ``index`` in terminal cells; with ``unbreakable``, the widest it may not fold
        (a ``breakable`` column folds file paths only)."""
        cells = [row[0][index] for row in self.rows]
        header = [self.columns[index].header] if self.show_header else []
        words = [word for cell in [*header, *cells] for word in _plain(cell).split()]
        if unbreakable and self.columns[index].breakable:
            words = [word for word in words if not _is_path(word)]
        return max((cell_len(word) for word in words), default=0)

    def _keys_width(self, keys: Sequence[int], boxed: bool) -> int:
        """The width the key columns ``keys`` take whole, with the table's edges."""
        return EDGE[boxed] + sum(self._natural(i) + CELL_OVERHEAD[boxed] for i in keys)

    def layout(self, width: int, boxed: bool = True, fold_paths: bool = False) -> list[int] | None:
        """Indices of the columns that fit ``width`` with every key column whole; ``None`` if the keys alone do not.

        With ``fold_paths``, a file path or web address in a ``breakable`` column may fold over lines rather than
        drop a column: one long address in one plugin's description no longer hides every row's options."""
        overhead = CELL_OVERHEAD[boxed]
        keys = [i for i, column in enumerate(self.columns) if column.kind != TEXT]
        key_width = self._keys_width(keys, boxed)
        if key_width > width:
            return None
        texts = [i for i, column in enumerate(self.columns) if column.kind == TEXT]
        while texts:
            room = width - key_width - overhead * len(texts)
            if room >= sum(max(self._longest_word(i, fold_paths), min(MIN_TEXT_WIDTH, self._natural(i)))
                           for i in texts):
                break
            last = texts[0]
            if (len(texts) == 1 and room >= min(MIN_TEXT_WIDTH, self._natural(last))
                    and room >= self._longest_word(last, unbreakable=True)):
                break  # the last text column stays, folding its paths that are longer than the room
            droppable = [i for i in texts if not self.columns[i].keep]
            if not droppable:
                return None
            texts.remove(min(droppable, key=lambda i: (self.columns[i].priority, -i)))
        return sorted(keys + texts)

    def _text_widths(self, width: int, boxed: bool, shown: list[int], fold_paths: bool = False) -> dict[int, int]:
        """The width of each shown text column, so that the table is at most ``width`` wide.

        Each gets its longest word (at least ``MIN_TEXT_WIDTH``, at most its
        natural width; the last one left may get less and fold), then the rest
        of the room goes to the columns that would still wrap, in proportion
        to what they lack. Rich is not left to shrink the table: it can end
        a column wider than asked and crop the right border.
        """
        overhead = CELL_OVERHEAD[boxed]
        keys = [i for i in shown if self.columns[i].kind != TEXT]
        texts = [i for i in shown if self.columns[i].kind == TEXT]
        room = width - self._keys_width(keys, boxed) - overhead * len(texts)
        widths = {i: min(self._natural(i), max(self._longest_word(i, fold_paths), MIN_TEXT_WIDTH), room)
                  for i in texts}
        lacking = {i: self._natural(i) - widths[i] for i in texts}
        spare = room - sum(widths.values())
        total_lacking = sum(lacking.values())
        if spare > 0 and total_lacking > 0:
            given = {i: min(lacking[i], spare * lacking[i] // total_lacking) for i in texts}
            for i in sorted(texts, key=lambda i: lacking[i] - given[i], reverse=True):
                given[i] += min(lacking[i] - given[i], spare - sum(given.values()))
            widths = {i: max(1, widths[i] + given[i]) for i in texts}
        return widths

    def stacked(self) -> "DataTable":
        """This table with every ``stack`` column moved into the cell of the column before it."""
        groups: list[list[int]] = []
        for i, column in enumerate(self.columns):
            if column.stack and groups:
                groups[-1].append(i)
            else:
                groups.append([i])
        columns = [
            Column("\n".join(self.columns[i].header for i in group),
                   KEY if any(self.columns[i].kind != TEXT for i in group) else TEXT,
                   self.columns[group[0]].justify, max(self.columns[i].priority for i in group), self.columns[group[0]].style,
                   breakable=all(self.columns[i].breakable for i in group),
                   keep=any(self.columns[i].keep for i in group))
            for group in groups
        ]
        table = DataTable(self.title, columns, self.caption, self.show_header)
        for cells, style, section in self.rows:
            merged = []
            for group in groups:
                parts = [cells[i] if isinstance(cells[i], Text) else Text(str(cells[i])) for i in group]
                merged.append(Text("\n").join(part for part in parts if part.plain) if len(parts) > 1 else parts[0])
            table._section = section
            table.add_row(*merged, style=style)
        return table

    def rich_table(self, width: int, boxed: bool = True, shown: list[int] | None = None,
                   fold_paths: bool = False) -> Table | None:
        """The Rich table for a console ``width`` columns wide, or ``None`` when even the key columns do not fit.

        ``shown``: the columns ``layout(width, boxed)`` chose, when the caller has them already.
        """
        shown = self.layout(width, boxed, fold_paths) if shown is None else shown
        if shown is None:
            return None
        table = Table(title=Text(self.title, style="table.title") if self.title else None, show_header=self.show_header,
                      box=box.HEAVY_HEAD if boxed else None)
        text_widths = self._text_widths(width, boxed, shown, fold_paths)
        for i in shown:
            column = self.columns[i]
            if column.kind == TEXT:
                table.add_column(Text(column.header), justify=column.justify, style=column.style, overflow="fold",
                                 width=text_widths[i])
            else:
                table.add_column(Text(column.header), justify=column.justify, style=column.style, no_wrap=True,
                                 overflow="fold", width=self._natural(i))
        for cells, style, section in self.rows:
            if section:
                table.add_section()
            table.add_row(*(cells[i] if isinstance(cells[i], Text) else Text(str(cells[i])) for i in shown), style=style)
        dropped = [self.columns[i].header or "values" for i in range(len(self.columns)) if i not in shown]
        caption = self.caption or ""
        if dropped:
            caption += f" Not shown at this width: {', '.join(dropped)} (widen the terminal, or use --format plain)."
        if caption:  # left: a caption wrapped over lines reads as a paragraph, not as centred fragments
            table.caption = Text(caption.strip(), style="table.caption")
            table.caption_justify = "left"
        return table

    def __rich_console__(self, console: Console, options):
        """Let ``console.print(table)`` work as ``print_table`` does (plain lines are not wrapped)."""
        if not wants_plain(console):
            yield self.for_terminal(options.max_width)
            return
        for line in self.plain_lines():
            yield Text(line, no_wrap=True, overflow="ignore")

    def render_for(self, width: int) -> Table | None:
        """The Rich layout for ``width`` with every key whole: all columns, stacked, then box-less.

        The first of these that shows every column without breaking a word of a
        text column is taken, else the first that shows every column, else the
        first that shows every column with its paths folded, else the first that
        fits with some text columns dropped (paths folded where that drops
        fewer); ``None`` if none fits.
        """
        stacked = self.stacked()
        candidates = [(table, boxed, fold) for fold in (False, True)
                      for table, boxed in ((self, True), (stacked, True), (stacked, False))]
        fitting = [(table, boxed, fold, shown) for table, boxed, fold in candidates
                   if (shown := table.layout(width, boxed, fold)) is not None]
        if not fitting:
            return None
        whole = [choice for choice in fitting if len(choice[3]) == len(choice[0].columns)]
        unbroken = [choice for choice in whole if not choice[0].breaks_words(width, choice[1], choice[3], choice[2])]
        first = [choice for choice in fitting if choice[:2] == fitting[0][:2]]  # that layout, paths whole or folded
        table, boxed, fold, shown = (unbroken or whole or [max(first, key=lambda choice: len(choice[3]))])[0]
        return table.rich_table(width, boxed, shown, fold)

    def breaks_words(self, width: int, boxed: bool, shown: list[int], fold_paths: bool = False) -> bool:
        """Whether a shown text column is narrower than its longest word, which it would then break."""
        widths = self._text_widths(width, boxed, shown, fold_paths)
        return any(given < self._longest_word(i) for i, given in widths.items())

    def for_terminal(self, width: int) -> Table | Group | Text:
        """What a terminal ``width`` columns wide shows: the Rich layout (``render_for``), else one block per row."""
        rendered = self.render_for(width)
        if rendered is None:
            return Text("\n".join(line for record in self.record_lines() for line in hanging_lines(record, width)),
                        no_wrap=True, overflow="fold")
        return _words_whole(rendered, width)

    def record_lines(self) -> list[str]:
        """The table as one block per row, for a terminal too narrow for its key columns side by side.

        The row's first cell on a line of its own (``header: value``, so that a
        bare number is not taken for a name), then ``header: value`` for each
        other non-empty cell, indented; ``for_terminal`` wraps a long value on
        lines indented further, never a row of columns in the middle of a number.
        """
        lines = [self.title] if self.title else []
        headers = [" ".join(column.header.split("\n")) for column in self.columns]
        for cells, _, _ in self.rows:
            values = [" ".join(_lines(cell)) for cell in cells]
            lines.append(f"{headers[0]}: {values[0]}" if headers[0] and self.show_header else values[0])
            lines.extend(f"  {header}: {value}" if header else f"  {value}"
                         for header, value in zip(headers[1:], values[1:]) if value.strip())
        if self.caption:
            lines.append(self.caption)
        return lines

    def plain_lines(self) -> list[str]:
        """The table as plain text: title, header, one line per row (key columns first, then text), caption."""
        order = [i for i, c in enumerate(self.columns) if c.kind != TEXT] + [i for i, c in enumerate(self.columns) if c.kind == TEXT]
        columns = [self.columns[i] for i in order]
        rows = [[" ".join(_lines(cells[i])) for i in order] for cells, _, _ in self.rows]
        widths = [max([cell_len(" ".join(column.header.split("\n"))) if self.show_header else 0]
                      + [cell_len(row[i]) for row in rows]) for i, column in enumerate(columns)]

        def line(values: Sequence[str]) -> str:
            parts = [_padded(value, width, column.justify == "right")
                     for value, width, column in zip(values, widths, columns)]
            return "  ".join(parts).rstrip()

        lines = [self.title] if self.title else []
        if self.show_header:
            lines.append(line([" ".join(column.header.split("\n")) for column in columns]))
        lines.extend(line(row) for row in rows)
        if self.caption:
            lines.append(self.caption)
        return lines


def wants_plain(console: Console) -> bool:
    """Whether ``console`` gets plain text: it is not a terminal (``--format plain`` makes a console so)."""
    return not console.is_terminal


def _words_whole(table: Table, width: int) -> Table | Group:
    """``table``, or when its title or caption is wider than the table, the table with that title or caption as lines
    of their own above or below it, wrapped at ``width``: Rich would wrap it to the table's width, which cuts a word
    wider than the table (a path, a long name) and splits an option from its value over short lines."""
    measuring = Console(width=width)
    table_width = Measurement.get(measuring, measuring.options, table).maximum
    outside: dict[str, Text] = {}
    for part in ("title", "caption"):
        text = getattr(table, part)
        if text is not None and cell_len(text.plain) > table_width:
            outside[part] = text
            setattr(table, part, None)
    if not outside:
        return table
    return Group(*([outside["title"]] if "title" in outside else []), table,
                 *([outside["caption"]] if "caption" in outside else []))


def print_table(console: Console, table: DataTable) -> None:
    """Print ``table`` whole: Rich on a terminal (narrow: text columns dropped, stacked, no box, then one block
    per row), else plain rows."""
    if not wants_plain(console):
        console.print(table.for_terminal(console.width))
        return
    for text in table.plain_lines():
        console.out(text, highlight=False)


def print_item(console: Console, line: str) -> None:
    """An indented item of a list under a heading, taken literally: on a terminal wrapped at spaces with its
    continuation lines indented further (``hanging_lines``), so that they are not read as items of their own; in a
    pipe or log on one line."""
    shown = printable(line)
    for part in [shown] if console.soft_wrap else hanging_lines(shown, console.width):
        console.print(Text(part), highlight=False, soft_wrap=True)


def print_error(console: Console, message: str) -> None:
    """One ``merbench: error:`` line; ``message`` is taken literally (no markup; control characters shown)."""
    console.print(Text.assemble(("merbench: error:", "bold red"), " ", printable(message)), highlight=False)


class _PipeConsole(Console):
    """A console whose reader may stop early (``merbench runs | head -1``): the rest of the output is dropped and
    the command ends as it would have, where Rich's default exits with status 1."""

    def on_broken_pipe(self) -> None:
        """Drop the rest of this console's output (the stream now writes to /dev/null); not an error."""
        self.quiet = True
        drop_the_rest(self.file)


def take_any_text() -> None:
    """Let stdout and stderr take every character merbench prints (⚠, ±, a class name in any script).

    Where a stream's encoding lacks one (a Windows code page when the output goes to a file or a pipe,
    ``PYTHONIOENCODING=ascii``), writing it would stop the command with a ``UnicodeEncodeError`` in mid-table. A file
    or pipe then gets UTF-8, unless ``PYTHONIOENCODING`` chose its encoding; a terminal, or a chosen encoding, keeps
    its encoding and shows ``?`` for a character it lacks.
    """
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper) or not stream.encoding:
            continue
        try:
            if codecs.lookup(stream.encoding).name.startswith("utf-"):
                continue
            terminal = stream.isatty()
        except (LookupError, ValueError):  # an unknown codec name, a closed stream: leave it as it is
            continue
        if terminal or os.environ.get("PYTHONIOENCODING"):
            stream.reconfigure(errors="replace")
        else:
            stream.reconfigure(encoding="utf-8")


def make_console(stderr: bool = False, table_format: str = "auto") -> Console:
    """A console honouring ``--format``: ``table`` draws boxes even in a pipe, ``plain`` never.

    A console that is not a terminal does not wrap long lines (a log keeps a
    command or a run id on one line); a reader that stops early is not an error.
    Nothing is coloured by guessing from the text (Rich's highlighter): data and
    plugin text print as written, styled only where merbench styles it.
    """
    probe = _PipeConsole(stderr=stderr, highlight=False)  # no colours guessed from text: numbers, brackets, quotes
    if table_format == "plain" or (table_format == "auto" and not probe.is_terminal):
        return _PipeConsole(stderr=stderr, force_terminal=False, soft_wrap=True, highlight=False)
    if table_format == "table" and not probe.is_terminal:
        return _PipeConsole(stderr=stderr, force_terminal=True, color_system=None, highlight=False)
    return probe
