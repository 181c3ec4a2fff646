"""benchmarks/gpu/device_checks.sh, benchmarks/gpu/summarise_runs.py and benchmarks/convmixer_study.py as a user
runs them: one call's results only, ``--help`` and bad arguments running nothing, refusals as one line and exit
code 2, never a traceback.

``device_checks.sh`` runs with a stand-in ``python3`` on ``PATH`` (a tiny shell script that records its calls):
no GPU and no training here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from result_samples import minimal_dict

ROOT = Path(__file__).resolve().parents[1]
DEVICE_CHECKS = ROOT / "benchmarks" / "gpu" / "device_checks.sh"
STAND_IN = r"""#!/bin/sh
# python3 for device_checks.sh: records its calls; "torch" imports fail with NO_TORCH set; `-m merbench run` writes
# its --json file with FINISH set and fails without; summarise_runs.py names the files it was given that exist.
echo "$*" >> "$STANDIN_CALLS"
case "$*" in
    *torch*) if [ -n "$NO_TORCH" ]; then
                 printf 'Traceback (most recent call last):\nModuleNotFoundError: No module named %s\n' torch >&2
                 exit 1
             fi ;;
esac
case "$1 $2" in
    "-m merbench")
        [ -n "$FINISH" ] || exit 1
        prev=; for arg; do [ "$prev" = --json ] && echo '{}' > "$arg"; prev=$arg; done ;;
    "benchmarks/gpu/summarise_runs.py --peak-tflops")
        shift 3
        for file; do if [ -e "$file" ]; then echo "summarised $(basename "$file")"; fi; done ;;
esac
exit 0
"""


def device_checks(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``bash benchmarks/gpu/device_checks.sh ARGS`` with the stand-in ``python3``, ``$OUT`` and ``$TMPDIR`` under
    ``tmp_path``, only the main job's step."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python3").write_text(STAND_IN)
    (bin_dir / "python3").chmod(0o755)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "OUT": str(tmp_path / "out"),
                   "TMPDIR": str(tmp_path / "tmp"), "STANDIN_CALLS": str(tmp_path / "calls.txt"), "CHECKS": "default",
                   **env}
    return subprocess.run(["bash", str(DEVICE_CHECKS), *args], capture_output=True, text=True, env=environment,
                          timeout=60, check=False)


def test_device_checks_summarises_this_calls_runs_only(tmp_path):
    """Once the result files lay in a fixed /tmp/merbench-gpu-runs, never cleared: a run that failed showed an
    earlier call's figures in summary.txt."""
    first = device_checks(tmp_path, FINISH="1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (tmp_path / "out" / "summary.txt").read_text() == "summarised default.json\n"
    failing = device_checks(tmp_path, FINISH="")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "== default: exit 1" in failing.stdout
    assert (tmp_path / "out" / "summary.txt").read_text() == "", "no figures of the earlier call's run"


@pytest.mark.parametrize("args, code, stream, first", [
    (["--help"], 0, "stdout", "usage: bash benchmarks/gpu/device_checks.sh [--fetch-wheels | -h | --help]"),
    (["-h"], 0, "stdout", "usage: bash benchmarks/gpu/device_checks.sh [--fetch-wheels | -h | --help]"),
    (["--fetch-wheel"], 2, "stderr", "device_checks.sh: error: unknown argument '--fetch-wheel'; usage: bash "
                                     "benchmarks/gpu/device_checks.sh [--fetch-wheels | -h | --help]"),
], ids=["help", "h", "typo"])
def test_device_checks_help_and_an_unknown_argument_run_nothing(tmp_path, args, code, stream, first):
    """Once any argument but --fetch-wheels was ignored and the whole ~9-minute suite started."""
    result = device_checks(tmp_path, *args, FINISH="1")
    assert result.returncode == code, result.stdout + result.stderr
    assert getattr(result, stream).splitlines()[0] == first
    if code:
        assert result.stderr.count("\n") == 1 and not result.stdout
    else:
        assert "CHECKS names the checks to run" in result.stdout
    assert not (tmp_path / "calls.txt").exists(), "python3 never ran"
    assert not (tmp_path / "out").exists()


def test_device_checks_without_torch_is_one_line_and_creates_nothing(tmp_path):
    """Once a ModuleNotFoundError traceback, after creating its folders."""
    result = device_checks(tmp_path, NO_TORCH="1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == "device_checks.sh: error: python3 has no torch: activate merbench's environment\n"
    assert not (tmp_path / "out").exists() and not list((tmp_path / "tmp").iterdir())


def test_summarise_runs_reads_a_result_of_a_model_that_is_not_a_torch_network(tmp_path):
    """Once "cannot build its model 'lbptop-svm' ... (AttributeError: 'SVC' object has no attribute 'eval')" and
    exit code 2 for a valid ``merbench run --json`` file of the SVM."""
    from merbench.config import resolve_config
    from merbench.registry import get_registry

    config = resolve_config(get_registry(), model="lbptop-svm", dataset="synthetic", profile="quick")
    scores = {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "n_train": 54, "epochs_trained": 1,
              "metrics": dict(scores)} for i in range(2)]
    result = minimal_dict(model="lbptop-svm", profile="quick", folds=folds,
                          config={"options": {name: dict(config.section(name)) for name in ("model", "lbptop")}},
                          engine_plan={"executor": "ProcessFolds", "group_size": None})
    (tmp_path / "lbptop-svm.json").write_text(json.dumps(result))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu" / "summarise_runs.py"), "--peak-tflops",
                           "989", "lbptop-svm.json"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr
    [line] = done.stdout.splitlines()
    assert line.startswith("lbptop-svm: lbptop-svm quick loso, 2 folds, 4 clips; ProcessFolds")
    assert "108 training samples, 108 samples/s, FLOPs: n/a; pooled UF1 50.0" in line
