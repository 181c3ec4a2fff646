"""Preprocessing speed on the synthetic dataset: clips per second per flow method,
cold versus warm cache, and serial versus parallel (worker processes).

Each cold round gets an empty cache folder; warm rounds reuse a filled one. The
dataset is 64 synthetic clips of 64×64 pixels, 16 frames (generated once).
Results are in ``extra_info``: ``clips_per_second``, ``warm_seconds``,
``warm_to_cold`` (must stay under 0.02 for TV-L1, the default method; measured
about 0.017 for DIS and 0.013 for Farneback, whose cold runs take well under
0.1 s, so for them the ratio is recorded, not asserted),
``serial_seconds``, ``parallel_seconds`` and ``parallel_speedup``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from merbench import preprocess as prep_module
from merbench.config import resolve_config
from merbench.preprocess import checked_chain, preprocess_dataset
from merbench.runner import load_dataset
from merbench_plugins.preprocessors.flow import tvl1_available

DATA = {"dataset.subjects": 8, "dataset.clips_per_subject": 8, "dataset.size": 64, "dataset.frames": 16}
METHODS = ["tvl1", "dis", "farneback"]


def prepare(registry, cache: Path, method: str):
    config = resolve_config(registry, model="convmixer", dataset="synthetic", sets={**DATA, "flow.method": method})
    dataset = load_dataset(config, registry, cache)
    chain = checked_chain(config, registry)
    return dataset, chain


def cold_run(dataset, chain, workers: int) -> float:
    with tempfile.TemporaryDirectory(prefix="merbench-cold-") as folder:  # an empty cache each time, removed after
        started = time.perf_counter()
        result = preprocess_dataset(dataset, chain, cache_dir=Path(folder), workers=workers)
        elapsed = time.perf_counter() - started
    assert result.computed == len(dataset.samples)
    return elapsed


@pytest.fixture(params=METHODS)
def method(request) -> str:
    if request.param == "tvl1" and not tvl1_available():
        pytest.skip("TV-L1 needs opencv-contrib (cv2.optflow)")
    return request.param


def test_cold_versus_warm(benchmark, record_rate, registry, session_cache, method, tmp_path):
    dataset, chain = prepare(registry, session_cache, method)
    n = len(dataset.samples)
    benchmark.pedantic(lambda: cold_run(dataset, chain, workers=0), rounds=2, iterations=1)
    record_rate("clips_per_second", n)

    warm_cache = tmp_path / "warm"
    started = time.perf_counter()
    filled = preprocess_dataset(dataset, chain, cache_dir=warm_cache, workers=0)
    cold_seconds = time.perf_counter() - started
    assert filled.computed == n
    warm = []
    for _ in range(5):
        started = time.perf_counter()
        again = preprocess_dataset(dataset, chain, cache_dir=warm_cache, workers=0)
        warm.append(time.perf_counter() - started)
        assert again.computed == 0
    ratio = min(warm) / cold_seconds
    benchmark.extra_info.update(method=method, clips=n, cold_seconds=round(cold_seconds, 4),
                                warm_seconds=round(min(warm), 5), warm_to_cold=round(ratio, 5))
    if method == "tvl1":
        assert ratio < 0.02, f"warm preprocessing took {ratio:.1%} of the cold run"


def test_serial_versus_parallel(benchmark, registry, session_cache, method, monkeypatch):
    dataset, chain = prepare(registry, session_cache, method)
    # force worker processes even where the in-process probe would judge them not worth starting
    monkeypatch.setattr(prep_module, "PARALLEL_WORTH_S", 0.0)
    workers = max(2, len(os.sched_getaffinity(0)))
    parallel = benchmark.pedantic(lambda: cold_run(dataset, chain, workers=workers), rounds=2, iterations=1)
    serial = min(cold_run(dataset, chain, workers=1) for _ in range(2))
    parallel = benchmark.stats.stats.min if benchmark.stats is not None else parallel
    benchmark.extra_info.update(method=method, clips=len(dataset.samples), workers=workers,
                                serial_seconds=round(serial, 4), parallel_seconds=round(parallel, 4),
                                parallel_speedup=round(serial / parallel, 3))
