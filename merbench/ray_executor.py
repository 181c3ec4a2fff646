"""Ray: the folds of a run, or the cells of a grid, as tasks on a Ray cluster.

``executor.name=ray`` (``--executor ray``) sends work to Ray: ``RayFolds``
trains each fold of a run as one Ray task, ``RayCells`` runs each cell of a
``merbench grid`` as one. Every task asks for ``executor.num_cpus`` CPUs and
``executor.num_gpus`` GPUs and is retried up to ``executor.max_retries`` times
when its worker dies or it raises an unexpected exception; merbench's own
errors (bad options, a diverging loss) are not retried, since they would fail
again. Results come back to this process, which writes them into the results
store as they arrive, so finished work survives a later failure.

Ray is optional (``pip install -e ".[ray]"``) and imported only here, and only
when an executor needs it.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

from merbench.errors import MerbenchError, RunFailed, UsageError

RAY_MISSING = 'executor.name=ray needs Ray: pip install -e ".[ray]"'
# A wrong address makes ray.init retry for minutes; a plain TCP probe answers in seconds.
CONNECT_PROBE_S = 5.0
QUIET = {"logging_level": "WARNING", "include_dashboard": False}


def import_ray() -> Any:
    """The ``ray`` module, or a ``UsageError`` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(RAY_MISSING) from None
    return ray


def _split_address(address: str, setting: str = "executor.address") -> tuple[str, int]:
    """``HOST:PORT`` or ``ray://HOST:PORT`` as (host, port); ``UsageError`` for anything else."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "ray") or not parts.hostname or port is None:
        raise UsageError(
            f"{setting}={address}: expected auto, HOST:PORT (a cluster's head, e.g. 10.0.0.5:6379) "
            "or ray://HOST:PORT (a Ray client server, e.g. ray://10.0.0.5:10001)"
        )
    return parts.hostname, port


def _probe(address: str, setting: str = "executor.address") -> None:
    """Fail fast, with a fix, when nothing listens at ``address`` (named ``setting`` in messages)."""
    host, port = _split_address(address, setting)
    try:
        socket.create_connection((host, port), timeout=CONNECT_PROBE_S).close()
    except OSError as exc:
        raise UsageError(
            f"{setting}={address}: cannot reach a Ray cluster there ({exc}). Start one with "
            f"`ray start --head --port {port}` on {host}, check the address and firewall, or use "
            "executor.address=auto for a local Ray instance"
        ) from None


def connect(address: str = "auto", say: Callable[[str], None] | None = None) -> Any:
    """Connect this process to Ray and return the ``ray`` module.

    An already initialised Ray (a test's ``ray.init(num_cpus=2)``) is reused
    as it is. ``auto`` joins the cluster named by ``RAY_ADDRESS`` or started
    with ``ray start`` on this machine, else starts a local Ray instance (and
    ``say``s so). ``HOST:PORT`` and ``ray://HOST:PORT`` connect there. Raises
    ``UsageError`` when Ray is missing or the cluster cannot be reached.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    address = str(address).strip() or "auto"
    if address != "auto":
        return _join(ray, address, "executor.address")
    named = os.environ.get("RAY_ADDRESS", "").strip()
    if named and named not in ("auto", "local"):
        return _join(ray, named, "RAY_ADDRESS")
    try:
        ray.init(address="auto", **QUIET)
        return ray
    except ConnectionError:
        pass
    if say is not None:
        say("Ray: no running cluster found (RAY_ADDRESS is not set and `ray start` was not run on this machine); "
            "starting a local Ray instance")
    ray.init(**QUIET)
    return ray


def _join(ray: Any, address: str, setting: str) -> Any:
    """Join the cluster at ``address`` (named ``setting`` in messages), or raise a ``UsageError`` with a fix."""
    _probe(address, setting)
    try:
        ray.init(address=address, **({"logging_level": "WARNING"} if address.startswith("ray://") else QUIET))
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError or its own errors here
        raise UsageError(
            f"{setting}={address}: could not join the Ray cluster ({type(exc).__name__}: {exc}). Check that "
            "the cluster runs the same Ray and Python versions as this machine (`ray status` on the head node); "
            "a cluster with token authentication also needs RAY_AUTH_MODE=token and its token here "
            "(RAY_AUTH_TOKEN, or ~/.ray/auth_token; `ray get-auth-token` on the head node prints it)"
        ) from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """The ``executor`` section as Ray task options."""

    address: str = "auto"
    num_cpus: int = 1
    num_gpus: float = 0.0
    max_retries: int = 2

    @classmethod
    def from_section(cls, executor: Mapping[str, Any]) -> "RayOptions":
        """Read ``executor.address``, ``num_cpus``, ``num_gpus`` and ``max_retries``."""
        return cls(str(executor.get("address", "auto")), int(executor.get("num_cpus", 1)),
                   float(executor.get("num_gpus", 0.0)), int(executor.get("max_retries", 2)))

    def task_options(self) -> dict[str, Any]:
        """``.options(...)`` of every task: its resources and retries (unexpected exceptions too)."""
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "max_retries": self.max_retries,
                "retry_exceptions": True}

    @property
    def resources(self) -> str:
        """What each task asks for, in words."""
        gpus = f", {self.num_gpus:g} GPU" if self.num_gpus else ""
        return f"{self.num_cpus} CPU{gpus} each, up to {self.max_retries} retries"


@lru_cache(maxsize=None)
def _remote(function: Callable[..., Any]) -> Any:
    """``function`` as a Ray remote function (made once per process)."""
    return import_ray().remote(function)


def failure_text(exc: BaseException) -> str:
    """What went wrong in a Ray task, in one line."""
    ray = import_ray()
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = getattr(exc, "cause", None)
        if cause is not None:
            return f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}"
    lost = tuple(getattr(ray.exceptions, name) for name in ("WorkerCrashedError", "NodeDiedError", "OwnerDiedError")
                 if hasattr(ray.exceptions, name))  # not every Ray version has all of them
    if isinstance(exc, lost):
        return "its Ray worker died (out of memory, or its node was lost)"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _cancel(ray: Any, refs: Sequence[Any]) -> None:
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:  # already finished or gone: nothing to cancel
            pass


def _as_completed(ray: Any, pending: dict) -> Iterator[tuple[Any, Any]]:
    """``(ref, key)`` of each task of ``pending`` (ref -> key) as it finishes.

    When the caller stops early (an error, Ctrl-C), the tasks still pending are cancelled.
    """
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield ref, pending.pop(ref)
    except BaseException:  # GeneratorExit too: the caller's loop ended with an exception
        _cancel(ray, list(pending))
        raise


# ------------------------------------------------------------------ folds of one run

_worker_tensors: dict[str, Any] = {}


def _worker_choice(choice: Any) -> Any:
    """The parent's device choice on this worker: a CUDA choice becomes the GPU Ray gave this task."""
    import torch

    if choice.device.type != "cuda":
        return choice
    if not torch.cuda.is_available():
        raise UsageError(f"Ray worker on {socket.gethostname()} has no CUDA device for this fold; give folds a GPU with "
                         "--set executor.num_gpus=1 (or run on the CPU with --device cpu)")
    amp = None if choice.amp_dtype is None else (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return dataclasses.replace(choice, device=torch.device("cuda", 0), amp_dtype=amp)  # Ray sets CUDA_VISIBLE_DEVICES


def _tensors_on_worker(data_ref: Any, device: Any) -> Any:
    """The run's data on this worker's device, fetched once per worker and reused by its later folds."""
    import numpy as np

    from merbench.folds import DeviceTensors, FoldData

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
    import numpy as np

    from merbench.folds import train_task

    fold = task.fold  # arrays of task arguments are read-only views of Ray's object store
    task = dataclasses.replace(task, fold=dataclasses.replace(fold, train=np.array(fold.train), test=np.array(fold.test)))
    try:
        job = dataclasses.replace(job, choice=_worker_choice(job.choice))
        return "ok", train_task(job, _tensors_on_worker(data_box[0], job.choice.device), task)
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

        A fold that still fails after its retries raises ``RunFailed`` (the
        remaining folds are cancelled; those already reported stay stored).
        """
        if job.choice.device.type == "cuda" and self.options.num_gpus <= 0:
            raise UsageError("folds on CUDA with executor.name=ray need a GPU per task: --set executor.num_gpus=1 "
                             "(or a fraction such as 0.5 to share one GPU between folds)")
        ray = connect(self.options.address, progress.message)
        job_ref, data_ref = ray.put(job), ray.put(data)
        remote, options = _remote(train_fold_task), self.options.task_options()
        pending = {
            remote.options(**options, name=f"merbench fold {task.fold.index}").remote(job_ref, [data_ref], task): task
            for task in tasks
        }
        progress.message(f"Ray: {len(tasks)} fold tasks submitted ({self.options.resources}); "
                         f"cluster has {ray.cluster_resources().get('CPU', 0):g} CPUs")
        for ref, task in _as_completed(ray, pending):
            on_done(task, self._output(ray, ref, task))

    def _output(self, ray: Any, ref: Any, task: Any) -> Any:
        try:
            status, value = ray.get(ref)
        except ray.exceptions.RayError as exc:
            raise RunFailed(
                f"fold {task.fold.index} failed on Ray after {self.options.max_retries} retries: {failure_text(exc)}. "
                "Completed folds are kept in the results store: continue with `merbench run --resume RUN_ID` "
                "(the id printed when the run started; see `merbench runs --status failed`)"
            ) from None
        if status == "error":
            raise type(value)(f"fold {task.fold.index}: {value}")
        return value


# ------------------------------------------------------------------ cells of a grid


class RayCells:
    """Runs grid cells (whole runs of one model, dataset and protocol) as Ray tasks."""

    def __init__(self, options: RayOptions):
        self.options = options
        self.description = f"Ray tasks ({options.resources}), cluster {options.address}"

    def run(self, cells: Sequence[Any], n_seeds: int, on_done: Callable[[int, Any], None],
            say: Callable[[str], None] | None = None) -> None:
        """Run ``merbench.grid.run_cell_detached`` for each cell; ``on_done(i, report)`` as each finishes.

        ``report`` is a ``merbench.grid.CellReport``; a cell whose task failed
        after its retries gives a report with ``error`` set (the other cells go on).
        """
        from merbench.grid import CellReport, run_cell_detached

        ray = connect(self.options.address, say)
        remote, options = _remote(run_cell_detached), self.options.task_options()
        granted = (self.options.num_cpus, self.options.num_gpus)
        pending = {
            remote.options(**options, name=f"merbench cell {cell.label}").remote(cell.config, n_seeds, *granted): i
            for i, cell in enumerate(cells)
        }
        if say is not None:
            say(f"Ray: {len(cells)} grid cells submitted ({self.options.resources}); "
                f"cluster has {ray.cluster_resources().get('CPU', 0):g} CPUs")
        for ref, i in _as_completed(ray, pending):
            try:
                report = ray.get(ref)
            except ray.exceptions.RayError as exc:
                report = CellReport(error=RunFailed(
                    f"failed on Ray after {self.options.max_retries} retries: {failure_text(exc)}"))
            on_done(i, report)
