"""Model options that cannot work are refused with exit 2 and a message that says how to fix them.

convmixer's ``attention_every`` beyond ``depth`` (no block would get attention), an empty ``model.filters``, an
input too small for a network's pooling stages (the hint names the size needed), and a ``model.weights`` file of
``timm:`` that is not a checkpoint; an even ``model.kernel`` (the networks pad "same").
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from merbench.errors import UsageError
from merbench_plugins.models._layers import check_input
from merbench_plugins.models.convmixer.network import build_model as build_convmixer

TINY = ("dataset.subjects=4", "dataset.clips_per_subject=3", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=2", "engine.epochs=1")


@pytest.fixture
def refused(run_cli):
    """Run ``--model MODEL`` on tiny synthetic data with ``sets``; returns the error text of a refused run."""

    def invoke(model: str, *sets: str) -> str:
        result = run_cli("run", "--model", model, "--dataset", "synthetic", "--profile", "quick", "--quiet",
                         "--no-store", "--set", *TINY, *sets)
        assert result.code == 2, (result.code, result.err)
        return " ".join(result.err.split())

    return invoke


def test_convmixer_attention_every_above_depth_is_refused(refused):
    err = refused("convmixer", "model.attention_every=3")  # quick profile: model.depth=2
    assert ("model.attention_every=3 exceeds model.depth=2: no block would get attention; "
            "use 1..2 or model.attention=none") in err


def test_convmixer_attention_every_up_to_depth_or_without_attention_is_built():
    base = {"dim": 8, "depth": 2, "kernel": 3, "patch": 2, "attention": "spatial", "dropout": 0.0}
    build_convmixer({**base, "attention_every": 2}, in_channels=3, n_classes=3, input_size=16)
    build_convmixer({**base, "attention_every": 3, "attention": "none"}, in_channels=3, n_classes=3, input_size=16)
    with pytest.raises(UsageError, match=r"model.attention_every=2 exceeds model.depth=1: .* use 1 or model"):
        build_convmixer({**base, "depth": 1, "attention_every": 2}, in_channels=3, n_classes=3, input_size=16)


def test_empty_filters_ask_for_at_least_one_value(refused):
    err = refused("ststnet", "model.filters=")
    assert "model.filters is empty: give at least one value" in err
    assert "every value must be at least 1" not in err


@pytest.mark.parametrize("model, filters", [("offapexnet", "4,4,4,4,4,4"), ("dual-inception", "2,2,2,2,2,2")])
def test_too_small_input_hint_names_the_size_needed(refused, model, filters):
    err = refused(model, f"model.filters={filters}")
    assert f"model '{model}' needs inputs of at least 64x64 pixels, got 28" in err
    assert "--set flow.size=64 (flow chain) or image.size=64 (image chain)" in err and "flow.size=28" not in err


@pytest.mark.parametrize("size, builds", [(3, False), (4, True), (5, True)])
def test_ststnet_takes_inputs_down_to_4_pixels(size, builds):
    """ststnet refused 4 and 5 pixels ("needs 6x6") though its pooling stages take them."""
    import torch

    from merbench_plugins.models.ststnet import build_model

    options = {"filters": [3, 5, 8], "kernel": 3, "batchnorm": True, "dropout": 0.5}
    if not builds:
        with pytest.raises(UsageError, match="needs inputs of at least 4x4 pixels, got 3"):
            build_model(options, in_channels=3, n_classes=3, input_size=size)
        return
    model = build_model(options, in_channels=3, n_classes=3, input_size=size)
    out = model(torch.zeros(2, 3, size, size))
    out.sum().backward()
    assert out.shape == (2, 3)


def test_too_small_input_without_a_known_option_keeps_the_generic_hint():
    with pytest.raises(UsageError, match="raise the size of the preprocessing step .* to at least 16$"):
        check_input("some-net", 8, 16)


def garbage_weights(folder, kind: str):
    """A file named like weights whose bytes are no checkpoint."""
    path = folder / f"{kind}.pth"
    if kind == "text":
        path.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    elif kind.startswith("random"):  # random-N: the N-th 4 KiB blob of a seeded generator (os.urandom made it flaky)
        rng = np.random.default_rng(0)
        blobs = [rng.bytes(4096) for _ in range(int(kind.split("-")[1]) + 1)]
        path.write_bytes(blobs[-1])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes/readme.txt", "not a checkpoint")
    else:  # a .safetensors name over text
        path = folder / "text.safetensors"
        path.write_text("not a safetensors header")
    return path


# random-N: blobs on which torch 2.14's weights-only unpickler raises UnpicklingError (0), IndexError (8),
# UnicodeDecodeError (45, about 1 random blob in 80: it once failed CI), KeyError (533), RuntimeError (1772)
@pytest.mark.parametrize("kind", ["text", "random-0", "random-8", "random-45", "random-533", "random-1772", "empty",
                                  "zip", "safetensors"])
def test_timm_weights_that_are_no_checkpoint_are_refused(refused, tmp_path, kind):
    weights = garbage_weights(tmp_path, kind)
    err = refused("timm:resnet18", f"model.weights={weights}")
    assert f"timm:resnet18: could not load the weights {weights}: not a .safetensors or .pth state dict" in err
    assert "plugin" not in err and "raised" not in err


@pytest.mark.parametrize("model", ["convmixer", "ststnet", "offapexnet"])
def test_an_even_kernel_is_refused_naming_the_odd_ones_around_it(refused, model):
    err = refused(model, "model.kernel=8")
    assert ("model.kernel=8: must be odd (e.g. 7 or 9): the convolutions keep their input's size by padding "
            "kernel // 2 on each side, which an even kernel cannot do evenly") in err
    assert "UserWarning" not in err, "torch's warning about even kernels and padding='same' is not reached"
