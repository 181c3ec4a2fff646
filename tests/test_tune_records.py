"""What a ``merbench tune`` records of how its trials and refits trained, and what it compares before reusing them:
the torch threads of a ``merbench run`` of the same configuration (before, a refit trained with torch's default
count, so it differed from that run and followed ``OMP_NUM_THREADS``) and Optuna's version (before, unrecorded)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import merbench.folds.job as job  # noqa: E402
import merbench.folds.plan as plan  # noqa: E402
from tune_runs import TINY, TRAIN_FOLD, tiny_tune  # noqa: E402

DROPOUT_SPACE = "model.dropout: {type: categorical, choices: [0.1, 0.3]}\n"


@pytest.fixture
def four_cores_three_threads(monkeypatch):
    """Fold plans see 4 cores (2 threads per fold for the tiny tune's 2 outer folds) while torch's own count is 3,
    as ``OMP_NUM_THREADS=3`` would set it; the count is restored after the test."""
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(plan, "usable_cores", lambda: 4)
    torch.set_num_threads(3)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def trained(monkeypatch) -> list[tuple[int, int]]:
    """(seed, torch threads) of every fold trained in this process, in order (a refit's seed is below 10,000)."""
    import torch

    seen: list[tuple[int, int]] = []

    def train(*args, seed, **kwargs):
        seen.append((seed, torch.get_num_threads()))
        return TRAIN_FOLD(*args, seed=seed, **kwargs)

    monkeypatch.setattr(job, "train_fold", train)
    return seen


def stored_refits(storage: Path) -> dict[int, dict]:
    """Each outer fold's stored refit (the study's ``refit`` attribute), by the fold's index."""
    with sqlite3.connect(storage) as db:
        rows = db.execute("SELECT s.study_name, a.value_json FROM study_user_attributes a JOIN studies s "
                          "ON s.study_id = a.study_id WHERE a.key = 'refit'").fetchall()
    return {int(name.split(" fold ")[1].split()[0]): json.loads(value) for name, value in rows}


def test_trials_and_refits_train_with_the_threads_of_a_run_of_the_configuration(
        run_cli, tmp_path, four_cores_three_threads, trained):
    result, summary = tiny_tune(run_cli, tmp_path, DROPOUT_SPACE)
    assert result.code == 0, result.err
    chosen = summary["folds"][0]["selected"]["model.dropout"]
    target = tmp_path / "run.json"
    run = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                  "--no-store", "--json", str(target), *TINY, f"model.dropout={chosen}", "engine.parallel_folds=1")
    assert run.code == 0, run.err
    recorded = json.loads(target.read_text())
    assert recorded["engine_plan"]["threads_per_fold"] == 2  # 4 cores, 2 folds
    tuned = [threads for seed, threads in trained[:-len(recorded["folds"])]]
    assert tuned and set(tuned) == {2}, "every inner fold and refit trains with the run's 2 threads, not torch's 3"
    assert summary["environment"]["torch_threads"] == recorded["environment"]["torch_threads"] == "2"
    assert summary["search"]["threads_per_fold"] == {"trials": 2, "refits": 2}
    refit = stored_refits(tmp_path / "trials.sqlite")[0]
    assert refit["software"]["threads_per_fold"] == 2
    assert refit["final_train_loss"] == recorded["folds"][0]["final_train_loss"]


def test_a_tune_run_again_reuses_work_of_the_same_threads_and_names_another_count(
        run_cli, tmp_path, four_cores_three_threads, monkeypatch):
    import torch

    first, before = tiny_tune(run_cli, tmp_path)
    assert first.code == 0, first.err
    torch.set_num_threads(1)  # OMP_NUM_THREADS=1: a run's plan gives its folds the same threads
    same, unchanged = tiny_tune(run_cli, tmp_path)
    assert same.code == 0, same.err
    assert unchanged["warnings"] == [] and unchanged["search"]["reused_other_software"] == []
    assert unchanged["environment"]["torch_threads"] == before["environment"]["torch_threads"] == "2"

    monkeypatch.setattr(plan, "usable_cores", lambda: 2)  # a machine of 2 cores: 1 thread per fold
    again, after = tiny_tune(run_cli, tmp_path)
    assert again.code == 0, again.err
    assert after["search"]["reused_other_software"] == ["threads_per_fold 2 → 1"]
    [warning] = after["warnings"]
    assert "4 stored trials and 2 stored refits reused by this tune were made by other software" in warning
    assert after["environment"]["torch_threads"] == "1"


def test_trials_and_refits_of_another_optuna_are_reused_with_a_warning_naming_it(run_cli, tmp_path):
    """Which trials TPE proposes for a seed depends on Optuna's version: it is recorded, and compared on reuse."""
    import optuna

    first, before = tiny_tune(run_cli, tmp_path)
    assert first.code == 0, first.err
    assert before["environment"]["optuna"] == optuna.__version__ and "ray" not in before["environment"]
    with sqlite3.connect(tmp_path / "trials.sqlite") as db:  # as an older Optuna would have stored them
        for table, key in (("trial_user_attributes", "trial_user_attribute_id"),
                           ("study_user_attributes", "study_user_attribute_id")):
            for row, name, value in db.execute(f"SELECT {key}, key, value_json FROM {table}").fetchall():
                record = json.loads(value)
                software = record.get("software") if name == "refit" else record if name == "software" else None
                if software is not None:
                    assert software["optuna"] == optuna.__version__
                    software["optuna"] = "2.10.1"
                    db.execute(f"UPDATE {table} SET value_json = ? WHERE {key} = ?", (json.dumps(record), row))
    again, after = tiny_tune(run_cli, tmp_path)
    assert again.code == 0, again.err
    change = f"optuna 2.10.1 → {optuna.__version__}"
    assert after["search"]["reused_other_software"] == [change]
    [warning] = after["warnings"]
    assert "4 stored trials and 2 stored refits reused by this tune were made by other software" in warning
    assert warning.endswith(f"Stored → now: {change}")


def test_a_tune_compares_optuna_always_and_ray_where_both_trained_on_it():
    from merbench.environment import other_tune_software

    made = {"merbench": "1", "git_commit": "c", "torch": "2", "optuna": "4.0.0", "threads_per_fold": 1}
    assert other_tune_software(made, {**made, "optuna": "4.1.0"}) == ["optuna 4.0.0 → 4.1.0"]
    assert other_tune_software({**made, "ray": "2.9.0"}, {**made, "ray": "2.40.0"}) == ["ray 2.9.0 → 2.40.0"]
    assert other_tune_software(made, {**made, "ray": "2.40.0"}) == []  # trained locally: threads_per_fold tells
    assert other_tune_software({k: v for k, v in made.items() if k != "optuna"}, made) == ["optuna unknown → 4.0.0"]
