"""Fast exits: the command line without a last garbage collection over everything torch loaded
(``cli.skip_final_collection``), the fold workers' fork server without tearing its interpreter down.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import atexit, contextlib, gc, io
calls = []
freeze = gc.freeze
gc.freeze = lambda: calls.append(1) or freeze()
from merbench.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main([])
    main([])
print(gc.get_freeze_count())
atexit._run_exitfuncs()
print(len(calls), gc.get_freeze_count() > 0)
"""


def test_the_last_exit_handler_freezes_the_heap_once_per_process():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    frozen_while_running, calls, frozen_at_exit = done.stdout.split()[-3:]
    assert frozen_while_running == "0", "nothing is frozen while the command runs"
    assert calls == "1", "once per process, however often main() ran"
    assert frozen_at_exit == "True", "at exit every object moves to the permanent generation, which the collector skips"


EXIT_HANDLERS_IN_CHILD = """
import atexit
open({path!r}, "w").write("exit handlers start")
atexit._run_exitfuncs()
open({path!r}, "w").write("exit handlers returned: the interpreter would now be torn down")
"""


def test_the_fork_server_of_fold_workers_ends_at_once_when_it_exits(tmp_path):
    """A process forked from the server inherits the server's exit handlers: running them there shows its exit.

    Without it the server spent 0.4-1.1 s tearing down torch after every run,
    and output piped from ``merbench run`` ended only when the server had gone.
    """
    from merbench.workers import process_context

    context = process_context()
    if context.get_start_method() != "forkserver":
        pytest.skip("no fork server on this platform: workers are spawned")
    if sys.version_info >= (3, 13):  # multiprocessing's fork server clears them (atexit._clear) in each child
        pytest.skip("Python 3.13+: a process forked from the server inherits no exit handlers to run")
    path = tmp_path / "exit"
    child = context.Process(target=exec, args=(EXIT_HANDLERS_IN_CHILD.format(path=str(path)),))
    child.start()
    child.join(120)
    assert path.read_text() == "exit handlers start", "the server's last exit handler should end the process"
    assert child.exitcode == 0


def _sigint_handler_name(queue) -> None:
    import signal

    queue.put(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)


def test_the_fork_server_ignores_ctrl_c_while_it_imports_its_preloads():
    # Ctrl-C reaches the whole process group. Python's fork server ignores it only after importing torch (seconds),
    # so an early Ctrl-C printed its KeyboardInterrupt traceback and held the run's exit for 10 s. A process it
    # forks inherits the handler it had once the preloads were imported.
    from merbench.workers import process_context

    context = process_context()
    if context.get_start_method() != "forkserver":
        pytest.skip("no fork server on this platform")
    queue = context.Queue()
    child = context.Process(target=_sigint_handler_name, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=120) is True
    finally:
        child.join(timeout=30)


def test_a_second_ctrl_c_while_saying_interrupted_is_ignored(monkeypatch):
    # `timeout` signals the process and then its group; an impatient user presses Ctrl-C twice.
    import os
    import signal

    from rich.console import Console

    import merbench.cli as cli
    import merbench.commands.list as listing

    class InterruptedAgain(Console):
        def print(self, *objects, **options):
            os.kill(os.getpid(), signal.SIGINT)
            super().print(*objects, **options)

    def stopped(args, out, err):
        raise KeyboardInterrupt

    monkeypatch.setattr(listing, "execute", stopped)
    monkeypatch.setattr(cli, "make_console", lambda stderr=False, table_format="auto": InterruptedAgain(stderr=stderr))
    before = signal.getsignal(signal.SIGINT)
    assert cli.main(["list"]) == 130
    assert signal.getsignal(signal.SIGINT) is before  # a call from Python gets its handler back


def test_ctrl_c_before_a_run_is_recorded_says_nothing_was(run_cli, monkeypatch, tmp_path):
    import merbench.runner

    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(merbench.runner, "choose_run_device", interrupted)  # the first step of a recorded run
    store = tmp_path / "results.sqlite"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--store", str(store))
    assert result.code == 130
    assert "Nothing was recorded: the run was stopped before it started" in result.err
    assert "--resume" not in result.err
