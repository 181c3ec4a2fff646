"""CBAM's spatial attention with a channel pooling whose backward pass is one write instead of five.

``SpatialAttention`` is timm's ``SpatialAttn`` (same parameters and state dict,
same outputs): the per-position mean and maximum over channels, a 7×7
convolution with BatchNorm, a sigmoid gate. Only the pooling's backward
differs. Autograd's backward of ``mean`` and ``amax`` compares every input with
its maximum, counts the ties, divides and adds three full-size gradients
(benchmarks/convmixer_profile.py: the attention was a fifth of a ConvMixer step
on the CPU); here the input gradient is the mean's gradient broadcast over the
channels, with the maximum's gradient added at each position's largest channel.
That equals autograd's gradient except where several channels tie for the
maximum: autograd splits the gradient between them, this gives it to the first
(ties do not occur with continuous activations; tests/test_convmixer_layers.py
checks the rest). Inside ``torch.func`` transforms (batched folds) timm's own
forward runs.
"""

from __future__ import annotations

import torch
from timm.layers.cbam import SpatialAttn

from merbench_plugins.models.convmixer.depthwise import untransformed


class _ChannelPool(torch.autograd.Function):
    """(N, C, H, W) to (N, 2, H, W): the mean and the maximum over channels."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        largest, where = x.max(dim=1, keepdim=True)
        ctx.save_for_backward(where)
        ctx.shape = x.shape
        ctx.layout = (torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
                      else torch.contiguous_format)
        return torch.cat([x.mean(dim=1, keepdim=True), largest], dim=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (where,) = ctx.saved_tensors
        n, c, h, w = ctx.shape
        grad_x = (grad[:, :1] / c).expand(n, c, h, w).contiguous(memory_format=ctx.layout)
        return grad_x.scatter_add_(1, where, grad[:, 1:])


class SpatialAttention(SpatialAttn):
    """timm's CBAM spatial attention with the faster channel-pooling backward of the module docstring."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate ``x`` (N, C, H, W) by a per-position weight in (0, 1)."""
        if not untransformed(x):
            return super().forward(x)
        return x * self.gate(self.conv(_ChannelPool.apply(x)))
