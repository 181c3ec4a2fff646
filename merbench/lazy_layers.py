"""Give a model's lazy layers (``torch.nn.LazyLinear``, ``LazyConv2d``, ...) their shapes before it is used.

A lazy layer learns its input size on its first forward pass; until then its
parameters have no shape, so counting, moving or optimising them fails. A
model plugin may use them, as PyTorch documents, to avoid computing the size
of a flattened feature map: merbench runs one forward pass on a sample of the
input's shape right after ``build()``, before anything else touches the model.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from merbench.errors import PluginError, error_line


def has_lazy_layers(model: nn.Module) -> bool:
    """Whether any parameter or buffer of ``model`` still waits for its first forward pass to get a shape."""
    return any(is_lazy(tensor) for tensor in (*model.parameters(), *model.buffers()))


def materialise_lazy_layers(model: Any, sample_shape: Sequence[int]) -> Any:
    """``model`` with its lazy layers shaped by one forward pass of a zero sample of ``sample_shape`` (C, H, W).

    Nothing happens to a model without lazy layers, nor to what is not a torch
    module (a scikit-learn style estimator): it is returned as it is. The pass runs in eval mode
    without gradients (batch-norm statistics stay untouched), on the device and
    dtype of the model's first shaped tensor, else of its first lazy one; the
    model's mode is restored. The lazy
    layers draw their initial weights from torch's generator, as a layer built
    with its size does, so the same seed builds the same model.
    """
    if not isinstance(model, nn.Module) or not has_lazy_layers(model):
        return model
    tensors = [*model.parameters(), *model.buffers()]
    shaped = [t for t in tensors if not is_lazy(t) and t.is_floating_point()]
    first = (shaped or tensors)[0]
    device = first.device
    dtype = first.dtype if first.is_floating_point() else torch.get_default_dtype()  # .double() reaches lazy ones
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *sample_shape, device=device, dtype=dtype))
    finally:
        model.train(training)
    return model


def lazy_layers_error(plugin: str, sample_shape: Sequence[int], exc: BaseException) -> PluginError:
    """The one-line error for a model whose forward pass failed while its lazy layers took their shapes."""
    return PluginError(
        f"{plugin}: its lazy layers could not take their shapes from one sample of shape {tuple(sample_shape)}, "
        f"the run's input: its forward() raised {error_line(exc)}; fix the model for inputs of that shape, or report "
        "it to the plugin's author"
    )
