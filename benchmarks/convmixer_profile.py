"""Where one ConvMixer training step spends its time on the CPU, and how close it runs to the CPU's limit.

The step is the engine's: a batch of the default profile (32 flow images of the
shape the model's default configuration asks for, 2 × 28 × 28 since the design
study; 3 classes), forward, cross-entropy, backward and an AdamW step, on the
``convmixer`` model with its default-profile options.

* **Per op category**: every leaf layer of the network (and each attention
  module as a whole) is timed alone, forward and backward, on the input shape it
  sees in the step, and summed by category: patch stem, depthwise conv,
  pointwise conv, BatchNorm, GELU, attention (CBAM, channel or spatial), head. The optimizer step is
  timed alone too. What the full step takes beyond the sum is reported as
  "between ops" (autograd bookkeeping, residual adds, memory traffic between
  small ops).
* **FLOPs**: the forward pass's are counted with
  ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix
  products; element-wise ops are not counted) and a training step is taken as 3×
  that (the backward pass computes the input and the weight gradients, each the
  cost of the forward). The counter's own backward count is not used: in torch
  2.14 it counts a grouped (depthwise) convolution's backward as if it were
  dense, 65× too high for this model. Achieved FLOP/s = FLOPs / measured seconds.
* **Peak**: the fp32 (and, where the CPU has it, bf16) matrix-product rate this
  CPU reaches on the same thread count (a 1024 × 1024 ``torch.mm``), the
  practical ceiling for convolution-heavy training. The fraction of that peak
  is printed per category and for the whole step.

Run alone with ``python benchmarks/convmixer_profile.py [--threads N]``;
``benchmarks/test_bench_convmixer_profile.py`` runs it under pytest-benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import textwrap
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

BATCH = 32
N_CLASSES = 3
CATEGORIES = ("stem", "depthwise conv", "pointwise conv", "batchnorm", "gelu", "attention", "head", "optimizer")


@dataclass
class CategoryCost:
    """Measured seconds and counted FLOPs of one op category in one training step."""

    seconds: float = 0.0
    flops: int = 0
    layers: int = 0


@dataclass
class StepProfile:
    """The profile of one training step: per category, the whole step, and the CPU's peak."""

    categories: dict[str, CategoryCost] = field(default_factory=dict)
    step_seconds: float = 0.0
    step_flops: int = 0
    peak_fp32: float = 0.0
    peak_bf16: float | None = None
    threads: int = 1
    layout: str = ""
    bf16: bool = False

    @property
    def peak(self) -> float:
        """The matrix-product peak of the precision the step computes in (bf16 under autocast, else fp32)."""
        return self.peak_bf16 if self.bf16 and self.peak_bf16 else self.peak_fp32

    @property
    def parts_seconds(self) -> float:
        """Sum of the categories' seconds."""
        return sum(cost.seconds for cost in self.categories.values())

    @property
    def achieved(self) -> float:
        """Counted FLOPs per second of the whole step."""
        return self.step_flops / self.step_seconds

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """Table rows: category, ms per step, share of the step, GFLOP/s, fraction of the peak."""
        rows = []
        for name in CATEGORIES:
            cost = self.categories.get(name)
            if cost is None or cost.layers == 0:
                continue
            rate = cost.flops / cost.seconds if cost.flops else 0.0
            rows.append((name, f"{cost.seconds * 1e3:.2f}", f"{cost.seconds / self.step_seconds:.0%}",
                         f"{rate / 1e9:.1f}" if cost.flops else "-", f"{rate / self.peak:.1%}" if cost.flops else "-"))
        between = self.step_seconds - self.parts_seconds
        rows.append(("between ops", f"{between * 1e3:.2f}", f"{between / self.step_seconds:.0%}", "-", "-"))
        rows.append(("whole step", f"{self.step_seconds * 1e3:.2f}", "100%", f"{self.achieved / 1e9:.1f}",
                      f"{self.achieved / self.peak:.1%}"))
        return rows


def category_of(module: nn.Module, stem: nn.Module | None) -> str | None:
    """The op category of a layer, or ``None`` for containers that are walked into."""
    kind = type(module).__name__.lower()
    if "cbam" in kind or "attn" in kind or "attention" in kind:
        return "attention"
    if isinstance(module, nn.Conv2d):
        if stem is not None and any(module is m for m in stem.modules()):
            return "stem"
        if module.groups > 1 and module.groups == module.in_channels:
            return "depthwise conv"
        return "pointwise conv" if module.kernel_size == (1, 1) else "stem"
    if isinstance(module, nn.BatchNorm2d):
        return "batchnorm"
    if isinstance(module, nn.GELU):
        return "gelu"
    if isinstance(module, (nn.Linear, nn.AdaptiveAvgPool2d, nn.Dropout)):
        return "head"
    return None


def _timed(fn: Callable[[], None], repeats: int) -> float:
    fn()  # warm-up: allocations, oneDNN primitive creation
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def training_flops(module: nn.Module, inputs: torch.Tensor) -> int:
    """FLOPs of a forward and backward pass of ``module`` on ``inputs``: 3 × the counted forward FLOPs."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(inputs)
    return 3 * int(counter.get_total_flops())


def layers_with_inputs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, nn.Module, torch.Tensor]]:
    """The categorised layers of ``model`` with the input each one sees for ``example``."""
    stem = getattr(model, "stem", None)
    chosen: list[tuple[str, nn.Module]] = []

    def walk(module: nn.Module) -> None:
        for child in module.children():
            category = category_of(child, stem)
            if category is not None:
                chosen.append((category, child))
            else:
                walk(child)

    walk(model)
    seen: dict[int, torch.Tensor] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args: seen.setdefault(id(mod), args[0].detach().clone()))
             for _, m in chosen]
    with torch.no_grad():
        model(example)
    for hook in hooks:
        hook.remove()
    return [(category, module, seen[id(module)]) for category, module in chosen if id(module) in seen]


def measure_peak(dtype: torch.dtype, size: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of a ``size``² matrix product in ``dtype`` on the current thread count."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    seconds = _timed(lambda: torch.mm(a, b), repeats)
    return 2 * size**3 / seconds


def profile_step(build: Callable[[], nn.Module], channels: int = 3, size: int = 32, repeats: int = 10,
                 lr: float = 0.002, channels_last: bool = True, bf16: bool = False) -> StepProfile:
    """Profile one training step of the model made by ``build`` (see the module docstring).

    ``channels_last`` lays tensors out as the engine does by default;
    ``bf16`` runs forward and backward under CPU bf16 autocast (fp32 weights).
    """
    torch.manual_seed(0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = build().train().to(memory_format=memory_format)
    x = torch.randn(BATCH, channels, size, size).contiguous(memory_format=memory_format)
    y = torch.randint(0, N_CLASSES, (BATCH,))
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    profile = StepProfile(threads=torch.get_num_threads(), layout=("channels-last" if channels_last else "NCHW")
                          + (", bf16 autocast" if bf16 else ", fp32"), bf16=bf16)
    profile.step_seconds = _timed(step, repeats)
    profile.step_flops = training_flops(model, x)
    profile.categories = {name: CategoryCost() for name in CATEGORIES}
    for category, module, example in layers_with_inputs(model, x):
        inputs = example.clone().requires_grad_(True)
        with autocast():
            grad = torch.randn_like(module(inputs))

        def forward_backward(module=module, inputs=inputs, grad=grad) -> None:
            module.zero_grad(set_to_none=True)
            with autocast():
                output = module(inputs)
            output.backward(grad)

        cost = profile.categories[category]
        cost.seconds += _timed(forward_backward, repeats)
        cost.flops += training_flops(module, example)
        cost.layers += 1
    optimizer_cost = profile.categories["optimizer"]
    optimizer_cost.seconds = _timed(optimizer.step, repeats)
    optimizer_cost.layers = 1
    profile.peak_fp32 = measure_peak(torch.float32)
    if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        profile.peak_bf16 = measure_peak(torch.bfloat16)
    return profile


def default_convmixer() -> tuple[Callable[[], nn.Module], dict]:
    """A builder of the ``convmixer`` model with its default-profile options, and those options."""
    from merbench.config import resolve_config
    from merbench.contracts import resolve_factory
    from merbench.registry import get_registry

    registry = get_registry()
    config = resolve_config(registry, model="convmixer", dataset="synthetic")
    options = dict(config.section("model"))
    build = resolve_factory(registry.get("models", "convmixer").build)
    size = int(config.section("flow")["size"])
    channels = len(config.section("flow")["channels"])
    return (lambda: build(options, channels, N_CLASSES, size)), {**options, "input": [channels, size, size]}


def render(profile: StepProfile) -> str:
    """The profile as plain text lines of at most 80 columns."""
    header = ("category", "ms/step", "share", "GFLOP/s", "of peak")
    widths = [16, 9, 7, 9, 8]
    lines = [
        f"ConvMixer training step, batch {BATCH}, {profile.threads} thread(s), {profile.layout}:",
        f"  {profile.step_seconds * 1e3:.1f} ms per step, {profile.step_flops / 1e9:.3f} GFLOP (3 x forward)",
        f"CPU peak (1024² matmul): fp32 {profile.peak_fp32 / 1e9:.1f} GFLOP/s"
        + (f", bf16 {profile.peak_bf16 / 1e9:.1f} GFLOP/s" if profile.peak_bf16 else ", no bf16"),
        f"'of peak' is the fraction of the {'bf16' if profile.bf16 and profile.peak_bf16 else 'fp32'} peak",
        "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))),
    ]
    for row in profile.rows():
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def main() -> None:
    """Print the profile of the default-profile ConvMixer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one core)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    build, options = default_convmixer()
    channels, size = options["input"][0], options["input"][1]
    print(textwrap.fill("model options: " + ", ".join(f"{k}={v}" for k, v in options.items()), 80))
    for channels_last, bf16 in ((False, False), (True, False), (True, True)):
        print()
        print(render(profile_step(build, channels, size, repeats=args.repeats, channels_last=channels_last,
                                  bf16=bf16)))


if __name__ == "__main__":
    main()
