"""A refit that runs out of GPU memory falls back to the next-best trial, as a diverged refit does, its cached GPU
memory let go (before: torch.cuda.OutOfMemoryError in a refit ended the tune with a traceback). On the CPU,
torch.cuda.OutOfMemoryError raised by a stand-in training stands in for a GPU's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("optuna")

import torch  # noqa: E402

import merbench.folds.job as job  # noqa: E402
from merbench import tuning  # noqa: E402

TINY = ["--seed", "1", "--set", "dataset.subjects=8", "dataset.clips_per_subject=4", "protocol.n_splits=2",
        "engine.epochs=1"]
TRAIN_FOLD = job.train_fold
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"


def tune(run_cli, tmp_path: Path):
    space = tmp_path / "space.yaml"
    space.write_text("engine.lr: {type: float, low: 0.001, high: 0.02, log: true}\n")
    target = tmp_path / "tune.json"
    target.unlink(missing_ok=True)
    result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--trials", "2", "--space", str(space), "--storage", str(tmp_path / "trials.sqlite"),
                     "--json", str(target), *TINY)
    return result, (json.loads(target.read_text()) if target.exists() else None)


def first_refits_run_out_of_memory(monkeypatch, how_many: int) -> list[int]:
    """Make the first ``how_many`` refits of each outer fold run out of GPU memory (a refit's seed is below 10,000,
    inner folds' far above); the outer fold of each refit that started, in order."""
    refits: list[int] = []

    def train(recipe, inputs, labels, fold, *args, seed, **kwargs):
        if seed < 10_000:
            refits.append(fold.index)
            if refits.count(fold.index) <= how_many:
                raise torch.cuda.OutOfMemoryError(OOM)
        return TRAIN_FOLD(recipe, inputs, labels, fold, *args, seed=seed, **kwargs)

    monkeypatch.setattr(job, "train_fold", train)
    return refits


def test_a_refit_out_of_gpu_memory_falls_back_to_the_next_best_trial_and_is_not_redone(run_cli, tmp_path,
                                                                                       monkeypatch):
    refits = first_refits_run_out_of_memory(monkeypatch, 1)
    result, summary = tune(run_cli, tmp_path)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert refits == [0, 0, 1, 1], "each fold's best refit ran out of memory, then the next best's trained"
    said = " ".join(result.err.split())
    for fold in summary["folds"]:
        ranked = sorted(fold["trials"], key=lambda t: (-t["value"], t["number"]))
        best, next_best = ranked[0]["number"], ranked[1]["number"]
        assert fold["selected_trial"] == next_best
        assert fold["refits_failed"] == [{"trial": best, "error": (
            f"the refit ran out of GPU memory ({OOM}); this configuration does not fit the device: a smaller model, "
            "engine.batch_size or fewer --workers would")}]
        assert (f"outer fold {fold['fold'] + 1}: the refit of trial {best}, the best by inner UF1, failed (the refit "
                f"ran out of GPU memory ({OOM})") in said
    refits = first_refits_run_out_of_memory(monkeypatch, 0)
    again, resumed = tune(run_cli, tmp_path)
    assert again.code == 0, again.err
    assert refits == [], "the failed refits are not tried again, nor the fallbacks' refits redone"
    assert [f["selected_trial"] for f in resumed["folds"]] == [f["selected_trial"] for f in summary["folds"]]


def test_a_refit_out_of_gpu_memory_lets_the_cached_gpu_memory_go(monkeypatch):
    emptied: list[bool] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    assert tuning.refit_error(torch.cuda.OutOfMemoryError(OOM), None).startswith(
        f"the refit ran out of GPU memory ({OOM}); ")
    assert emptied == [True]
