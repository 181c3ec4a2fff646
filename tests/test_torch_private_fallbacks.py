"""Fallbacks for the private torch checks merbench relies on, which a future torch release may rename.

``engine.cpu_has_bf16`` asks oneDNN through ``torch.ops.mkldnn._is_mkldnn_bf16_supported``
and falls back to the CPU's flags; the convmixer's ``DepthwiseConv2d`` asks
``torch._C._functorch.is_functorch_wrapped_tensor`` whether it runs inside a
``torch.func`` transform and, where it cannot ask, takes ``nn.Conv2d``'s own path.
"""

from __future__ import annotations

import pytest
import torch

import merbench.engine as engine
from merbench.engine import cpu_flags_have_bf16
from merbench_plugins.models.convmixer import depthwise


def test_cpu_flags_name_bf16_arithmetic():
    assert cpu_flags_have_bf16({"avx2", "avx512f", "avx512_bf16"})
    assert cpu_flags_have_bf16({"amx_bf16"})
    assert not cpu_flags_have_bf16({"avx2", "avx512f"})
    assert not cpu_flags_have_bf16(set())


def test_cpu_flags_answer_when_torch_lacks_its_private_bf16_check(monkeypatch):
    monkeypatch.setattr(engine, "_onednn_bf16_probe", lambda: None)
    monkeypatch.setattr(engine, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert engine.cpu_has_bf16()
    monkeypatch.setattr(engine, "cpu_flags", lambda: {"avx512f"})
    assert not engine.cpu_has_bf16()


def test_the_private_bf16_check_answers_while_torch_has_it(monkeypatch):
    monkeypatch.setattr(engine, "cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setattr(engine, "_onednn_bf16_probe", lambda: (lambda: False))
    assert not engine.cpu_has_bf16(), "oneDNN's answer wins over the flags"


def test_depthwise_takes_nn_conv2d_path_when_torch_cannot_tell_transforms(monkeypatch):
    torch.manual_seed(0)
    layer = depthwise.DepthwiseConv2d(4, 9)
    x = torch.randn(2, 4, 10, 10, requires_grad=True)
    assert depthwise.untransformed(x)
    calls = []
    original = depthwise._DepthwiseSame.apply
    monkeypatch.setattr(depthwise._DepthwiseSame, "apply", lambda *a: calls.append(1) or original(*a))
    fast = layer(x)
    assert calls == [1]
    monkeypatch.setattr(depthwise, "_IS_FUNCTORCH_WRAPPED", None)
    assert not depthwise.untransformed(x)
    plain = layer(x)
    assert calls == [1], "without torch's check the faster backward is not used"
    torch.testing.assert_close(plain, fast)


@pytest.mark.filterwarnings("ignore:torch.*autocast_cpu.* is deprecated:DeprecationWarning")  # the calls 2.3 has
def test_depthwise_reads_cpu_autocast_on_torch_2_3_which_lacks_the_device_taking_calls(monkeypatch):
    """torch 2.3 (the floor in pyproject.toml) has no get_autocast_dtype and an is_autocast_enabled() without a
    device: every default-profile ConvMixer failed on its first batch there with a TypeError."""
    is_autocast_cpu_enabled = torch.is_autocast_cpu_enabled

    def is_autocast_enabled_as_in_2_3(*args):
        if args:
            raise TypeError("is_autocast_enabled() takes no arguments (1 given)")
        return is_autocast_cpu_enabled()

    def as_in_torch_2_3(patch):  # torch.autocast itself needs the new calls: patched inside it only
        patch.delattr(torch, "get_autocast_dtype", raising=False)  # missing already on torch 2.3
        patch.setattr(torch, "is_autocast_enabled", is_autocast_enabled_as_in_2_3)

    with monkeypatch.context() as patch:
        as_in_torch_2_3(patch)
        assert depthwise.cpu_autocast_dtype() is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with monkeypatch.context() as patch:
            as_in_torch_2_3(patch)
            assert depthwise.cpu_autocast_dtype() == torch.bfloat16
        assert depthwise.cpu_autocast_dtype() == torch.bfloat16  # and with today's calls
    assert depthwise.cpu_autocast_dtype() is None
