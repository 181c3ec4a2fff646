"""Standard output kept for a command's own output (``--json -``): whatever else is written there while the command
runs (a plugin's ``print()`` in ``build()`` or ``load()``, a fold worker, a C library) goes to stderr instead.

The file descriptor 1 itself is pointed at stderr for the command, so that a process started meanwhile (the fold
workers' fork server, and every worker it forks) writes its stdout to stderr too; the real stdout is kept on a
descriptor of its own, which a child process does not inherit. In Python, ``sys.stdout`` writes text to stderr, and
only merbench's own output reaches the real stdout: the command's ``out`` console, and the bytes
``merbench.outputs.write_output`` writes to ``sys.stdout.buffer``.
"""

from __future__ import annotations

import io
import os
import sys
from contextlib import contextmanager, suppress
from typing import Any, Iterator, TextIO


class _BytesInto:
    """The byte stream of a text stream that has none (``io.StringIO`` under ``redirect_stdout``): bytes written are
    decoded as UTF-8, as ``write_output`` encodes them, into it."""

    def __init__(self, text: TextIO) -> None:
        self._text = text

    def write(self, data: bytes) -> int:
        """Write ``data`` into the text stream."""
        self._text.write(data.decode("utf-8"))
        return len(data)

    def flush(self) -> None:
        """Flush the text stream."""
        self._text.flush()


class _Diverted:
    """``sys.stdout`` while the command runs: text written to it goes to ``text`` (stderr), its ``buffer`` is the
    kept stdout's, where ``write_output`` writes the command's output. ``fileno()`` is ``fd``: 1 (now stderr) once
    the descriptor is redirected, else the kept stream's, as before."""

    def __init__(self, text: TextIO, kept: TextIO, fd: int | None) -> None:
        self._text, self._kept, self._fd = text, kept, fd

    @property
    def buffer(self) -> Any:
        """The kept stdout's byte stream."""
        return getattr(self._kept, "buffer", None) or _BytesInto(self._kept)

    def fileno(self) -> int:
        """The descriptor behind this stream: 1 when it was redirected to stderr, else the kept stdout's."""
        return self._fd if self._fd is not None else self._kept.fileno()

    def flush(self) -> None:
        """Flush the text written so far, and what ``buffer`` holds."""
        self._text.flush()
        self._kept.flush()

    def __getattr__(self, name: str) -> Any:  # write, writelines, isatty, encoding...: those of stderr
        return getattr(self._text, name)


def _descriptor_one() -> bool:
    """Whether ``sys.stdout`` writes to the file descriptor 1 (a command line; not a test's captured stream)."""
    try:
        return sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def _kept_stream() -> tuple[TextIO, int | None]:
    """The real stdout to keep, and the descriptor it was saved on (``None``: ``sys.stdout`` itself, kept as it is,
    where it is not the descriptor 1); with a descriptor, 1 then points at stderr."""
    stdout = sys.stdout
    if not _descriptor_one():
        return stdout, None
    stdout.flush()
    saved = os.dup(1)  # not inherited by child processes: only this process writes the output
    kept = open(saved, "w", encoding=stdout.encoding, errors=stdout.errors, closefd=False)
    sys.stderr.flush()
    os.dup2(2, 1)
    return kept, saved


def _restore(original: TextIO, kept: TextIO, saved: int | None) -> None:
    """Put back ``original`` as ``sys.stdout`` and the real stdout on the descriptor 1 (``/dev/null`` when its reader
    stopped early, as ``write_output`` does)."""
    sys.stdout = original
    if saved is None:
        return
    with suppress(OSError, ValueError):
        original.flush()  # what was written through a reference taken earlier: to stderr, where it belongs
    try:
        kept.flush()
        os.dup2(saved, 1)
    except (OSError, ValueError):  # BrokenPipeError: the reader (e.g. `| head`) stopped
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    with suppress(OSError, ValueError):
        kept.close()
    os.close(saved)


def drop_the_rest(stream: Any) -> None:
    """The reader of ``stream`` stopped (``merbench runs | head -1``): what is still written to it goes to /dev/null
    (not an error). The descriptor behind ``stream`` itself, which for the kept stdout of ``--json -`` is not 1."""
    with suppress(AttributeError, OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)


@contextmanager
def stdout_kept_for_output(out: Any) -> Iterator[None]:
    """Inside the block, stdout holds only the command's output: the console ``out`` and ``write_output(None, ...)``
    write there, anything else written to stdout (by Python, a library or a worker process started inside the
    block) goes to stderr. Start it before any worker process, whose stdout is the one it was started with."""
    original = sys.stdout
    if original is None:  # no stdout at all (`>&-`, a daemon): the output goes nowhere, as without this block
        yield
        return
    kept, saved = _kept_stream()
    out.file = kept
    sys.stdout = _Diverted(sys.stderr, kept, 1 if saved is not None else None)
    try:
        yield
    finally:
        out.file = None  # the console writes to sys.stdout again
        _restore(original, kept, saved)
