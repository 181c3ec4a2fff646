"""The model's network (imported only when the model is built, so listing models imports no torch)."""

from __future__ import annotations

from typing import Any

from torch import nn

from merbench.errors import UsageError


def build_model(options: dict[str, Any], in_channels: int, n_classes: int, input_size: int) -> nn.Module:
    """Two 3×3 conv + ReLU + 2×2 max-pool stages, global average pooling and a linear head."""
    width = int(options["width"])
    if width < 1:  # option_ranges refuses this before a run starts; a direct call still gets a clear error
        raise UsageError(f"model.width={width}: must be at least 1")
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(float(options["dropout"])), nn.Linear(2 * width, n_classes),
    )
