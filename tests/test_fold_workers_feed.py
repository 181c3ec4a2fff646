"""The worker feed of an adaptive ``ProcessFolds`` run (``local._WorkerFeed``) beside this process's own folds.

This process's training is a fake whose timing the tests set; the feed's pool is a
stand-in (no worker process starts), so the tests see when the feed waits, what it
says and when the folds it finished are reported.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from merbench.engine import failures_named
from merbench.folds import local


class Messages:
    """A progress sink that keeps its messages."""

    def __init__(self):
        self.lines: list[str] = []

    def start(self, stage, total, description):
        pass

    def advance(self, stage, steps=1, note=None):
        pass

    def message(self, text):
        self.lines.append(text)


class StartingPool:
    """Stands in for a pool whose worker processes take long to start (the fork server still imports torch)."""

    def __init__(self, start_s: float):
        self.start_s = start_s
        self.stopped = threading.Event()

    def shutdown(self, wait=True, cancel_futures=False):
        self.stopped.set()


def tasks(n_folds: int) -> list:
    return [SimpleNamespace(fold=SimpleNamespace(index=index), of=n_folds) for index in range(n_folds)]


@pytest.fixture
def this_process(monkeypatch):
    """This process's folds: ``epochs`` epochs of ``epoch_s`` seconds (``long_first``: fold 0's are 10 times longer);
    workers worth it at once. Returns a function that runs the folds and returns the events in order."""
    monkeypatch.setattr(local, "PARALLEL_WORTH_S", 0.0)
    monkeypatch.setattr(local, "DeviceTensors", lambda data, device: None)
    monkeypatch.setattr(local, "start_worker_server", lambda: None)
    events: list[str] = []

    def run(n_folds: int, epochs: int, epoch_s: float, progress=None, long_first: bool = False,
            workers: int = 2, on_done=None) -> list[str]:
        def train(job, tensors, task, on_epoch=None):
            with failures_named("the model plugin", task.fold.index):  # as the real train_task
                for epoch in range(epochs):
                    time.sleep(epoch_s * (10 if long_first and task.fold.index == 0 else 1))
                    on_epoch(epoch, 0.5)
            events.append(f"trained {task.fold.index} here")
            return f"output of fold {task.fold.index}"

        monkeypatch.setattr(local, "train_task", train)
        job = SimpleNamespace(settings=SimpleNamespace(epochs=epochs), steps=epochs, fits_once=False,
                              choice=SimpleNamespace(device="cpu"))
        local.ProcessFolds(workers, adaptive=True).run(
            job, None, tasks(n_folds), on_done or (lambda task, output: events.append(f"reported {task.fold.index}")),
            progress or Messages())
        return events

    return run


def test_workers_still_starting_when_no_fold_is_left_are_stopped_not_waited_for(this_process, monkeypatch):
    """Before, the run waited until the workers had started (10 s on a loaded machine) only to shut them down, and
    said '1 worker process now train folds beside this process' after its last fold."""
    pool = StartingPool(start_s=5.0)

    def slow_start(job, data, workers, n_tasks, created=None):
        try:
            created(pool)
        except BaseException:  # as ProcessFolds._start: a pool abandoned as it is made is shut down
            pool.shutdown()
            raise
        pool.stopped.wait(pool.start_s)
        return local._Pool(pool, workers)

    monkeypatch.setattr(local.ProcessFolds, "_start", staticmethod(slow_start))
    progress = Messages()
    started = time.perf_counter()
    events = this_process(4, 2, 0.02, progress)
    assert time.perf_counter() - started < 2.0, "the run waited for workers that had no fold left"
    assert events == [item for index in range(4) for item in (f"trained {index} here", f"reported {index}")]
    assert pool.stopped.is_set(), "the starting workers should be stopped"
    assert not any("beside this process" in line for line in progress.lines), progress.lines


@pytest.mark.parametrize("workers, said", [(2, "1 worker process now trains folds beside this process"),
                                           (3, "2 worker processes now train folds beside this process")])
def test_workers_that_start_in_time_say_so_in_words_that_agree(this_process, monkeypatch, workers, said):
    def thread_pool(job, data, count, n_tasks, created=None):
        monkeypatch.setattr(local, "_worker_train", lambda task: (time.sleep(0.05), (task, "worker output"))[1])
        return local._Pool(ThreadPoolExecutor(max_workers=count), count)

    monkeypatch.setattr(local.ProcessFolds, "_start", staticmethod(thread_pool))
    progress = Messages()
    events = this_process(8, 5, 0.05, progress, workers=workers)
    assert said in progress.lines, progress.lines
    assert sorted(event for event in events if event.startswith("reported")) == [f"reported {i}" for i in range(8)]


@pytest.fixture
def thread_workers(monkeypatch):
    """Worker processes stood in for by threads whose folds take ``worker_s`` seconds each."""
    def use(worker_s: float) -> None:
        def thread_pool(job, data, count, n_tasks, created=None):
            return local._Pool(ThreadPoolExecutor(max_workers=count), count)

        monkeypatch.setattr(local, "_worker_train", lambda task: (time.sleep(worker_s), (task, "worker output"))[1])
        monkeypatch.setattr(local.ProcessFolds, "_start", staticmethod(thread_pool))
    return use


def test_a_fold_a_worker_finished_is_reported_while_this_process_still_trains_its_own(this_process, thread_workers):
    """Before, a worker's fold waited for the end of the fold this process trained (recorded in the store only
    then): a Ctrl-C, a failure or a kill during a long fold lost the folds the workers had finished."""
    thread_workers(0.05)
    events = this_process(4, 10, 0.02, long_first=True)  # fold 0: 10 epochs of 0.2 s here; the others 0.05 s there
    assert events.index("reported 1") < events.index("trained 0 here"), events
    assert sorted(event for event in events if event.startswith("reported")) == [f"reported {i}" for i in range(4)]


def test_what_reporting_a_workers_fold_raises_is_not_taken_for_this_processs_fold_failing(this_process, thread_workers):
    """Reported from inside this process's training, an error of recording a worker's fold (a pruned trial, a
    store that cannot write) stops the run as it is, not as 'fold 1: ... raised' of the fold trained here."""
    thread_workers(0.05)

    class Pruned(Exception):
        pass

    def on_done(task, output):
        if output == "worker output":
            raise Pruned("pruned after the worker's fold")

    with pytest.raises(Pruned, match="pruned after the worker's fold"):
        this_process(4, 10, 0.02, long_first=True, on_done=on_done)


@pytest.fixture
def slow_launch(monkeypatch):
    """Worker launches that wait, as for a fork server still importing torch, until the test releases them, and then
    fail; nothing trains here. Returns the events (launching, release, launched)."""
    import multiprocessing

    from merbench import workers

    launching, release, launched = threading.Event(), threading.Event(), threading.Event()
    spawn = multiprocessing.get_context("spawn")

    class SlowLaunch(spawn.Process):
        def start(self):
            launching.set()
            release.wait(30)
            launched.set()
            raise OSError("the test ended the launch")

    class SlowContext(type(spawn)):
        Process = SlowLaunch

    monkeypatch.setattr(workers, "process_context", SlowContext)
    monkeypatch.setattr(workers, "start_worker_server", lambda: None)
    monkeypatch.setattr(local, "start_worker_server", lambda: None)
    monkeypatch.setattr(local, "DeviceTensors", lambda data, device: None)
    yield launching, release, launched
    release.set()


JOB = SimpleNamespace(settings=SimpleNamespace(epochs=1), steps=1, fits_once=False,
                      choice=SimpleNamespace(device="cpu"))


def test_ctrl_c_while_a_worker_is_being_launched_stops_the_run_at_once(slow_launch, monkeypatch):
    """The launch of a worker process waits for the fork server, which may still import torch (a grid's first cell),
    holding the pool's lock: before, Ctrl-C then waited for it (8-12 s) to shut the pool down."""
    launching, release, launched = slow_launch
    monkeypatch.setattr(local, "PARALLEL_WORTH_S", 0.0)

    def train(job, tensors, task, on_epoch=None):
        assert launching.wait(10), "the worker feed should have begun launching a worker"
        time.sleep(0.1)  # inside the pool's submit, holding its lock
        raise KeyboardInterrupt

    monkeypatch.setattr(local, "train_task", train)
    with pytest.raises(KeyboardInterrupt):
        local.ProcessFolds(2, adaptive=True).run(JOB, None, tasks(4), lambda task, output: None, Messages())
    assert not launched.is_set(), "Ctrl-C waited for the worker's launch"


def test_ctrl_c_while_a_worker_of_parallel_folds_n_is_being_launched_stops_the_run_at_once(slow_launch):
    """With engine.parallel_folds=N this thread launched the workers itself, Ctrl-C held back (``workers.submit``):
    before, Ctrl-C then waited until the fork server had imported torch and forked the worker (2.6 s, 3.5 s on a busy
    2-core machine). The launch that was waiting ends in the background, and with it the start."""
    launching, release, launched = slow_launch

    def ctrl_c_during_the_launch():
        if launching.wait(10):
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGINT)
            release.wait(5)  # the fork server has imported torch: the launch ends
            release.set()

    threading.Thread(target=ctrl_c_during_the_launch, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        local.ProcessFolds(2).run(JOB, None, tasks(4), lambda task, output: None, Messages())
    assert launching.is_set() and not release.is_set(), "Ctrl-C waited for the worker's launch"
    release.set()
    starting = [thread for thread in threading.enumerate() if thread.name == "merbench-start-workers"]
    for thread in starting:
        thread.join(10)
    assert launched.is_set() and not any(thread.is_alive() for thread in starting), "the start outlived its launch"
