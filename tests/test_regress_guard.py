"""The CI guard can fail: runs of ``benchmarks/baselines/ci.yaml``'s own entries, sabotaged, leave their band.

Each test takes one entry of the shipped CI baseline (its expected values and
bands untouched) in its second thread layout, ``engine.parallel_folds: 1`` with
``engine.threads: 2`` — one of the two layouts its band was derived from — so
that the folds train in this process, where the sabotage is patched in. The
control run, without sabotage, must pass the same reduced baseline.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
import yaml

import merbench.folds.job as folds

CI_BASELINE = Path(__file__).parent.parent / "benchmarks" / "baselines" / "ci.yaml"
GUARDED_MODELS = ("convmixer", "ststnet", "offapexnet", "dual-inception", "lbptop-svm")
CHANCE_UF1 = 1 / 3


def ci_document() -> dict:
    return yaml.safe_load(CI_BASELINE.read_text(encoding="utf-8"))


def guard_for(model: str, folder: Path) -> Path:
    """ci.yaml reduced to ``model``'s entry, trained fold by fold with two threads in this process."""
    from merbench.regress import layout_sets

    document = ci_document()
    entry = next(e for e in document["entries"] if e["model"] == model)
    assert "2" in [str(t) for t in entry["derived"]["threads"]]
    entry = {**entry, "set": {**(entry.get("set") or {}), **layout_sets("2")}}
    document["entries"] = [entry]
    path = folder / f"guard-{model}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def regress(run_cli, baseline: Path):
    return run_cli("--format", "plain", "regress", "--baseline", str(baseline), "--quiet", "--no-store")


def assert_caught(result, model: str, verdict: str = "low") -> None:
    """Exit 1, and the table and the last line name the model's UF1 with ``verdict``."""
    text = result.out + result.err
    assert result.code == 1, text
    assert "Traceback" not in text
    assert re.search(rf"^{re.escape(model)}\s+uf1\s+.*\b{verdict}\b", result.out, re.MULTILINE), result.out
    assert f"{model} uf1 {verdict}" in " ".join(result.out.split())


def sabotaged_train_fold(change):
    """``folds.train_fold`` with ``change(args)`` applied to its positional arguments first."""
    real = folds.train_fold

    def train_fold(*args, **kwargs):
        return real(*change(list(args)), **kwargs)

    return train_fold


def shuffle_labels(args):
    generator = torch.Generator().manual_seed(1234)
    args[2] = args[2][torch.randperm(len(args[2]), generator=generator)]
    return args


def zero_learning_rate(args):
    args[5] = dataclasses.replace(args[5], lr=0.0)
    return args


def zero_flow(args):
    args[1] = torch.zeros_like(args[1])
    return args


def test_ci_baseline_guards_every_fast_model_well_above_chance():
    """Every entry expects a pooled UF1 ≥ 0.55 under a subject-independent protocol, with a band that excludes chance."""
    document = ci_document()
    entries = {entry["model"]: entry for entry in document["entries"]}
    assert set(GUARDED_MODELS) <= set(entries)
    assert document["defaults"]["protocol"] == "subject-10fold"
    for model in GUARDED_MODELS:
        uf1 = entries[model]["metrics"]["uf1"]
        assert uf1["expected"] >= 0.55, model
        assert uf1["expected"] - uf1["tolerance"] > CHANCE_UF1 + 0.1, model
        derived = entries[model]["derived"]
        assert derived["runs"] >= 3 and len(derived["seeds"]) >= 3 and len(derived["threads"]) >= 2, model


def test_the_unsabotaged_entry_passes(run_cli, tmp_path):
    result = regress(run_cli, guard_for("ststnet", tmp_path))
    assert result.code == 0, result.out + result.err


@pytest.mark.parametrize("sabotage", [shuffle_labels, zero_learning_rate, zero_flow], ids=lambda f: f.__name__)
def test_sabotaged_training_fails_the_guard(sabotage, run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(folds, "train_fold", sabotaged_train_fold(sabotage))
    assert_caught(regress(run_cli, guard_for("ststnet", tmp_path)), "ststnet")


def test_convmixer_without_its_attention_fails_the_guard(run_cli, tmp_path, monkeypatch):
    """The attention blocks of the reference model replaced by identity: the guard notices.

    With the study-chosen default (spatial attention) on the default synthetic
    data, seed 0 in this layout scores UF1 0.641 without attention against 0.694
    with it, so the verdict is ``low``; the test accepts ``high`` too, since a
    change of architecture may move the score out of its band either way.
    """
    from torch import nn

    import merbench_plugins.models.convmixer.network as network

    monkeypatch.setattr(network, "create_attn", lambda *args, **kwargs: nn.Identity())
    result = regress(run_cli, guard_for("convmixer", tmp_path))
    verdict = "high" if re.search(r"^convmixer\s+uf1\s+.*\bhigh\b", result.out, re.MULTILINE) else "low"
    assert_caught(result, "convmixer", verdict)
