"""When an adaptive ``ProcessFolds`` run starts its worker processes (``local._WorkersWhenWorthIt``).

Training is replaced by a fake whose timing the tests set, and the worker feed by
a recorder, so these tests see the decision alone: no worker process starts.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from merbench.folds import local
from merbench.progress import SilentProgress


class _RecordedFeed:
    """Stands in for ``_WorkerFeed``: notes when it was created; the run's own process trains every fold."""

    created: list[float] = []

    def __init__(self, *args):
        _RecordedFeed.created.append(time.perf_counter())

    def report(self, on_done):
        pass

    def finish(self, on_done):
        pass

    def abandon(self):
        pass


@pytest.fixture
def fake_training(monkeypatch):
    """Patch out the tensors, progress and feed; returns a function that runs ``n`` folds with given timings."""
    _RecordedFeed.created = []
    monkeypatch.setattr(local, "_WorkerFeed", _RecordedFeed)
    monkeypatch.setattr(local, "DeviceTensors", lambda data, device: None)
    monkeypatch.setattr(local, "start_worker_server", lambda: None)

    def run(n_folds: int, epochs: int, epoch_seconds) -> dict:
        """``epoch_seconds(fold, epoch)``: how long that epoch takes; returns when each first-fold epoch ended."""
        first_fold_epoch_ends: list[float] = []

        def train(job, tensors, task, on_epoch=None):
            for epoch in range(epochs):
                time.sleep(epoch_seconds(task.fold.index, epoch))
                if task.fold.index == 0:
                    first_fold_epoch_ends.append(time.perf_counter())
                on_epoch(epoch, 0.5)
            return f"output of fold {task.fold.index}"

        monkeypatch.setattr(local, "train_task", train)
        job = SimpleNamespace(settings=SimpleNamespace(epochs=epochs), steps=epochs, fits_once=False, choice=SimpleNamespace(device="cpu"))
        tasks = [SimpleNamespace(fold=SimpleNamespace(index=index), of=n_folds) for index in range(n_folds)]
        done: list[str] = []
        started = time.perf_counter()
        local.ProcessFolds(2, adaptive=True).run(job, None, tasks, lambda task, output: done.append(output),
                                                 SilentProgress())
        assert done == [f"output of fold {index}" for index in range(n_folds)], "every fold trained once, in order"
        return {"started": started, "first_fold_epoch_ends": first_fold_epoch_ends,
                "feeds": list(_RecordedFeed.created)}

    return run


def test_a_long_first_epoch_starts_the_workers_before_it_ends(fake_training, monkeypatch):
    """Nine folds left and 0.45 s worth it: a first fold still running after 0.05 s proves them worth it."""
    monkeypatch.setattr(local, "PARALLEL_WORTH_S", 0.45)
    timeline = fake_training(10, 2, lambda fold, epoch: 0.6 if fold == 0 and epoch == 0 else 0.0)
    assert len(timeline["feeds"]) == 1, "one feed starts the workers"
    assert timeline["feeds"][0] < timeline["first_fold_epoch_ends"][0], (
        "the workers should start while the first fold's first epoch still runs, not after it")
    assert timeline["feeds"][0] - timeline["started"] < 0.5


def test_the_epoch_estimate_still_starts_the_workers(fake_training, monkeypatch):
    """Short epochs that add up: the estimate after the first epoch starts the workers, as before the timer."""
    monkeypatch.setattr(local, "PARALLEL_WORTH_S", 0.45 * 9)  # the lower bound alone would need 0.45 s
    timeline = fake_training(10, 20, lambda fold, epoch: 0.05 if fold == 0 else 0.0)
    assert len(timeline["feeds"]) == 1
    first_epoch_end = timeline["first_fold_epoch_ends"][0]
    assert first_epoch_end <= timeline["feeds"][0] < timeline["first_fold_epoch_ends"][1], (
        "20 epochs of 0.05 s for each of 9 folds left (9 s) is worth it: the first epoch's estimate should say so")


def test_only_the_first_fold_counts(fake_training, monkeypatch):
    """A quick first fold says the run is short: slow later folds must not start workers through a left-over timer."""
    monkeypatch.setattr(local, "PARALLEL_WORTH_S", 9 * 0.3)  # timer after 0.3 s of the first fold
    timeline = fake_training(10, 1, lambda fold, epoch: 0.0 if fold == 0 else 0.15)
    assert timeline["feeds"] == [], "the first fold took ~0 s, so 9 such folds are not worth worker processes"


def test_a_run_that_stops_starts_no_workers_afterwards(fake_training, monkeypatch):
    monkeypatch.setattr(local, "PARALLEL_WORTH_S", 9 * 0.2)
    stopped = threading.Event()

    def first_epoch_fails(fold, epoch):
        stopped.set()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fake_training(10, 1, first_epoch_fails)
    time.sleep(0.4)  # past the timer of 0.2 s
    assert stopped.is_set() and _RecordedFeed.created == [], "a stopped run must not start workers later"


def test_ctrl_c_while_the_pool_shuts_down_stops_its_workers(monkeypatch):
    """The pool is waited for after its block; a Ctrl-C during that wait once left the workers to exit on their own."""
    from merbench import workers

    stopped = []

    class Pool:
        def shutdown(self, wait=True):
            raise KeyboardInterrupt

    monkeypatch.setattr(workers, "stop_workers", stopped.append)
    pool = Pool()
    with pytest.raises(KeyboardInterrupt):
        with workers.running(pool, "broken"):
            pass
    assert stopped == [pool]
