"""Folds trained on this machine: one after another in this process, or in worker processes.

``ProcessFolds`` is the CPU path (docs/design.md, "Performance"): on a CPU,
spreading folds over cores with one torch thread each beats batched training.
"""

from __future__ import annotations

import functools
import os
import queue as queues
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from merbench.contracts import FoldOutput
from merbench.errors import FoldsLost
from merbench.folds.job import DeviceTensors, FoldData, FoldJob, FoldTask, OnDone, epoch_reporter, train_task
from merbench.progress import ProgressSink
from merbench.workers import (WORKER_START_HINT, exit_codes, picklable, process_context, running, start_pool,
                              start_worker_server, stop_workers, stop_workers_soon, submit)

# Worker processes pay off only when the folds left would take longer than this in one process.
PARALLEL_WORTH_S = 4.0


class SequentialFolds:
    """Train the folds one after another in this process."""

    description = "fold by fold in this process"

    def __init__(self, why: str | None = None):
        if why:  # why folds that were asked to train at once do not (recorded with the plan)
            self.description = f"{SequentialFolds.description} ({why})"

    def run(self, job: FoldJob, data: FoldData, tasks: Sequence[FoldTask], on_done: OnDone,
            progress: ProgressSink) -> None:
        """Train each task in turn, reporting epochs."""
        tensors = DeviceTensors(data, job.choice.device)
        for task in tasks:
            on_done(task, train_task(job, tensors, task, epoch_reporter(progress, job, task, len(tasks))))


# ------------------------------------------------------------------ worker processes

_worker_state: dict[str, Any] = {}


def _worker_start(job: FoldJob, data: FoldData, board: Any = None) -> None:
    torch.set_num_threads(max(1, job.threads))
    if board is not None:
        _FoldBoard.claim(board)
    _worker_state["job"] = job
    _worker_state["tensors"] = DeviceTensors(data, job.choice.device)


def _worker_ready() -> bool:
    return True


def _worker_train(task: FoldTask) -> tuple[FoldTask, FoldOutput]:
    _FoldBoard.mark(task.fold.index)
    try:
        return task, train_task(_worker_state["job"], _worker_state["tensors"], task)
    finally:
        _FoldBoard.mark(None)


def worker_processes(count: int) -> str:
    """``count`` worker processes in words: "1 worker process", "2 worker processes"."""
    return f"{count} worker process" if count == 1 else f"{count} worker processes"


class ProcessFolds:
    """Train ``workers`` folds at once in processes, each fold with ``job.threads`` torch threads.

    Without ``adaptive`` the folds go to ``workers`` worker processes. With
    ``adaptive`` this process is one of the ``workers``: it trains folds one
    after another until more processes are worth having: while the first fold
    trains, the time of the remaining folds is estimated (``_WorkersWhenWorthIt``);
    when it is above ``PARALLEL_WORTH_S``, ``workers - 1`` worker processes start in the
    background while this process goes on training, and from then on this
    process and the workers each take the next fold not yet started. Every
    fold uses the same thread count wherever it runs, so the choice does not
    change predictions.
    """

    def __init__(self, workers: int, adaptive: bool = False):
        self.workers = workers
        self.adaptive = adaptive
        self.description = (f"{workers} folds at once: this process and {worker_processes(workers - 1)} "
                            "(when the folds take long enough)" if adaptive else worker_processes(workers))

    def run(self, job: FoldJob, data: FoldData, tasks: Sequence[FoldTask], on_done: OnDone,
            progress: ProgressSink) -> None:
        """Train the tasks, in worker processes where that pays off."""
        queue = _TaskQueue(tasks)
        if not tasks:
            return
        if not picklable(job):
            progress.message("[yellow]Note:[/] the model plugin cannot be sent to worker processes "
                             "(a lambda or local class); training its folds one after another")
            self.description = f"{SequentialFolds.description} (the model plugin cannot be sent to worker processes)"
            self.workers, self.adaptive = 1, False  # what the result records is what happened
            SequentialFolds().run(job, data, list(tasks), on_done, progress)
            return
        if not self.adaptive:
            pool = _StoppableStart().pool(job, data, self.workers, len(tasks))
            self._collect(pool, pool.submit_all(queue), on_done)
            return
        if len(tasks) > 2:
            start_worker_server()  # imports torch in the background while the first folds train here
        tensors = DeviceTensors(data, job.choice.device)
        workers = _WorkersWhenWorthIt(self, job, data, queue, progress)

        def reporting(report: Callable[[int, float], None]) -> Callable[[int, float], None]:
            """``report``, then the folds the workers finished meanwhile: recorded while this process's fold trains."""
            def on_epoch(epoch: int, loss: float) -> None:
                report(epoch, loss)
                try:
                    workers.report(on_done)
                except Exception as exc:  # not this process's fold's failure (``failures_named`` would say so)
                    raise _FromWorkers(exc) from exc
            return on_epoch

        try:
            task = queue.take()
            first_report = workers.watch_first_fold(epoch_reporter(progress, job, task, len(tasks)))
            on_done(task, train_task(job, tensors, task, reporting(first_report)))
            workers.first_fold_done()
            while True:
                workers.report(on_done)
                if (task := queue.take()) is None:
                    break
                report = reporting(epoch_reporter(progress, job, task, len(tasks)))
                on_done(task, train_task(job, tensors, task, report))
            if workers.feed:
                workers.feed.finish(on_done)
        except _FromWorkers as carried:
            workers.abandon()
            raise carried.error from carried.error.__cause__
        except BaseException:
            workers.abandon()
            raise

    @staticmethod
    def _start(job: FoldJob, data: FoldData, workers: int, n_tasks: int,
               created: Callable[[ProcessPoolExecutor], None] | None = None) -> "_Pool":
        """Start ``workers`` worker processes (at most one per task) and wait until each has the job and data.

        ``created(executor)`` is called before the processes start, so that
        another thread can stop them while they start.
        """
        workers = min(workers, n_tasks)
        board = _FoldBoard(workers)
        executor = start_pool(workers, _worker_start, (job, data, board.shared))
        try:
            if created is not None:
                created(executor)
            for future in [submit(executor, _worker_ready) for _ in range(workers)]:
                future.result()
        except BrokenProcessPool:
            message = worker_died(exit_codes(executor), {}, job.recipe.plugin, starting=True)
            stop_workers(executor)
            raise FoldsLost(message) from None
        except BaseException:
            stop_workers(executor)
            raise
        return _Pool(executor, workers, job.recipe.plugin, board)

    @staticmethod
    def _collect(pool: "_Pool", futures: set, on_done: OnDone) -> None:
        """Report each submitted fold as it completes; shuts the pool down."""
        with running(pool.executor, WORKER_DIED, FoldsLost):
            for future in as_completed(futures):
                on_done(*pool.result(future))


class KeptWorkerFolds:
    """Train folds one after another in one worker process, kept from one ``run`` to the next.

    For a tune's trials at once (``merbench tune --workers N``): each trial thread
    keeps one, so its models draw from their own process's random generator (trial
    threads of one process would share torch's, and score one configuration
    differently by timing), and a process is started once per thread, not per
    trial. A ``run`` stopped while the worker trains (Ctrl-C, a failure) stops
    the worker; one stopped by ``on_done`` (a pruned trial) keeps it.
    """

    description = "one after another in a worker process kept by the trial"

    def __init__(self, on_start: Callable[[ProcessPoolExecutor], None] | None = None):
        self.on_start = on_start
        """Told the worker's pool when it starts (a tune stops its trials' pools on Ctrl-C)."""
        self._pool: ProcessPoolExecutor | None = None

    def run(self, job: FoldJob, data: FoldData, tasks: Sequence[FoldTask], on_done: OnDone,
            progress: ProgressSink) -> None:
        """Train the tasks in the kept worker (started on first use), with this job and data."""
        if not picklable(job):
            SequentialFolds().run(job, data, list(tasks), on_done, progress)
            return
        try:
            if self._pool is None:
                self._pool = start_pool(1, _worker_nothing, ())
                if self.on_start is not None:
                    self.on_start(self._pool)
            self._result(submit(self._pool, _worker_start, job, data), job, None)
        except BaseException:
            self.stop()
            raise
        for task in tasks:
            try:
                done = self._result(submit(self._pool, _worker_train, task), job, task)
            except BaseException:  # stopped while the worker trains: end it
                self.stop()
                raise
            on_done(*done)  # a pruned trial stops here, its worker idle: kept

    def _result(self, future: Future, job: FoldJob, task: FoldTask | None) -> Any:
        """The worker's result; a worker that died is ``FoldsLost`` naming ``task`` (``None``: while it started)."""
        try:
            return future.result()
        except BrokenProcessPool:
            exits = exit_codes(self._pool)
            folds = {pid: task.fold.index for pid in exits} if task is not None else {}
            raise FoldsLost(worker_died(exits, folds, job.recipe.plugin, starting=task is None)) from None

    def stop(self) -> None:
        """End the kept worker (if any); the next ``run`` starts another."""
        pool, self._pool = self._pool, None
        if pool is not None:
            stop_workers(pool)


def _worker_nothing() -> None:
    """A kept worker's set-up: its job and data come with each ``run``."""


ONE_AT_A_TIME = "to train the folds one at a time in the run's own process, use --set engine.parallel_folds=1"
WORKER_DIED = ("a fold worker process died (killed: by `kill`, or by the system when memory ran out; or it could "
               "not start: " + WORKER_START_HINT + "); " + ONE_AT_A_TIME)
"""Why a fold worker died, where the way it ended is not known."""

CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}


def worker_died(exits: dict[int, int | None], folds: dict[int, int], plugin: str, starting: bool = False) -> str:
    """Why fold worker processes died, for ``FoldsLost``: which folds they trained, with which plugin, and how each
    ended (``exits``: exit codes by process id, ``workers.exit_codes``; ``folds``: fold index by process id).

    The workers the pool stopped itself once one died (``-SIGTERM``) are left out where another ended otherwise.
    """
    ended = {pid: code for pid, code in exits.items() if code is not None}
    dead = {pid: code for pid, code in ended.items() if code != -signal.SIGTERM} or ended
    if not dead:
        return WORKER_DIED
    if starting:
        how = "; ".join(dict.fromkeys("it " + _how_ended(code, starting=True) for code in dead.values()))
        return (f"a fold worker process for {plugin} died while starting ({how}); "
                f"{WORKER_START_HINT}; {ONE_AT_A_TIME}")
    order = sorted(dead, key=lambda pid: folds.get(pid, -1))
    trained = [folds[pid] + 1 for pid in order if pid in folds]
    hows = [_how_ended(dead[pid]) for pid in order]
    what = f"{len(dead)} fold worker processes" if len(dead) > 1 else "a fold worker process"
    where = f"training {_fold_numbers(trained)}" if trained else "training"
    if len(set(hows)) == 1:
        how = ("each " if len(dead) > 1 else "it ") + hows[0]
    else:
        how = "; ".join(f"the worker of fold {folds[pid] + 1} {h}" if pid in folds else f"one {h}"
                        for pid, h in zip(order, hows))
    return f"{what} died while {where} with {plugin}: {how}"


def _fold_numbers(numbers: list[int]) -> str:
    """``fold 2``, ``folds 1 and 2``, ``folds 1, 2 and 3``."""
    if len(numbers) == 1:
        return f"fold {numbers[0]}"
    return "folds " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def _how_ended(code: int, starting: bool = False) -> str:
    """How a worker process with exit code ``code`` ended, with what to do (a negative code is a signal)."""
    if code >= 0:
        if starting:
            return f"exited with code {code}"
        return (f"exited with code {code}: the model plugin or a library it calls ended the process "
                "(os._exit, or exit() in native code)")
    try:
        number = signal.Signals(-code)
    except ValueError:
        return f"was ended by signal {-code}"
    if number == signal.SIGKILL:
        return f"was killed ({number.name}): by `kill -9`, or by the system when memory ran out; {ONE_AT_A_TIME}"
    if number in CRASH_SIGNALS:
        return (f"was ended by {number.name}, a crash in native code, e.g. the model plugin's or a library's; "
                "to see where, run it again with PYTHONFAULTHANDLER=1")
    return f"was ended by {number.name}"


class _FoldBoard:
    """Which fold each worker process of a pool trains, in memory shared with them: told when a worker dies.

    Two numbers a worker: its process id, and the index + 1 of the fold it trains (0: none).
    """

    def __init__(self, workers: int):
        self.shared = process_context().Array("q", 2 * workers)

    def folds(self) -> dict[int, int]:
        """The index of the fold each worker trains now, by process id (read without the lock: a worker that died
        holding it would hold it for ever)."""
        values = self.shared.get_obj()[:]
        return {values[i]: values[i + 1] - 1 for i in range(0, len(values), 2) if values[i] and values[i + 1]}

    @staticmethod
    def claim(board: Any) -> None:
        """In a worker: take a free place on ``board`` (the shared array) for this process."""
        with board.get_lock():
            pids = board[0::2]
            if 0 in pids:
                place = 2 * pids.index(0)
                board[place] = os.getpid()
                _worker_state["board"] = (board, place + 1)

    @staticmethod
    def mark(fold_index: int | None) -> None:
        """In a worker: note the fold it trains now (``None``: none), where it has a place on a board."""
        if "board" in _worker_state:
            board, place = _worker_state["board"]
            board[place] = 0 if fold_index is None else fold_index + 1


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
    plugin: str = "the model plugin"
    board: _FoldBoard | None = None

    def submit_all(self, queue: _TaskQueue) -> set:
        """Hand every fold left in ``queue`` to the workers."""
        return {self.submit(task) for task in queue.take_all()}

    def submit(self, task: FoldTask) -> Future:
        """Hand ``task`` to the workers; a pool whose worker died is ``FoldsLost`` (``died``)."""
        try:
            return submit(self.executor, _worker_train, task)
        except BrokenProcessPool:
            raise FoldsLost(self.died()) from None

    def result(self, future: Future) -> tuple[FoldTask, FoldOutput]:
        """A fold's result; a worker that died is ``FoldsLost`` (``died``)."""
        try:
            return future.result()
        except BrokenProcessPool:
            raise FoldsLost(self.died()) from None

    def died(self) -> str:
        """Why the pool broke: which workers died, training which folds, and how (``worker_died``)."""
        folds = self.board.folds() if self.board is not None else {}
        return worker_died(exit_codes(self.executor), folds, self.plugin)


class _WorkersWhenWorthIt:
    """Starts the worker feed of an adaptive ``ProcessFolds`` run once the folds left are worth other processes.

    Worth it means estimated to take longer than ``PARALLEL_WORTH_S`` in this
    process. Two estimates, both from the first fold: after each of its epochs,
    the fold's time so far scaled to all its epochs; and, before its first epoch
    ends, a lower bound: a first fold still running after ``t`` seconds takes at
    least ``t``, so once ``t`` times the folds left exceeds ``PARALLEL_WORTH_S``
    the workers start (a timer; for a long run that is well inside the first
    epoch, whose first seconds this process spends importing the model's
    libraries while the other cores would wait).
    """

    def __init__(self, owner: ProcessFolds, job: FoldJob, data: FoldData, queue: "_TaskQueue", progress: ProgressSink):
        self.feed: _WorkerFeed | None = None
        self._new_feed = functools.partial(_WorkerFeed, owner, job, data, queue, progress)
        self._queue = queue
        self._epochs = job.steps
        self._lock = threading.Lock()
        self._closed = False
        self._started = 0.0
        self._timer: threading.Timer | None = None

    def watch_first_fold(self, report: Callable[[int, float], None]) -> Callable[[int, float], None]:
        """The first fold starts training here now; returns ``report`` for its epochs, estimating after each.

        From now on the workers start as soon as either estimate proves them worth it.
        """
        self._started = time.perf_counter()
        if len(self._queue) > 1:
            self._timer = threading.Timer(PARALLEL_WORTH_S / len(self._queue), self._start)
            self._timer.daemon = True
            self._timer.start()

        def on_epoch(epoch: int, loss: float) -> None:
            report(epoch, loss)
            per_fold = (time.perf_counter() - self._started) * self._epochs / (epoch + 1)
            if per_fold * len(self._queue) > PARALLEL_WORTH_S:
                self._start()
        return on_epoch

    def first_fold_done(self) -> None:
        """Only the first fold's time is an estimate: stop the timer."""
        if self._timer is not None:
            self._timer.cancel()

    def report(self, on_done: OnDone) -> None:
        """Report the folds the workers finished so far (``_WorkerFeed.report``); none before they start."""
        if self.feed:
            self.feed.report(on_done)

    def abandon(self) -> None:
        """The run stops: start nothing more and end the workers started so far."""
        with self._lock:
            self._closed = True
        self.first_fold_done()
        if self.feed:
            self.feed.abandon()

    def _start(self) -> None:
        with self._lock:
            if self.feed is None and not self._closed and len(self._queue) > 1:
                self.feed = self._new_feed()


class _FromWorkers(BaseException):
    """Carries what reporting the workers' folds raised out of this process's training, unchanged."""

    def __init__(self, error: Exception):
        super().__init__(error)
        self.error = error


class _Abandoned(Exception):
    """The run abandoned the workers while their pool was being made."""


class _StoppableStart:
    """``ProcessFolds._start`` in a background thread, waited for by this one, which Ctrl-C stops at once.

    A worker's launch waits for the fork server, seconds while it still imports
    torch, and Ctrl-C would wait for it. Stopped, the pool is ended once its
    launch is done (``stop_workers_soon``), or with the run where that ends first
    (``exit_with``); a pool not made yet is not made.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._stopped = False

    def pool(self, job: FoldJob, data: FoldData, workers: int, n_tasks: int) -> "_Pool":
        """The started pool; what stopped its start (or this wait) is raised here, the pool ended."""
        started: Future = Future()
        try:
            threading.Thread(target=self._start, args=(started, job, data, workers, n_tasks),
                             name="merbench-start-workers", daemon=True).start()
            return started.result()
        except BaseException:
            with self._lock:
                self._stopped, executor = True, self._executor
            if executor is not None:
                stop_workers_soon(executor)
            raise

    def _start(self, started: Future, job: FoldJob, data: FoldData, workers: int, n_tasks: int) -> None:
        try:
            started.set_result(ProcessFolds._start(job, data, workers, n_tasks, created=self._created))
        except BaseException as exc:
            started.set_exception(exc)

    def _created(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._stopped:
                raise _Abandoned
            self._executor = executor


class _WorkerFeed:
    """Worker processes beside this one: started in a background thread, each fed one fold at a time.

    A thread starts ``owner.workers - 1`` worker processes, then keeps each of
    them busy with the next fold from the queue this process also takes from.
    Finished folds wait until this process reports them (``report``, after each
    epoch and each fold it trains itself; ``finish``), so results are recorded by
    one thread only.
    """

    def __init__(self, owner: ProcessFolds, job: FoldJob, data: FoldData, queue: _TaskQueue, progress: ProgressSink):
        self.pool: _Pool | None = None
        self._executor: ProcessPoolExecutor | None = None  # set as soon as it exists, before its processes start
        self.error: str | None = None  # why the workers did not start
        self._progress = progress
        self._finished: queues.SimpleQueue = queues.SimpleQueue()  # (task, output), or the exception that stopped feeding
        self._queue = queue
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, args=(owner.workers - 1, job, data, queue), daemon=True)
        self._thread.start()

    def _feed(self, workers: int, job: FoldJob, data: FoldData, queue: _TaskQueue) -> None:
        try:
            self.pool = ProcessFolds._start(job, data, workers, len(queue), created=self._created)
        except _Abandoned:
            return
        except FoldsLost:  # they died while starting: this process trains the folds itself and says so
            self.error = f"they died while starting; {WORKER_START_HINT}"
            return
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            return
        if self._stop.is_set():  # the run stopped while the workers were starting
            stop_workers(self.pool.executor)
            return
        if not len(queue):  # this process took the last fold while they started: ``finish`` shuts them down
            return
        verb = "trains" if self.pool.workers == 1 else "train"
        self._progress.message(f"{worker_processes(self.pool.workers)} now {verb} folds beside this process")
        running: set = set()
        try:
            while not self._stop.is_set():
                while len(running) < self.pool.workers and (task := queue.take()) is not None:
                    running.add(self.pool.submit(task))
                if not running:
                    return
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    self._finished.put(self.pool.result(future))
        except BaseException as exc:  # handed to this process, which stops the run with it
            self._finished.put(exc)

    def _created(self, executor: ProcessPoolExecutor) -> None:
        self._executor = executor
        if self._stop.is_set():  # abandoned before there was a pool to stop: start no process
            raise _Abandoned

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
        """Wait for the workers' last folds, report them and shut the workers down.

        Workers still starting when this process has taken every fold are stopped, not waited for: they would
        start (seconds) only to be shut down.
        """
        # The queue first: a pool that exists only after it was empty took no fold.
        if not len(self._queue) and self.pool is None and self._thread.is_alive():
            self.abandon()
            return
        self._thread.join()
        self.report(on_done)
        if self.pool is not None:
            self.pool.executor.shutdown(wait=True)
        elif self.error:
            self._progress.message(f"[yellow]Note:[/] fold worker processes did not start ({str(self.error)}); "
                                   "the folds were trained in this process")

    def abandon(self) -> None:
        """Stop feeding and end the worker processes now, those training a fold and those still starting (without
        waiting for one the fork server has yet to fork: ``stop_workers_soon``)."""
        self._stop.set()
        if self._executor is not None:
            stop_workers_soon(self._executor)
