"""``merbench tune`` when the refit of a selected configuration fails, by diverging or by running out of GPU memory:
the next-best complete trial is refitted, said and recorded, and a resumed tune makes the same choice; when no refit
trains, one message naming the fold. On the CPU, torch.cuda.OutOfMemoryError raised by a stand-in training stands in
for a GPU's."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

import torch  # noqa: E402

from merbench import tuning  # noqa: E402
from merbench.engine import diverged  # noqa: E402
from tune_runs import LR_SPACE, failing_refits, tiny_tune  # noqa: E402

SPACE = LR_SPACE + "model.dropout: {type: float, low: 0.0, high: 0.5}\n"
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"


def diverging(fold_index: int, settings):
    """The error of a refit whose loss became nan at epoch 4, step 2."""
    return diverged(fold_index, 3, 1, float("nan"), settings.lr)


def out_of_memory(fold_index: int, settings):
    """The error of a refit that did not fit the GPU."""
    return torch.cuda.OutOfMemoryError(OOM)


def test_a_refit_that_diverges_falls_back_to_the_next_best_trial_and_a_rerun_keeps_that_choice(run_cli, tmp_path,
                                                                                                 monkeypatch):
    refits = failing_refits(monkeypatch, 1, diverging)
    result, summary = tiny_tune(run_cli, tmp_path, SPACE)
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

    refits = failing_refits(monkeypatch, 0, diverging)
    again, resumed = tiny_tune(run_cli, tmp_path, SPACE)
    assert again.code == 0, again.err
    assert refits == [], "the failed refits are not tried again, nor are the fallbacks' refits redone"
    assert [f["selected_trial"] for f in resumed["folds"]] == [f["selected_trial"] for f in summary["folds"]]
    assert resumed["pooled"] == summary["pooled"] and resumed["warnings"] == summary["warnings"]


def test_when_no_refit_trains_the_tune_stops_naming_the_outer_fold_and_trial(run_cli, tmp_path, monkeypatch):
    failing_refits(monkeypatch, 99, diverging)
    result, summary = tiny_tune(run_cli, tmp_path, SPACE)
    said = " ".join(result.err.split())
    assert result.code == 2 and summary is None, result.err
    assert "outer fold 1: the refit of trial " in said and ", the best by inner UF1, failed (epoch 4, step 2" in said
    assert ("the refit of the 1 other complete trial failed too, so outer fold 1 has no configuration to score; "
            "narrow --space") in said, said
    assert "Traceback" not in result.err


def test_a_refit_out_of_gpu_memory_falls_back_to_the_next_best_trial_and_is_not_redone(run_cli, tmp_path,
                                                                                       monkeypatch):
    refits = failing_refits(monkeypatch, 1, out_of_memory)
    result, summary = tiny_tune(run_cli, tmp_path)
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
    refits = failing_refits(monkeypatch, 0, out_of_memory)
    again, resumed = tiny_tune(run_cli, tmp_path)
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


def test_when_every_refit_runs_out_of_gpu_memory_the_advice_is_a_smaller_configuration(run_cli, tmp_path,
                                                                                      monkeypatch):
    failing_refits(monkeypatch, 99, out_of_memory)
    result, summary = tiny_tune(run_cli, tmp_path)
    said = " ".join(result.err.split())
    assert result.code == 2 and summary is None, result.err
    assert "has no configuration to score; narrow --space" in said, said
    assert "(e.g. smaller model.* ranges or a lower engine.batch_size bound)" in said, said
    assert "engine.lr bound" not in said, "a lower learning rate does not make a configuration fit the device"
