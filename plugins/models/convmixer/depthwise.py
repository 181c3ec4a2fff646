"""A depthwise convolution whose backward pass is fast on the CPU (ConvMixer's large-kernel mixing layer).

``DepthwiseConv2d`` is an ``nn.Conv2d`` (same parameters, same state dict, same
outputs) for a depthwise ``same`` convolution: groups = in = out channels,
stride 1, an odd kernel. Its forward pass is oneDNN's depthwise kernel, as
before; only the backward pass is computed another way, because on the CPU
oneDNN's weight gradient of a large depthwise kernel runs at a small fraction of
the core's peak (benchmarks/convmixer_profile.py, docs/scale.md):

* **input gradient**: the adjoint of a ``same`` correlation is the correlation
  with the flipped kernel, so it is one more depthwise forward convolution;
* **weight gradient**: ``dW[c] = sum_n x[n, c] ⋆ dy[n, c]`` is computed as one
  depthwise forward convolution over N·C groups, sample ``n``'s input correlated
  with its own output gradient as the kernel (the result is each sample's kernel
  gradient), then summed over the batch;
* **bias gradient**: the sum of the output gradient over batch and positions.

Every value equals the default backward up to float rounding (a different
summation order); tests/test_convmixer_layers.py checks it. The faster path
is taken only where it was measured to pay: on CPU tensors and kernels of at
least ``FAST_MIN_KERNEL``, outside ``torch.func`` transforms (batched folds),
which take ``nn.Conv2d``'s own path (and so does every call where this torch
release lacks the private check of such transforms). Under CPU autocast it computes in the
autocast dtype, as ``nn.Conv2d`` does there (bfloat16 inputs, weight and
bias; the float32 weight receives its gradient through the cast).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

FAST_MIN_KERNEL = 9
"""Smallest kernel whose backward takes the faster path: measured 2.3x (9×9) vs 0.2–1.5x (3×3 to 7×7) at
64 channels on 14×14 (docs/scale.md)."""


class _DepthwiseSame(torch.autograd.Function):
    """Depthwise ``same`` convolution, stride 1, with the backward pass of the module docstring."""

    @staticmethod
    def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
        return F.conv2d(x, weight, bias, padding=padding, groups=x.shape[1])

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, weight, bias, padding = inputs
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        n, c, h, w = x.shape
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv2d(grad, weight.flip(2, 3), padding=ctx.padding, groups=c)
        if ctx.needs_input_grad[1]:
            per_sample = F.conv2d(x.contiguous().view(1, n * c, h, w), grad.contiguous().view(n * c, 1, h, w),
                                  padding=ctx.padding, groups=n * c)
            grad_weight = per_sample.view(n, c, *weight.shape[2:]).sum(0).unsqueeze(1)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum((0, 2, 3))
        return grad_x, grad_weight, grad_bias, None


def cpu_autocast_dtype() -> torch.dtype | None:
    """The dtype CPU autocast computes in here, or ``None`` when it is off. torch 2.4 added the device-taking
    ``is_autocast_enabled("cpu")`` and ``get_autocast_dtype``; torch 2.3 (the oldest merbench supports) has only the
    CPU-specific pair."""
    if hasattr(torch, "get_autocast_dtype"):
        return torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
    return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(channels, channels, kernel, groups=channels, padding="same")`` with a faster CPU backward."""

    def __init__(self, channels: int, kernel: int):
        super().__init__(channels, channels, kernel, groups=channels, padding="same")
        self._fast = kernel % 2 == 1 and kernel >= FAST_MIN_KERNEL

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (N, C, H, W); the faster backward where it applies (module docstring)."""
        if not (self._fast and x.device.type == "cpu" and untransformed(x)):
            return super().forward(x)
        padding = self.kernel_size[0] // 2
        dtype = cpu_autocast_dtype()
        if dtype is None:
            return _DepthwiseSame.apply(x, self.weight, self.bias, padding)
        bias = None if self.bias is None else self.bias.to(dtype)
        with torch.autocast("cpu", enabled=False):
            return _DepthwiseSame.apply(x.to(dtype), self.weight.to(dtype), bias, padding)


def _functorch_wrapped_check() -> Callable[[torch.Tensor], bool] | None:
    """torch's private test for a tensor inside a ``torch.func`` transform, or ``None`` where a release lacks it."""
    functorch = getattr(torch._C, "_functorch", None)
    return getattr(functorch, "is_functorch_wrapped_tensor", None)


_IS_FUNCTORCH_WRAPPED = _functorch_wrapped_check()


def untransformed(x: torch.Tensor) -> bool:
    """``x`` is not wrapped by a ``torch.func`` transform (vmap, grad), whose batching rules a custom backward lacks.

    ``False`` when this torch cannot tell (``nn.Conv2d``'s own path is then always taken).
    """
    if torch.compiler.is_compiling():
        return True
    if _IS_FUNCTORCH_WRAPPED is None:
        return False
    return not _IS_FUNCTORCH_WRAPPED(x)

