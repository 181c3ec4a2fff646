"""GPU throughput of whole LOSO protocols: batched folds (vmap) versus fold by fold (skipped without CUDA).

For ``ststnet`` and ``convmixer`` on the synthetic dataset, each variant records
training samples per second (every fold's training samples times epochs, over
the training-and-evaluation time) and the achieved fraction of the GPU's peak:
3 × forward FLOPs per sample (forward + backward) × samples/s over the peak.
The peak is ``MERBENCH_GPU_PEAK_TFLOPS`` when set, else the dense bf16/fp16
tensor-core figure of a known device name (``PEAK_TFLOPS``).
"""

from __future__ import annotations

import os

import pytest
import torch

from merbench.config import resolve_config
from merbench.contracts import resolve_factory
from merbench.modelinfo import count_flops
from merbench.runner import run_benchmark

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# Dense (no sparsity) bf16/fp16 tensor-core peaks from the vendors' data sheets, in TFLOP/s.
PEAK_TFLOPS = {"H200": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0, "A100": 312.0, "L4": 121.0}


def peak_flops() -> float | None:
    """The GPU's peak FLOP/s, from the environment or the device name; ``None`` when unknown."""
    if os.environ.get("MERBENCH_GPU_PEAK_TFLOPS"):
        return float(os.environ["MERBENCH_GPU_PEAK_TFLOPS"]) * 1e12
    name = torch.cuda.get_device_name()
    for key, tflops in PEAK_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def trained_samples(result) -> int:
    """Training samples seen over all folds and epochs (of a ``merbench.result.RunResult``)."""
    return sum(fold.n_train * fold.epochs_trained for fold in result.folds)


@pytest.mark.parametrize("parallel", ["1", "auto"], ids=["fold-by-fold", "batched"])
@pytest.mark.parametrize("model", ["ststnet", "convmixer"])
def test_loso_throughput_on_gpu(benchmark, registry, model, parallel):
    config = resolve_config(registry, model=model, dataset="synthetic", protocol="loso", device="cuda",
                            sets={"engine.parallel_folds": parallel})
    run_benchmark(config, registry)  # warm-up: data, preprocessing cache, CUDA context
    result = benchmark.pedantic(run_benchmark, args=(config, registry), rounds=1, iterations=1)
    seconds = result.seconds.train_eval
    samples_per_s = trained_samples(result) / seconds
    spec = registry.get("models", model)
    shape = (3, config.section("flow")["size"], config.section("flow")["size"])
    net = resolve_factory(spec.build)(dict(config.section("model")), 3, len(result.classes), shape[1]).cuda()
    achieved = 3 * count_flops(net, shape, "cuda") * samples_per_s
    peak = peak_flops()
    benchmark.extra_info.update({
        "device": result.environment["device"],
        "engine_plan": result.engine_plan,
        "train_eval_s": round(seconds, 2),
        "samples_per_s": round(samples_per_s, 1),
        "achieved_tflops": round(achieved / 1e12, 4),
        "fraction_of_peak": round(achieved / peak, 6) if peak else None,
        "uf1": result.pooled["uf1"],
    })
    print(f"\n{model} {parallel}: " + ", ".join(f"{key}={value}" for key, value in benchmark.extra_info.items()))
    assert result.engine_plan["executor"] == ("SequentialFolds" if parallel == "1" else "BatchedFolds")
