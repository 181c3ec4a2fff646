"""The example plugin package installs separately, is discovered, conforms and runs.

It is installed (from a copy, so the source tree stays clean) into a throw-away
virtual environment that sees the packages of the interpreter running the tests
(merbench, torch, setuptools: also when that interpreter is itself a virtual
environment), so the test needs no network and leaves that interpreter untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from piped_rows import piped_row

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "merbench-plugin-example"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory, session_cache):
    """(python, environment) of a venv with merbench-plugin-example installed."""
    base = tmp_path_factory.mktemp("example-plugin")
    source = base / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _see_this_interpreters_packages(python)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", str(source)],
        capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "MERBENCH_CACHE": str(session_cache), "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"}
    return python, env, source


def _see_this_interpreters_packages(python: Path) -> None:
    """Make the venv of ``python`` load this interpreter's site-packages (and their ``.pth`` files) after its own.

    ``venv --system-site-packages`` would give it the *base* interpreter's packages,
    which lack merbench when the tests run in a virtual environment.
    """
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    outer = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    lines = [f"import site; site.addsitedir({path!r})" for path in dict.fromkeys(outer)]
    (Path(own) / "merbench-test-outer.pth").write_text("\n".join(lines) + "\n")


def _run(python: Path, env: dict, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_example_plugin_is_discovered_by_list_models(plugin_env):
    python, env, _ = plugin_env
    listing = _run(python, env, "-m", "merbench", "list", "models")
    assert listing.returncode == 0, listing.stderr
    row = piped_row(listing.stdout, "example-tinycnn")
    assert "merbench-plugin-example 0.1.0" in row
    assert "flow-uvs 3×28×28" in row  # the model's preprocess_options (flow at 28) reach the listing
    assert "plugin problem" not in listing.stderr


def test_example_plugin_passes_the_conformance_suite_it_ships(plugin_env):
    python, env, source = plugin_env
    tests = _run(python, env, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(source), str(source / "tests"),
                 cwd=source)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout


def test_example_plugin_runs_and_is_not_installed_in_this_interpreter(plugin_env, tmp_path):
    python, env, _ = plugin_env
    target = tmp_path / "result.json"
    run = _run(python, env, "-m", "merbench", "run", "--model", "example-tinycnn", "--dataset", "synthetic",
               "--profile", "quick", "--quiet", "--set", "dataset.subjects=4", "protocol.n_splits=2", "--json", str(target))
    assert run.returncode == 0, run.stderr
    result = json.loads(target.read_text())
    assert result["model"] == "example-tinycnn" and len(result["folds"]) == 2
    assert result["environment"]["plugins"]["model:example-tinycnn"] == "merbench-plugin-example 0.1.0"
    assert result["config"]["options"]["flow"]["size"] == 28
    from merbench.registry import Registry

    assert "example-tinycnn" not in Registry().names("models")
