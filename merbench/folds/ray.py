"""Folds as Ray tasks: ``RayFolds`` trains each fold of a run on a Ray worker (``merbench.ray_cluster``)."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from merbench.engine import cuda_choice
from merbench.errors import FoldsLost, MerbenchError, UsageError
from merbench.folds.job import DeviceTensors, FoldData, train_task
from merbench.ray_cluster import RayOptions, as_completed, failure_text, import_ray, join_cluster, remote_function
from merbench.wording import counted


_worker_tensors: dict[str, Any] = {}


def _worker_choice(choice: Any) -> Any:
    """The parent's device choice on this worker: a CUDA choice becomes the GPU Ray gave this task, described with
    that GPU's name and precision (a worker's GPU may be another model than the parent's)."""
    if choice.device.type != "cuda":
        return choice
    if not torch.cuda.is_available():
        raise UsageError(f"Ray worker on {socket.gethostname()} has no CUDA device for this fold; give folds a GPU with "
                         "--set executor.num_gpus=1 (or run on the CPU with --device cpu)")
    # Ray sets CUDA_VISIBLE_DEVICES, so the task's GPU is cuda:0
    return cuda_choice(torch.device("cuda", 0), "off" if choice.amp_dtype is None else "auto", "Ray task")


def trained_on(choice: Any) -> str:
    """Where a Ray task trained its fold (``FoldRecord.trained_on``): the worker's host and its device, a GPU by name
    and precision (``cuda (NAME, PRECISION; Ray task)``), the CPU by ``environment.describe_cpu``."""
    from merbench.environment import describe_cpu

    device = choice.description if choice.device.type == "cuda" else f"cpu ({describe_cpu()})"
    return f"{socket.gethostname()}: {device}"


def _tensors_on_worker(data_ref: Any, device: Any) -> Any:
    """The run's data on this worker's device, fetched once per worker and reused by its later folds."""
    key = f"{data_ref.hex()}@{device}"
    if key not in _worker_tensors:
        data = import_ray().get(data_ref)
        # Arrays from the object store are read-only; torch wants its own writable copy.
        data = FoldData(np.array(data.inputs), np.array(data.labels), np.array(data.subjects))
        _worker_tensors.clear()
        _worker_tensors[key] = DeviceTensors(data, device)
    return _worker_tensors[key]


def train_fold_task(job: Any, data_box: list[Any], task: Any) -> tuple[str, Any]:
    """Train one fold on a Ray worker: ``("ok", FoldOutput)``, or ``("error", MerbenchError)`` (not retried)."""
    fold = task.fold  # arrays of task arguments are read-only views of Ray's object store
    task = dataclasses.replace(task, fold=dataclasses.replace(fold, train=np.array(fold.train), test=np.array(fold.test)))
    try:
        job = dataclasses.replace(job, choice=_worker_choice(job.choice))
        output = train_task(job, _tensors_on_worker(data_box[0], job.choice.device), task)
        return "ok", dataclasses.replace(output, trained_on=trained_on(job.choice))
    except MerbenchError as exc:
        if isinstance(exc.__cause__, Exception) and not isinstance(exc.__cause__, MerbenchError):
            raise exc.__cause__ from None  # a model factory's own exception (folds.ModelRecipe): retried as before
        return "error", exc


class RayFolds:
    """A ``FoldExecutor`` that trains every fold as a Ray task and reports each as it completes."""

    def __init__(self, options: RayOptions):
        self.options = options
        self.description = f"Ray tasks ({options.resources}), cluster {options.address}"

    @classmethod
    def from_options(cls, executor: Mapping[str, Any]) -> "RayFolds":
        """Build from the ``executor`` section of a run config."""
        return cls(RayOptions.from_section(executor))

    def run(self, job: Any, data: Any, tasks: Sequence[Any], on_done: Callable[[Any, Any], None], progress: Any) -> None:
        """Submit one task per fold (the data goes to the object store once); ``on_done`` each as it finishes.

        A fold that still fails after its retries raises ``FoldsLost`` (the
        remaining folds are cancelled; those already reported stay stored).
        """
        if job.choice.device.type == "cuda" and self.options.num_gpus <= 0:
            raise UsageError("folds on CUDA with executor.name=ray need a GPU per task: --set executor.num_gpus=1 "
                             "(or a fraction such as 0.5 to share one GPU between folds); on a cluster without GPUs, "
                             "train on the CPU with --device auto (or cpu)")
        ray = join_cluster(self.options, progress.message)
        job_ref, data_ref = ray.put(job), ray.put(data)
        remote, options = remote_function(train_fold_task), self.options.task_options()
        pending = {
            remote.options(**options, name=f"merbench fold {task.fold.index + 1}").remote(job_ref, [data_ref], task): task
            for task in tasks
        }
        progress.message(f"Ray: {counted(tasks, 'fold task')} submitted ({self.options.resources}); "
                         f"cluster has {ray.cluster_resources().get('CPU', 0):g} CPUs")
        for ref, task in as_completed(ray, pending):
            on_done(task, self._output(ray, ref, task))

    def _output(self, ray: Any, ref: Any, task: Any) -> Any:
        try:
            status, value = ray.get(ref)
        except ray.exceptions.RayError as exc:
            raise FoldsLost(
                f"fold {task.fold.index + 1} failed on Ray after {self.options.max_retries} retries: {failure_text(exc)}"
            ) from None
        if status == "error":  # named with its fold, unless its message already starts with it
            named = str(value).startswith((f"fold {task.fold.index + 1}:", f"fold {task.fold.index + 1},"))
            raise type(value)(str(value) if named else f"fold {task.fold.index + 1}: {value}")
        return value
