"""Run ``merbench`` commands as another revision of this repository does, for speed comparisons in one benchmark run.

``export_revision`` writes a revision's files (``git archive``) into a folder and
links ``merbench_plugins`` to its ``plugins/``; ``command_env`` puts that folder
first on ``PYTHONPATH``, so a subprocess started outside the repository imports
that revision's ``merbench`` and built-in plugins instead of the installed
(editable) ones. A shallow clone (as GitHub Actions makes by default) without
that revision skips the benchmark under pytest, naming the revision and ``git
fetch --unshallow``; a full clone without it fails the benchmark, naming the
variable (``MERBENCH_BENCH_PREVIOUS`` or ``MERBENCH_BENCH_BASELINE``) that gave
it. The installed distribution's entry points name modules, not files, so the
plugins found are the revision's too. ``run_json`` runs one
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


VARIABLES = ("MERBENCH_BENCH_PREVIOUS", "MERBENCH_BENCH_BASELINE")
"""The environment variables that name the revision a benchmark compares with."""


def require_revision(revision: str) -> None:
    """Return when the checkout has ``revision``; otherwise skip the calling benchmark when the clone is shallow
    (``git fetch --unshallow`` may bring it), fail it when not (the revision is wrong). Outside pytest: raise
    ``RuntimeError``."""
    found = subprocess.run(["git", "-C", str(REPOSITORY), "cat-file", "-e", f"{revision}^{{commit}}"],
                           capture_output=True, text=True)
    if found.returncode == 0:
        return
    said = found.stderr.strip().splitlines()
    why = f" ({said[-1]})" if said else ""
    shallow = is_shallow()
    message = (f"needs revision {revision} of the git history, which {REPOSITORY} lacks{why}: git fetch --unshallow"
               if shallow else unknown_revision(revision, why))
    if "pytest" in sys.modules:
        import pytest

        if shallow:
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    raise RuntimeError(message)


def is_shallow() -> bool:
    """Whether the checkout is a shallow clone (``git rev-parse --is-shallow-repository``)."""
    done = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--is-shallow-repository"],
                          capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.strip() == "true"


def unknown_revision(revision: str, why: str) -> str:
    """What to do about a revision a full clone does not know: the variable that named it, or the default's."""
    named = [name for name in VARIABLES if os.environ.get(name) == revision]
    if named:
        return (f"{named[0]}={revision}: {REPOSITORY} has no such revision{why}, and it is not a shallow clone, "
                f"so fetching will not bring it; set {named[0]} to a commit of `git log`, or unset it for the "
                "benchmark's default")
    return (f"the benchmark's default revision {revision} is not in {REPOSITORY}{why}, which is not a shallow clone; "
            f"set {' or '.join(VARIABLES)} (whichever the benchmark reads) to a commit of `git log`")


def export_revision(revision: str, folder: Path) -> Path:
    """Write ``revision``'s files into ``folder`` (created) and return it; ``merbench_plugins`` links to its plugins.

    Under pytest, a revision the checkout lacks skips or fails the benchmark (``require_revision``).
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
