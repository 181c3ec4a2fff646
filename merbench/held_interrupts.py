"""Ctrl-C and SIGTERM held back while a library writes its storage, and let through while merbench computes.

Optuna catches an interruption inside ``study.optimize`` and then writes the trial's state through another
database connection; when the signal arrived while a storage call held SQLite's write lock, that write waits
for the lock (30 s) and Optuna ends in an error of its own instead of the interruption. Inside
``held()`` a signal is only remembered; it is raised as the command's usual interruption when the held
part ends, or at once where ``allowed()`` lets the computation be interrupted (training a trial's folds).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class HeldInterrupts:
    """Signal handlers that defer SIGINT/SIGTERM inside ``held()``; install them with ``installed()``."""

    def __init__(self) -> None:
        self._held = False
        self._pending: tuple[Any, int, FrameType | None] | None = None
        self._previous: dict[int, Any] = {}

    @contextmanager
    def installed(self) -> Iterator[HeldInterrupts]:
        """Take over the signals whose handler is Python code (the command's own), in the main thread only;
        elsewhere (or with ignored/default handlers) nothing changes."""
        if threading.current_thread() is threading.main_thread():
            for number in SIGNALS:
                handler = signal.getsignal(number)
                if callable(handler):
                    self._previous[number] = handler
                    signal.signal(number, self._on_signal)
        try:
            yield self
        finally:
            for number, handler in self._previous.items():
                signal.signal(number, handler)
            self._previous.clear()
            self._pending = None

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        handler = self._previous.get(number)
        if handler is None:
            return
        if self._held:
            if self._pending is None:
                self._pending = (handler, number, frame)
            return
        handler(number, frame)

    def _raise_pending(self) -> None:
        if self._pending is not None:
            handler, number, frame = self._pending
            self._pending = None
            handler(number, frame)  # the command's handler: raises KeyboardInterrupt (or its SIGTERM kind)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Defer the signals inside; a signal that came meanwhile is raised when the outermost held part ends
        without an error of its own."""
        outer = not self._held
        self._held = True
        try:
            yield
        finally:
            if outer:
                self._held = False
        if outer:
            self._raise_pending()

    @contextmanager
    def allowed(self) -> Iterator[None]:
        """Let the signals through inside a held part (raising one that came before at once)."""
        before = self._held
        self._held = False
        try:
            self._raise_pending()
            yield
        finally:
            self._held = before
