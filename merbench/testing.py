"""Helpers for tests of merbench and of merbench plugins."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def cache_at(folder: Path) -> Iterator[Path]:
    """Point ``MERBENCH_CACHE`` at ``folder`` inside the block, then restore it."""
    previous = os.environ.get("MERBENCH_CACHE")
    os.environ["MERBENCH_CACHE"] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("MERBENCH_CACHE", None)
        else:
            os.environ["MERBENCH_CACHE"] = previous
