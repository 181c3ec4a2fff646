"""A pytest plugin (loaded by tests/conftest.py) that runs a bare ``pytest`` on several pytest-xdist workers.

Tests are handed out as workers free up (``--dist worksteal``). ``pytest -n 0`` runs one process, and a run given
paths (``pytest benchmarks/``, whose timings need a quiet machine, or ``pytest tests/test_x.py``) stays in one
process unless ``-n`` says otherwise. Without pytest-xdist (or with ``-p no:xdist``) nothing changes.
"""

from __future__ import annotations

import os

import pytest

MAX_WORKERS = 4
"""A bare ``pytest`` starts one worker per core, up to this many."""


def suite_workers(cores: int) -> int:
    """How many pytest-xdist workers a bare ``pytest`` starts on a machine with ``cores`` cores (0: one process)."""
    workers = min(cores, MAX_WORKERS)
    return workers if workers >= 2 else 0


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Give a bare ``pytest`` (its paths from ``testpaths``) ``-n WORKERS --dist worksteal`` before pytest-xdist
    reads them; leave any run that names paths, sets ``-n``, debugs (``--pdb``) or only collects as it is."""
    chosen = getattr(config.option, "numprocesses", "no xdist")  # None: pytest-xdist is there and -n was not given
    if chosen is not None or hasattr(config, "workerinput"):
        return
    if (config.args_source is not pytest.Config.ArgsSource.TESTPATHS or config.option.usepdb
            or config.option.collectonly):
        return
    workers = suite_workers(usable_cores())
    if workers:
        config.option.numprocesses = workers
        config.option.dist = "worksteal"
