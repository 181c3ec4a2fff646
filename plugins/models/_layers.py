"""Small helpers shared by the baseline networks (imported lazily, with torch)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from merbench.errors import UsageError


def flat_size(module: nn.Module, in_channels: int, input_size: int) -> int:
    """Number of features ``module`` gives for one (in_channels, input_size, input_size) input."""
    probe = torch.zeros(1, in_channels, input_size, input_size)
    with torch.no_grad():
        return int(module(probe).flatten(1).shape[1])


def positive_ints(options: dict[str, Any], *keys: str) -> None:
    """Refuse ``model.KEY`` values below 1 (each may be an int or a list of ints) and an empty list."""
    for key in keys:
        values = options[key] if isinstance(options[key], (list, tuple)) else [options[key]]
        if not values:
            raise UsageError(f"model.{key} is empty: give at least one value, each at least 1 "
                             f"(a comma-separated list, e.g. --set model.{key}=8,16)")
        if any(int(v) < 1 for v in values):
            raise UsageError(f"model.{key}={options[key]}: every value must be at least 1")


def odd_kernel(options: dict[str, Any]) -> int:
    """``model.kernel`` as an int, refused when even: these networks pad their convolutions "same", which an even
    kernel can only do unevenly (torch then warns and copies every input it pads)."""
    kernel = int(options["kernel"])
    if kernel % 2 == 0:
        raise UsageError(f"model.kernel={options['kernel']}: must be odd (e.g. {kernel - 1} or {kernel + 1}): the "
                         "convolutions keep their input's size by padding kernel // 2 on each side, which an even "
                         "kernel cannot do evenly")
    return kernel


def check_dropout(options: dict[str, Any]) -> float:
    """``model.dropout`` as a float in [0, 1), or a UsageError."""
    value = float(options["dropout"])
    if not 0.0 <= value < 1.0:
        raise UsageError(f"model.dropout={options['dropout']}: must be in [0, 1)")
    return value


FLOW_SIZE = ("flow.size", "image.size")
"""The options that set the size of ``flow-uvs`` input: the ``flow`` step's, then the ``image`` step's."""


def check_input(name: str, input_size: int, minimum: int, size_options: tuple[str, ...] = ()) -> None:
    """Refuse inputs smaller than a network's pooling stages allow; the hint asks for ``minimum`` through each of
    ``size_options`` (``flow.size`` for the flow chain, ``image.size`` for the image chain: the model does not know
    which chain feeds it), or through the preprocessor's size when none is given."""
    if input_size >= minimum:
        return
    if size_options:
        steps = " or ".join(f"{option}={minimum} ({option.split('.')[0]} chain)" for option in size_options)
        hint = f"raise the input size to at least {minimum} with the size of the step that makes it: --set {steps}"
    else:
        hint = f"raise the size of the preprocessing step that makes the model's input to at least {minimum}"
    raise UsageError(f"model '{name}' needs inputs of at least {minimum}x{minimum} pixels, got {input_size}; {hint}")
