"""STSTNet (Liong et al. 2019): a shallow triple-stream CNN on 28×28 u/v/strain flow.

Three parallel single-layer streams see the whole input (optical strain,
horizontal and vertical flow stacked as channels; the paper calls the stack
"three-dimensional"), with 3, 5 and 8 filters of 3×3 (``model.filters``). Each
stream is ReLU, max-pooled 3×3 with stride 3 (28 → 10) and, by default, batch
normalised; the streams are concatenated, average-pooled 2×2 (10 → 5), flattened
and classified by one linear layer. ``model.dropout`` applies before the
classifier. About 1.6 k parameters for 3 classes: the network is the same in
every profile. Written from the paper's description; no code was copied.
The authors' public PyTorch code differs in three places that leave the size
unchanged: batch norm before the pooling, dropout 0.5 on each stream
instead of ``model.dropout`` (0.2) before the classifier, and convolutions
padded by 2 (30×30 maps, pooled to the same 10×10) instead of 1.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from merbench_plugins.models._layers import FLOW_SIZE, check_dropout, check_input, flat_size, odd_kernel, positive_ints


class STSTNet(nn.Module):
    """Three shallow convolutional streams, concatenated, pooled and classified."""

    def __init__(self, in_channels: int, n_classes: int, input_size: int, filters: list[int], kernel: int,
                 batchnorm: bool, dropout: float):
        super().__init__()

        def stream(width: int) -> nn.Sequential:
            layers: list[nn.Module] = [
                nn.Conv2d(in_channels, width, kernel, padding="same"),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=3, padding=1),
            ]
            if batchnorm:
                layers.append(nn.BatchNorm2d(width))
            return nn.Sequential(*layers)

        self.streams = _Concat(nn.ModuleList(stream(int(width)) for width in filters))
        self.pool = nn.AvgPool2d(2)
        self.dropout = nn.Dropout(dropout)
        features = flat_size(nn.Sequential(self.streams, self.pool), in_channels, input_size)
        self.head = nn.Linear(features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) flow to (N, n_classes) logits."""
        return self.head(self.dropout(self.pool(self.streams(x)).flatten(1)))


class _Concat(nn.Module):
    """Run every stream on the same input and concatenate their channels."""

    def __init__(self, streams: nn.ModuleList):
        super().__init__()
        self.streams = streams

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenated stream outputs."""
        return torch.cat([stream(x) for stream in self.streams], dim=1)


def build_model(options: dict[str, Any], in_channels: int, n_classes: int, input_size: int) -> nn.Module:
    """Build STSTNet from resolved ``model.*`` options."""
    positive_ints(options, "filters", "kernel")
    check_input("ststnet", input_size, 4, FLOW_SIZE)  # 4 → 2 after the stride-3 max pool (padding 1) → 1 after avg pool 2
    return STSTNet(in_channels, n_classes, input_size, [int(f) for f in options["filters"]], odd_kernel(options),
                   bool(options["batchnorm"]), check_dropout(options))
