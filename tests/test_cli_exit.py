"""The command line's exit: no last garbage collection over everything torch loaded (``cli.skip_final_collection``)."""

from __future__ import annotations

import subprocess
import sys

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
