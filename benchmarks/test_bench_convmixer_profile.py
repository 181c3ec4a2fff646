"""Where a default-profile ConvMixer training step spends its time on this CPU (issue: ConvMixer at the speed of the hardware).

Prints, for the naive layout (NCHW, fp32, the layers as before the convmixer's
own: ``nn.Conv2d``'s depthwise backward, timm's spatial attention), merbench's
engine layout (channels-last, fp32) as before and with the convmixer's own
layers (``DepthwiseConv2d``, ``SpatialAttention``), and channels-last under
bf16 autocast, the time per op category, the achieved
FLOP/s and the fraction of this CPU's measured matrix-product peak (see
``benchmarks/convmixer_profile.py``). The timed body is one whole training step
in that layout. ``test_depthwise_lowerings`` times the default layer's
depthwise convolution computed several ways and checks each against oneDNN's.
"""

from __future__ import annotations

import pytest
import torch

from convmixer_profile import (BATCH, default_convmixer, depthwise_lowerings, profile_step, render, render_lowerings,
                               use_plain_layers)

# Forward FLOPs per sample of the default-profile ConvMixer on 2 x 28 x 28 flow (stem, 4 blocks of 9 x 9
# depthwise kernels, head; the spatial attention's 7 x 7 convolutions included).
DEFAULT_FORWARD_MFLOP = 14.9


LAYOUTS = ["nchw-fp32-plain", "channels-last-fp32-plain", "channels-last-fp32", "channels-last-bf16"]
"""``-plain``: the layers compute as before the convmixer's own (``convmixer_profile.use_plain_layers``)."""


@pytest.mark.parametrize("layout", LAYOUTS)
def test_convmixer_step_profile(benchmark, capsys, layout):
    if "bf16" in layout and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU has no bf16 support in oneDNN")
    build, options = default_convmixer()
    channels, size = options["input"][0], options["input"][1]
    channels_last, bf16, plain = layout.startswith("channels-last"), "bf16" in layout, layout.endswith("plain")
    profile = profile_step(build, channels, size, repeats=5, channels_last=channels_last, bf16=bf16,
                           plain_layers=plain)
    with capsys.disabled():
        print()
        print(render(profile))

    assert abs(profile.step_flops / (3 * BATCH) / 1e6 - DEFAULT_FORWARD_MFLOP) < 0.1 * DEFAULT_FORWARD_MFLOP
    counts = {name: cost.layers for name, cost in profile.categories.items()}
    depth = int(options["depth"])
    assert counts["depthwise conv"] == depth and counts["pointwise conv"] == depth
    assert counts["attention"] == (depth if options["attention"] != "none" else 0)
    assert 0 < profile.achieved < profile.peak_fp32 * (3 if bf16 else 1.5)

    model = build().train()
    if plain:
        use_plain_layers(model)
    x = torch.randn(BATCH, channels, size, size)
    y = torch.randint(0, 3, (BATCH,))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.002)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update({
        "layout": profile.layout, "step_ms": profile.step_seconds * 1e3, "gflop_per_step": profile.step_flops / 1e9,
        "achieved_gflops": profile.achieved / 1e9, "peak_fp32_gflops": profile.peak_fp32 / 1e9,
        "peak_bf16_gflops": (profile.peak_bf16 or 0) / 1e9, "fraction_of_peak": profile.achieved / profile.peak,
        "ms_per_category": {name: cost.seconds * 1e3 for name, cost in profile.categories.items()},
    })



def test_depthwise_lowerings(benchmark, capsys):
    _, options = default_convmixer()
    tokens, kernel = options["input"][1] // int(options["patch"]), int(options["kernel"])
    rows = benchmark.pedantic(depthwise_lowerings, args=(BATCH, int(options["dim"]), tokens, kernel, 10),
                              rounds=1, iterations=1)
    with capsys.disabled():
        print()
        print(render_lowerings(rows, f"{BATCH}x{options['dim']}x{tokens}x{tokens}, kernel {kernel}"))
    assert all(row.max_error < 1e-5 for row in rows), "every lowering computes the same convolution and gradients"
    kept = next(row for row in rows if "kept" in row.name)
    assert kept.total_ms < rows[0].total_ms, "the convmixer's depthwise path must beat oneDNN's channels-last one"
    benchmark.extra_info.update({row.name: {"forward_ms": row.forward_ms, "input_grad_ms": row.input_grad_ms,
                                            "weight_grad_ms": row.weight_grad_ms, "max_error": row.max_error}
                                 for row in rows})
