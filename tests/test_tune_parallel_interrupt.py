"""Ctrl-C or SIGTERM during ``merbench tune --workers 2`` stops the trials' worker processes at once: before, the
tune waited for every running trial to finish (Optuna's thread pool joined them), and a second Ctrl-C printed a
count of stored trials that grew afterwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

pytest.importorskip("optuna")
psutil = pytest.importorskip("psutil")


def _running_trials(storage) -> int:
    if not storage.exists():
        return 0
    try:
        with sqlite3.connect(storage, timeout=0.5) as db:
            return db.execute("SELECT COUNT(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0]
    except sqlite3.Error:  # the tables are being made
        return 0


@pytest.mark.parametrize("signum, code, said", [(signal.SIGINT, 130, "merbench: interrupted"),
                                                (signal.SIGTERM, 143, "merbench: terminated (SIGTERM)")])
def test_stopping_a_tune_of_trials_at_once_stops_their_workers_and_redoes_the_trials(tmp_path, signum, code, said):
    space = tmp_path / "space.yaml"
    space.write_text("model.dropout: {type: float, low: 0.0, high: 0.5}\n")
    storage = tmp_path / "trials.sqlite"
    env = {**os.environ, "MERBENCH_CACHE": str(tmp_path / "cache"), "MERBENCH_STORE": str(tmp_path / "r.sqlite")}
    tune = subprocess.Popen(
        [sys.executable, "-m", "merbench", "tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick",
         "--quiet", "--trials", "2", "--inner-folds", "2", "--workers", "2", "--space", str(space), "--storage",
         str(storage), "--epochs", "100000", "--set", "dataset.subjects=6", "dataset.clips_per_subject=4",
         "protocol.n_splits=2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _running_trials(storage) < 2:  # both trials train (100,000 epochs each: hours)
        if tune.poll() is not None or time.monotonic() > deadline:
            tune.kill()
            pytest.fail(f"the tune did not start two trials: {tune.communicate()[1][-2000:]}")
        time.sleep(0.1)
    time.sleep(1.0)  # their worker processes are training
    workers = [child for child in psutil.Process(tune.pid).children(recursive=True)
               if "resource_tracker" not in " ".join(child.cmdline())]
    os.kill(tune.pid, signum)
    try:
        _, err = tune.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        tune.kill()
        pytest.fail("the stopped tune waited for its running trials to finish")
    assert tune.returncode == code, err
    assert said in err and "Traceback" not in err, err
    assert "No trial had finished, so nothing is stored" in " ".join(err.split()), err
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, "trial worker processes outlived the stopped tune"
    assert _running_trials(storage) == 0
    with sqlite3.connect(storage) as db:  # interrupted, not failed by themselves: the next tune redoes them
        errors = db.execute("SELECT COUNT(*) FROM trial_user_attributes WHERE key = 'error'").fetchone()[0]
    assert errors == 0
