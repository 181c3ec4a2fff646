"""``merbench runs`` counts a run's folds as ``show`` does, those of one seed: a complete ``--seeds 2`` run of 10 folds
reads 10, an interrupted one whose second seed has 3 folds reads 13/20, explained under the table (before: 20 and 13,
which read as a protocol of 20 or 13 folds); ``runs --json`` keeps ``folds_done`` and adds ``folds_per_seed``."""

from __future__ import annotations

import json

import pytest

from merbench.result import FoldRecord, PredictionRow
from merbench.store import ResultStore
from result_samples import minimal_result

CONFIG = {"model": "ststnet", "dataset": "synthetic", "protocol": "loso", "profile": "quick", "seed": 0}
RUNS = {  # id: seeds, folds stored of each seed, complete
    "20250611-000001-aaaaaa": (2, (10, 10), True),
    "20250611-000002-bbbbbb": (2, (10, 3), False),
    "20250611-000003-cccccc": (2, (3,), False),
    "20250611-000004-dddddd": (1, (10,), True),
}


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "runs.sqlite"
    with ResultStore(path) as results:
        for run_id, (n_seeds, folds, complete) in RUNS.items():
            results.begin_run(CONFIG, n_seeds, {}, run_id=run_id)
            for seed, count in enumerate(folds):
                for i in range(count):
                    row = PredictionRow(id=f"c{i}", subject=f"s{i}", fold=i, label=1, prediction=1)
                    results.add_fold(run_id, seed, FoldRecord(fold=i, test_subjects=[f"s{i}"], n_test=1,
                                                              metrics={"uf1": 0.5}), [f"c{i}"], [1], [row])
            if complete:
                results.finish_run(run_id, minimal_result(model="ststnet", dataset="synthetic", seed=0))
            else:
                results.mark_stopped(run_id, "interrupted")
    return path


def _folds(text: str) -> dict[str, str]:
    """The Folds cell of each run in ``runs`` piped output (the column before UF1 and Acc)."""
    return {line.split()[0]: line.split()[7] for line in text.splitlines() if line.startswith("20250611-")}


def test_runs_counts_the_folds_of_one_seed_and_an_unfinished_runs_progress_over_its_seeds(store, run_cli):
    listed = run_cli("runs", "--store", str(store))
    assert listed.code == 0, listed.err
    assert _folds(listed.out) == {"20250611-000001-aaaaaa": "10", "20250611-000002-bbbbbb": "13/20",
                                  "20250611-000003-cccccc": "3", "20250611-000004-dddddd": "10"}, listed.out
    caption = " ".join(listed.out.split())
    assert ("Folds: of one seed, as `merbench show` counts them; 13/20: an unfinished run has finished 13 of the 20 "
            "folds of its 2 seeds (10 each).") in caption


def test_the_folds_stay_whole_at_80_columns_and_one_seed_runs_need_no_caption(store, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    shown = run_cli("--format", "table", "runs", "--store", str(store))
    assert shown.code == 0, shown.err
    assert max(len(line) for line in shown.out.splitlines()) <= 80 and "…" not in shown.out
    for run_id in RUNS:
        assert f"│ {run_id} │" in shown.out
    assert "│ 13/20 │" in shown.out and "│    10 │" in shown.out
    assert "13 of the 20 folds" in " ".join(shown.out.split())
    alone = run_cli("runs", "--store", str(store), "--model", "ststnet", "--limit", "1")
    assert "Folds:" not in alone.out, "a listing of one-seed runs has nothing to explain"


def test_runs_json_keeps_folds_done_of_every_seed_and_adds_the_folds_of_one_seed(store, run_cli):
    records = {run["id"]: run for run in json.loads(run_cli("runs", "--store", str(store), "--json").out)}
    assert {run_id: (run["folds_done"], run["folds_per_seed"]) for run_id, run in records.items()} == {
        "20250611-000001-aaaaaa": (20, 10), "20250611-000002-bbbbbb": (13, 10),
        "20250611-000003-cccccc": (3, None), "20250611-000004-dddddd": (10, 10)}
