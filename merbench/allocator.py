"""Keep freed memory in the process for the next training step (glibc's malloc), instead of handing it back.

By default glibc serves every allocation above a threshold that starts at
128 KiB with its own mapping, and gives free memory at the top of the heap back
to the kernel once more than twice that threshold is free. A training step
allocates and frees the same megabyte-sized activations and gradients on every
step, so on the CPU each of them came back from the kernel as fresh pages:
a default-profile ConvMixer step page-faulted about 4,500 times, 10–12 ms of
system time in a 70–90 ms step. With both thresholds raised, freed blocks are
reused and a whole default-profile run trains about 6 % faster, with identical
scores (docs/scale.md, "What paid on the CPU"). Nothing else changes: the
numbers computed are the same, only where their memory comes from.

The cost is memory the process keeps after a step frees it: at most
``TRIM_THRESHOLD`` above what it uses, and allocations up to
``MMAP_THRESHOLD`` come from the heap. Where the environment tunes glibc's
malloc itself (any ``MALLOC_*`` variable such as ``MALLOC_TRIM_THRESHOLD_``, or
``glibc.malloc`` tunables in ``GLIBC_TUNABLES``), those settings are kept and
this does nothing, as on other C libraries. ``merbench.engine.train_fold``
calls it, so every process that trains a fold does.
"""

from __future__ import annotations

import ctypes
import os
import platform
from typing import Mapping

MMAP_THRESHOLD = 32 * 1024 * 1024
"""Allocations up to this size come from the heap (glibc's largest automatic value)."""
TRIM_THRESHOLD = 128 * 1024 * 1024
"""Free memory at the top of the heap is given back to the kernel only beyond this."""

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds for this process, once; ``True`` when they are in effect.

    ``False`` (and nothing changed) on a C library other than glibc, or when the
    environment already sets glibc's malloc variables.
    """
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if platform.libc_ver()[0] != "glibc" or _set_by_user(os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _set_by_user(environment: Mapping[str, str]) -> bool:
    """Whether glibc's malloc is already tuned through the environment (its variables or ``GLIBC_TUNABLES``)."""
    return any(name.startswith("MALLOC_") for name in environment) or (
        "glibc.malloc." in environment.get("GLIBC_TUNABLES", ""))
