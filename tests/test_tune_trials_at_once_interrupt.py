"""Ctrl-C or SIGTERM during ``merbench tune --workers N`` waits for every trial thread to record its trial.

Before, the tune waited with ``Thread.join(0.1)``: on Python 3.11 a signal whose handler raises while ``join`` waits
marks the thread it waited for as stopped although it still runs (CPython's bpo-45274 fix releases the lock the
running thread holds), so the tune exited before that thread had recorded its trial as interrupted, and the trial
was left RUNNING in the storage (seen under load, when the recording thread was slow).
"""

from __future__ import annotations

import signal
import threading
import time
from types import SimpleNamespace

import pytest

from merbench import tuning

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM (POSIX)")


class _SlowlyRecordedStudy:
    """A study whose trial trains until the tune stops, then takes a while to record itself as interrupted."""

    def __init__(self, stopping: threading.Event, recording_s: float):
        self._stopping = stopping
        self._recording_s = recording_s
        self.recorded: list[str] = []

    def optimize(self, objective, n_trials, catch, callbacks, gc_after_trial) -> None:
        """Train until stopped; record the trial (as Optuna writes its state) after ``recording_s``."""
        self._stopping.wait()
        time.sleep(self._recording_s)
        self.recorded.append("interrupted")
        raise KeyboardInterrupt


def _interrupt_main_thread(handler_calls: list[int], number: int, frame) -> None:
    handler_calls.append(number)
    raise KeyboardInterrupt


def test_an_interrupted_tune_returns_only_when_its_trial_threads_have_recorded_their_trials(monkeypatch):
    monkeypatch.setattr(tuning, "start_worker_server", lambda: None)
    stopping = threading.Event()
    ctx = SimpleNamespace(stopping=stopping, request=SimpleNamespace(workers=2), trial_workers=[],
                          stop_trial_workers=lambda: None)
    study = _SlowlyRecordedStudy(stopping, recording_s=0.5)
    calls: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda number, frame: _interrupt_main_thread(calls, number, frame))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)  # arrives while the tune waits for its one trial thread
        with pytest.raises(KeyboardInterrupt):
            tuning.run_trials_at_once(ctx, study, objective=None, remaining=1, finished=None)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert calls == [signal.SIGALRM]
    assert stopping.is_set()
    assert study.recorded == ["interrupted"], "the tune ended before its trial thread recorded the trial"
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("merbench-trial-")]
