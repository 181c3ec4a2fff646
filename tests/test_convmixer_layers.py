"""The convmixer's own layers: nn.Conv2d's and timm's outputs and gradients, with faster CPU backward passes."""

from __future__ import annotations

import pytest
import torch
from timm.layers.cbam import SpatialAttn
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from merbench_plugins.models.convmixer.depthwise import FAST_MIN_KERNEL, DepthwiseConv2d
from merbench_plugins.models.convmixer.network import build_model
from merbench_plugins.models.convmixer.spatial import SpatialAttention

LAYOUTS = {"channels-last": torch.channels_last, "nchw": torch.contiguous_format}


def pair(channels: int, kernel: int, layout=torch.contiguous_format) -> tuple[DepthwiseConv2d, nn.Conv2d]:
    """A ``DepthwiseConv2d`` and an ``nn.Conv2d`` with the same weights."""
    torch.manual_seed(0)
    fast = DepthwiseConv2d(channels, kernel).to(memory_format=layout)
    plain = nn.Conv2d(channels, channels, kernel, groups=channels, padding="same").to(memory_format=layout)
    plain.load_state_dict(fast.state_dict())
    return fast, plain


def graph_nodes(output: torch.Tensor) -> set[str]:
    """The names of the autograd nodes behind ``output``."""
    names, stack = set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and type(node).__name__ not in names:
            names.add(type(node).__name__)
            stack.extend(next_node for next_node, _ in node.next_functions)
    return names


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


def test_under_cpu_autocast_it_computes_in_bf16_like_nn_conv2d():
    fast, plain = pair(12, 9, torch.channels_last)
    x = torch.randn(6, 12, 14, 14).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(6, 12, 14, 14).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, expected = gradients(fast, x, grad), gradients(plain, x, grad)
        assert type(fast(x).grad_fn).__name__ == "_DepthwiseSameBackward"
    assert got[0].dtype == expected[0].dtype == torch.bfloat16
    assert fast.weight.grad.dtype == torch.float32, "the float32 weight gets its gradient through the cast"
    for name, a, b in zip(("output", "input grad", "weight grad", "bias grad"), got, expected):
        torch.testing.assert_close(a.float(), b.float(), rtol=2e-2, atol=2e-2 * float(b.abs().max()), msg=name)


def test_small_kernels_and_vmap_take_nn_conv2ds_own_path():
    small, _ = pair(8, FAST_MIN_KERNEL - 2)
    x = torch.randn(2, 8, 10, 10, requires_grad=True)
    assert type(small(x).grad_fn).__name__ == "ConvolutionBackward0"

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


def test_the_convmixer_keeps_its_parameters_and_its_gradients_equal_the_plain_layers():
    options = {"dim": 16, "depth": 2, "kernel": 9, "patch": 2, "attention": "spatial", "attention_every": 1,
               "dropout": 0.0}
    torch.manual_seed(0)
    model = build_model(options, in_channels=2, n_classes=3, input_size=28).to(memory_format=torch.channels_last)
    assert sum(isinstance(m, DepthwiseConv2d) for m in model.modules()) == 2
    assert sum(isinstance(m, SpatialAttention) for m in model.modules()) == 2
    assert "blocks.0.0.fn.0.weight" in model.state_dict(), "the state dict names are nn.Conv2d's"
    reference = build_model(options, in_channels=2, n_classes=3, input_size=28).to(memory_format=torch.channels_last)
    reference.load_state_dict(model.state_dict())
    for module in reference.modules():
        if isinstance(module, DepthwiseConv2d):
            module._fast = False  # nn.Conv2d's own backward
        if isinstance(module, SpatialAttention):
            module.forward = SpatialAttn.forward.__get__(module)  # timm's own pooling
    x = torch.randn(8, 2, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.arange(8) % 3
    for net in (model, reference):
        nn.functional.cross_entropy(net(x), y).backward()
    for (name, a), (_, b) in zip(model.named_parameters(), reference.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5 * float(b.grad.abs().max()) + 1e-7, msg=name)


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_spatial_attention_equals_timms(layout):
    torch.manual_seed(0)
    fast = SpatialAttention(7).to(memory_format=layout)
    plain = SpatialAttn(7).to(memory_format=layout)
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(6, 12, 9, 9).contiguous(memory_format=layout)
    grad = torch.randn(6, 12, 9, 9).contiguous(memory_format=layout)
    results = []
    for module in (fast, plain):
        inputs = x.clone().requires_grad_(True)
        output = module(inputs)
        output.backward(grad)
        results.append((output.detach(), inputs.grad, module.conv.conv.weight.grad, module.conv.bn.weight.grad))
    assert "_ChannelPoolBackward" in graph_nodes(fast(x.requires_grad_()))
    assert "AmaxBackward0" in graph_nodes(plain(x)), "timm's pooling goes through amax's backward"
    for name, a, b in zip(("output", "input grad", "conv grad", "bn grad"), *results):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert results[0][1].is_contiguous(memory_format=layout), "the input gradient keeps the input's layout"


def test_spatial_attention_under_vmap_runs_timms_forward():
    models = [SpatialAttention(7) for _ in range(2)]
    params, buffers = stack_module_state(models)
    xs = torch.randn(2, 3, 4, 6, 6)
    out = vmap(lambda p, b, xi: functional_call(models[0], (p, b), (xi,)))(params, buffers, xs)
    for index, model in enumerate(models):
        torch.testing.assert_close(out[index], model(xs[index]), rtol=1e-5, atol=1e-6)
