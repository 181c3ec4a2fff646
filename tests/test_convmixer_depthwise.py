"""The convmixer's depthwise convolution: nn.Conv2d's outputs and gradients, a faster backward where it pays."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from merbench_plugins.models.convmixer.depthwise import FAST_MIN_KERNEL, DepthwiseConv2d
from merbench_plugins.models.convmixer.network import build_model

LAYOUTS = {"channels-last": torch.channels_last, "nchw": torch.contiguous_format}


def pair(channels: int, kernel: int, layout=torch.contiguous_format) -> tuple[DepthwiseConv2d, nn.Conv2d]:
    """A ``DepthwiseConv2d`` and an ``nn.Conv2d`` with the same weights."""
    torch.manual_seed(0)
    fast = DepthwiseConv2d(channels, kernel).to(memory_format=layout)
    plain = nn.Conv2d(channels, channels, kernel, groups=channels, padding="same").to(memory_format=layout)
    plain.load_state_dict(fast.state_dict())
    return fast, plain


def gradients(module: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = x.clone().requires_grad_(True)
    output = module(x)
    output.backward(grad)
    return output.detach(), x.grad, module.weight.grad, module.bias.grad


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("kernel", [9, 11])
def test_outputs_and_gradients_equal_nn_conv2d(layout, kernel):
    fast, plain = pair(12, kernel, layout)
    x = torch.randn(6, 12, 14, 14).contiguous(memory_format=layout)
    grad = torch.randn(6, 12, 14, 14).contiguous(memory_format=layout)
    got, expected = gradients(fast, x, grad), gradients(plain, x, grad)
    assert type(fast(x.requires_grad_()).grad_fn).__name__ == "_DepthwiseSameBackward", "the faster backward is used"
    for name, a, b in zip(("output", "input grad", "weight grad", "bias grad"), got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()), msg=name)


def test_small_kernels_autocast_and_vmap_take_nn_conv2ds_own_path():
    small, _ = pair(8, FAST_MIN_KERNEL - 2)
    x = torch.randn(2, 8, 10, 10, requires_grad=True)
    assert type(small(x).grad_fn).__name__ == "ConvolutionBackward0"
    fast, plain = pair(8, 9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert type(fast(x).grad_fn).__name__ != "_DepthwiseSameBackward"

    # Batched folds (merbench.fold_batch): stacked parameters under vmap, gradients through autograd.
    models = [DepthwiseConv2d(8, 9) for _ in range(3)]
    params, buffers = stack_module_state(models)
    params = {name: value.detach().requires_grad_() for name, value in params.items()}
    xs = torch.randn(3, 2, 8, 10, 10)
    out = vmap(lambda p, b, xi: functional_call(models[0], (p, b), (xi,)))(params, buffers, xs)
    grads = torch.autograd.grad(out.square().sum(), [params["weight"]])[0]
    for index, model in enumerate(models):
        torch.testing.assert_close(out[index], model(xs[index]), rtol=1e-5, atol=1e-5)
        expected = torch.autograd.grad(model(xs[index]).square().sum(), [model.weight])[0]
        torch.testing.assert_close(grads[index], expected, rtol=1e-4, atol=1e-4)


def test_the_convmixer_keeps_its_parameters_and_trains_alike():
    options = {"dim": 16, "depth": 2, "kernel": 9, "patch": 2, "attention": "spatial", "attention_every": 1,
               "dropout": 0.0}
    torch.manual_seed(0)
    model = build_model(options, in_channels=2, n_classes=3, input_size=28).to(memory_format=torch.channels_last)
    assert sum(isinstance(m, DepthwiseConv2d) for m in model.modules()) == 2
    assert "blocks.0.0.fn.0.weight" in model.state_dict(), "the state dict names are nn.Conv2d's"
    reference = build_model(options, in_channels=2, n_classes=3, input_size=28).to(memory_format=torch.channels_last)
    reference.load_state_dict(model.state_dict())
    for module in reference.modules():
        if isinstance(module, DepthwiseConv2d):
            module._fast = False  # nn.Conv2d's own backward
    x = torch.randn(8, 2, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.arange(8) % 3
    for net in (model, reference):
        nn.functional.cross_entropy(net(x), y).backward()
    for (name, a), (_, b) in zip(model.named_parameters(), reference.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5 * float(b.grad.abs().max()) + 1e-7, msg=name)
