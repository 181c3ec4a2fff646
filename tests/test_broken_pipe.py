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


@pytest.mark.parametrize("args", [["list", "--json"], ["plugins", "--json"], ["cache", "info", "--json", "-"]])
@pytest.mark.parametrize("stdout", ["closed pipe", "no stdout"])
def test_json_for_standard_output_is_dropped_quietly_when_nobody_reads_it(args, stdout, tmp_path):
    """`merbench list --json | true`, and `>&-` (cron, a daemon: Python's sys.stdout is None): exit 0, no traceback
    (before, with no stdout: the JSON written to stderr, then "AttributeError: 'NoneType' object has no attribute
    'flush'", exit 1)."""
    environment = {**os.environ, "MERBENCH_STORE": str(tmp_path / "store.sqlite"),
                   "MERBENCH_CACHE": str(tmp_path / "cache"), "COLUMNS": "80"}
    closed = stdout == "no stdout"
    process = subprocess.Popen([sys.executable, "-m", "merbench", *args], stderr=subprocess.PIPE, env=environment,
                               stdout=None if closed else subprocess.PIPE,
                               preexec_fn=(lambda: os.close(1)) if closed else None)
    if not closed:
        process.stdout.close()
    _, err = process.communicate(timeout=120)
    text = err.decode()
    assert process.returncode == 0 and "Traceback" not in text and '"' not in text, text
