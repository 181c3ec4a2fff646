"""What ``pytest benchmarks/`` and the scripts under ``benchmarks/`` leave behind and say: no run in the user's results
store, one message and exit code 2 for a run that failed or a revision the checkout lacks.

Benchmark fixtures are tried by running a small probe test under ``benchmarks/conftest.py`` (loaded as a plugin) in
a pytest subprocess with its own home; scripts run as a user runs them (``python benchmarks/NAME.py ...``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TINY_RUN = ["-m", "merbench", "--quiet", "run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick",
            "--set", "dataset.subjects=4", "dataset.clips_per_subject=3", "protocol.n_splits=2", "engine.epochs=1"]

PROBE = textwrap.dedent(f"""
    import os
    from baseline_checkout import run_json

    def test_a_run_without_no_store(benchmark, tmp_path):
        output = tmp_path / "run.json"
        run_json({TINY_RUN!r} + ["--json", str(output)], None, output)
        print("STORE=" + os.environ.get("MERBENCH_STORE", ""))
""")


def stored_runs(store: Path) -> int:
    with sqlite3.connect(store) as connection:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def test_benchmarks_record_their_runs_in_a_throw_away_store(tmp_path):
    """Once ``pytest benchmarks/`` wrote about 17 runs (some made by older revisions) into the user's store
    (``$MERBENCH_STORE``, else ``~/.local/share/merbench/results.sqlite``): three benchmarks run ``merbench run``
    without ``--no-store`` and the fixtures redirected only the cache."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {key: value for key, value in os.environ.items() if key not in ("MERBENCH_STORE", "XDG_DATA_HOME")}
    env.update(HOME=str(home), MERBENCH_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(BENCHMARKS), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "conftest",
                           "--benchmark-disable", "--basetemp", str(tmp_path / "basetemp"), "test_probe.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [path for path in home.rglob("*") if path.is_file()] == [], "nothing written under the user's home"
    [used] = [line.split("=", 1)[1] for line in done.stdout.splitlines() if line.startswith("STORE=")]
    assert Path(used).is_relative_to(tmp_path / "basetemp"), used
    assert stored_runs(Path(used)) == 1, "the run was recorded, in the session's throw-away store"


def script(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``benchmarks/NAME`` as a user does, with its own cache, store and home under ``tmp_path``."""
    env = {**os.environ, "HOME": str(tmp_path / "home"), "MERBENCH_CACHE": str(tmp_path / "cache"),
           "MERBENCH_STORE": str(tmp_path / "store.sqlite"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, str(BENCHMARKS / name), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_peak_memory_says_its_warm_up_failed_and_exits_2(tmp_path):
    """Once a ``CalledProcessError`` traceback and exit code 1, which the script means as "over budget"."""
    result = script(tmp_path, "peak_memory.py", "--warm", "--model", "nosuch", "--subjects", "3",
                    "--clips-per-subject", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1] == "the warm-up (merbench preprocess) failed (exit code 2); no verdict"
    assert "nosuch" in result.stderr  # merbench's own message, above


def test_peak_memory_warms_the_cache_with_the_options_given_to_the_run(tmp_path):
    """``--warm -- --set flow.method=farneback`` once warmed the default flow only, so the measured "warm" run
    computed all its 9 clips' flow itself."""
    result = script(tmp_path, "peak_memory.py", "--warm", "--model", "ststnet", "--subjects", "3",
                    "--clips-per-subject", "3", "--parallel-folds", "1", "--", "--epochs", "1",
                    "--set", "flow.method=farneback")
    assert result.returncode == 0, result.stderr
    [time] = [line for line in result.stdout.splitlines() if line.startswith("Time: ")]
    assert "0 computed, 9 from cache" in time, time
    assert "flow.method=farneback" in result.stdout


def test_benchmarks_against_an_older_revision_skip_in_a_shallow_clone(tmp_path):
    """In a checkout without their baseline revision (a shallow clone, GitHub Actions' default) the five benchmarks
    that run an older revision once failed with a bare ``CalledProcessError`` of ``git archive``, git's message
    swallowed; now each is skipped, naming the revision and ``git fetch --unshallow``."""
    repository = BENCHMARKS.parent
    if not (repository / ".git").exists():
        pytest.skip("needs a git checkout to clone")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repository}", str(clone)], check=True,
                   capture_output=True)
    for folder in ("benchmarks", "merbench"):  # the code as it is now, committed or not
        shutil.copytree(repository / folder, clone / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    names = ["convmixer_speed", "compile_cache", "run_start", "main_job", "store_reads"]
    env = {**os.environ, "HOME": str(tmp_path / "home"), "MERBENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--benchmark-disable",
                           *[f"benchmarks/test_bench_{name}.py" for name in names]],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "CalledProcessError" not in done.stdout, done.stdout + done.stderr
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert sum(int(line.split("[")[1].split("]")[0]) for line in skipped) == len(names), done.stdout
    for line in skipped:
        assert "needs revision " in line and "of the git history" in line and line.endswith(": git fetch --unshallow")
