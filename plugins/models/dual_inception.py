"""Dual-Inception (Zhou et al. 2019): Inception streams on horizontal and vertical flow.

Each flow component (u, v at 28×28) goes through its own stream of two
Inception modules, each followed by 2×2 max pooling. A module has four
branches whose outputs are concatenated: 1×1; 1×1 then 3×3; 1×1 then 5×5;
3×3 max-pool then 1×1, with ``model.filters`` filters per branch (6 and 16 by
default). The two streams' features are concatenated and classified by a
dense layer (1024 units in the paper, ``model.hidden``; 256 in ``default``).
Written from the paper's description; no code was copied.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from merbench_plugins.models._layers import FLOW_SIZE, check_dropout, check_input, flat_size, positive_ints


class Inception(nn.Module):
    """Four parallel branches (1×1, 3×3, 5×5, pool) concatenated on channels."""

    def __init__(self, in_channels: int, width: int):
        super().__init__()

        def unit(k_in: int, k: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(k_in, width, k, padding="same"), nn.ReLU(inplace=True))

        self.branches = nn.ModuleList([
            unit(in_channels, 1),
            nn.Sequential(unit(in_channels, 1), unit(width, 3)),
            nn.Sequential(unit(in_channels, 1), unit(width, 5)),
            nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), unit(in_channels, 1)),
        ])
        self.out_channels = 4 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate the branches' outputs."""
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def inception_stream(filters: list[int]) -> nn.Sequential:
    """One stream: an Inception module and 2×2 max-pool per entry of ``filters``."""
    layers: list[nn.Module] = []
    previous = 1
    for width in filters:
        module = Inception(previous, width)
        layers += [module, nn.MaxPool2d(2)]
        previous = module.out_channels
    return nn.Sequential(*layers)


class DualInception(nn.Module):
    """One Inception stream per input channel, fused by a dense classifier."""

    def __init__(self, in_channels: int, n_classes: int, input_size: int, filters: list[int], hidden: int, dropout: float):
        super().__init__()
        self.streams = nn.ModuleList(inception_stream(filters) for _ in range(in_channels))
        features = sum(flat_size(stream, 1, input_size) for stream in self.streams)
        self.classifier = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) to (N, n_classes) logits; channel c goes through stream c."""
        parts = [stream(x[:, index:index + 1]).flatten(1) for index, stream in enumerate(self.streams)]
        return self.classifier(torch.cat(parts, dim=1))


def build_model(options: dict[str, Any], in_channels: int, n_classes: int, input_size: int) -> nn.Module:
    """Build Dual-Inception from resolved ``model.*`` options."""
    positive_ints(options, "filters", "hidden")
    filters = [int(f) for f in options["filters"]]
    check_input("dual-inception", input_size, 2 ** len(filters), FLOW_SIZE)
    return DualInception(in_channels, n_classes, input_size, filters, int(options["hidden"]), check_dropout(options))
