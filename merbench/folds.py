"""Where the folds of a run are trained: one after another, in worker processes, batched, or on Ray.

Every executor trains the same ``FoldTask`` list with the same per-fold seed
and torch thread count, so the choice changes the time a protocol takes, not
its predictions:

* ``SequentialFolds``: in this process, one fold after another;
* ``ProcessFolds``: in worker processes with one torch thread each (the CPU
  path, DESIGN.md section 8: on a CPU, batched training of several folds is
  slower than spreading folds over cores);
* ``BatchedFolds``: several folds as one ``vmap`` computation (the GPU path,
  ``merbench.fold_batch``);
* ``merbench.ray_executor.RayFolds``: folds as Ray tasks on a cluster.

``plan_executor`` turns ``engine.parallel_folds``/``engine.parallel_mode`` and
the ``executor`` section into one of them.
"""

from __future__ import annotations

import dataclasses
import os
import queue as queues
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from merbench.contracts import Factory, Fold, FoldOutput, resolve_factory
from merbench.engine import DeviceChoice, TrainSettings, torch_threads, train_fold
from merbench.config import parse_parallel_folds
from merbench.errors import MerbenchError, RunFailed, UsageError
from merbench.progress import ProgressSink
from merbench.workers import (available_memory, exit_with, picklable, process_context, start_worker_server,
                              stop_workers, usable_cores)

# Worker processes pay off only when the folds left would take longer than this in one process.
PARALLEL_WORTH_S = 4.0
# Resident memory of a worker process that has imported torch and the plugins, before its data.
WORKER_BASE_BYTES = 400 * 2**20


@dataclass(frozen=True)
class ModelRecipe:
    """How to build a fresh model for a fold; picklable when ``build`` is a module-level factory."""

    build: Factory
    options: Mapping[str, Any]
    in_channels: int
    n_classes: int
    input_size: int
    plugin: str = "the model plugin"
    """Who built the model, for messages: ``model plugin 'NAME' (DISTRIBUTION VERSION)``."""

    def __call__(self) -> Any:
        """A new, untrained model (or estimator); a factory that raises is a ``PluginError`` naming the plugin."""
        from merbench.engine import build_error

        try:
            return resolve_factory(self.build)(dict(self.options), self.in_channels, self.n_classes, self.input_size)
        except MerbenchError:
            raise
        except Exception as exc:
            raise build_error(self.plugin, exc) from exc  # the cause: Ray retries it like any plugin failure


@dataclass(frozen=True)
class FoldJob:
    """What every fold of a run shares: the model recipe, the training settings, the device and threads."""

    recipe: ModelRecipe
    settings: TrainSettings
    choice: DeviceChoice
    threads: int = 0


@dataclass(frozen=True)
class FoldData:
    """The preprocessed inputs (N, C, H, W), labels and subjects of every sample of a run."""

    inputs: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray


@dataclass(frozen=True)
class FoldTask:
    """One fold to train, with its seed (``run seed * 1000 + fold index``)."""

    fold: Fold
    seed: int


OnDone = Callable[[FoldTask, FoldOutput], None]


class FoldExecutor(Protocol):
    """Trains a list of fold tasks and reports each one as it completes."""

    description: str

    def run(self, job: FoldJob, data: FoldData, tasks: Sequence[FoldTask], on_done: OnDone,
            progress: ProgressSink) -> None:
        """Train every task; call ``on_done(task, output)`` once per task, in completion order."""


@dataclass
class DeviceTensors:
    """``FoldData`` moved to a device once, reused by every fold trained in this process."""

    data: FoldData
    device: Any
    inputs: Any = field(init=False)
    labels: Any = field(init=False)

    def __post_init__(self) -> None:
        import torch

        self.inputs = torch.as_tensor(self.data.inputs, device=self.device)
        self.labels = torch.as_tensor(self.data.labels, device=self.device)


def train_task(job: FoldJob, tensors: DeviceTensors, task: FoldTask,
               on_epoch: Callable[[int, float], None] | None = None) -> FoldOutput:
    """Train one fold in this process with ``job.threads`` torch threads (0: leave torch's setting)."""
    with torch_threads(job.threads):
        return train_fold(job.recipe, tensors.inputs, tensors.labels, task.fold, job.recipe.n_classes, job.settings,
                          job.choice, seed=task.seed, on_epoch=on_epoch, subjects=tensors.data.subjects)


def _epoch_reporter(progress: ProgressSink, job: FoldJob, task: FoldTask, n_folds: int) -> Callable[[int, float], None]:
    progress.start("epochs", job.settings.epochs, f"Fold {task.fold.index + 1}/{n_folds} epochs")
    return lambda epoch, loss: progress.advance("epochs", 1, note=f"loss {loss:.3f}")


class SequentialFolds:
    """Train the folds one after another in this process."""

    description = "fold by fold in this process"

    def run(self, job: FoldJob, data: FoldData, tasks: Sequence[FoldTask], on_done: OnDone,
            progress: ProgressSink) -> None:
        """Train each task in turn, reporting epochs."""
        tensors = DeviceTensors(data, job.choice.device)
        for task in tasks:
            on_done(task, train_task(job, tensors, task, _epoch_reporter(progress, job, task, len(tasks))))


# ------------------------------------------------------------------ worker processes

_worker_state: dict[str, Any] = {}


def _worker_start(job: FoldJob, data: FoldData, run_pid: int) -> None:
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run handles Ctrl-C and cancels the rest
    exit_with(run_pid)
    torch.set_num_threads(max(1, job.threads))
    _worker_state["job"] = job
    _worker_state["tensors"] = DeviceTensors(data, job.choice.device)


def _worker_ready() -> bool:
    return True


def _worker_train(task: FoldTask) -> tuple[FoldTask, FoldOutput]:
    return task, train_task(_worker_state["job"], _worker_state["tensors"], task)


class ProcessFolds:
    """Train ``workers`` folds at once in processes, each fold with ``job.threads`` torch threads.

    Without ``adaptive`` the folds go to ``workers`` worker processes. With
    ``adaptive`` this process is one of the ``workers``: it trains folds one
    after another until more processes are worth having: after the first fold's
    first epoch the time of the remaining folds is estimated; when it is above
    ``PARALLEL_WORTH_S``, ``workers - 1`` worker processes start in the
    background while this process goes on training, and from then on this
    process and the workers each take the next fold not yet started. Every
    fold uses the same thread count wherever it runs, so the choice does not
    change predictions.
    """

    def __init__(self, workers: int, adaptive: bool = False):
        self.workers = workers
        self.adaptive = adaptive
        self.description = (f"{workers} folds at once: this process and {workers - 1} worker process(es) "
                            "(when the folds take long enough)" if adaptive else f"{workers} worker processes")

    def run(self, job: FoldJob, data: FoldData, tasks: Sequence[FoldTask], on_done: OnDone,
            progress: ProgressSink) -> None:
        """Train the tasks, in worker processes where that pays off."""
        queue = _TaskQueue(tasks)
        if not tasks:
            return
        if not picklable(job):
            progress.message("[yellow]Note:[/] the model plugin cannot be sent to worker processes "
                             "(a lambda or local class); training its folds one after another")
            SequentialFolds().run(job, data, list(tasks), on_done, progress)
            return
        if not self.adaptive:
            pool = self._start(job, data, self.workers, len(tasks))
            self._collect(pool, pool.submit_all(queue), on_done)
            return
        if len(tasks) > 2:
            start_worker_server()  # imports torch in the background while the first folds train here
        tensors = DeviceTensors(data, job.choice.device)
        feeds: list[_WorkerFeed] = []
        started = time.perf_counter()

        def consider_workers(report: Callable[[int, float], None]) -> Callable[[int, float], None]:
            def on_epoch(epoch: int, loss: float) -> None:
                report(epoch, loss)
                per_fold = (time.perf_counter() - started) * job.settings.epochs / (epoch + 1)
                if not feeds and len(queue) > 1 and per_fold * len(queue) > PARALLEL_WORTH_S:
                    feeds.append(_WorkerFeed(self, job, data, queue, progress))
            return on_epoch

        try:
            first = True
            while (task := queue.take()) is not None:
                report = _epoch_reporter(progress, job, task, len(tasks))
                on_done(task, train_task(job, tensors, task, consider_workers(report) if first else report))
                first = False
                if feeds:
                    feeds[0].report(on_done)
            if feeds:
                feeds[0].finish(on_done)
        except BaseException:
            if feeds:
                feeds[0].abandon()
            raise

    @staticmethod
    def _start(job: FoldJob, data: FoldData, workers: int, n_tasks: int,
               created: Callable[[ProcessPoolExecutor], None] | None = None) -> "_Pool":
        """Start ``workers`` worker processes (at most one per task) and wait until each has the job and data.

        ``created(executor)`` is called before the processes start, so that
        another thread can stop them while they start.
        """
        workers = min(workers, n_tasks)
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=process_context(),
                                       initializer=_worker_start, initargs=(job, data, os.getpid()))
        if created is not None:
            created(executor)
        try:
            for future in [executor.submit(_worker_ready) for _ in range(workers)]:
                future.result()
        except BaseException:
            stop_workers(executor)
            raise
        return _Pool(executor, workers)

    @staticmethod
    def _collect(pool: "_Pool", futures: set, on_done: OnDone) -> None:
        """Report each submitted fold as it completes; shuts the pool down."""
        pending = futures
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    on_done(*_fold_result(future))
        except BaseException:
            stop_workers(pool.executor)
            raise
        pool.executor.shutdown(wait=True)


def _fold_result(future) -> tuple[FoldTask, FoldOutput]:
    """A worker's ``(task, output)``; ``RunFailed`` with what to do when the worker process died."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise RunFailed(
            "a fold worker process died (out of memory?); completed folds are kept in the results store: "
            "continue with `merbench run --resume RUN_ID`, or train folds one at a time with "
            "--set engine.parallel_folds=1"
        ) from None


class _TaskQueue:
    """Folds not yet started: taken one at a time (this process and the worker feed) or all at once (a worker pool)."""

    def __init__(self, tasks: Sequence[FoldTask]):
        self._tasks = list(tasks)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tasks)

    def take(self) -> FoldTask | None:
        """The next fold, or ``None`` when none is left."""
        with self._lock:
            return self._tasks.pop(0) if self._tasks else None

    def take_all(self) -> list[FoldTask]:
        """Every fold left."""
        with self._lock:
            tasks, self._tasks = self._tasks, []
            return tasks


@dataclass
class _Pool:
    executor: ProcessPoolExecutor
    workers: int

    def submit_all(self, queue: _TaskQueue) -> set:
        """Hand every fold left in ``queue`` to the workers."""
        return {self.executor.submit(_worker_train, task) for task in queue.take_all()}


class _WorkerFeed:
    """Worker processes beside this one: started in a background thread, each fed one fold at a time.

    A thread starts ``owner.workers - 1`` worker processes, then keeps each of
    them busy with the next fold from the queue this process also takes from.
    Finished folds wait until this process reports them (``report``, ``finish``),
    so results are recorded by one thread only.
    """

    def __init__(self, owner: ProcessFolds, job: FoldJob, data: FoldData, queue: _TaskQueue, progress: ProgressSink):
        self.pool: _Pool | None = None
        self._executor: ProcessPoolExecutor | None = None  # set as soon as it exists, before its processes start
        self.error: str | None = None  # why the workers did not start
        self._progress = progress
        self._finished: queues.SimpleQueue = queues.SimpleQueue()  # (task, output), or the exception that stopped feeding
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, args=(owner.workers - 1, job, data, queue), daemon=True)
        self._thread.start()

    def _feed(self, workers: int, job: FoldJob, data: FoldData, queue: _TaskQueue) -> None:
        try:
            self.pool = ProcessFolds._start(job, data, workers, len(queue), created=self._created)
        except Exception as exc:  # this process trains the folds itself and says so
            self.error = f"{type(exc).__name__}: {exc}"
            return
        if self._stop.is_set():  # the run stopped while the workers were starting
            stop_workers(self.pool.executor)
            return
        self._progress.message(f"{self.pool.workers} worker process(es) now train folds beside this process")
        running: set = set()
        try:
            while not self._stop.is_set():
                while len(running) < self.pool.workers and (task := queue.take()) is not None:
                    running.add(self.pool.executor.submit(_worker_train, task))
                if not running:
                    return
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    self._finished.put(_fold_result(future))
        except BaseException as exc:  # handed to this process, which stops the run with it
            self._finished.put(exc)

    def _created(self, executor: ProcessPoolExecutor) -> None:
        self._executor = executor

    def report(self, on_done: OnDone) -> None:
        """Report the folds the workers finished so far; re-raise what stopped a worker's fold."""
        while True:
            try:
                item = self._finished.get_nowait()
            except queues.Empty:
                return
            if isinstance(item, BaseException):
                raise item
            on_done(*item)

    def finish(self, on_done: OnDone) -> None:
        """Wait for the workers' last folds, report them and shut the workers down."""
        self._thread.join()
        self.report(on_done)
        if self.pool is not None:
            self.pool.executor.shutdown(wait=True)
        elif self.error:
            self._progress.message(f"[yellow]Note:[/] fold worker processes did not start ({self.error}); "
                                   "the folds were trained in this process")

    def abandon(self) -> None:
        """Stop feeding and end the worker processes now, those training a fold and those still starting."""
        self._stop.set()
        if self._executor is not None:
            stop_workers(self._executor)


# ------------------------------------------------------------------ batched (vmap)


class BatchedFolds:
    """Train ``group_size`` folds at a time as one batched computation (``merbench.fold_batch``)."""

    def __init__(self, group_size: int):
        self.group_size = group_size
        self.description = f"{group_size} folds at a time as one batched (vmap) computation"

    def run(self, job: FoldJob, data: FoldData, tasks: Sequence[FoldTask], on_done: OnDone,
            progress: ProgressSink) -> None:
        """Train the tasks in groups of ``group_size``."""
        from merbench.fold_batch import has_active_dropout, train_folds_batched

        if has_active_dropout(job.recipe()):
            progress.message("[yellow]Note:[/] batched folds draw their dropout masks per fold inside one computation, "
                             "not as fold-by-fold training does, so predictions can differ from a fold-by-fold run "
                             "(they are equal without dropout); --set engine.parallel_mode=processes trains folds "
                             "that predict exactly as fold by fold")
        tensors = DeviceTensors(data, job.choice.device)
        with torch_threads(job.threads):
            for begin in range(0, len(tasks), self.group_size):
                group = list(tasks[begin:begin + self.group_size])
                label = f"Folds {begin + 1}-{begin + len(group)} of {len(tasks)}, batched steps"

                def on_step(done: int, total: int, label: str = label) -> None:  # called once per global step
                    if done == 1:
                        progress.start("epochs", total, label)
                    progress.advance("epochs", 1)

                outputs = train_folds_batched(job.recipe, tensors.inputs, tensors.labels, [t.fold for t in group],
                                              [t.seed for t in group], job.recipe.n_classes, job.settings, job.choice,
                                              on_step=on_step)
                for task, output in zip(group, outputs):
                    on_done(task, output)


# ------------------------------------------------------------------ choosing


def _memory_fit(data: FoldData) -> int:
    """How many worker processes (besides this one) the free memory holds (each has torch and a copy of the inputs)."""
    free = available_memory()
    if free is None:
        return usable_cores()
    per_worker = WORKER_BASE_BYTES + 3 * data.inputs.nbytes
    return int(free * 0.5 // per_worker)


def _is_torch_model(recipe: ModelRecipe) -> bool:
    from torch import nn

    return isinstance(recipe(), nn.Module)


def plan_executor(engine: Mapping[str, Any], executor: Mapping[str, Any], job: FoldJob, data: FoldData,
                  n_folds: int) -> tuple[FoldExecutor, FoldJob]:
    """Choose how the folds are trained; returns the executor and the job with its thread count set.

    ``engine.threads`` above 0 fixes the torch threads of each fold; otherwise a
    fold gets ``cores // min(cores, folds)`` threads on the CPU, whatever
    ``parallel_folds`` is, so that fold by fold and fold-parallel runs predict alike. ``auto`` picks, on
    the CPU, one fold per core at once, this process and worker processes
    (bounded by free memory and the number of folds), and on CUDA as many
    batched folds as fit in free GPU memory.
    """
    requested = parse_parallel_folds(engine["parallel_folds"])
    threads = int(engine["threads"])
    if executor.get("name", "local") == "ray":
        from merbench.ray_executor import RayFolds

        return RayFolds.from_options(executor), dataclasses.replace(job, threads=threads or int(executor.get("num_cpus", 1)))
    cuda = job.choice.device.type == "cuda"
    mode = engine["parallel_mode"]
    if mode == "auto":
        mode = "vmap" if cuda else "processes"
    if mode == "vmap" and not (job.settings.early_stopping == 0 and _is_torch_model(job.recipe)):
        if engine["parallel_mode"] == "vmap":
            raise UsageError("engine.parallel_mode=vmap trains torch models without early stopping only; "
                             "use engine.parallel_mode=processes (or auto) for this run")
        mode = "processes"
    chosen: FoldExecutor = SequentialFolds()
    if mode == "vmap":
        group = requested or _auto_group(job, data, n_folds)
        if group > 1:
            chosen = BatchedFolds(min(group, n_folds))
    elif not cuda:  # on CUDA, several processes would compete for one GPU: folds run one after another
        cores = usable_cores()
        workers = requested or min(cores, n_folds, 1 + _memory_fit(data))  # auto: this process trains folds too
        # Not from ``workers``: a fold's thread count must not depend on how the folds are run,
        # since a different count sums floating-point numbers in a different order.
        threads = threads or max(1, cores // min(cores, n_folds))
        if workers > 1:
            chosen = ProcessFolds(min(workers, n_folds), adaptive=requested is None)
    return chosen, dataclasses.replace(job, threads=threads)


def _auto_group(job: FoldJob, data: FoldData, n_folds: int) -> int:
    """Folds per batched group on CUDA, from the free GPU memory and one fold's measured need."""
    import torch

    from merbench.fold_batch import fold_group_size, measure_fold_bytes

    if job.choice.device.type != "cuda":
        return min(n_folds, usable_cores())
    free, _ = torch.cuda.mem_get_info(job.choice.device)
    need = measure_fold_bytes(job.recipe, data, job.settings, job.choice)
    return fold_group_size(free, need, n_folds)


def describe_plan(executor: FoldExecutor, job: FoldJob) -> dict[str, Any]:
    """The executor choice as recorded in a result (``engine_plan``)."""
    return {"executor": type(executor).__name__, "description": executor.description,
            "threads_per_fold": job.threads, "workers": getattr(executor, "workers", None),
            "group_size": getattr(executor, "group_size", None)}
