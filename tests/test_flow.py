"""The ``flow`` preprocessor: flow methods, optical strain, normalisation and option checks."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

from merbench.contracts import PreprocessorPlugin, Sample
from merbench.errors import UsageError
from merbench.registry import get_registry
from merbench_plugins.preprocessors import flow as flow_module
from merbench_plugins.preprocessors.flow import (
    FlowPreprocessor,
    apex_index,
    make_flow_function,
    optical_strain,
    resolve_method,
)

from motion_images import shifted, stretched, texture

SIZE = 64
CENTRE = slice(16, 48)  # away from the borders, where every method is reliable


def options(**overrides) -> dict:
    base = {"method": "dis", "size": 32, "channels": ["u", "v", "strain"], "subtract_median": False}
    base.update(overrides)
    return base


def clip(frames: dict[str, np.ndarray], order: list[str], onset: int = 0, apex: int | None = None,
         offset: int | None = None) -> tuple[Sample, Callable[[Path], np.ndarray]]:
    """A Sample over fake frame paths and a read_frame that looks them up in ``frames``."""
    paths = tuple(Path(f"/nonexistent/{name}.png") for name in order)
    lookup = {path: frames[name] for path, name in zip(paths, order)}
    sample = Sample(id="clip", subject="s01", label=0, domain="test", frames=paths, onset=onset,
                    apex=apex, offset=len(order) - 1 if offset is None else offset)
    return sample, lookup.__getitem__


# -------------------------------------------------------------------- flow methods

SHIFTS = [(1.5, -1.0), (-2.0, 0.5)]


@pytest.mark.parametrize("method", ["tvl1", "dis", "farneback"])
@pytest.mark.parametrize("dx,dy", SHIFTS)
def test_flow_method_recovers_a_known_shift(method, dx, dy):
    onset = texture()
    apex = shifted(onset, dx, dy)
    flow = make_flow_function(method)(onset, apex)
    assert flow.shape == (SIZE, SIZE, 2)
    centre = flow[CENTRE, CENTRE]
    u, v = np.median(centre[..., 0]), np.median(centre[..., 1])
    assert np.sign(u) == np.sign(dx) and np.sign(v) == np.sign(dy)
    assert u == pytest.approx(dx, abs=0.2)
    assert v == pytest.approx(dy, abs=0.2)
    # Not only the median: most centre pixels agree with the shift.
    error = np.hypot(centre[..., 0] - dx, centre[..., 1] - dy)
    assert np.mean(error < 0.3) > 0.9


@pytest.mark.parametrize("method", ["tvl1", "dis", "farneback"])
def test_flow_of_identical_frames_is_zero(method):
    img = texture(seed=3)
    flow = make_flow_function(method)(img, img.copy())
    assert np.abs(flow[CENTRE, CENTRE]).max() < 0.05


# ------------------------------------------------------------------ optical strain


def test_optical_strain_of_analytic_fields():
    yy, xx = np.mgrid[0:20, 0:20].astype(np.float32)
    # Pure translation (u, v) = (2, -1): all derivatives are 0 -> strain 0.
    translation = np.stack([np.full_like(xx, 2.0), np.full_like(xx, -1.0)], axis=-1)
    np.testing.assert_allclose(optical_strain(translation), 0.0, atol=1e-7)
    # Stretch u = 0.1 x, v = 0: exx = 0.1, eyy = exy = 0 -> strain = sqrt(0.1^2) = 0.1.
    stretch = np.stack([0.1 * xx, np.zeros_like(xx)], axis=-1)
    np.testing.assert_allclose(optical_strain(stretch), 0.1, atol=1e-6)
    # Shear u = 0.2 y, v = 0: exy = 0.5 * 0.2 = 0.1 -> strain = sqrt(2 * 0.1^2) = 0.1 * sqrt(2).
    shear = np.stack([0.2 * yy, np.zeros_like(xx)], axis=-1)
    np.testing.assert_allclose(optical_strain(shear), 0.1 * np.sqrt(2), atol=1e-6)
    # Isotropic expansion u = 0.1 x, v = 0.1 y: sqrt(0.1^2 + 0.1^2) = 0.1 * sqrt(2).
    expansion = np.stack([0.1 * xx, 0.1 * yy], axis=-1)
    np.testing.assert_allclose(optical_strain(expansion), 0.1 * np.sqrt(2), atol=1e-6)
    assert optical_strain(stretch).dtype == np.float32
    assert optical_strain(stretch).shape == (20, 20)


@pytest.mark.parametrize("method", ["tvl1", "dis", "farneback"])
def test_strain_of_a_translation_is_small_and_of_a_local_stretch_large(method):
    onset = texture()
    compute = make_flow_function(method)
    translation_strain = optical_strain(compute(onset, shifted(onset, 1.5, -1.0)))[CENTRE, CENTRE].mean()
    stretch_flow = compute(onset, stretched(onset))
    stretch_strain = optical_strain(stretch_flow)[CENTRE, CENTRE].mean()
    assert translation_strain < 0.02
    assert stretch_strain > 0.03
    assert stretch_strain > 5 * translation_strain
    # The stretch moves content outwards: right of the centre u > 0, left of it u < 0.
    assert stretch_flow[32, 40, 0] > 0.3 and stretch_flow[32, 23, 0] < -0.3


# ---------------------------------------------------------------- FlowPreprocessor


def test_preprocessor_output_shape_dtype_and_channel_order():
    onset = texture()
    apex = shifted(onset, 2.0, -1.0)
    sample, read = clip({"on": onset, "ap": apex}, ["on", "ap"], apex=1)
    out = FlowPreprocessor(options())(sample, read, None)
    assert out.shape == (3, 32, 32)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()

    swapped = FlowPreprocessor(options(channels=["v", "u"]))(sample, read, None)
    assert swapped.shape == (2, 32, 32)
    np.testing.assert_allclose(swapped[0], out[1], atol=1e-6)
    np.testing.assert_allclose(swapped[1], out[0], atol=1e-6)

    single = FlowPreprocessor(options(channels=["magnitude"], size=16))(sample, read, None)
    assert single.shape == (1, 16, 16) and single.dtype == np.float32


@pytest.mark.parametrize("method", ["tvl1", "dis", "farneback"])
def test_preprocessor_scales_uv_to_the_output_grid(method):
    # A shift of (2, -1) px on a 64 px frame is (1, -0.5) px on a 32 px grid.
    onset = texture()
    apex = shifted(onset, 2.0, -1.0)
    sample, read = clip({"on": onset, "ap": apex}, ["on", "ap"], apex=1)
    out = FlowPreprocessor(options(method=method))(sample, read, None)
    centre = slice(8, 24)
    assert np.median(out[0, centre, centre]) == pytest.approx(1.0, abs=0.1)
    assert np.median(out[1, centre, centre]) == pytest.approx(-0.5, abs=0.1)
    # The strain channel is dimensionless and not rescaled: a translation gives ~0.
    assert np.abs(out[2, centre, centre]).mean() < 0.02


def test_preprocessor_scaling_does_not_depend_on_output_size():
    onset = texture()
    apex = shifted(onset, 2.0, 0.0)
    sample, read = clip({"on": onset, "ap": apex}, ["on", "ap"], apex=1)
    for size, expected in ((16, 0.5), (32, 1.0), (64, 2.0)):  # 2 px * size / 64
        out = FlowPreprocessor(options(size=size, channels=["u", "magnitude"]))(sample, read, None)
        quarter = slice(size // 4, 3 * size // 4)
        assert np.median(out[0, quarter, quarter]) == pytest.approx(expected, abs=0.1 * size / 32), size
        assert np.median(out[1, quarter, quarter]) == pytest.approx(expected, abs=0.1 * size / 32), size


def test_subtract_median_removes_a_global_translation():
    onset = texture()
    apex = shifted(onset, 2.0, -1.0)
    sample, read = clip({"on": onset, "ap": apex}, ["on", "ap"], apex=1)
    out = FlowPreprocessor(options(subtract_median=True))(sample, read, None)
    centre = slice(8, 24)
    assert np.abs(np.median(out[0, centre, centre])) < 0.1
    assert np.abs(np.median(out[1, centre, centre])) < 0.1
    assert np.abs(out[:2, centre, centre]).mean() < 0.15


def test_subtract_median_keeps_local_motion():
    # A local stretch on top of a global drift: the drift goes, the stretch stays.
    onset = texture()
    apex = shifted(stretched(onset), 2.0, 0.0)
    sample, read = clip({"on": onset, "ap": apex}, ["on", "ap"], apex=1)
    out = FlowPreprocessor(options(subtract_median=True, size=64, channels=["u"]))(sample, read, None)
    assert abs(np.median(out[0])) < 0.1
    assert out[0, 32, 40] > 0.3 and out[0, 32, 23] < -0.3


def test_preprocessor_uses_the_annotated_apex():
    onset = texture()
    frames = {"on": onset, "a": shifted(onset, 2.0, 0.0), "b": onset.copy()}
    sample, read = clip(frames, ["on", "a", "b"], apex=1)
    pre = FlowPreprocessor(options(channels=["u"]))
    assert pre.inputs(sample) == [sample.frames[0], sample.frames[1]]
    assert np.median(pre(sample, read, None)[0, 8:24, 8:24]) == pytest.approx(1.0, abs=0.1)


def test_preprocessor_without_apex_uses_the_middle_frame():
    # onset 0, offset 4 -> apex (0 + 4) // 2 = 2; only frame 2 is shifted.
    onset = texture()
    frames = {"f0": onset, "f1": onset.copy(), "f2": shifted(onset, 2.0, 0.0), "f3": onset.copy(),
              "f4": onset.copy()}
    sample, read = clip(frames, ["f0", "f1", "f2", "f3", "f4"], apex=None)
    assert apex_index(sample) == 2
    pre = FlowPreprocessor(options(channels=["u"]))
    assert pre.inputs(sample) == [sample.frames[0], sample.frames[2]]
    assert np.median(pre(sample, read, None)[0, 8:24, 8:24]) == pytest.approx(1.0, abs=0.1)
    details = pre.run_details([sample])
    assert details["flow_method"] == "dis"
    assert "middle frame for 1 of 1" in details["apex_rule"]


def test_run_details_with_annotated_apex():
    sample, _ = clip({"a": texture(), "b": texture()}, ["a", "b"], apex=1)
    assert FlowPreprocessor(options()).run_details([sample, sample])["apex_rule"] == "annotated"


def test_cache_params_reflect_options():
    pre = FlowPreprocessor(options(method="farneback", size=24, channels=["u", "strain"], subtract_median=True))
    params = pre.cache_params()
    assert params["method"] == "farneback"
    assert params["size"] == 24
    assert params["channels"] == ["u", "strain"]
    assert params["subtract_median"] is True
    assert params["opencv"] == cv2.__version__
    assert FlowPreprocessor(options(size=16)).cache_params() != FlowPreprocessor(options(size=32)).cache_params()


# -------------------------------------------------------------- methods and errors


@pytest.mark.skipif(not hasattr(cv2, "optflow"), reason="needs opencv-contrib (cv2.optflow)")
def test_auto_resolves_to_tvl1_when_contrib_is_installed():
    assert resolve_method("auto") == "tvl1"
    assert FlowPreprocessor(options(method="auto")).method == "tvl1"


def test_auto_falls_back_to_dis_without_contrib(monkeypatch):
    monkeypatch.setattr(flow_module, "tvl1_available", lambda: False)
    assert resolve_method("auto") == "dis"
    with pytest.raises(UsageError, match="flow.method=dis"):
        resolve_method("tvl1")


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_explicit_methods_resolve_to_themselves(method):
    assert resolve_method(method) == method


def test_unknown_method_is_a_usage_error():
    with pytest.raises(UsageError, match="flow.method=lucas"):
        resolve_method("lucas")
    with pytest.raises(UsageError, match="flow.method"):
        FlowPreprocessor(options(method="lucas"))


@pytest.mark.parametrize("channels", [["u", "depth"], ["U"], []])
def test_bad_channel_is_a_usage_error(channels):
    with pytest.raises(UsageError, match="flow.channels"):
        FlowPreprocessor(options(channels=channels))


def test_too_small_size_is_a_usage_error():
    with pytest.raises(UsageError, match="flow.size"):
        FlowPreprocessor(options(size=2))


def test_flow_preprocessor_is_registered():
    spec = get_registry().get("preprocessors", "flow")
    assert isinstance(spec, PreprocessorPlugin)
    assert spec.produces == "flow-uvs"
    assert list(spec.options["channels"]) == ["u", "v", "strain"]
    assert spec.options["subtract_median"] is True
    pre = FlowPreprocessor(dict(spec.options))
    assert pre.channels == ("u", "v", "strain")
