"""How many bytes a piece of code reads from files: the tests' measure of what a store read costs."""

from __future__ import annotations

from pathlib import Path

import pytest


def bytes_read(read) -> int:
    """The bytes this process reads from files while it calls ``read()`` (Linux's ``rchar`` count); skips the test
    where ``/proc/self/io`` does not exist."""
    counts = Path("/proc/self/io")
    if not counts.exists():
        pytest.skip("needs /proc/self/io (Linux) to count the bytes read")

    def read_so_far() -> int:
        return next(int(line.split()[1]) for line in counts.read_text().splitlines() if line.startswith("rchar"))

    before = read_so_far()
    read()
    return read_so_far() - before
