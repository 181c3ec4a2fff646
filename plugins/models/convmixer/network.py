"""The CABM-FMER ConvMixer network (see the package docstring for what is reconstructed)."""

from __future__ import annotations

from typing import Any

import torch
from timm.layers import create_attn as timm_create_attn
from timm.layers.cbam import ChannelAttn
from timm.models.convmixer import Residual
from torch import nn

from merbench.errors import UsageError
from merbench_plugins.models.convmixer.depthwise import DepthwiseConv2d
from merbench_plugins.models._layers import odd_kernel
from merbench_plugins.models.convmixer.spatial import SpatialAttention

ATTENTION_TYPES = ("cbam", "channel", "spatial", "none")
"""``cbam``: channel then spatial attention (CBAM); ``channel`` / ``spatial``: one half only; ``none``: no attention."""
REDUCTION = 1 / 8
"""Channel-attention bottleneck ratio (hidden units = dim / 8)."""
SPATIAL_KERNEL = 7
"""Kernel of CBAM's spatial-attention convolution (the CBAM paper's 7×7)."""


def mixer_block(dim: int, kernel: int) -> nn.Sequential:
    """One ConvMixer block: residual depthwise conv, then pointwise conv (timm layout).

    The depthwise conv is an ``nn.Conv2d`` with a faster backward pass on the CPU (``DepthwiseConv2d``).
    """
    return nn.Sequential(
        Residual(nn.Sequential(DepthwiseConv2d(dim, kernel), nn.GELU(), nn.BatchNorm2d(dim))),
        nn.Conv2d(dim, dim, kernel_size=1),
        nn.GELU(),
        nn.BatchNorm2d(dim),
    )


def create_attn(attention: str, dim: int) -> nn.Module:
    """The convolutional attention placed after a mixer block, for ``attention`` other than ``none``.

    The one place attention modules are built (a sabotage test replaces it to remove them all).
    """
    if attention == "cbam":
        return timm_create_attn("cbam", dim, rd_ratio=REDUCTION)
    if attention == "channel":
        return ChannelAttn(dim, rd_ratio=REDUCTION)
    if attention == "spatial":
        return SpatialAttention(SPATIAL_KERNEL)  # timm's SpatialAttn with a faster pooling backward
    raise UsageError(f"model.attention={attention}: choose one of {', '.join(ATTENTION_TYPES)}")


class CabmConvMixer(nn.Module):
    """ConvMixer with a convolutional attention module after every ``attention_every``-th mixer block."""

    def __init__(self, in_channels: int, n_classes: int, dim: int, depth: int, kernel: int, patch: int,
                 attention: str, attention_every: int, dropout: float):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch), nn.GELU(), nn.BatchNorm2d(dim))
        layers: list[nn.Module] = []
        for index in range(depth):
            layers.append(mixer_block(dim, kernel))
            if attention != "none" and (index + 1) % attention_every == 0:
                layers.append(create_attn(attention, dim))
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) inputs to (N, n_classes) logits."""
        x = self.blocks(self.stem(x))
        return self.head(self.dropout(self.pool(x).flatten(1)))


def check_attention_every(attention: str, every: int, depth: int) -> None:
    """Refuse ``model.attention_every`` above ``model.depth`` with attention on: no block would get attention, so the
    network would be ``model.attention=none`` while the run records an attention model."""
    if attention == "none" or every <= depth:
        return
    allowed = "1" if depth == 1 else f"1..{depth}"
    raise UsageError(f"model.attention_every={every} exceeds model.depth={depth}: no block would get attention; "
                     f"use {allowed} or model.attention=none")


def build_model(options: dict[str, Any], in_channels: int, n_classes: int, input_size: int) -> nn.Module:
    """Build the network from resolved ``model.*`` options."""
    attention = str(options["attention"])
    if attention not in ATTENTION_TYPES:
        raise UsageError(f"model.attention={attention}: choose one of {', '.join(ATTENTION_TYPES)}")
    patch = int(options["patch"])
    if not 1 <= patch <= input_size:
        raise UsageError(f"model.patch={patch}: must be between 1 and the input size {input_size}")
    for key in ("dim", "depth", "kernel", "attention_every"):
        if int(options[key]) < 1:
            raise UsageError(f"model.{key}={options[key]}: must be at least 1")
    if not 0.0 <= float(options["dropout"]) < 1.0:
        raise UsageError(f"model.dropout={options['dropout']}: must be in [0, 1)")
    kernel = odd_kernel(options)
    check_attention_every(attention, int(options["attention_every"]), int(options["depth"]))
    return CabmConvMixer(
        in_channels=in_channels,
        n_classes=n_classes,
        dim=int(options["dim"]),
        depth=int(options["depth"]),
        kernel=kernel,
        patch=patch,
        attention=attention,
        attention_every=int(options["attention_every"]),
        dropout=float(options["dropout"]),
    )
