"""The ``flow`` preprocessor's ``apex`` channel: the apex grey frame beside the flow planes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from merbench.config import resolve_config
from merbench.contracts import Sample
from merbench.errors import UsageError
from merbench.preprocess import build_chain, entry_key
from merbench.registry import get_registry
from merbench_plugins.preprocessors.flow import FlowPreprocessor

from motion_images import shifted, texture


def options(**overrides) -> dict:
    base = {"method": "dis", "size": 16, "channels": ["u", "v", "apex"], "subtract_median": True}
    base.update(overrides)
    return base


def clip(frames: list[np.ndarray], apex: int | None) -> tuple[Sample, dict[Path, np.ndarray]]:
    """A sample over fake paths (onset 0, offset last) and the frames behind them."""
    paths = tuple(Path(f"/nonexistent/f{i}.png") for i in range(len(frames)))
    sample = Sample(id="clip", subject="s01", label=0, domain="test", frames=paths, onset=0, apex=apex,
                    offset=len(frames) - 1)
    return sample, dict(zip(paths, frames))


def expected_apex(frame: np.ndarray, size: int) -> np.ndarray:
    """The apex frame in [0, 1] minus its mean, area-resized to ``size`` squared."""
    grey = frame.astype(np.float32) / 255.0
    return cv2.resize(grey - grey.mean(), (size, size), interpolation=cv2.INTER_AREA)


def test_apex_channel_is_the_resized_annotated_apex_frame():
    onset = texture(seed=1)
    frames = [onset, shifted(onset, 1.0), shifted(onset, -2.0, 1.0), texture(seed=2)]
    sample, lookup = clip(frames, apex=2)
    out = FlowPreprocessor(options())(sample, lookup.__getitem__, None)
    assert out.shape == (3, 16, 16) and out.dtype == np.float32
    np.testing.assert_allclose(out[2], expected_apex(frames[2], 16), atol=1e-6)
    # The annotated apex, not the middle frame (1) nor any other.
    assert not np.allclose(out[2], expected_apex(frames[1], 16), atol=1e-3)
    # Centred: its mean is 0 up to resizing, like the flow planes.
    assert abs(float(out[2].mean())) < 1e-3


def test_apex_channel_does_not_change_the_flow_planes():
    onset = texture(seed=4)
    sample, lookup = clip([onset, shifted(onset, 1.5, -0.5)], apex=1)
    with_apex = FlowPreprocessor(options())(sample, lookup.__getitem__, None)
    flow_only = FlowPreprocessor(options(channels=["u", "v"]))(sample, lookup.__getitem__, None)
    np.testing.assert_array_equal(with_apex[:2], flow_only)
    alone = FlowPreprocessor(options(channels=["apex"]))(sample, lookup.__getitem__, None)
    assert alone.shape == (1, 16, 16)
    np.testing.assert_array_equal(alone[0], with_apex[2])


def test_apex_frame_of_another_size_is_aligned_to_the_onset_first():
    onset = texture(size=64, seed=5)
    apex = cv2.resize(shifted(onset, 1.0), (96, 80), interpolation=cv2.INTER_CUBIC)
    sample, lookup = clip([onset, apex], apex=1)
    out = FlowPreprocessor(options(channels=["u", "v", "strain", "apex"], size=28))(sample, lookup.__getitem__, None)
    assert out.shape == (4, 28, 28)
    aligned = cv2.resize(apex, (64, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(out[3], expected_apex(aligned, 28), atol=1e-6)


def _chain(channels: str):
    registry = get_registry()
    config = resolve_config(registry, model="convmixer", dataset="synthetic", profile="quick",
                            sets={"flow.method": "dis", "flow.channels": channels})
    return build_chain([registry.get("preprocessors", name) for name in config.preprocess], config.sections,
                       builtin=[True] * len(config.preprocess))  # flow's own key: its cache_params() alone


def test_apex_channel_changes_the_cache_key(tmp_path):
    onset = texture(seed=6)
    paths = []
    for index, frame in enumerate([onset, shifted(onset, 1.0)]):
        paths.append(tmp_path / f"f{index}.png")
        cv2.imwrite(str(paths[-1]), frame)
    sample = Sample(id="clip", subject="s01", label=0, domain="test", frames=tuple(paths), onset=0, apex=1, offset=1)
    keys = {channels: entry_key(_chain(channels), sample)[0] for channels in ("u,v", "u,v,apex", "u,v,strain",
                                                                              "u,v,strain,apex")}
    assert len(set(keys.values())) == 4
    assert _chain("u,v,apex").steps[-1].channels == ("u", "v", "apex")


@pytest.mark.parametrize("channels", [["u", "v", "apx"], ["Apex"], ["u", "onset"]])
def test_a_bad_channel_name_is_still_a_clear_usage_error(channels):
    with pytest.raises(UsageError, match=r"flow\.channels=.*choose from u, v, strain, magnitude, apex"):
        FlowPreprocessor(options(channels=channels))


def test_a_bad_channel_name_from_the_command_line_is_a_usage_error():
    with pytest.raises(UsageError, match=r"flow\.channels=apx: choose one of u, v, strain, magnitude, apex; did you mean apex"):
        _chain("u,v,apx")
