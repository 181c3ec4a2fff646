"""Fixtures of merbench's speed benchmarks (run with ``pytest benchmarks/``).

The benchmarks share one throw-away cache, so the synthetic data and its
preprocessing are made at most once per session, and one throw-away results
store, so no run of a benchmark (nor of an older revision it runs) lands in the
user's store; each benchmark sees a freshly loaded plugin registry. ``pytest benchmarks/ --benchmark-disable``
runs every benchmark body once, as a plain test.

Threads: torch and OpenCV are pinned to ``MERBENCH_BENCH_THREADS`` threads
(default 1) for the session. On a shared 2-core machine, two intra-op threads
competing with other processes made training 20–100× slower than one thread,
so unpinned numbers mostly measured the neighbours. ``MERBENCH_BENCH_THREADS=0``
keeps the libraries' own defaults (all cores). Every benchmark records the
thread count in ``extra_info``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import cv2
import pytest
import torch

from merbench.registry import Registry, get_registry, reset_registry
from merbench.testing import cache_at, store_at


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Path:
    """Point ``MERBENCH_CACHE`` at a temporary folder for the whole session."""
    with cache_at(tmp_path_factory.mktemp("merbench-bench-cache")) as cache:
        yield cache


@pytest.fixture(scope="session", autouse=True)
def session_store(tmp_path_factory) -> Path:
    """Point ``MERBENCH_STORE`` at a throw-away store for the whole session (the commands benchmarks start too)."""
    with store_at(tmp_path_factory.mktemp("merbench-bench-store") / "results.sqlite") as store:
        yield store


@pytest.fixture(scope="session", autouse=True)
def cpu_threads() -> int:
    """Pin torch's and OpenCV's CPU threads for the session; returns the count in use."""
    requested = int(os.environ.get("MERBENCH_BENCH_THREADS", "1"))
    previous = torch.get_num_threads(), cv2.getNumThreads()
    if requested > 0:
        torch.set_num_threads(requested)
        cv2.setNumThreads(requested)
    yield torch.get_num_threads()
    torch.set_num_threads(previous[0])
    cv2.setNumThreads(previous[1])


@pytest.fixture(autouse=True)
def thread_info(benchmark, cpu_threads) -> None:
    """Record the thread count with every benchmark's result."""
    benchmark.extra_info["torch_threads"] = cpu_threads
    benchmark.extra_info["opencv_threads"] = cv2.getNumThreads()


@pytest.fixture(autouse=True)
def fresh_registry():
    """Each benchmark loads the plugins installed at that moment."""
    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def registry() -> Registry:
    """The process-wide plugin registry, freshly loaded."""
    return get_registry()


@pytest.fixture
def record_rate(benchmark) -> Callable[[str, float], None]:
    """Store ``key = items / mean seconds per round`` in ``benchmark.extra_info``.

    Does nothing under ``--benchmark-disable``, where no timing is taken.
    """

    def record(key: str, items: float) -> None:
        if benchmark.stats is None:  # benchmarking disabled: the body ran once, untimed
            return
        mean = benchmark.stats.stats.mean
        benchmark.extra_info[key] = round(items / mean, 2) if mean > 0 else float("inf")

    return record
