"""A trial that runs out of GPU memory fails alone, with its error recorded: the search goes on, and a rerun does
not repeat it (torch.cuda.OutOfMemoryError raised on the CPU stands in for a GPU's)."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

import torch  # noqa: E402

import merbench.folds.job as job  # noqa: E402
from tune_runs import TRAIN_FOLD, tiny_tune  # noqa: E402


def test_a_trial_out_of_gpu_memory_fails_alone_and_is_not_redone(run_cli, tmp_path, monkeypatch):
    calls = []

    def first_runs_out_of_memory(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return TRAIN_FOLD(*args, **kwargs)

    monkeypatch.setattr(job, "train_fold", first_runs_out_of_memory)
    result, summary = tiny_tune(run_cli, tmp_path)
    assert result.code == 0, result.err
    said = " ".join(result.err.split())
    assert ("outer fold 1, trial 0 failed and is left out of the selection: the inner folds ran out of GPU memory "
            "(CUDA out of memory. Tried to allocate 2.00 GiB); this configuration does not fit the device") in said
    first = summary["folds"][0]
    assert first["trial_counts"] == {"complete": 1, "pruned": 0, "failed": 1} and first["selected_trial"] == 1
    assert "ran out of GPU memory" in first["trials"][0]["error"]
    assert summary["folds"][1]["trial_counts"]["complete"] == 2, "the search went on to the next outer fold"

    calls.clear()
    again, resumed = tiny_tune(run_cli, tmp_path)
    assert again.code == 0, again.err
    assert calls == [], "the failed trial is counted, not redone"
    assert resumed["folds"][0]["trial_counts"] == first["trial_counts"]


def test_when_every_trial_runs_out_of_gpu_memory_the_advice_is_a_smaller_configuration(run_cli, tmp_path,
                                                                                      monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(job, "train_fold", out_of_memory)
    result, summary = tiny_tune(run_cli, tmp_path)
    said = " ".join(result.err.split())
    assert result.code != 0 and summary is None, result.err
    assert "outer fold 1: no trial completed; the first failure: the inner folds ran out of GPU memory" in said, said
    assert "(e.g. smaller model.* ranges or a lower engine.batch_size bound)" in said, said
    assert "engine.lr bound" not in said and "Traceback" not in result.err
