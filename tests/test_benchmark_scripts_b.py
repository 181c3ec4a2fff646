"""benchmarks/gpu/device_checks.sh, benchmarks/gpu/summarise_runs.py and benchmarks/convmixer_study.py as a user
runs them: one call's results only, ``--help`` and bad arguments running nothing, refusals as one line and exit
code 2, never a traceback.

``device_checks.sh`` runs with a stand-in ``python3`` on ``PATH`` (a tiny shell script that records its calls):
no GPU and no training here.
"""

from __future__ import annotations

import importlib.util
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
# its --json file with FINISH set and fails without; the GPU's peak is $PEAK (none unset); summarise_runs.py names the
# peak and the files it was given that exist.
echo "$*" >> "$STANDIN_CALLS"
case "$*" in
    *torch*) if [ -n "$NO_TORCH" ]; then
                 printf 'Traceback (most recent call last):\nModuleNotFoundError: No module named %s\n' torch >&2
                 exit 1
             fi ;;
esac
case "$*" in
    *peak_flops*) [ -n "$PEAK" ] && echo "$PEAK"; exit 0 ;;
esac
case "$1 $2" in
    "-m merbench")
        [ -n "$FINISH" ] || exit 1
        prev=; for arg; do [ "$prev" = --json ] && echo '{}' > "$arg"; prev=$arg; done ;;
    "benchmarks/gpu/summarise_runs.py "*)
        shift 1
        if [ "$1" = --peak-tflops ]; then echo "peak $2"; shift 2; fi
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


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("convmixer_study_b", ROOT / "benchmarks" / "convmixer_study.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_convmixer_study_a_run_merbench_refuses_is_one_line_in_the_studys_options(tmp_path):
    """Once a RuntimeError traceback and exit code 1, advising ``--set protocol.n_splits=10``."""
    environment = {**os.environ, "HOME": str(tmp_path / "home"), "MERBENCH_CACHE": str(tmp_path / "cache"),
                   "MERBENCH_STORE": str(tmp_path / "store.sqlite")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "convmixer_study.py"), "--profile", "quick",
                           "--splits", "50", "--out", str(tmp_path / "x.json"), "--factors", "dropout"],
                          capture_output=True, text=True, env=environment, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("convmixer_study: error: subject-10fold needs at least 50 subjects, the dataset has 10; "
                           "use --splits 10 or a dataset with more subjects\n")
    assert not (tmp_path / "x.json").exists()


def test_convmixer_study_refuses_a_set_of_a_studied_key_that_its_pinned_reference_would_override(study, tmp_path,
                                                                                                capsys, monkeypatch):
    """Once ``--set model.dim=32`` on a study file pinning ``model.dim=16``: every run passed model.dim=16 (the
    pinned reference won) and was stored as one made with ``--set model.dim=32``."""
    path = tmp_path / "pinned.json"
    pinned = study._jsonable(study.resolved_defaults(study.Settings(profile="quick")))
    path.write_text(json.dumps({"format": study.FORMAT, "runs": [], "defaults": pinned}))
    before = path.read_text()
    monkeypatch.setattr(study, "data_fingerprint", lambda settings: pytest.fail("went on to load the data and run"))
    code = study.main(["--profile", "quick", "--out", str(path), "--factors", "dropout", "--set",
                       f"model.dim={2 * pinned['model.dim']}"])
    assert code == 2
    assert capsys.readouterr().err == (
        f"convmixer_study: error: --set model.dim={2 * pinned['model.dim']}: {path} varies model.dim around its "
        f"pinned reference model.dim={pinned['model.dim']}, which every run passes; study another reference in a "
        "new --out, or measure model.dim as a level with --factors dim\n")
    assert path.read_text() == before
    seen = []

    def runner(sets, seed, settings):  # the options every run would pass, as cli_runner merges them
        seen.append({**settings.common_sets(), **dict(settings.reference), **sets})
        return {"pooled": {"uf1": 0.5, "uar": 0.5, "accuracy": 0.5}, "seconds": {"total": 1.0}, "folds": [{}]}

    same = study.Settings(profile="quick", extra=(("model.dim", str(pinned["model.dim"])),))  # the pinned value: fine
    study.run_study(path, ["dropout"], same, runner=runner, data={"d": 1}, confirm=False, say=lambda _: None)
    assert seen and all(str(run["model.dim"]) == str(pinned["model.dim"]) for run in seen)


def test_device_checks_gives_the_summary_this_gpus_peak_or_none():
    """The summary's fraction of peak used the H200's 989 TFLOP/s on every GPU (0.76 times the truth on an H100
    PCIe); the peak now comes from the GPU's name (benchmarks/test_bench_gpu.py) and is left out when unknown."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        known = device_checks(Path(folder), FINISH="1", PEAK="756.0")
        assert known.returncode == 0, known.stdout + known.stderr
        assert (Path(folder) / "out" / "summary.txt").read_text() == "peak 756.0\nsummarised default.json\n"
    with tempfile.TemporaryDirectory() as folder:
        unknown = device_checks(Path(folder), FINISH="1")
        assert unknown.returncode == 0, unknown.stdout + unknown.stderr
        assert (Path(folder) / "out" / "summary.txt").read_text() == "summarised default.json\n"
