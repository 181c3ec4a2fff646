"""Facts about a model plugin for a profile: its input, parameter count and FLOPs per sample.

The input shape comes from the run configuration the model would get on the
``synthetic`` dataset (its default chain and preprocessor options, the
profile's values): a preprocessor object with ``output_shape()`` answers
exactly, otherwise its ``channels`` and ``size`` options are used. Torch models
are built on the ``meta`` device where possible (no memory, no compute) and
their FLOPs per sample (multiply-adds count 2) are counted with
``torch.utils.flop_counter.FlopCounterMode`` on one sample; estimators that are
not torch modules report declared FLOPs only (``ModelPlugin.flops``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from merbench.contracts import ModelPlugin, resolve_factory
from merbench.registry import Registry

LIST_CLASSES = 3
"""Class count used for the figures shown by ``merbench list``/``info`` (MEGC2019's 3)."""


@dataclass
class ModelFacts:
    """What ``merbench list models`` and ``merbench info`` show for one model and profile."""

    name: str
    profile: str
    chain: tuple[str, ...]
    shape: tuple[int, int, int] | None
    kind: str = "torch"
    params: int | None = None
    flops: float | None = None
    flops_declared: bool = False
    error: str | None = None
    exception: Exception | None = None

    @property
    def input_text(self) -> str:
        """``C×H×W`` of the input, or a dash."""
        return "×".join(str(n) for n in self.shape) if self.shape else "—"


def human(number: float | None, unit: str = "") -> str:
    """1234567 → ``1.23M``; None → a dash."""
    if number is None:
        return "—"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= factor:
            return f"{number / factor:.3g}{suffix}{unit}"
    return f"{number:.3g}{unit}"


def example_name(spec: ModelPlugin) -> str:
    """The name to build for ``spec``: itself, or a family's first example member."""
    if spec.name.endswith(":"):
        return spec.examples[0] if spec.examples else ""
    return spec.name


def input_shape(registry: Registry, name: str, profile: str) -> tuple[tuple[str, ...], tuple[int, int, int] | None]:
    """The preprocessing chain and (C, H, W) input a model gets in ``profile``."""
    from merbench.config import resolve_config

    config = resolve_config(registry, model=name, dataset="synthetic", profile=profile)
    last = config.preprocess[-1]
    options = dict(config.section(last))
    step_spec = registry.get("preprocessors", last)
    try:
        step = resolve_factory(step_spec.build)(dict(options))
    except Exception:  # a preprocessor that cannot be built here still has options to read
        step = None
    if step is not None and callable(getattr(step, "output_shape", None)):
        return config.preprocess, tuple(int(n) for n in step.output_shape())
    if "size" not in options:
        return config.preprocess, None
    channels = options.get("channels", ["u", "v", "strain"])
    channels = len(channels) if isinstance(channels, (list, tuple)) else 3
    return config.preprocess, (channels, int(options["size"]), int(options["size"]))


def build_for_listing(build: Any, options: dict[str, Any], shape: tuple[int, int, int], n_classes: int) -> tuple[Any, bool]:
    """Build a model for ``shape``, on the meta device when it allows; returns (model, on_meta)."""
    import torch

    try:
        with torch.device("meta"):
            return build(options, shape[0], n_classes, shape[1]), True
    except Exception:  # some factories compute on tensors while building: retry for real
        return build(options, shape[0], n_classes, shape[1]), False


def count_flops(model: Any, shape: tuple[int, int, int], device: str = "cpu") -> float:
    """FLOPs of one forward pass of one sample (multiply-add = 2 FLOPs)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    sample = torch.zeros(1, *shape, device=device)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(sample)
    return float(counter.get_total_flops())


def model_facts(registry: Registry, name: str, profile: str = "default") -> ModelFacts:
    """Input, parameter count and FLOPs of model ``name`` in ``profile`` (errors are recorded, not raised)."""
    from torch import nn

    from merbench.config import resolve_config

    spec = registry.get("models", name)
    facts = ModelFacts(name, profile, (), None)
    try:
        facts.chain, facts.shape = input_shape(registry, name, profile)
        if spec.flops.get(profile) is not None:
            facts.flops, facts.flops_declared = float(spec.flops[profile]), True
        if facts.shape is None:
            return facts
        options = dict(resolve_config(registry, model=name, dataset="synthetic", profile=profile).section("model"))
        model, on_meta = build_for_listing(resolve_factory(spec.build), options, facts.shape, LIST_CLASSES)
        if not isinstance(model, nn.Module):
            facts.kind = type(model).__name__
            return facts
        facts.params = sum(p.numel() for p in model.parameters())
        if not facts.flops_declared:
            try:
                facts.flops = count_flops(model, facts.shape, "meta" if on_meta else "cpu")
            except Exception:
                if on_meta:  # an op without a meta kernel: count on the CPU instead
                    model = resolve_factory(spec.build)(options, facts.shape[0], LIST_CLASSES, facts.shape[1])
                    facts.flops = count_flops(model, facts.shape)
                else:
                    raise
    except Exception as exc:  # a third-party model that cannot be built is still listed
        facts.error = f"{type(exc).__name__}: {exc}"
        facts.exception = exc
    return facts
