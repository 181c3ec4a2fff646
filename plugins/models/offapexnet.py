"""OFF-ApexNet (Gan et al. 2019): one CNN stream per flow component, fused by dense layers.

The paper feeds the horizontal (u) and vertical (v) onset→apex flow, 28×28,
into two identical streams of two 5×5 convolution + 2×2 max-pool stages (6
and 16 filters, ``model.filters``); the streams' features are concatenated and
classified by two fully connected layers (1024 units in the paper,
``model.hidden``) with dropout. merbench builds one stream per input channel,
so the model asks the ``flow`` step for channels ``u,v`` at size 28; the
``default`` profile uses 256 hidden units to stay CPU-sized, ``paper`` 1024.
Written from the paper's description; no code was copied.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from merbench_plugins.models._layers import FLOW_SIZE, check_dropout, check_input, flat_size, odd_kernel, positive_ints


def conv_stream(filters: list[int], kernel: int) -> nn.Sequential:
    """A LeNet-like stream on one channel: (conv, ReLU, 2×2 max-pool) per filter count."""
    layers: list[nn.Module] = []
    previous = 1
    for width in filters:
        layers += [nn.Conv2d(previous, width, kernel, padding="same"), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        previous = width
    return nn.Sequential(*layers)


class MultiStream(nn.Module):
    """One stream per input channel, concatenated features, then a dense classifier."""

    def __init__(self, streams: list[nn.Module], in_channels: int, n_classes: int, input_size: int, hidden: int,
                 dropout: float):
        super().__init__()
        self.streams = nn.ModuleList(streams)
        features = sum(flat_size(stream, 1, input_size) for stream in self.streams)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) to (N, n_classes) logits; channel c goes through stream c."""
        parts = [stream(x[:, index:index + 1]).flatten(1) for index, stream in enumerate(self.streams)]
        return self.classifier(torch.cat(parts, dim=1))


def build_model(options: dict[str, Any], in_channels: int, n_classes: int, input_size: int) -> nn.Module:
    """Build OFF-ApexNet (one stream per input channel) from resolved ``model.*`` options."""
    positive_ints(options, "filters", "kernel", "hidden")
    filters = [int(f) for f in options["filters"]]
    check_input("offapexnet", input_size, 2 ** len(filters), FLOW_SIZE)
    kernel = odd_kernel(options)
    streams = [conv_stream(filters, kernel) for _ in range(in_channels)]
    return MultiStream(streams, in_channels, n_classes, input_size, int(options["hidden"]), check_dropout(options))
