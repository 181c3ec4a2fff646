"""``flow.work_size``: frames whose longer side is above it are area-resized to it (aspect ratio kept) before the
flow, so a whole 640×480 camera frame costs what a 128×96 one does; smaller frames are untouched, so the synthetic
data's inputs are the same as before the option."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from merbench.contracts import Sample
from merbench.registry import get_registry
from merbench_plugins.preprocessors.flow import FlowPreprocessor, working_frames
from motion_images import shifted, texture


def _clip(width: int, height: int) -> tuple[Sample, dict[Path, np.ndarray]]:
    onset = cv2.resize(texture(size=128, seed=3), (width, height), interpolation=cv2.INTER_CUBIC)
    apex = cv2.resize(shifted(texture(size=128, seed=3), 1.0), (width, height), interpolation=cv2.INTER_CUBIC)
    paths = (Path("/nonexistent/onset.png"), Path("/nonexistent/apex.png"))
    sample = Sample(id="clip", subject="s01", label=0, domain="test", frames=paths, onset=0, apex=1, offset=1)
    return sample, dict(zip(paths, (onset, apex)))


def _flow(work_size: int, sample: Sample, frames: dict) -> np.ndarray:
    options = {"method": "dis", "size": 16, "channels": ["u", "v", "strain"], "subtract_median": True,
               "work_size": work_size}
    return FlowPreprocessor(options)(sample, frames.__getitem__, None)


def test_frames_no_larger_than_the_work_size_are_untouched():
    sample, frames = _clip(64, 64)
    np.testing.assert_array_equal(_flow(64, sample, frames), _flow(0, sample, frames))
    np.testing.assert_array_equal(_flow(128, sample, frames), _flow(0, sample, frames))


def test_larger_frames_are_resized_to_the_work_size_keeping_their_aspect_ratio():
    sample, frames = _clip(640, 480)
    onset, apex = working_frames(frames[sample.frames[0]], frames[sample.frames[1]], 128)
    assert onset.shape == apex.shape == (96, 128)
    by_hand = {path: cv2.resize(frame, (128, 96), interpolation=cv2.INTER_AREA) for path, frame in frames.items()}
    np.testing.assert_array_equal(_flow(128, sample, frames), _flow(0, sample, by_hand))
    assert not np.array_equal(_flow(128, sample, frames), _flow(0, sample, frames))


def test_the_default_and_quick_profiles_cap_the_frames_and_paper_keeps_them_whole():
    spec = get_registry().get("preprocessors", "flow")
    assert spec.options["work_size"] == 128
    assert spec.profiles["quick"]["work_size"] == 64 and spec.profiles["paper"]["work_size"] == 0
    assert get_registry().get("datasets", "synthetic").options["size"] <= spec.options["work_size"]


def test_a_work_size_below_the_smallest_frame_the_flow_takes_is_refused(run_cli):
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--set", "flow.work_size=8")
    assert result.code == 2, result.out + result.err
    assert ("flow.work_size=8: give 0 (frames as they are) or at least 12 pixels, the longer side of the frames the "
            "flow is computed on") in " ".join(result.err.split())
