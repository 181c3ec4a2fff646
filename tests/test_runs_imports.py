"""`merbench runs` and `merbench delete` show scores without importing scikit-learn (about 1-2 s): ``pct`` lives in
``merbench.wording``; nor do `compare`, `show` and `report`, which read scores: ``merbench.metrics`` imports it only
where scores are computed."""

from __future__ import annotations

import os
import subprocess
import sys

from merbench.config import RunConfig
from merbench.store import ResultStore
from result_samples import minimal_result

DONE, STOPPED = "20250614-000000-eeeeee", "20250614-000001-eeeeee"


def test_runs_and_delete_import_no_sklearn(tmp_path):
    path = tmp_path / "runs.sqlite"
    config = RunConfig(model="convmixer", dataset="synthetic", protocol="loso", profile="quick", seed=0, device="cpu",
                       root=None, preprocess=(), sections={}).to_dict()
    with ResultStore(path) as store:  # a leaky result, and a run whose leaks its protocol says
        store.begin_run(config, 1, {}, run_id=DONE)
        store.finish_run(DONE, minimal_result(run_id=DONE, seed=0, subject_independent=False))
        store.begin_run(config, 1, {}, run_id=STOPPED)
        store.mark_stopped(STOPPED, "interrupted")
    store = ["--store", str(path)]
    code = ("import sys; from merbench.cli import main; "
            f"shown = [main({['runs', *store]!r}), main({['delete', DONE, *store]!r})]; "
            "print(shown, 'sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                          check=False)
    assert done.returncode == 0, done.stderr
    assert DONE in done.stdout and STOPPED in done.stdout and "⚠" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[0, 2] False", "runs lists, delete without --yes lists too"


def test_compare_show_and_report_import_no_sklearn(tmp_path):
    """Before: each took about 1 s more than `runs`, importing scikit-learn for the names of the metrics."""
    path = tmp_path / "read.sqlite"
    config = RunConfig(model="convmixer", dataset="synthetic", protocol="loso", profile="quick", seed=0, device="cpu",
                       root=None, preprocess=(), sections={}).to_dict()
    with ResultStore(path) as store:
        store.begin_run(config, 1, {}, run_id=DONE)
        store.finish_run(DONE, minimal_result(run_id=DONE, seed=0, config=config))
    store = ["--store", str(path)]
    commands = [["compare", *store], ["show", DONE, *store], ["report", "--output", str(tmp_path / "r.md"), *store]]
    code = ("import sys; from merbench.cli import main; "
            f"shown = [main(args) for args in {commands!r}]; "
            "print(shown, 'sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                          check=False)
    assert done.returncode == 0, done.stderr
    assert DONE in done.stdout and (tmp_path / "r.md").is_file()
    assert done.stdout.strip().splitlines()[-1] == "[0, 0, 0] False"

