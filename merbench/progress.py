"""Progress reporting for long work, behind a small interface the runner calls.

``RichProgress`` shows Rich progress bars (preprocessing, folds, epochs) on a
terminal and, when its console is not a terminal (a CI log, a pipe), periodic
plain lines instead (``PlainProgress``); ``SilentProgress`` shows nothing
(library use, tests). Texts from data and plugins (descriptions, notes,
messages) are shown literally, never read as Rich markup.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

from merbench.escaping import printable

PLAIN_INTERVAL = 5.0
"""Seconds between two plain progress lines (a stage's first start and its end are always shown)."""
QUICK_RATIO = 10
"""An advance that takes this many times as long per step as a stage's steps before it did on average ends the
stage's quick start (clips read from the cache, folds or trials reused): its ETA is timed from there on."""
MIN_TIMED = 1.0
"""Seconds of timed work before a stage shows an ETA (one from less is noise)."""

_LABEL = re.compile(r"^\[[a-z ]+\][^\[\]]*\[/\] ?")


class ProgressSink(Protocol):
    """What the runner reports while it works."""

    def start(self, stage: str, total: int, description: str) -> None:
        """A stage with ``total`` steps begins (a stage started again restarts)."""

    def advance(self, stage: str, steps: int = 1, note: str | None = None) -> None:
        """``steps`` more steps of ``stage`` are done; ``note`` updates its text."""

    def message(self, text: str) -> None:
        """A line worth showing (device chosen, warnings).

        ``text`` is shown literally, except one leading styled label such as
        ``[yellow]Note:[/]``, so data in it (labels, paths, errors) needs no escaping.
        """


def message_markup(text: str) -> str:
    """``text`` as Rich markup that shows it literally, keeping a leading label like ``[yellow]Note:[/]`` styled."""
    label = _LABEL.match(text)
    head = label.group(0) if label else ""
    return head + escape(printable(text[len(head):]))


def is_notice(text: str) -> bool:
    """Whether a message is labelled a warning or a note (shown with ``--quiet`` too)."""
    label = _LABEL.match(text)
    return bool(label) and any(word in label.group(0) for word in ("Warning", "Note"))


class _ShownOnce:
    """Remembers the notes and warnings a command showed, so that each is shown once.

    A command that does several runs (``--seeds``, a leakage study, a tune, a grid) would
    otherwise repeat the same note (say, the annotation rows the loader left out) for every run.
    """

    def __init__(self) -> None:
        self._shown: set[str] = set()

    def first_time(self, text: str) -> bool:
        """False for a note or warning shown before; True otherwise (and for other messages)."""
        if not is_notice(text):
            return True
        if text in self._shown:
            return False
        self._shown.add(text)
        return True


def _clock_text(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Pace:
    """The time a stage has left, from the pace of its work since its quick start.

    A stage's first steps may come far faster than the rest: clips read from the cache, folds or trials reused.
    Timed from the stage's start, they would make the ETA a fraction of the time left (145 cached clips of 442: ten
    seconds where eleven minutes are left). The first advance that takes ``QUICK_RATIO`` times as long per step
    as the steps before it did on average ends that quick start, once: the ETA is timed from the advance before it,
    on every step done since, so that clips parallel workers deliver together count as done at the pace they took.
    """

    def __init__(self, now: float):
        self.since, self.done_before = now, 0
        self.last, self.done = now, 0
        self.timed_from_start = True

    def advance(self, steps: int, now: float) -> None:
        """``steps`` more steps are done at ``now`` (seconds, the clock the stage started on)."""
        if self.timed_from_start and self.done > 0 and steps > 0:
            before = (self.last - self.since) / self.done
            if (now - self.last) / steps > QUICK_RATIO * before:
                self.since, self.done_before, self.timed_from_start = self.last, self.done, False
        self.last, self.done = now, self.done + steps

    def remaining(self, total: float) -> float | None:
        """Seconds left to ``total`` steps at the pace timed so far; ``None`` before ``MIN_TIMED`` of timed work."""
        timed, steps = self.last - self.since, self.done - self.done_before
        if steps <= 0 or timed < MIN_TIMED:
            return None
        return timed / steps * max(0.0, total - self.done)


class SilentProgress:
    """Reports nothing; a context manager like ``RichProgress``, so a command uses either the same way."""

    def __enter__(self) -> "SilentProgress":
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def start(self, stage: str, total: int, description: str) -> None:
        """Ignore."""

    def advance(self, stage: str, steps: int = 1, note: str | None = None) -> None:
        """Ignore."""

    def message(self, text: str) -> None:
        """Ignore."""


class WarningsOnly(SilentProgress):
    """``--quiet``: no progress, but warnings and notes (a damaged cache, a leaky setting) are still shown."""

    def __init__(self, console: Console):
        self.console = console
        self._once = _ShownOnce()

    def message(self, text: str) -> None:
        """Show ``text`` when it is labelled a warning or a note (once per command); other messages are progress."""
        if is_notice(text) and self._once.first_time(text):
            self.console.print(message_markup(text), highlight=False)


@dataclass
class _Stage:
    description: str
    total: int
    started: float
    done: int = 0
    note: str = ""
    restarted: bool = False
    last_line: float = field(default=float("-inf"))
    pace: Pace = field(init=False)

    def __post_init__(self) -> None:
        self.pace = Pace(self.started)


class PlainProgress:
    """Plain progress lines for logs: stage, k/n, elapsed, ETA and the latest note.

    A line is written when a stage first starts, when a stage that was not
    restarted ends (e.g. all folds; an epoch stage restarts for every fold), and
    otherwise at most once every ``interval`` seconds.
    """

    def __init__(self, console: Console, interval: float = PLAIN_INTERVAL, clock: Callable[[], float] = time.monotonic):
        self.console = console
        self.interval = interval
        self.clock = clock
        self._stages: dict[str, _Stage] = {}
        self._last_line = float("-inf")

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def line(self, stage: _Stage) -> str:
        """The progress line of ``stage`` now."""
        elapsed = self.clock() - stage.started
        parts = [f"{stage.description}: {stage.done}/{stage.total}", f"elapsed {_clock_text(elapsed)}"]
        left = stage.pace.remaining(stage.total) if 0 < stage.done < stage.total else None
        if left is not None:
            parts.append(f"ETA {_clock_text(left)}")
        text = ", ".join(parts)
        return f"{text} ({stage.note})" if stage.note else text

    def _write(self, stage: _Stage) -> None:
        now = self.clock()
        stage.last_line = self._last_line = now
        self.console.out(self.line(stage), highlight=False)

    def start(self, stage: str, total: int, description: str) -> None:
        """Begin (or restart) ``stage``; its first start is shown at once."""
        previous = self._stages.get(stage)
        self._stages[stage] = _Stage(description, total, self.clock(), restarted=previous is not None)
        if previous is None or self.clock() - self._last_line >= self.interval:
            self._write(self._stages[stage])

    def advance(self, stage: str, steps: int = 1, note: str | None = None) -> None:
        """Count ``steps``; write a line if the interval has passed or a first-run stage ended."""
        state = self._stages[stage]
        state.done += steps
        state.pace.advance(steps, self.clock())
        if note is not None:
            state.note = note
        ended = state.done >= state.total and not state.restarted
        if ended or self.clock() - self._last_line >= self.interval:
            self._write(state)

    def message(self, text: str) -> None:
        """Write ``text`` on its own line (literally, but for a leading label)."""
        self.console.print(message_markup(text), highlight=False)


NOTE_MIN_COLUMNS = 60
"""The narrowest terminal whose bars show a stage's note (a cell's label...); a narrower one would give it a column
a few letters wide, printed down the screen."""
NOTE_MIN_WIDTH = 12
"""The fewest columns a shown note gets."""


BAR_MIN_WIDTH = 10
COUNT_MIN_WIDTH = 5
TIME_WIDTH = 7
"""``0:00:00``, as the elapsed and remaining times print."""


def bars_and_times(totals: list[float]) -> int:
    """The columns a bar line keeps for the bar (at least ``BAR_MIN_WIDTH``), the count (``196/196`` for the largest
    of ``totals``) and both times, with the space after the description and between them."""
    count = 2 * max((len(str(int(total))) for total in totals), default=1) + 1
    return 1 + BAR_MIN_WIDTH + 1 + max(COUNT_MIN_WIDTH, count) + 1 + TIME_WIDTH + 1 + TIME_WIDTH


def _longest_word(texts: list[str]) -> int:
    return max((cell_len(word) for text in texts for word in text.split()), default=0)


class _NoteColumn(TextColumn):
    """A stage's note (a cell's label, a loss), as wide as the longest note where the descriptions leave room for it,
    else as wide as its longest word and at least ``NOTE_MIN_WIDTH`` columns, so that it wraps at spaces and never
    breaks a word (the bar takes what is left); left out on a terminal under
    ``NOTE_MIN_COLUMNS``, or where it would leave the descriptions too little room for their longest word (a name
    comes before a note)."""

    def __init__(self, console: Console, notes: Callable[[], list[str]], descriptions: Callable[[], list[str]],
                 fixed: Callable[[], int]):
        super().__init__("{task.fields[note]}", markup=False, table_column=Column(overflow="fold"))
        self.console = console
        self.notes = notes
        self.descriptions = descriptions
        self.fixed = fixed

    def width(self) -> int:
        """The columns the notes take, 0 when no stage has one or there is no room for them."""
        longest = _longest_word(self.notes())
        if self.console.width < NOTE_MIN_COLUMNS or not longest:
            return 0
        room = self.console.width - self.fixed() - _longest_word(self.descriptions()) - 1
        width = max(NOTE_MIN_WIDTH, longest)
        if width > room:
            return 0
        spare = self.console.width - self.fixed() - max(map(cell_len, self.descriptions()), default=0) - 1
        return max(width, min(max(map(cell_len, self.notes())), spare))

    def get_table_column(self) -> Column:
        """The note's column, ``width()`` wide (none at all when that is 0)."""
        column = super().get_table_column().copy()
        column.width = self.width() or None  # a fixed width: the table would otherwise shrink it with the bar
        if column.width is None:
            column.max_width = 0
        return column

    def render(self, task) -> Text:
        """The note, or nothing where there is no room for it."""
        return super().render(task) if self.width() else Text("")


class _DescriptionColumn(TextColumn):
    """A stage's description, at least as wide as its longest word (a dataset or protocol name), so that it wraps at
    spaces and never breaks a name: only where the terminal leaves less room than that beside the bar, the count, the
    times and the notes is a name folded."""

    def __init__(self, console: Console, descriptions: Callable[[], list[str]], note: _NoteColumn):
        super().__init__("{task.description}", style="bold", markup=False, table_column=Column(overflow="fold"))
        self.console = console
        self.descriptions = descriptions
        self.note = note

    def get_table_column(self) -> Column:
        """The column, as wide as its longest description within the room the other columns leave (the notes give
        way to a description's longest word: ``_NoteColumn.width``); the bar takes the rest."""
        column = super().get_table_column().copy()
        notes = self.note.width()
        room = max(1, self.console.width - self.note.fixed() - (notes + 1 if notes else 0))
        column.width = min(room, max((cell_len(text) for text in self.descriptions()), default=1))
        return column


class _RemainingColumn(TimeRemainingColumn):
    """A bar's time left, timed as the plain lines time it (``Pace``): Rich's own column counts a stage's quick start
    (the clips read from the cache) in its pace for 30 seconds, and shows none for steps longer than that."""

    def __init__(self, paces: dict[TaskID, Pace]):
        super().__init__(table_column=Column(no_wrap=True, min_width=TIME_WIDTH))
        self.paces = paces

    def render(self, task) -> Text:
        """``0:00:00`` for a finished stage, ``-:--:--`` while its pace is unknown."""
        pace = self.paces.get(task.id)
        left = 0.0 if task.finished else pace.remaining(task.total) if pace and task.total is not None else None
        return Text("-:--:--" if left is None else _clock_text(left), style="progress.remaining")


class RichProgress:
    """Rich progress bars on a terminal, plain periodic lines elsewhere; use as a context manager.

    ``clock``: the seconds the elapsed times and ETAs are counted in (tests give a fake one).
    """

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic):
        self.console = console
        self.clock = clock
        self._plain = None if console.is_terminal else PlainProgress(console, clock=clock)
        self._paces: dict[TaskID, Pace] = {}
        # Counts and times keep their width at 80 columns; a long description wraps at spaces, the bar shrinks.
        note = _NoteColumn(console, self._notes, self._descriptions, self._fixed_width)
        self._progress = Progress(
            _DescriptionColumn(console, self._descriptions, note),
            BarColumn(bar_width=None, table_column=Column(min_width=BAR_MIN_WIDTH, max_width=40, ratio=1)),
            MofNCompleteColumn(table_column=Column(no_wrap=True, min_width=COUNT_MIN_WIDTH)),
            TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=TIME_WIDTH)),
            _RemainingColumn(self._paces),
            note,
            console=console,
            transient=False,
            get_time=clock,
        )
        self._tasks: dict[str, TaskID] = {}
        self._once = _ShownOnce()

    def _descriptions(self) -> list[str]:
        progress = getattr(self, "_progress", None)  # None while the Progress is being made
        return [str(task.description) for task in progress.tasks] if progress else []

    def _fixed_width(self) -> int:
        progress = getattr(self, "_progress", None)
        return bars_and_times([task.total or 0 for task in progress.tasks] if progress else [])

    def _notes(self) -> list[str]:
        progress = getattr(self, "_progress", None)
        return [str(task.fields.get("note", "")) for task in progress.tasks] if progress else []

    def __enter__(self) -> "RichProgress":
        if self._plain is None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._plain is None:
            self._progress.stop()

    def start(self, stage: str, total: int, description: str) -> None:
        """Add (or reset) the bar of ``stage``."""
        if self._plain is not None:
            self._plain.start(stage, total, description)
        elif stage in self._tasks:
            self._progress.reset(self._tasks[stage], total=total, description=description, note="")
        else:
            self._tasks[stage] = self._progress.add_task(description, total=total, note="")
        if self._plain is None:
            self._paces[self._tasks[stage]] = Pace(self.clock())

    def advance(self, stage: str, steps: int = 1, note: str | None = None) -> None:
        """Move the bar of ``stage`` on."""
        if self._plain is not None:
            self._plain.advance(stage, steps, note)
            return
        fields = {"note": note} if note is not None else {}
        self._paces[self._tasks[stage]].advance(steps, self.clock())
        self._progress.update(self._tasks[stage], advance=steps, **fields)

    def message(self, text: str) -> None:
        """Print a line above the bars (literally, but for a leading label such as ``[yellow]Note:[/]``).

        A note or warning this command showed already is not shown again.
        """
        if not self._once.first_time(text):
            return
        if self._plain is not None:
            self._plain.message(text)
        else:
            self._progress.console.print(message_markup(text))


def command_progress(console: Console, quiet: bool) -> "RichProgress | WarningsOnly":
    """A command's progress on ``console``: bars (plain lines in a pipe), or with ``--quiet`` its warnings only."""
    return WarningsOnly(console) if quiet else RichProgress(console)
