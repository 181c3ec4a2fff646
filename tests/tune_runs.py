"""Shared helpers for the ``merbench tune`` tests that make trials or refits fail: a tiny tune run, and a stand-in
training whose refits fail with a given error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import merbench.folds.job as job

TINY = ["--seed", "1", "--set", "dataset.subjects=8", "dataset.clips_per_subject=4", "protocol.n_splits=2",
        "engine.epochs=1"]
LR_SPACE = "engine.lr: {type: float, low: 0.001, high: 0.02, log: true}\n"
TRAIN_FOLD = job.train_fold
"""The real training, kept before any test replaces ``job.train_fold``."""


def tiny_tune(run_cli, tmp_path: Path, space: str = LR_SPACE):
    """Run ``merbench tune`` on ststnet and the tiny synthetic data, with ``space`` and its own trials storage in
    ``tmp_path``; (result, summary or None)."""
    space_file = tmp_path / "space.yaml"
    space_file.write_text(space)
    target = tmp_path / "tune.json"
    target.unlink(missing_ok=True)
    result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--trials", "2", "--space", str(space_file), "--storage", str(tmp_path / "trials.sqlite"),
                     "--json", str(target), *TINY)
    return result, (json.loads(target.read_text()) if target.exists() else None)


def failing_refits(monkeypatch, how_many: int, error: Callable[..., BaseException]) -> list[int]:
    """Make the first ``how_many`` refits of each outer fold raise ``error(fold_index, recipe_settings)`` (a refit's
    seed is seed × 1000 + fold, below 10,000; inner folds' are far larger); the outer fold of each refit that
    started, in order."""
    refits: list[int] = []

    def train(recipe, inputs, labels, fold, *args, seed, **kwargs):
        if seed < 10_000:
            refits.append(fold.index)
            if refits.count(fold.index) <= how_many:
                raise error(fold.index, args[1])
        return TRAIN_FOLD(recipe, inputs, labels, fold, *args, seed=seed, **kwargs)

    monkeypatch.setattr(job, "train_fold", train)
    return refits
