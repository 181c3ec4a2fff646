"""The naive reference loop of ``benchmarks/naive_loop.py`` gives merbench's predictions.

The speed benchmarks compare merbench with that loop "at equal scores"; these
tests guard the claim on the quick profile: 3 folds (one with a training part
whose last batch of one sample is dropped, as the engine does), several batches
per epoch, one torch thread on both sides.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from merbench.config import resolve_config
from merbench.registry import get_registry
from merbench.runner import run_benchmark

NAIVE_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "naive_loop.py"
# 3 folds of 42, 36 and 42 training clips: with batches of 7 the 36-clip fold drops a last batch of one.
SETTINGS = {"protocol.n_splits": 3, "engine.batch_size": 7, "engine.parallel_folds": 1, "engine.threads": 1}
# Between them the two models cover class weighting and label smoothing; 5 epochs keep convmixer off one class.
EXTRA = {"ststnet": {"engine.class_weighting": "balanced"},
         "convmixer": {"engine.epochs": 5, "engine.label_smoothing": 0.1}}


@pytest.fixture(scope="module")
def naive_loop():
    """``benchmarks/naive_loop.py`` imported by path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("merbench_naive_loop", NAIVE_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.mark.parametrize("model", ["ststnet", "convmixer"])
def test_naive_loop_predicts_as_merbench_fold_by_fold(naive_loop, model):
    registry = get_registry()
    config = resolve_config(registry, model=model, dataset="synthetic", profile="quick",
                            sets={**SETTINGS, **EXTRA[model]})

    reference = run_benchmark(config, registry)
    naive = naive_loop.run_naive(config, registry, threads=1, engine_numerics=True)

    by_id = {row.id: row.prediction for row in reference.predictions}
    assert len(naive.folds) == len(reference.folds) == 3
    assert sorted(by_id) == sorted(naive.sample_ids)
    expected = np.array([by_id[sample_id] for sample_id in naive.sample_ids])
    assert len(np.unique(expected)) > 1, "a run predicting one class would not tell two loops apart"
    for fold in naive.folds:
        assert np.array_equal(fold.predictions, expected[fold.fold.test]), f"fold {fold.fold.index} differs"
    assert np.array_equal(naive.predictions, expected)
    assert naive.pooled == pytest.approx(reference.pooled)
    for fold, record in zip(naive.folds, reference.folds):
        assert len(fold.epoch_losses) == record.epochs_trained == config.section("engine")["epochs"]
        assert fold.epoch_losses[-1] == pytest.approx(record.final_train_loss, rel=1e-6)


def test_engine_order_drops_a_last_batch_of_one(naive_loop):
    order = naive_loop.EngineOrder(36, 7, seed=5)
    first, second = list(order), list(order)
    assert [len(batch) for batch in first] == [7] * 5
    assert len(set(sum(first, []))) == 35 and first != second  # a new permutation each epoch
    assert [len(batch) for batch in naive_loop.EngineOrder(37, 7, seed=5)] == [7] * 5 + [2]


def test_sample_files_hold_the_exact_inputs(naive_loop, tmp_path):
    inputs = np.random.default_rng(0).normal(size=(5, 3, 4, 4)).astype(np.float32)
    paths = naive_loop.write_sample_files(inputs, tmp_path / "files")
    assert [path.parent for path in paths] == [tmp_path / "files"] * 5
    assert all(np.array_equal(np.load(path), sample) for path, sample in zip(paths, inputs))
