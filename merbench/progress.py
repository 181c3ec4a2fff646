"""Progress reporting for long work, behind a small interface the runner calls.

``RichProgress`` shows Rich progress bars (preprocessing, folds, epochs) on
stderr; ``SilentProgress`` shows nothing (library use, tests).
"""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class ProgressSink(Protocol):
    """What the runner reports while it works."""

    def start(self, stage: str, total: int, description: str) -> None:
        """A stage with ``total`` steps begins (a stage started again restarts)."""

    def advance(self, stage: str, steps: int = 1, note: str | None = None) -> None:
        """``steps`` more steps of ``stage`` are done; ``note`` updates its text."""

    def message(self, text: str) -> None:
        """A line worth showing (device chosen, warnings)."""


class SilentProgress:
    """Reports nothing."""

    def start(self, stage: str, total: int, description: str) -> None:
        """Ignore."""

    def advance(self, stage: str, steps: int = 1, note: str | None = None) -> None:
        """Ignore."""

    def message(self, text: str) -> None:
        """Ignore."""


class RichProgress:
    """Rich progress bars on a console; use as a context manager."""

    def __init__(self, console: Console):
        self.console = console
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._progress.stop()

    def start(self, stage: str, total: int, description: str) -> None:
        """Add (or reset) the bar of ``stage``."""
        if stage in self._tasks:
            self._progress.reset(self._tasks[stage], total=total, description=description, note="")
        else:
            self._tasks[stage] = self._progress.add_task(description, total=total, note="")

    def advance(self, stage: str, steps: int = 1, note: str | None = None) -> None:
        """Move the bar of ``stage`` on."""
        fields = {"note": note} if note is not None else {}
        self._progress.update(self._tasks[stage], advance=steps, **fields)

    def message(self, text: str) -> None:
        """Print a line above the bars."""
        self._progress.console.print(text)
