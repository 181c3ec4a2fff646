"""A model plugin that ends its fold worker process (a segfault, ``os._exit``) is named in the run's error, with the
fold the worker trained and how it ended, not guessed at as "killed, out of memory, or no `__main__` guard"."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

# The first worker to reach its third forward call ends itself; the pool then stops the other one (SIGTERM).
PLUGIN = '''
import os
import signal

from torch import nn

from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


class Net(nn.Module):
    def __init__(self, in_channels, n_classes, how):
        super().__init__()
        self.how = how
        self.calls = 0
        self.linear = nn.Linear(in_channels, n_classes)

    def forward(self, x):
        self.calls += 1
        if self.calls == 3 and _first():
            if self.how == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            os._exit(3)
        return self.linear(x.mean(dim=(2, 3)))


def _first():
    try:
        os.close(os.open(os.environ["CRASH_FLAG"], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


def build(options, in_channels, n_classes, input_size):
    return Net(in_channels, n_classes, options["how"])


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="crasher", build=build, description="ends its process", input="flow-uvs",
                         options={"how": "exit"}))
'''

RUN = ["run", "--model", "crasher", "--dataset", "synthetic", "--profile", "quick", "--set", "dataset.subjects=4",
       "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2", "engine.epochs=2"]


def _run_crashing(tmp_path, how: str, parallel_folds: int = 2) -> tuple[subprocess.CompletedProcess, str]:
    """``merbench run`` of the crashing plugin, in two fold workers (``parallel_folds``); returns it and its stderr
    on one line."""
    site = tmp_path / "site"
    info = site / "merbench_crasher-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: merbench-crasher\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[merbench]\ncrasher = merbench_crasher\n")
    (site / "merbench_crasher.py").write_text(textwrap.dedent(PLUGIN))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "MERBENCH_CACHE": str(tmp_path / "cache"), "CRASH_FLAG": str(tmp_path / "crashed"), "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "merbench", *RUN, f"model.how={how}",
                           f"engine.parallel_folds={parallel_folds}",
                           "--store", str(tmp_path / "r.sqlite")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    return done, " ".join(done.stderr.split())


@pytest.mark.parametrize("how, ended", [
    ("exit", "it exited with code 3: the model plugin or a library it calls ended the process"),
    ("segv", "it was ended by SIGSEGV, a crash in native code, e.g. the model plugin's or a library's"),
])
def test_a_worker_ended_by_the_model_plugin_is_named_with_its_fold_and_how(tmp_path, how, ended):
    done, message = _run_crashing(tmp_path, how)
    assert (tmp_path / "crashed").exists(), done.stderr[-2000:]
    assert done.returncode == 1, done.stderr[-2000:]
    named = r"merbench: error: a fold worker process died while training fold [12] with model plugin 'crasher' "
    assert re.search(named + r"\(merbench-crasher 0\.3\): " + re.escape(ended), message), message
    assert "memory ran out" not in message and "__main__" not in message, "guesses that do not fit"
    assert "SIGTERM" not in message, "the other worker, stopped by the pool, is not blamed"
    assert "merbench run --resume" in message and "Traceback" not in done.stderr, done.stderr[-2000:]


PLUGIN_LABEL = "model plugin 'm' (merbench-m 1.0)"


def test_each_dead_worker_is_told_with_its_own_fold_and_ending():
    from merbench.folds.local import worker_died

    message = worker_died({11: -signal.SIGKILL, 12: 3, 13: -signal.SIGTERM}, {11: 4, 12: 0}, PLUGIN_LABEL)
    assert message.startswith(f"2 fold worker processes died while training folds 1 and 5 with {PLUGIN_LABEL}: "
                              "the worker of fold 1 exited with code 3: "), message
    assert "; the worker of fold 5 was killed (SIGKILL): by `kill -9`, or by the system when memory ran out" in message
    assert "engine.parallel_folds=1" in message and "SIGTERM" not in message


def test_a_worker_that_died_while_starting_keeps_the_main_guard_advice():
    from merbench.folds.local import WORKER_DIED, worker_died

    message = worker_died({11: 1}, {}, PLUGIN_LABEL, starting=True)
    assert message.startswith(f"a fold worker process for {PLUGIN_LABEL} died while starting (it exited with code 1); "
                              "every worker imports the script that started the run"), message
    assert worker_died({11: None}, {}, PLUGIN_LABEL) == WORKER_DIED, "how it ended is not known: every guess stays"


def test_a_crash_in_the_runs_own_process_says_where_it_was(tmp_path):
    """Folds trained in merbench's own process (engine.parallel_folds=1): a segfault cannot be caught, but the
    crash names the plugin's file and line (faulthandler) instead of ending in silence with exit status -11."""
    done, _ = _run_crashing(tmp_path, "segv", parallel_folds=1)
    assert done.returncode == -signal.SIGSEGV, done.stderr
    assert "Fatal Python error: Segmentation fault" in done.stderr
    assert re.search(r'merbench_crasher\.py", line \d+ in forward', done.stderr), done.stderr
