"""Run ``merbench`` commands as another revision of this repository does, for speed comparisons in one benchmark run.

``export_revision`` writes a revision's files (``git archive``) into a folder and
links ``merbench_plugins`` to its ``plugins/``; ``command_env`` puts that folder
first on ``PYTHONPATH``, so a subprocess started outside the repository imports
that revision's ``merbench`` and built-in plugins instead of the installed
(editable) ones. A checkout without that revision in its history (a shallow
clone, as GitHub Actions makes by default) skips the benchmark under pytest,
naming the revision and ``git fetch --unshallow``. The installed distribution's entry points name modules, not
files, so the plugins found are the revision's too. ``run_json`` runs one
command that writes a JSON file (or prints one) and returns its object with the wall time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]


def require_revision(revision: str) -> None:
    """Skip the calling benchmark (outside pytest: raise ``RuntimeError``) when the checkout lacks ``revision``."""
    found = subprocess.run(["git", "-C", str(REPOSITORY), "cat-file", "-e", f"{revision}^{{commit}}"],
                           capture_output=True, text=True)
    if found.returncode == 0:
        return
    said = found.stderr.strip().splitlines()
    message = (f"needs revision {revision} of the git history, which {REPOSITORY} lacks"
               f"{f' ({said[-1]})' if said else ''}: git fetch --unshallow")
    if "pytest" in sys.modules:
        import pytest

        pytest.skip(message)
    raise RuntimeError(message)


def export_revision(revision: str, folder: Path) -> Path:
    """Write ``revision``'s files into ``folder`` (created) and return it; ``merbench_plugins`` links to its plugins.

    Under pytest, a revision the checkout lacks skips the benchmark (``require_revision``).
    """
    require_revision(revision)
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", revision], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    (folder / "merbench_plugins").symlink_to(folder / "plugins", target_is_directory=True)
    return folder


def command_env(checkout: Path | None, **extra: str) -> dict[str, str]:
    """The environment of a subprocess importing ``checkout``'s merbench (``None``: the installed one)."""
    env = {**os.environ, **extra}
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(checkout), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def run_json(args: list[str], checkout: Path | None, output: Path | None = None,
             **extra_env: str) -> tuple[dict[str, Any], float]:
    """Run ``python ARGS`` outside the repository; (the JSON it wrote to ``output`` or, without one, printed last; wall seconds).

    Raises ``RuntimeError`` with the command's last output lines when it fails.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="merbench-bench-cwd-") as cwd:
        done = subprocess.run([sys.executable, *args], cwd=cwd, env=command_env(checkout, **extra_env),
                              capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"python {' '.join(args)} exited {done.returncode}:\n{tail}")
    if output is not None:
        return json.loads(output.read_text()), seconds
    printed = done.stdout[done.stdout.rindex("\n{"):] if "\n{" in done.stdout else done.stdout
    return json.loads(printed), seconds
