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
CONFIG = RunConfig(model="convmixer", dataset="synthetic", protocol="loso", profile="quick", seed=0, device="cpu",
                   root=None, preprocess=(), sections={}).to_dict()


def commands_in_a_fresh_process(commands: list[list[str]]) -> tuple[str, str]:
    """Run each merbench command line in one new Python process: (its stdout but the last line, that last line:
    the exit codes and whether scikit-learn was imported, ``[0, 2] False``)."""
    code = ("import sys; from merbench.cli import main; "
            f"shown = [main(args) for args in {commands!r}]; "
            "print(shown, 'sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                          check=False)
    assert done.returncode == 0, done.stderr
    *printed, last = done.stdout.strip().splitlines()
    return "\n".join(printed), last


def test_runs_and_delete_import_no_sklearn(tmp_path):
    path = tmp_path / "runs.sqlite"
    with ResultStore(path) as store:  # a leaky result, and a run whose leaks its protocol says
        store.begin_run(CONFIG, 1, {}, run_id=DONE)
        store.finish_run(DONE, minimal_result(run_id=DONE, seed=0, subject_independent=False))
        store.begin_run(CONFIG, 1, {}, run_id=STOPPED)
        store.mark_stopped(STOPPED, "interrupted")
    store = ["--store", str(path)]
    printed, last = commands_in_a_fresh_process([["runs", *store], ["delete", DONE, *store]])
    assert DONE in printed and STOPPED in printed and "⚠" in printed
    assert last == "[0, 2] False", "runs lists, delete without --yes lists too"


def test_compare_show_and_report_import_no_sklearn(tmp_path):
    """Before: each took about 1 s more than `runs`, importing scikit-learn for the names of the metrics."""
    path = tmp_path / "read.sqlite"
    with ResultStore(path) as store:
        store.begin_run(CONFIG, 1, {}, run_id=DONE)
        store.finish_run(DONE, minimal_result(run_id=DONE, seed=0, config=CONFIG))
    store = ["--store", str(path)]
    printed, last = commands_in_a_fresh_process(
        [["compare", *store], ["show", DONE, *store], ["report", "--output", str(tmp_path / "r.md"), *store]])
    assert DONE in printed and (tmp_path / "r.md").is_file()
    assert last == "[0, 0, 0] False"

