"""``engine.threads=N`` with ``engine.parallel_folds=auto`` runs as many folds at once as the cores hold N threads
each, not one fold per core with N threads each; a batched group (``engine.parallel_mode=vmap``) is one computation
with N threads."""

from __future__ import annotations

import numpy as np
import pytest

import merbench.folds as folds
import merbench.folds.plan as plan
from merbench.engine import TrainSettings, choose_device


@pytest.fixture
def plan_on(monkeypatch):
    """Plan 4 folds of a small ststnet on ``cores`` cores with ample memory; returns (executor, threads per fold)."""
    monkeypatch.setattr(plan, "available_memory", lambda: 64 * 2**30)
    recipe = folds.ModelRecipe("merbench_plugins.models.ststnet:build_model",
                               {"filters": [3, 5, 8], "kernel": 3, "batchnorm": True, "dropout": 0.2}, 3, 3, 28)
    job = folds.FoldJob(recipe, TrainSettings(1, 8, 0.01, 0.0, 0.0, "none"), choose_device("cpu"))
    data = folds.FoldData(np.zeros((8, 3, 28, 28), np.float32), np.zeros(8, int), np.arange(8))

    def invoke(cores: int, threads: int, parallel_folds: str = "auto", mode: str = "auto"):
        monkeypatch.setattr(plan, "usable_cores", lambda: cores)
        engine = {"parallel_folds": parallel_folds, "parallel_mode": mode, "threads": threads}
        executor, job_planned = folds.plan_executor(engine, {"name": "local"}, job, data, n_folds=4)
        return executor, job_planned.threads

    return invoke


def test_threads_per_fold_divide_the_cores_among_the_folds_at_once(plan_on):
    executor, threads = plan_on(cores=2, threads=2)
    assert (type(executor).__name__, threads) == ("SequentialFolds", 2), "2 cores hold one fold of 2 threads"
    executor, threads = plan_on(cores=8, threads=2)
    assert (type(executor).__name__, executor.workers, threads) == ("ProcessFolds", 4, 2)
    executor, threads = plan_on(cores=8, threads=3)
    assert (type(executor).__name__, executor.workers, threads) == ("ProcessFolds", 2, 3)
    executor, threads = plan_on(cores=2, threads=4)
    assert (type(executor).__name__, threads) == ("SequentialFolds", 4), "more threads than cores: one fold"


def test_folds_given_at_once_or_threads_left_to_merbench_plan_as_before(plan_on):
    executor, threads = plan_on(cores=2, threads=2, parallel_folds="2")
    assert (type(executor).__name__, executor.workers, threads) == ("ProcessFolds", 2, 2), "as asked"
    executor, threads = plan_on(cores=8, threads=0)
    assert (type(executor).__name__, executor.workers, threads) == ("ProcessFolds", 4, 2)


def test_vmap_fold_by_fold_on_the_cpu_gives_each_fold_the_threads_of_the_process_path(plan_on):
    for mode in ("processes", "vmap"):
        executor, threads = plan_on(cores=2, threads=0, parallel_folds="1", mode=mode)
        assert (type(executor).__name__, threads) == ("SequentialFolds", 1), f"{mode}: 2 cores, 4 folds: 1 thread"


def test_a_batched_group_on_the_cpu_is_one_computation_with_the_threads_given(plan_on):
    executor, threads = plan_on(cores=2, threads=2, mode="vmap")
    assert (type(executor).__name__, executor.group_size, threads) == ("BatchedFolds", 2, 2), \
        "one fold per core, the 2 threads for the whole group (not cores // threads = 1 fold)"
    executor, threads = plan_on(cores=8, threads=3, mode="vmap")
    assert (executor.group_size, threads) == (4, 3), "as many folds as cores and folds allow"
    executor, threads = plan_on(cores=2, threads=0, mode="vmap")
    assert (executor.group_size, threads) == (2, 0), "0: torch's own count (the runner records it)"
