"""Milliseconds per ConvMixer training step on a CUDA device, by memory layout and precision, with the top kernels.

Builds the ``convmixer`` model of a profile (default ``paper``: dim 256, depth 8, 9x9 kernels,
batch 64, 2x28x28 flow input), and times forward + cross-entropy + backward + AdamW steps for
channels-last and NCHW, bfloat16 autocast and float32, after warm-up steps (cuDNN picks its
kernels there), and names the fastest as ``merbench run`` settings (a line starting ``fastest:``). Then the ten CUDA kernels that take the most time in the engine's layout
(channels-last, bfloat16), from ``torch.profiler``. Prints achieved TFLOP/s (3 x forward FLOPs)::

    python benchmarks/gpu/step_profile.py [--profile paper] [--steps 30]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
import torch.nn.functional as F

from merbench.argument_types import whole_number
from merbench.config import resolve_config
from merbench.contracts import resolve_factory
from merbench.errors import MerbenchError
from merbench.modelinfo import count_flops
from merbench.registry import get_registry


def build(profile: str) -> tuple[torch.nn.Module, tuple[int, int, int], int]:
    """The profile's convmixer (on CUDA), its input shape and batch size."""
    registry = get_registry()
    config = resolve_config(registry, model="convmixer", dataset="synthetic", profile=profile)
    flow = config.section("flow")
    shape = (len(flow["channels"]), int(flow["size"]), int(flow["size"]))
    factory = resolve_factory(registry.get("models", "convmixer").build)
    model = factory(dict(config.section("model")), shape[0], 3, shape[1])
    return model, shape, int(config.section("engine")["batch_size"])


def time_steps(model: torch.nn.Module, batch: torch.Tensor, labels: torch.Tensor, *, bf16: bool, steps: int) -> float:
    """Mean milliseconds of one training step (after as many warm-up steps)."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(model(batch), labels)
        loss.backward()
        optimiser.step()

    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - started) / steps


def main() -> None:
    """Time each layout and precision, then list the top kernels of the engine's choice."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--steps", type=whole_number(1), default=30,
                        help="timed training steps per layout and precision, after as many warm-up steps (default 30)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device (torch.cuda.is_available() is False); run it on the GPU machine")
    torch.backends.cudnn.benchmark = True
    try:
        model, shape, batch_size = build(args.profile)
    except MerbenchError as exc:  # e.g. an unknown --profile: one line, as merbench says it
        parser.error(str(exc))
    flops = 3 * count_flops(model, shape) * batch_size
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; convmixer {args.profile}: input {shape}, "
          f"batch {batch_size}, {flops / 1e9:.1f} GFLOP per training step")
    batch = torch.randn(batch_size, *shape, device="cuda")
    labels = torch.randint(0, 3, (batch_size,), device="cuda")
    timings: dict[tuple[bool, bool], float] = {}
    for channels_last in (True, False):
        for bf16 in (True, False):
            net = build(args.profile)[0].cuda().train()
            data = batch
            if channels_last:
                net = net.to(memory_format=torch.channels_last)
                data = batch.contiguous(memory_format=torch.channels_last)
            ms = timings[channels_last, bf16] = time_steps(net, data, labels, bf16=bf16, steps=args.steps)
            print(f"{'channels-last' if channels_last else 'NCHW'} {'bf16' if bf16 else 'fp32'}: {ms:.2f} ms/step, "
                  f"{flops / ms / 1e9:.2f} TFLOP/s", flush=True)
    channels_last, bf16 = min(timings, key=timings.get)
    print(f"fastest: --set engine.channels_last={str(channels_last).lower()} --set engine.amp={'auto' if bf16 else 'off'}")
    net = build(args.profile)[0].cuda().train().to(memory_format=torch.channels_last)
    data = batch.contiguous(memory_format=torch.channels_last)
    time_steps(net, data, labels, bf16=True, steps=3)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profiler:
        time_steps(net, data, labels, bf16=True, steps=5)
    averages = profiler.key_averages()
    try:
        print(averages.table(sort_by="self_device_time_total", row_limit=12, max_name_column_width=70))
    except (AttributeError, KeyError, ValueError):  # torch before 2.4 names it after CUDA
        print(averages.table(sort_by="self_cuda_time_total", row_limit=12, max_name_column_width=70))


if __name__ == "__main__":
    main()
