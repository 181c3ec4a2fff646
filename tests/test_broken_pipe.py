"""A reader that stops early (``merbench list | head -1``) is not an error: no traceback, the command's own status."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("args", [["list"], ["plugins"], ["info", "ststnet"]])
def test_output_into_a_closed_pipe_is_dropped_quietly(args, tmp_path):
    environment = {**os.environ, "MERBENCH_STORE": str(tmp_path / "store.sqlite"),
                   "MERBENCH_CACHE": str(tmp_path / "cache"), "COLUMNS": "80"}
    process = subprocess.Popen([sys.executable, "-m", "merbench", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=environment)
    process.stdout.close()  # the reader is gone before the first line
    _, err = process.communicate(timeout=120)
    assert (process.returncode, err.decode()) == (0, "")
