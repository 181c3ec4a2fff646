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

* **Depthwise lowerings**: the default layer's depthwise convolution (batch,
  width, token grid and kernel of the default profile) computed several ways,
  forward, input gradient and weight gradient timed apart, each checked against
  oneDNN's channels-last result and shown as a ratio to it: the convmixer's own
  ``DepthwiseConv2d`` (input gradient as a flipped-kernel depthwise convolution,
  weight gradient as one per-sample depthwise convolution over N·C groups), and
  the lowerings tried and not kept. The step is profiled both with the
  convmixer's own layers (this depthwise convolution and a spatial attention
  whose channel pooling has a one-pass backward) and as before them
  (``nn.Conv2d``'s depthwise backward, timm's attention).
* **Freed memory kept**: last, the engine's channels-last fp32 step again with
  ``merbench.allocator.keep_freed_memory`` in effect, as ``engine.train_fold``
  trains (it cannot be undone in a process, so it comes after everything else).

Run alone with ``python benchmarks/convmixer_profile.py [--threads N]``;
``benchmarks/test_bench_convmixer_profile.py`` runs it under pytest-benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import textwrap
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from merbench.allocator import keep_freed_memory
from merbench.argument_types import whole_number

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


def use_plain_layers(model: nn.Module) -> nn.Module:
    """Make the convmixer's own layers compute as before them: ``nn.Conv2d``'s depthwise backward, timm's spatial attention."""
    from timm.layers.cbam import SpatialAttn

    for module in model.modules():
        if hasattr(module, "_fast"):
            module._fast = False
        if isinstance(module, SpatialAttn):
            module.forward = SpatialAttn.forward.__get__(module)
    return model


def profile_step(build: Callable[[], nn.Module], channels: int = 3, size: int = 32, repeats: int = 10,
                 lr: float = 0.002, channels_last: bool = True, bf16: bool = False,
                 plain_layers: bool = False) -> StepProfile:
    """Profile one training step of the model made by ``build`` (see the module docstring).

    ``channels_last`` lays tensors out as the engine does by default;
    ``bf16`` runs forward and backward under CPU bf16 autocast (fp32 weights);
    ``plain_layers`` computes as before the convmixer's own layers (``use_plain_layers``).
    """
    torch.manual_seed(0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = build().train().to(memory_format=memory_format)
    if plain_layers:
        use_plain_layers(model)
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
                          + (", bf16 autocast" if bf16 else ", fp32")
                          + (", before the convmixer's own layers" if plain_layers else ""), bf16=bf16)
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


@dataclass
class Lowering:
    """One way to compute a depthwise convolution's forward pass and gradients, timed part by part."""

    name: str
    forward_ms: float
    input_grad_ms: float
    weight_grad_ms: float
    max_error: float
    """Largest difference from oneDNN's channels-last result, relative to that result's largest magnitude."""

    @property
    def total_ms(self) -> float:
        """Forward and both gradients."""
        return self.forward_ms + self.input_grad_ms + self.weight_grad_ms


def _aten_grads(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, padding: int, which: int) -> torch.Tensor:
    mask = [which == 0, which == 1, False]
    return torch.ops.aten.convolution_backward(grad, x, weight, None, [1, 1], [padding, padding], [1, 1], False,
                                               [0, 0], x.shape[1], mask)[which]


def _per_sample_weight_grad(x: torch.Tensor, grad: torch.Tensor, kernel: int) -> torch.Tensor:
    n, c, h, w = x.shape
    per_sample = F.conv2d(x.contiguous().view(1, n * c, h, w), grad.contiguous().view(n * c, 1, h, w),
                          padding=kernel // 2, groups=n * c)
    return per_sample.view(n, c, kernel, kernel).sum(0).unsqueeze(1)


def _grouped_weight_grad(x: torch.Tensor, grad: torch.Tensor, kernel: int) -> torch.Tensor:
    n, c, h, w = x.shape  # channels as groups, the batch as each group's input channels
    inputs = x.transpose(0, 1).reshape(1, c * n, h, w).contiguous(memory_format=torch.channels_last)
    kernels = grad.transpose(0, 1).reshape(c, n, h, w).contiguous(memory_format=torch.channels_last)
    return F.conv2d(inputs, kernels, padding=kernel // 2, groups=c).view(c, 1, kernel, kernel)


def _per_tap_weight_grad(x: torch.Tensor, grad: torch.Tensor, kernel: int) -> torch.Tensor:
    padded = F.pad(x, [kernel // 2] * 4)
    h, w = x.shape[2:]
    taps = [(padded[:, :, i:i + h, j:j + w] * grad).sum((0, 2, 3)) for i in range(kernel) for j in range(kernel)]
    return torch.stack(taps, 1).view(-1, 1, kernel, kernel)


def depthwise_lowerings(batch: int, channels: int, size: int, kernel: int, repeats: int = 10) -> list[Lowering]:
    """Time the depthwise lowerings of the module docstring on one layer's shapes; the first row is oneDNN's channels-last path."""
    torch.manual_seed(0)
    padding = kernel // 2
    last = torch.channels_last
    x = torch.randn(batch, channels, size, size).contiguous(memory_format=last)
    grad = torch.randn(batch, channels, size, size).contiguous(memory_format=last)
    weight = torch.randn(channels, 1, kernel, kernel)
    expected = (F.conv2d(x, weight, padding=padding, groups=channels), _aten_grads(grad, x, weight, padding, 0),
                _aten_grads(grad, x, weight, padding, 1))
    nchw_x, nchw_grad = x.contiguous(), grad.contiguous()
    ways: dict[str, tuple[Callable[[], torch.Tensor], ...]] = {
        "oneDNN, channels-last (nn.Conv2d)": (
            lambda: F.conv2d(x, weight, padding=padding, groups=channels),
            lambda: _aten_grads(grad, x, weight, padding, 0), lambda: _aten_grads(grad, x, weight, padding, 1)),
        "oneDNN, NCHW": (
            lambda: F.conv2d(nchw_x, weight, padding=padding, groups=channels),
            lambda: _aten_grads(nchw_grad, nchw_x, weight, padding, 0),
            lambda: _aten_grads(nchw_grad, nchw_x, weight, padding, 1)),
        "convmixer DepthwiseConv2d (kept)": (
            lambda: F.conv2d(x, weight, padding=padding, groups=channels),
            lambda: F.conv2d(grad, weight.flip(2, 3), padding=padding, groups=channels),
            lambda: _per_sample_weight_grad(x, grad, kernel)),
        "weight grad: channels as groups (tried)": (
            lambda: expected[0], lambda: expected[1], lambda: _grouped_weight_grad(x, grad, kernel)),
        "weight grad: 81 shifted products (tried)": (
            lambda: expected[0], lambda: expected[1], lambda: _per_tap_weight_grad(x, grad, kernel)),
    }
    rows = []
    for name, parts in ways.items():
        times = [_timed(part, repeats) * 1e3 for part in parts]
        error = max(float((part() - want).abs().max() / want.abs().max()) for part, want in zip(parts, expected))
        rows.append(Lowering(name, *times, error))
    # Rows that reuse the reference's forward and input gradient were not re-timed for them.
    for row in rows[3:]:
        row.forward_ms, row.input_grad_ms = rows[0].forward_ms, rows[0].input_grad_ms
    return rows


def render_lowerings(rows: list[Lowering], shape: str) -> str:
    """The lowerings as plain text lines: ms per part and the ratio of the reference's time to each."""
    reference = rows[0]
    lines = [f"Depthwise conv {shape}, ms (ratio = oneDNN channels-last time / this time):",
             f"  {'lowering':42} {'forward':>8} {'in-grad':>8} {'w-grad':>8} {'total':>8} {'ratio':>6} {'max err':>8}"]
    for row in rows:
        lines.append(f"  {row.name:42} {row.forward_ms:8.2f} {row.input_grad_ms:8.2f} {row.weight_grad_ms:8.2f} "
                     f"{row.total_ms:8.2f} {reference.total_ms / row.total_ms:5.2f}x {row.max_error:8.1e}")
    return "\n".join(lines)


def compiled_step_ratio(build: Callable[[], nn.Module], channels: int, size: int,
                        repeats: int = 10) -> tuple[float, float, float]:
    """(first compiled step's seconds, eager step seconds, compiled step seconds) of the channels-last fp32 step.

    Eager and compiled steps alternate, so both see the same load on a shared machine.
    """
    torch.manual_seed(0)
    model = build().train().to(memory_format=torch.channels_last)
    x = torch.randn(BATCH, channels, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, N_CLASSES, (BATCH,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.002, weight_decay=0.05)
    compiled = torch.compile(model)

    def step(forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(forward(x), y).backward()
        optimizer.step()

    started = time.perf_counter()
    step(compiled)
    first = time.perf_counter() - started
    eager, fused = [], []
    for _ in range(repeats):
        for forward, times in ((model, eager), (compiled, fused)):
            started = time.perf_counter()
            step(forward)
            times.append(time.perf_counter() - started)
    return first, statistics.median(eager), statistics.median(fused)


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
    parser.add_argument("--threads", type=whole_number(1), default=1, help="torch threads (default 1: one core)")
    parser.add_argument("--repeats", type=whole_number(1), default=10,
                        help="timed repetitions of each measurement, of which the median is shown (default 10)")
    parser.add_argument("--compile", action="store_true",
                        help="also time the step under torch.compile (inductor fuses GELU, BatchNorm and the adds)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    build, options = default_convmixer()
    channels, size = options["input"][0], options["input"][1]
    print(textwrap.fill("model options: " + ", ".join(f"{k}={v}" for k, v in options.items()), 80))
    print(f"load average {os.getloadavg()[0]:.1f} (the last minute; every choice below is a ratio within this run)")
    tokens = size // int(options["patch"])
    print()
    print(render_lowerings(depthwise_lowerings(BATCH, int(options["dim"]), tokens, int(options["kernel"]), args.repeats),
                           f"{BATCH}x{options['dim']}x{tokens}x{tokens}, kernel {options['kernel']}"))
    steps = {}
    for channels_last, bf16, plain in ((False, False, True), (True, False, True), (True, False, False), (True, True, False)):
        steps[(channels_last, bf16, plain)] = profile = profile_step(
            build, channels, size, repeats=args.repeats, channels_last=channels_last, bf16=bf16, plain_layers=plain)
        print()
        print(render(profile))
    before, after = steps[(True, False, True)].step_seconds, steps[(True, False, False)].step_seconds
    print(f"\nchannels-last fp32 step: before the convmixer's own layers / with them = {before / after:.2f}x")
    if keep_freed_memory():  # for the rest of this process: measured last
        kept = profile_step(build, channels, size, repeats=args.repeats)
        print(textwrap.fill(
            f"channels-last fp32 step with freed memory kept (merbench.allocator, as engine.train_fold runs it): "
            f"{kept.step_seconds * 1e3:.1f} ms against {after * 1e3:.1f} ms = {after / kept.step_seconds:.2f}x, "
            f"{kept.step_flops / kept.step_seconds / 1e9:.1f} GFLOP/s, "
            f"{kept.step_flops / kept.step_seconds / kept.peak_fp32:.1%} of the fp32 peak", 80))
    if args.compile:
        first, eager, compiled = compiled_step_ratio(build, channels, size, args.repeats)
        print(f"torch.compile (inductor) of the channels-last fp32 step: first step {first:.1f} s (compilation), "
              f"then {compiled * 1e3:.1f} ms against {eager * 1e3:.1f} ms eager = {eager / compiled:.2f}x")


if __name__ == "__main__":
    main()
