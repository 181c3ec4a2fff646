"""BatchNorm from plain tensor ops, for batched folds (``vmap``) on CUDA.

Under ``vmap`` torch runs ``F.batch_norm`` through a batching rule that folds
the fold dimension into the channels and calls cuDNN's kernel. On CUDA that
failed for ConvMixer (measured on an H200, torch 2.11): in float32 cuDNN
refused the reshaped input ("Expected input->is_contiguous(input->
suggest_memory_format())"), and under bfloat16 autocast the backward refused
the float32 running statistics ("Expected running_mean to have type BFloat16
but got Float"; pytorch/pytorch#184890). ``PlainBatchNorm`` replaces every
``F.batch_norm`` call made inside it (``torch.nn.BatchNorm*d`` and timm's
norm-act layers call it) with the same computation written as elementwise ops
and reductions, whose batching rules and autograd have neither limit.

Statistics are computed in float32 (as cuDNN does for bfloat16 and float16
inputs) and the output has the input's dtype, as ``F.batch_norm`` under autocast.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional
from torch.overrides import TorchFunctionMode


def plain_batch_norm(input: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
                     weight: torch.Tensor | None = None, bias: torch.Tensor | None = None, training: bool = False,
                     momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """``torch.nn.functional.batch_norm``, same arguments and result, from elementwise ops and reductions.

    In training the batch's own mean and biased
    variance normalise the input; in training the running statistics, where
    given, move towards the batch's mean and unbiased variance by ``momentum``
    in place, as ``F.batch_norm`` moves them.
    """
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("running_mean must be defined in evaluation mode")  # as F.batch_norm
    x = input.float()
    over = [0, *range(2, x.dim())]  # every dimension but the channels
    shape = [1, -1] + [1] * (x.dim() - 2)
    if training:
        var, mean = torch.var_mean(x, dim=over, correction=0)
        if running_mean is not None and running_var is not None:
            count = x.numel() // x.shape[1]
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(mean.detach() * momentum)
                running_var.mul_(1 - momentum).add_(var.detach() * (momentum * count / max(count - 1, 1)))
    else:
        mean, var = running_mean.float(), running_var.float()
    y = (x - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.float().reshape(shape)
    if bias is not None:
        y = y + bias.float().reshape(shape)
    return y.to(input.dtype)


class PlainBatchNorm(TorchFunctionMode):
    """Inside ``with PlainBatchNorm():`` every ``F.batch_norm`` call runs ``plain_batch_norm`` instead."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        """Send ``F.batch_norm`` to ``plain_batch_norm`` and every other torch call on unchanged."""
        kwargs = kwargs or {}
        if func is functional.batch_norm:
            return plain_batch_norm(*args, **kwargs)
        return func(*args, **kwargs)
