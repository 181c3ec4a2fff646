"""The convmixer plugin's ablation options: attention placement and kind, sizes, patch, dropout, input."""

from __future__ import annotations

import pytest
import torch
from timm.layers.cbam import ChannelAttn, CbamModule, SpatialAttn
from torch import nn

from merbench.config import resolve_config
from merbench.errors import UsageError
from merbench.registry import get_registry
from merbench_plugins.models.convmixer.network import build_model

BASE = {"dim": 16, "depth": 4, "kernel": 3, "patch": 2, "attention": "cbam", "attention_every": 1, "dropout": 0.1}


def build(**changes):
    return build_model({**BASE, **changes}, in_channels=3, n_classes=3, input_size=32)


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def plain_convmixer_params(c: int, dim: int, depth: int, kernel: int, patch: int, n: int = 3) -> int:
    """Parameters of ConvMixer without attention, counted from its definition (conv weights+bias, BN affine)."""
    stem = c * dim * patch * patch + dim + 2 * dim
    block = (dim * kernel * kernel + dim + 2 * dim) + (dim * dim + dim + 2 * dim)
    return stem + depth * block + dim * n + n


def channel_attention_params(dim: int) -> int:
    return 2 * dim * int(dim / 8)  # two bias-free 1×1 convolutions through dim/8 units


SPATIAL_ATTENTION_PARAMS = 2 * 7 * 7 + 2  # a bias-free 7×7 conv on (mean, max) maps and its BatchNorm


@pytest.mark.parametrize("attention, channel, spatial", [
    ("cbam", True, True), ("channel", True, False), ("spatial", False, True), ("none", False, False),
])
def test_attention_kind_puts_only_its_modules_and_their_parameters(attention, channel, spatial):
    model = build(attention=attention)
    assert count(model, ChannelAttn) == (4 if channel else 0)
    assert count(model, SpatialAttn) == (4 if spatial else 0)
    assert count(model, CbamModule) == (4 if attention == "cbam" else 0)
    expected = plain_convmixer_params(3, 16, 4, 3, 2)
    expected += 4 * (channel_attention_params(16) * channel + SPATIAL_ATTENTION_PARAMS * spatial)
    assert params(model) == expected
    assert model(torch.randn(5, 3, 32, 32)).shape == (5, 3)


@pytest.mark.parametrize("every, modules", [(1, 4), (2, 2), (3, 1), (4, 1)])
def test_attention_every_k_blocks(every, modules):
    model = build(attention_every=every)
    assert count(model, CbamModule) == modules
    kinds = [type(m) for m in model.blocks]
    assert kinds[0] is nn.Sequential  # attention always follows a block, never the stem
    if modules:
        assert kinds.index(CbamModule) == every  # after the every-th mixer block


def test_channel_and_spatial_every_k_blocks():
    assert count(build(attention="channel", attention_every=2), ChannelAttn) == 2
    assert count(build(attention="spatial", attention_every=2), SpatialAttn) == 2


@pytest.mark.parametrize("dim, depth, kernel, patch", [(8, 2, 3, 1), (24, 6, 9, 4), (32, 3, 5, 2)])
def test_width_depth_kernel_patch_shape_the_network(dim, depth, kernel, patch):
    model = build(dim=dim, depth=depth, kernel=kernel, patch=patch, attention="none")
    assert params(model) == plain_convmixer_params(3, dim, depth, kernel, patch)
    depthwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups == dim and dim > 1]
    assert len(depthwise) == depth and all(m.kernel_size == (kernel, kernel) for m in depthwise)
    tokens = model.stem(torch.randn(2, 3, 32, 32))
    assert tokens.shape == (2, dim, 32 // patch, 32 // patch)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


@pytest.mark.parametrize("rate", [0.0, 0.3])
def test_dropout_rate_reaches_the_head(rate):
    model = build(dropout=rate)
    assert model.dropout.p == rate
    model.train()
    torch.manual_seed(0)
    features = torch.randn(4, 3, 32, 32)
    first, second = model(features), model(features)
    assert torch.equal(first, second) == (rate == 0.0)


@pytest.mark.parametrize("changes, message", [
    ({"attention": "se"}, "model.attention=se: choose one of cbam, channel, spatial, none"),
    ({"patch": 33}, "model.patch=33: must be between 1 and the input size 32"),
    ({"attention_every": 0}, "model.attention_every=0: must be at least 1"),
    ({"attention_every": 5}, "model.attention_every=5 exceeds model.depth=4: no block would get attention; use 1..4 or model.attention=none"),
    ({"dropout": 1.0}, "model.dropout=1.0: must be in [0, 1)"),
])
def test_bad_options_are_one_clear_error(changes, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace(")", r"\)")):
        build(**changes)


def test_attention_choices_are_validated_with_the_configuration():
    registry = get_registry()
    for kind in ("cbam", "channel", "spatial", "none"):
        config = resolve_config(registry, model="convmixer", dataset="synthetic", sets={"model.attention": kind})
        assert config.section("model")["attention"] == kind
    with pytest.raises(UsageError, match="model.attention"):
        resolve_config(registry, model="convmixer", dataset="synthetic", sets={"model.attention": "se"})


@pytest.mark.parametrize("sets, shape", [
    ({}, (2, 28, 28)),
    ({"flow.size": "32", "flow.channels": "u,v,strain"}, (3, 32, 32)),
    ({"flow.channels": "u,v,strain"}, (3, 28, 28)),
    ({"flow.size": "32"}, (2, 32, 32)),
])
def test_input_resolution_and_representation_reach_the_model(sets, shape):
    registry = get_registry()
    config = resolve_config(registry, model="convmixer", dataset="synthetic", sets=sets)
    flow = config.section("flow")
    assert (len(flow["channels"]), flow["size"], flow["size"]) == shape
    model = build_model(dict(config.section("model")), shape[0], 3, shape[1])
    assert model.stem[0].in_channels == shape[0]
    assert model(torch.randn(2, *shape)).shape == (2, 3)


def test_default_is_the_studied_choice_spatial_attention_after_every_block():
    """The default chosen by the design study (docs/models.md): kernel 9, CBAM's spatial half after every block."""
    registry = get_registry()
    config = resolve_config(registry, model="convmixer", dataset="synthetic")
    options = dict(config.section("model"))
    assert (options["kernel"], options["attention"], options["attention_every"]) == (9, "spatial", 1)
    model = build_model(options, 2, 3, 28)
    assert count(model, SpatialAttn) == options["depth"] and count(model, ChannelAttn) == 0


def test_every_attention_kind_is_built_in_one_replaceable_place(monkeypatch):
    import merbench_plugins.models.convmixer.network as network

    monkeypatch.setattr(network, "create_attn", lambda *args, **kwargs: nn.Identity())
    for kind in ("cbam", "channel", "spatial"):
        model = build(attention=kind)
        assert count(model, ChannelAttn) == count(model, SpatialAttn) == 0, kind
        assert params(model) == plain_convmixer_params(3, 16, 4, 3, 2)
