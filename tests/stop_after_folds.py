"""Run the merbench CLI, dying abruptly (``os._exit(99)``) once a run has stored K folds, as a killed run would.

Usage: ``python tests/stop_after_folds.py K merbench-arguments...``. The resume tests use it
to leave an interrupted run in the store; merbench itself has no such hook.
"""

from __future__ import annotations

import os
import sys

from merbench.cli import main
from merbench.recording import RunRecorder


def stop_after(limit: int) -> None:
    """Make this process end right after the ``limit``-th fold a ``RunRecorder`` has stored (committed)."""
    fold_done = RunRecorder.fold_done
    stored = 0

    def fold_done_then_maybe_die(self, *args, **kwargs):
        nonlocal stored
        fold_done(self, *args, **kwargs)
        stored += 1
        if stored >= limit:
            self.store.close()
            os._exit(99)

    RunRecorder.fold_done = fold_done_then_maybe_die


if __name__ == "__main__":
    stop_after(int(sys.argv[1]))
    raise SystemExit(main(sys.argv[2:]))
