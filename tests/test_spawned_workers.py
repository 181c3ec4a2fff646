"""Worker processes started with ``spawn`` (macOS, Windows) survive a Ctrl-C that comes while they start, as those
forked from merbench's fork server do (merbench.workers.submit)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys

import pytest

from merbench import workers

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="signals cannot be blocked here")


def test_a_ctrl_c_while_a_spawned_worker_starts_does_not_kill_it(monkeypatch):
    monkeypatch.setattr(workers, "process_context", lambda: multiprocessing.get_context("spawn"))
    pool = workers.start_pool(1, int, ())
    try:
        future = workers.submit(pool, os.getpid)
        (process,) = pool._processes.values()  # started by submit, now starting Python and importing merbench
        os.kill(process.pid, signal.SIGINT)  # as Ctrl-C reaches every process of the terminal's group
        assert future.result(timeout=120) == process.pid
        assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set()), "Ctrl-C left blocked here"
    finally:
        workers.stop_workers(pool)


def test_a_spawned_worker_ignores_ctrl_c_once_started_and_its_own_children_get_it_unblocked(monkeypatch):
    monkeypatch.setattr(workers, "process_context", lambda: multiprocessing.get_context("spawn"))
    pool = workers.start_pool(1, int, ())
    try:
        assert workers.submit(pool, signal.getsignal, signal.SIGINT).result(timeout=120) == signal.SIG_IGN
        mask = workers.submit(pool, signal.pthread_sigmask, signal.SIG_BLOCK, set()).result(timeout=120)
        assert signal.SIGINT not in mask
    finally:
        workers.stop_workers(pool)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is merbench's start on Linux")
def test_the_fork_servers_workers_still_start_and_ignore_ctrl_c():
    pool = workers.start_pool(1, int, ())
    try:
        assert workers.submit(pool, signal.getsignal, signal.SIGINT).result(timeout=120) == signal.SIG_IGN
    finally:
        workers.stop_workers(pool)


def test_stopping_a_pool_also_ends_a_worker_whose_launch_it_waited_for():
    """A worker launched by another thread while the pool is being stopped (the launch holds the pool's lock, which
    shutdown waits for) is ended too: left idle on the task queue, the pool's manager thread, which the run waits for
    as it exits, waited for it forever (a SIGTERM run that never ended)."""
    import threading

    pool = workers.start_pool(2, int, ())
    if not hasattr(pool, "_spawn_process"):
        pytest.skip("this Python's pool launches its processes another way")
    launching, launched = threading.Event(), []
    try:
        workers.submit(pool, os.getpid).result(timeout=120)

        def launch_while_stopping() -> None:
            with pool._shutdown_lock:  # as submit holds it while the fork server forks a worker
                launching.set()
                threading.Event().wait(0.5)  # stop_workers is now waiting for the lock
                pool._spawn_process()
                launched.extend(p for p in pool._processes.values())

        launcher = threading.Thread(target=launch_while_stopping)
        launcher.start()
        launching.wait(10)
        workers.stop_workers(pool)
        launcher.join(10)
        assert len(launched) == 2
        left = [p.pid for p in launched if p.is_alive()]
        assert not left, f"worker processes left running after the pool was stopped: {left}"
    finally:
        for process in launched:
            process.kill()
