"""`.ci/run`'s plugin step fails CI on a plugin problem (``merbench plugins`` alone reports it and exits 0)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CI_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "run"


def _plugin_step() -> str:
    """The line of ``.ci/run`` that lists the plugins."""
    lines = [line.strip() for line in CI_SCRIPT.read_text().splitlines()
             if "merbench plugins" in line and not line.lstrip().startswith("#")]
    assert len(lines) == 1, lines
    return lines[0]


def _run_step(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           **extra_env}
    env.pop("MERBENCH_STRICT_PLUGINS", None)
    return subprocess.run(["bash", "-c", f"set -euo pipefail; {_plugin_step()}"], env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_ci_plugin_step_fails_on_a_plugin_problem():
    broken = _run_step({"MERBENCH_DISABLE_PLUGINS": "synthtic"})  # a name of no entry point: a plugin problem
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert "synthtic" in broken.stdout + broken.stderr and "MERBENCH_STRICT_PLUGINS is set" in broken.stderr


def test_the_ci_plugin_step_passes_with_every_plugin_loading():
    fine = _run_step({})
    assert fine.returncode == 0, fine.stderr
