"""CUDA choices a first GPU user meets, checked on the CPU with a stand-in GPU: mixed precision follows the GPU's
compute capability (a T4 gets float16 with a gradient scaler, not emulated bfloat16), ``--device cuda:N`` past the
visible GPUs is a usage error, and a GPU out of memory is one line, not a traceback."""

from __future__ import annotations

import pytest
import torch

import merbench.folds.job as job
from merbench.engine import choose_device
from merbench.errors import UsageError


@pytest.fixture
def one_gpu(monkeypatch):
    """One visible stand-in GPU whose compute capability the test sets (``one_gpu(7, 5)``)."""
    def set_capability(major: int, minor: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, minor))
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: f"stand-in sm_{major}{minor}")
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)  # as torch 2.14 says
    return set_capability


@pytest.mark.parametrize("capability, dtype", [((7, 5), torch.float16), ((7, 0), torch.float16),
                                               ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_mixed_precision_follows_the_compute_capability(one_gpu, capability, dtype):
    one_gpu(*capability)
    choice = choose_device("cuda", "auto")
    assert choice.amp_dtype == dtype
    assert f"mixed precision {str(dtype).replace('torch.', '')}" in choice.description
    assert choose_device("cuda:0", "off").amp_dtype is None


def test_a_ray_task_describes_the_gpu_it_was_given_not_the_runs(one_gpu):
    """A run planned on an Ampere GPU whose fold lands on a T4 worker trains there in float16 and says so."""
    import socket

    from merbench.folds.ray import _worker_choice, trained_on

    one_gpu(9, 0)
    planned = choose_device("cuda", "auto")
    one_gpu(7, 5)  # the Ray worker's GPU
    worker = _worker_choice(planned)
    assert worker.amp_dtype == torch.float16
    assert worker.description == "cuda (stand-in sm_75, mixed precision float16; Ray task)"
    assert trained_on(worker) == f"{socket.gethostname()}: cuda (stand-in sm_75, mixed precision float16; Ray task)"
    assert _worker_choice(choose_device("cuda", "off")).description == "cuda (stand-in sm_75, float32; Ray task)"


def test_a_device_past_the_visible_gpus_is_a_usage_error(one_gpu, monkeypatch):
    one_gpu(8, 0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    with pytest.raises(UsageError, match=r"--device cuda:1: this process sees 1 CUDA device \(cuda:0; "
                                         r"CUDA_VISIBLE_DEVICES=1 renumbers them from 0\); give one of those"):
        choose_device("cuda:1")


def test_a_gpu_out_of_memory_fold_by_fold_is_one_line(run_cli, monkeypatch):
    """Before: the fold-by-fold path (engine.parallel_folds=1, compile, early stopping) ended in a traceback."""
    def train(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    monkeypatch.setattr(job, "train_fold", train)
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--set", "engine.parallel_folds=1", "dataset.subjects=4", "dataset.clips_per_subject=3",
                     "protocol.n_splits=2")
    said = " ".join(result.err.split())
    assert result.code == 1 and "Traceback" not in result.err, result.err
    assert ("merbench: error: the GPU ran out of memory (CUDA out of memory. Tried to allocate 2.00 GiB): use a "
            "smaller engine.batch_size or a smaller model") in said
    assert "more detail" not in said


def test_a_batched_group_out_of_gpu_memory_gets_a_tunes_memory_advice():
    """A tune's trial whose batched folds ran out of GPU memory was advised a lower engine.lr bound."""
    pytest.importorskip("optuna")
    from merbench.tuning import narrowing_example

    batched = ("folds 1-2: ran out of GPU memory (cuda:0) training 2 folds as one batched computation; --set "
               "engine.parallel_folds=N with a smaller N trains fewer at once (1: one after another)")
    assert narrowing_example([batched]) == "e.g. smaller model.* ranges or a lower engine.batch_size bound"


def test_a_baselines_machine_names_the_gpu_its_runs_trained_on_and_no_gpu_for_a_cpu_run(one_gpu):
    from merbench.environment import describe_cpu, describe_machine

    one_gpu(8, 6)
    assert describe_machine(choose_device("cpu").description) == describe_cpu()  # the GPU idled
    assert describe_machine(choose_device("cuda:0").description) == f"{describe_cpu()}, stand-in sm_86"
    assert describe_machine(None) == describe_cpu()  # a result that recorded no device
