"""Whole-protocol time of ``ststnet`` and ``convmixer`` under LOSO on the synthetic dataset.

Three ways to train the same folds with the same seeds, epochs and batch size
(the ``default`` profile; one fold per subject: 28 with the synthetic data's defaults):

* ``naive``: the reference loop of ``benchmarks/naive_loop.py``, written the way
  public MER code does it (a ``DataLoader`` re-reading one file per sample every
  epoch, one fold after another), with torch's own thread count (one per core),
  channels-first tensors and the for-loop AdamW, as public code runs;
* ``fold-by-fold``: ``merbench`` with ``engine.parallel_folds=1`` (each fold gets
  ``cores // min(cores, folds)`` threads, one here, as in fold-parallel runs);
* ``fold-parallel``: ``merbench`` with ``engine.parallel_folds=auto``.

Preprocessing is cached before anything is timed. Each is one round (tens of
seconds or more). ``extra_info`` holds pooled UF1/UAR and the seconds; the
naive and fold-by-fold scores must agree within ``SCORE_TOLERANCE`` (their
arithmetic differs, so training drifts apart by rounding; the procedure is the
same, which tests/test_naive_reference.py checks bit for bit), fold-parallel
and fold-by-fold must predict identically, and the
``fold-parallel`` benchmark, which runs last for each model, records and
prints the ratios ``naive / fold-by-fold``, ``naive / fold-parallel`` and
``fold-by-fold / fold-parallel`` (when the other two ran before it in the
session). ``MERBENCH_BENCH_LOSO_MODELS=ststnet`` limits the models and
``MERBENCH_BENCH_LOSO_PROFILE=quick`` (10 subjects, 3 epochs) shortens the runs:
``convmixer`` with the default profile trains for many minutes per mode on a
2-core CPU. ``MERBENCH_BENCH_LOSO_THREADS=N`` gives the naive loop N torch
threads instead of one per core: on a shared machine, two threads that compete
with other processes make its time swing several-fold from run to run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from merbench.cache import cache_root
from merbench.config import resolve_config
from merbench.preprocess import checked_chain, preprocess_dataset
from merbench.registry import get_registry
from merbench.runner import load_dataset, run_benchmark
from merbench.workers import usable_cores

MODELS = [name for name in os.environ.get("MERBENCH_BENCH_LOSO_MODELS", "ststnet,convmixer").split(",") if name]
PROFILE = os.environ.get("MERBENCH_BENCH_LOSO_PROFILE", "default")
THREADS = int(os.environ.get("MERBENCH_BENCH_LOSO_THREADS", "0"))  # 0: one per core, as merbench and torch default
MODES = {"naive": None, "fold-by-fold": "1", "fold-parallel": "auto"}  # mode: engine.parallel_folds
CASES = [(model, mode) for model in MODELS for mode in MODES]  # the modes of a model run in this order

SCORE_TOLERANCE = 0.05  # naive vs merbench pooled UF1/UAR (rounding drift, see test_loso_protocol)

_measured: dict[tuple[str, str], dict[str, Any]] = {}  # (model, mode) -> seconds, scores and predictions


def _load_naive_loop():
    spec = importlib.util.spec_from_file_location("merbench_naive_loop", Path(__file__).with_name("naive_loop.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


naive_loop = _load_naive_loop()


def loso_config(registry, model: str, mode: str):
    """The run configuration of ``model`` under LOSO on synthetic for one mode (``PROFILE``)."""
    sets = {} if MODES[mode] is None else {"engine.parallel_folds": MODES[mode]}
    return resolve_config(registry, model=model, dataset="synthetic", protocol="loso", profile=PROFILE, sets=sets)


@pytest.fixture(scope="module")
def warm_cache(session_cache) -> Path:
    """Generate the synthetic dataset and fill the preprocessing cache of every model, untimed."""
    registry = get_registry()
    for model in MODELS:
        config = loso_config(registry, model, "naive")
        dataset = load_dataset(config, registry, cache_root())
        chain = checked_chain(config, registry)
        preprocess_dataset(dataset, chain, cache_dir=cache_root())
    return session_cache


def _naive(config, registry) -> dict[str, Any]:
    result = naive_loop.run_naive(config, registry, threads=THREADS or usable_cores())
    return {"uf1": result.pooled["uf1"], "uar": result.pooled["uar"], "folds": len(result.folds),
            "predictions": dict(zip(result.sample_ids, result.predictions.tolist())), "threads": result.threads,
            "plan": "naive reference loop, fold by fold"}


def _merbench(config, registry) -> dict[str, Any]:
    result = run_benchmark(config, registry)
    assert result.preprocess["computed"] == 0, "preprocessing must come from the cache, untimed"
    plan = result.engine_plan
    return {"uf1": result.pooled["uf1"], "uar": result.pooled["uar"], "folds": len(result.folds),
            "predictions": {row.id: row.prediction for row in result.predictions},
            "threads": plan.get("threads_per_fold"), "plan": plan.get("description")}


def _run(registry, model: str, mode: str) -> dict[str, Any]:
    """Train the whole protocol once in ``mode``; its scores, predictions and wall-clock seconds."""
    config = loso_config(registry, model, mode)
    started = time.perf_counter()
    measured = (_naive if mode == "naive" else _merbench)(config, registry)
    measured["seconds"] = time.perf_counter() - started
    return measured


def _ratios(model: str) -> dict[str, float]:
    seconds = {mode: _measured[(model, mode)]["seconds"] for mode in MODES}
    return {
        "naive/fold-by-fold": seconds["naive"] / seconds["fold-by-fold"],
        "naive/fold-parallel": seconds["naive"] / seconds["fold-parallel"],
        "fold-by-fold/fold-parallel": seconds["fold-by-fold"] / seconds["fold-parallel"],
    }


def _report(capsys, model: str, ratios: dict[str, float]) -> None:
    lines = [f"LOSO {model} on synthetic: " + ", ".join(
        f"{mode} {_measured[(model, mode)]['seconds']:.1f} s (UF1 {_measured[(model, mode)]['uf1']:.4f})" for mode in MODES
    ), f"LOSO {model} ratios: " + ", ".join(f"{key} {value:.2f}x" for key, value in ratios.items())]
    with capsys.disabled():  # shown even when the test passes
        print("\n" + "\n".join(lines))


@pytest.mark.parametrize(("model", "mode"), CASES, ids=[f"{model}-{mode}" for model, mode in CASES])
def test_loso_protocol(benchmark, capsys, registry, warm_cache, model, mode):
    benchmark.group = f"loso-{model}"
    measured = benchmark.pedantic(_run, args=(registry, model, mode), rounds=1, iterations=1)
    _measured[(model, mode)] = measured

    assert measured["folds"] == loso_config(registry, model, mode).section("dataset")["subjects"]  # one per subject
    assert 0.0 <= measured["uf1"] <= 1.0 and 0.0 <= measured["uar"] <= 1.0
    benchmark.extra_info.update({"model": model, "mode": mode, "protocol": "loso", "profile": PROFILE, "folds": measured["folds"],
                                 "seconds": round(measured["seconds"], 2), "uf1": round(measured["uf1"], 4),
                                 "uar": round(measured["uar"], 4), "threads_per_fold": measured["threads"],
                                 "plan": measured["plan"]})
    if mode == "fold-by-fold" and (model, "naive") in _measured:
        # Same procedure, but public code's arithmetic (channels-first, for-loop AdamW, its own thread
        # count), so training drifts apart by rounding: equal scores within a few points, not bit-equal
        # (tests/test_naive_reference.py checks bit-equality with merbench's arithmetic).
        naive = _measured[(model, "naive")]
        assert abs(measured["uf1"] - naive["uf1"]) < SCORE_TOLERANCE and abs(measured["uar"] - naive["uar"]) < SCORE_TOLERANCE
    if mode == "fold-parallel":
        if any((model, m) not in _measured for m in MODES):
            return  # run alone (or after a failure): nothing to compare with
        sequential = _measured[(model, "fold-by-fold")]["predictions"]
        assert measured["predictions"] == sequential, "fold-parallel and fold by fold must predict alike"
        agreement = np.mean([measured["predictions"][key] == value for key, value in sequential.items()])
        ratios = _ratios(model)
        benchmark.extra_info.update({key: round(value, 3) for key, value in ratios.items()})
        benchmark.extra_info["agreement_with_fold_by_fold"] = round(float(agreement), 4)
        _report(capsys, model, ratios)
