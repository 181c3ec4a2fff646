"""``merbench tune`` when the refit of a selected configuration fails: the next-best complete trial is refitted,
said and recorded, and a resumed tune makes the same choice; when no refit trains, one message naming the fold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("optuna")

import merbench.folds.job as job  # noqa: E402
from merbench.engine import diverged  # noqa: E402

TINY = ["--seed", "1", "--set", "dataset.subjects=8", "dataset.clips_per_subject=4", "protocol.n_splits=2",
        "engine.epochs=1"]
SPACE = "engine.lr: {type: float, low: 0.001, high: 0.02, log: true}\nmodel.dropout: {type: float, low: 0.0, high: 0.5}\n"


def tune(run_cli, tmp_path: Path, trials: int = 2):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    target = tmp_path / "tune.json"
    target.unlink(missing_ok=True)
    result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--trials", str(trials), "--space", str(space), "--storage", str(tmp_path / "trials.sqlite"),
                     "--json", str(target), *TINY)
    return result, (json.loads(target.read_text()) if target.exists() else None)


TRAIN_FOLD = job.train_fold


def refits_diverge(monkeypatch, how_many: int) -> list[int]:
    """Make the first ``how_many`` refits of each outer fold diverge (a refit's seed is seed × 1000 + fold, inner
    folds' are far larger); the outer fold of each refit that started, in order."""
    refits: list[int] = []

    def train(recipe, inputs, labels, fold, *args, seed, **kwargs):
        if seed < 10_000:
            refits.append(fold.index)
            if refits.count(fold.index) <= how_many:
                raise diverged(fold.index, 3, 1, float("nan"), args[1].lr)
        return TRAIN_FOLD(recipe, inputs, labels, fold, *args, seed=seed, **kwargs)

    monkeypatch.setattr(job, "train_fold", train)
    return refits


def test_a_refit_that_diverges_falls_back_to_the_next_best_trial_and_a_rerun_keeps_that_choice(run_cli, tmp_path,
                                                                                                 monkeypatch):
    refits = refits_diverge(monkeypatch, 1)
    result, summary = tune(run_cli, tmp_path)
    assert result.code == 0, result.err
    assert refits == [0, 0, 1, 1], "each fold's best refit diverged, then the next best's trained"
    said = " ".join(result.err.split())
    for fold in summary["folds"]:
        ranked = sorted(fold["trials"], key=lambda t: (-t["value"], t["number"]))
        best, next_best = ranked[0]["number"], ranked[1]["number"]
        assert fold["selected_trial"] == next_best and fold["inner_uf1"] == ranked[1]["value"]
        assert [entry["trial"] for entry in fold["refits_failed"]] == [best]
        assert (f"outer fold {fold['fold'] + 1}: the refit of trial {best}, the best by inner UF1, failed (epoch 4, "
                f"step 2: the training loss became nan; training diverged. Lower the learning rate (now engine.lr="
                in said), said
        assert f"trial {next_best}, the next best, is refitted instead" in said
        assert any(warning.startswith(f"outer fold {fold['fold'] + 1}: the refit of trial {best} failed")
                   for warning in summary["warnings"])
    assert "--set engine.lr" not in said, "a searched option cannot be --set"

    refits = refits_diverge(monkeypatch, 0)
    again, resumed = tune(run_cli, tmp_path)
    assert again.code == 0, again.err
    assert refits == [], "the failed refits are not tried again, nor are the fallbacks' refits redone"
    assert [f["selected_trial"] for f in resumed["folds"]] == [f["selected_trial"] for f in summary["folds"]]
    assert resumed["pooled"] == summary["pooled"] and resumed["warnings"] == summary["warnings"]


def test_when_no_refit_trains_the_tune_stops_naming_the_outer_fold_and_trial(run_cli, tmp_path, monkeypatch):
    refits_diverge(monkeypatch, 99)
    result, summary = tune(run_cli, tmp_path)
    said = " ".join(result.err.split())
    assert result.code == 2 and summary is None, result.err
    assert "outer fold 1: the refit of trial " in said and ", the best by inner UF1, failed (epoch 4, step 2" in said
    assert ("the refit of the 1 other complete trial failed too, so outer fold 1 has no configuration to score; "
            "narrow --space") in said, said
    assert "Traceback" not in result.err
