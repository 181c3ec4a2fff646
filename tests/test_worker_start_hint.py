"""A worker that cannot start, because the user's own script runs merbench without a ``__main__`` guard,
is reported with the guard to add, not only as "out of memory"."""

from __future__ import annotations

import os
import subprocess
import sys

UNGUARDED = """
from merbench.cli import main

# no `if __name__ == "__main__":` here: every worker process imports this script and runs this again
raise SystemExit(main(["run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                       "--set", "dataset.subjects=4", "dataset.clips_per_subject=4", "dataset.size=32",
                       "dataset.frames=6", "protocol.n_splits=2", "engine.epochs=1", "engine.parallel_folds=2"]))
"""


def test_an_unguarded_script_is_told_to_add_the_main_guard(tmp_path):
    script = tmp_path / "experiment.py"
    script.write_text(UNGUARDED, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "MERBENCH_CACHE": str(tmp_path / "cache"), "COLUMNS": "200"})
    message = " ".join(done.stderr.split())
    assert done.returncode == 1, done.stderr[-2000:]
    assert "a fold worker process died (killed: by `kill`, or by the system when memory ran out; or it could not start" in message
    assert 'must do so under `if __name__ == "__main__":`' in message
    assert 'merbench was called again by a worker process that imports the script which started the run' in message
    assert "the run was not stored in a results store" in message and "--resume" not in message  # run with --no-store
    assert "Traceback" not in done.stderr, "the worker says so in one line, the run in another"
