"""The scripts under ``benchmarks/`` refuse bad arguments and files with one message and exit code 2, never a
traceback; the ones whose messages say "give --root DIR" take ``--root``; ``--help`` runs nothing.

Each script runs as a subprocess, as a user runs it (``python benchmarks/NAME.py ...``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import realtrees as rt
from result_samples import minimal_dict

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TINY = ["--set", "dataset.subjects=2", "--set", "dataset.clips_per_subject=3", "--set", "dataset.size=32",
        "--set", "dataset.frames=8"]


def script(tmp_path: Path, name: str, *args: str, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``benchmarks/NAME`` with its own cache, store and home under ``tmp_path``; past ``timeout`` seconds its
    whole process group is killed (the processes it started too) and the test fails."""
    environment = {**os.environ, "HOME": str(tmp_path / "home"), "MERBENCH_CACHE": str(tmp_path / "cache"),
                   "MERBENCH_STORE": str(tmp_path / "store.sqlite"), "COLUMNS": "200", **(env or {})}
    with subprocess.Popen([sys.executable, str(BENCHMARKS / name), *args], cwd=tmp_path, env=environment,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            pytest.fail(f"benchmarks/{name} {' '.join(args)} still ran after {timeout} s")
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


@pytest.mark.parametrize("name, args, option", [
    ("convmixer_profile.py", ["--threads", "0"], "--threads"),
    ("convmixer_profile.py", ["--repeats", "-3"], "--repeats"),
    ("naive_loop.py", ["--model", "ststnet", "--dataset", "synthetic", *TINY, "--threads", "0"], "--threads"),
    ("naive_loop.py", ["--model", "ststnet", "--dataset", "synthetic", *TINY, "--num-workers", "-1"], "--num-workers"),
    ("gpu/step_profile.py", ["--steps", "0"], "--steps"),
    ("gpu/summarise_runs.py", ["--peak-tflops", "0", "run.json"], "--peak-tflops"),
    ("peak_memory.py", ["--budget-gb", "0"], "--budget-gb"),
    ("peak_memory.py", ["--subjects", "1"], "--subjects"),
], ids=["profile-threads", "profile-repeats", "naive-threads", "naive-workers", "step-steps", "summarise-peak",
        "peak-budget", "peak-subjects"])
def test_a_count_below_its_minimum_is_refused_by_argparse(tmp_path, name, args, option):
    """Once: torch's "set_num_threads expects a positive integer", "no median for empty data", DataLoader's
    "num_workers option should be non-negative" (after preparing the data), or a division by zero."""
    result = script(tmp_path, name, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "error:" in line]
    assert line.startswith(f"{Path(name).name}: error: argument {option}: must be "), line
    assert not (tmp_path / "cache").exists(), "refused before anything ran"


def test_step_profile_without_cuda_says_it_needs_a_cuda_device(tmp_path):
    """Once a traceback from ``torch.cuda.get_device_name()`` ("Found no NVIDIA driver")."""
    result = script(tmp_path, "gpu/step_profile.py", "--steps", "1", env={"CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1] == ("step_profile.py: error: needs a CUDA device (torch.cuda.is_available() "
                                              "is False); run it on the GPU machine")


def good_result() -> dict:
    """A small run result as ``merbench run --json`` writes it, of the quick ``ststnet`` (options as recorded)."""
    from merbench.config import resolve_config
    from merbench.registry import get_registry

    config = resolve_config(get_registry(), model="ststnet", dataset="synthetic", profile="quick")
    scores = {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "n_train": 2, "epochs_trained": 3,
              "metrics": dict(scores)} for i in range(2)]
    options = {name: dict(config.section(name)) for name in ("model", "flow")}
    return minimal_dict(model="ststnet", profile="quick", folds=folds, config={"options": options},
                        engine_plan={"executor": "InProcess", "group_size": None})


def test_summarise_runs_names_each_file_it_cannot_summarise_and_exits_2(tmp_path):
    """Once: a JSONDecodeError, TypeError or KeyError traceback at the first bad file, and a path that does not
    exist (a typo) was "no result (the run did not finish)" with exit code 0."""
    files = {"good.json": json.dumps(good_result()), "bad.json": "{bad", "list.json": "[]",
             "partial.json": '{"model": "ststnet"}'}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = script(tmp_path, "gpu/summarise_runs.py", *files, "no-such-file.json")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("good: ststnet quick loso, 2 folds, 4 clips") and "12 training samples" in line
    errors = result.stderr.splitlines()
    assert len(errors) == 4 and all(line.startswith("summarise_runs.py: error: ") for line in errors), errors
    bad, listed, partial, missing = errors
    assert "bad.json: not a merbench result JSON: not JSON (Expecting property name" in bad
    assert "list.json: not a merbench result JSON: must be a JSON object, not a list" in listed
    assert "partial.json: not a merbench result JSON: 'dataset' is missing" in partial
    assert "no-such-file.json: no such file; check the path" in missing


def test_naive_loop_takes_the_root_its_message_asks_for(tmp_path):
    """Its message for a real dataset says "give its folder with --root DIR"; it once had no ``--root``."""
    root = rt.build_mmew(tmp_path / "mmew")
    asked = script(tmp_path, "naive_loop.py", "--model", "ststnet", "--dataset", "mmew")
    assert asked.returncode == 2 and "give its folder with --root DIR" in asked.stderr, asked.stderr
    result = script(tmp_path, "naive_loop.py", "--model", "ststnet", "--dataset", "mmew", "--root", str(root),
                    "--protocol", "loso", "--profile", "quick", "--set", "engine.epochs=1")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["dataset"], summary["protocol"], summary["folds"]) == ("mmew", "loso", 4)


def test_normalisation_shift_takes_the_root_its_message_asks_for(tmp_path):
    """The same for ``benchmarks/leakage/normalisation_shift.py``: the folder given is the one read."""
    missing = tmp_path / "no-such-copy"
    result = script(tmp_path, "leakage/normalisation_shift.py", "--models", "ststnet", "--dataset", "mmew",
                    "--root", str(missing))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1] == (f"normalisation_shift.py: error: --root {missing}: no such folder; "
                                              "give the folder that holds your copy of 'mmew'")


def test_a_split_the_protocol_cannot_make_is_one_message_from_the_scripts(tmp_path):
    """The advice "use --set protocol.n_splits=4" once led to scikit-learn's ValueError traceback."""
    root = rt.build_mmew(tmp_path / "mmew")
    result = script(tmp_path, "leakage/normalisation_shift.py", "--models", "ststnet", "--dataset", "mmew",
                    "--root", str(root), "--set", "protocol.n_splits=4")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        "normalisation_shift.py: error: protocol 'subject-10fold' cannot split dataset 'mmew'")


def test_compile_cache_benchmark_help_runs_nothing(tmp_path):
    """``python benchmarks/test_bench_compile_cache.py --help`` once ran the 3-minute benchmark."""
    result = script(tmp_path, "test_bench_compile_cache.py", "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python benchmarks/test_bench_compile_cache.py [PYTEST OPTIONS]")
    assert "pytest benchmarks/test_bench_compile_cache.py -s" in result.stdout and "3 minutes" in result.stdout
    assert "collected" not in result.stdout
