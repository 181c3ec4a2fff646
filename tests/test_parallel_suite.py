"""A bare ``pytest`` runs the suite on several pytest-xdist workers; a run given paths, ``-n 0`` or no xdist runs
in one process (tests/parallel_suite.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from parallel_suite import MAX_WORKERS, suite_workers, usable_cores

pytest.importorskip("xdist")

TESTS = Path(__file__).parent


def project(tmp_path: Path) -> Path:
    """A project whose ``testpaths`` holds four tests, each printing the xdist worker it ran on."""
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["checks"]\n')
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "conftest.py").write_text("import parallel_suite\n\npytest_cmdline_main = parallel_suite.pytest_cmdline_main\n")
    (checks / "test_where.py").write_text(textwrap.dedent("""\
        import os

        import pytest


        @pytest.mark.parametrize("case", range(4))
        def test_where(case):
            print("ran on", os.environ.get("PYTEST_XDIST_WORKER", "one process"))
        """))
    return tmp_path


def workers_used(root: Path, *args: str) -> set[str]:
    """Where the project's tests ran with ``pytest ARGS`` (worker ids, or "one process")."""
    env = {"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-s", "-p", "no:cacheprovider", *args], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return {line.split("ran on ", 1)[1].split()[0] if "ran on gw" in line else "one process"
            for line in done.stdout.splitlines() if "ran on " in line}


def test_a_bare_pytest_runs_on_one_worker_per_core_up_to_the_maximum(tmp_path):
    expected = suite_workers(usable_cores())
    used = workers_used(project(tmp_path))
    if expected:
        assert used <= {f"gw{i}" for i in range(expected)} and "one process" not in used, used
    else:
        assert used == {"one process"}


def test_paths_n_0_and_collect_only_keep_one_process(tmp_path):
    root = project(tmp_path)
    assert workers_used(root, "checks") == {"one process"}, "a run given paths (e.g. benchmarks/) stays serial"
    assert workers_used(root, "checks/test_where.py::test_where") == {"one process"}
    assert workers_used(root, "-n", "0") == {"one process"}
    assert workers_used(root, "-p", "no:xdist") == {"one process"}


def test_the_worker_count_follows_the_cores_up_to_the_maximum():
    assert [suite_workers(cores) for cores in (1, 2, 3, MAX_WORKERS, 64)] == [0, 2, 3, MAX_WORKERS, MAX_WORKERS]
