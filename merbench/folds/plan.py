"""Choosing the fold executor of a run from ``engine.parallel_folds``, ``engine.parallel_mode`` and ``executor``."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch
from torch import nn

from merbench.config import COMPILE_WITH_VMAP, VMAP_TORCH_ONLY, parse_parallel_folds
from merbench.errors import UsageError
from merbench.fold_batch import fold_group_size, measure_fold_bytes
from merbench.folds.batched import BatchedFolds
from merbench.folds.job import FoldData, FoldExecutor, FoldJob, ModelRecipe
from merbench.folds.local import ProcessFolds, SequentialFolds
from merbench.folds.ray import RayFolds
from merbench.workers import available_memory, usable_cores

# Resident memory of a worker process that has imported torch and the plugins, before its data.
WORKER_BASE_BYTES = 400 * 2**20


def _memory_fit(data: FoldData) -> int:
    """How many worker processes (besides this one) the free memory holds (each has torch and a copy of the inputs)."""
    free = available_memory()
    if free is None:
        return usable_cores()
    per_worker = WORKER_BASE_BYTES + 3 * data.inputs.nbytes
    return int(free * 0.5 // per_worker)


def _is_torch_model(recipe: ModelRecipe) -> bool:
    return isinstance(recipe(), nn.Module)


def plan_executor(engine: Mapping[str, Any], executor: Mapping[str, Any], job: FoldJob, data: FoldData,
                  n_folds: int) -> tuple[FoldExecutor, FoldJob]:
    """Choose how the folds are trained; returns the executor and the job with its thread count set.

    ``engine.threads`` above 0 fixes the torch threads of each fold; otherwise a
    fold gets ``cores // min(cores, folds)`` threads on the CPU, whatever
    ``parallel_folds`` and ``parallel_mode`` are, so that fold by fold and fold-parallel runs predict alike.
    A batched group's one computation gets ``engine.threads`` (0: torch's default), and the group's size does
    not depend on them (one computation cannot oversubscribe the cores); with ``parallel_mode=vmap`` on the CPU it
    is one fold per core, no more than the available memory holds, and one fold is never a group. ``auto`` picks, on
    the CPU, one fold per core at once (per ``engine.threads`` cores where that is set), this process and worker
    processes (bounded by free memory and the number of folds), and on CUDA as many
    batched folds as fit in free GPU memory, or, with ``engine.compile=true``
    (which batched folds cannot apply), fold by fold.
    """
    requested = parse_parallel_folds(engine["parallel_folds"])
    threads = int(engine["threads"])
    job = dataclasses.replace(job, fits_once=not _is_torch_model(job.recipe))
    if executor.get("name", "local") == "ray":
        return RayFolds.from_options(executor), dataclasses.replace(job, threads=threads or int(executor.get("num_cpus", 1)))
    cuda = job.choice.device.type == "cuda"
    mode = engine["parallel_mode"]
    if mode == "auto":
        mode = "vmap" if cuda else "processes"
    if mode == "vmap" and not (job.settings.early_stopping == 0 and not job.fits_once):
        if engine["parallel_mode"] == "vmap":
            raise UsageError(VMAP_TORCH_ONLY)
        mode = "processes"
    if mode == "vmap" and job.settings.compile:  # batched folds run eagerly (merbench.fold_batch)
        if engine["parallel_mode"] == "vmap":
            raise UsageError(COMPILE_WITH_VMAP)
        mode = "processes"
    chosen: FoldExecutor = SequentialFolds()
    cores = usable_cores()
    if mode == "vmap":
        group = min(requested or _auto_group(job, data, n_folds), n_folds)
        if group > 1:
            chosen = BatchedFolds(group)
        elif requested is None and n_folds > 1 and not cuda and cores > 1:
            chosen = SequentialFolds(MEMORY_HOLDS_ONE)
    elif not cuda:  # on CUDA, several processes would compete for one GPU: folds run one after another
        # auto: this process trains folds too, and folds given N threads each share the cores N by N
        workers = requested or min(max(1, cores // threads) if threads else cores, n_folds, 1 + _memory_fit(data))
        if workers > 1:
            chosen = ProcessFolds(min(workers, n_folds), adaptive=requested is None)
    elif requested is not None and requested > 1:
        chosen = SequentialFolds(_one_gpu(requested, job))
    if not cuda and not isinstance(chosen, BatchedFolds):
        # Not from the executor: a fold's thread count must not depend on how the folds are run,
        # since a different count sums floating-point numbers in a different order.
        threads = threads or max(1, cores // min(cores, n_folds))
    return chosen, dataclasses.replace(job, threads=threads)


MEMORY_HOLDS_ONE = ("not batched: the available memory holds the batched training of one fold at a time; "
                    "engine.parallel_folds=N batches N anyway")
"""Why ``parallel_mode=vmap`` on a CPU of several cores trains fold by fold (``_auto_group``)."""


def _one_gpu(requested: int, job: FoldJob) -> str:
    """Why ``engine.parallel_folds=N`` trains fold by fold on CUDA: not batched (``engine.parallel_mode=processes``,
    or batching cannot train this job), and worker processes would compete for the one GPU."""
    processes = "worker processes would compete for the one GPU"
    if job.settings.compile:
        return f"not {requested} at once: on CUDA batched folds (vmap) cannot apply engine.compile, and {processes}"
    if job.settings.early_stopping or job.fits_once:
        return (f"not {requested} at once: on CUDA batched folds (vmap) need a torch model trained without early "
                f"stopping, and {processes}")
    return (f"not {requested} at once: on CUDA {processes}; engine.parallel_mode=vmap trains {requested} at once as "
            "one batched computation")


def _auto_group(job: FoldJob, data: FoldData, n_folds: int) -> int:
    """Folds per batched group: on CUDA as many as the free GPU memory holds, on the CPU one per core, no more than
    the available memory holds (from one fold's measured need, a training step measured only when it decides)."""
    if job.choice.device.type != "cuda":
        most, free = min(n_folds, usable_cores()), available_memory()
        if most <= 1 or free is None:
            return most
        return min(most, fold_group_size(free, measure_fold_bytes(job.recipe, data, job.settings, job.choice), n_folds))
    if n_folds <= 1:
        return n_folds
    free, _ = torch.cuda.mem_get_info(job.choice.device)
    return fold_group_size(free, measure_fold_bytes(job.recipe, data, job.settings, job.choice), n_folds)


def executor_notes(executor: FoldExecutor, job: FoldJob) -> list[str]:
    """Notes a result keeps about how its folds were trained (batched folds' dropout masks); empty for most plans."""
    return executor.notes(job) if isinstance(executor, BatchedFolds) else []


def describe_plan(executor: FoldExecutor, job: FoldJob) -> dict[str, Any]:
    """The executor choice as recorded in a result (``engine_plan``)."""
    return {"executor": type(executor).__name__, "description": executor.description,
            "threads_per_fold": job.threads, "workers": getattr(executor, "workers", None),
            "group_size": getattr(executor, "group_size", None)}
