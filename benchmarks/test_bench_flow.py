"""Optical-flow extraction time per clip, for each flow method of the ``flow`` preprocessor.

One synthetic 64×64 clip of 16 frames is generated in memory; each round runs the
whole preprocessor on it (onset→apex flow, median subtraction, optical strain,
resizing to the default output size), as preprocessing does for every sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from merbench.contracts import Sample
from merbench_plugins.datasets import synthetic_faces as faces
from merbench_plugins.preprocessors.flow import FlowPreprocessor, tvl1_available

SIZE = 64
N_FRAMES = 16


@pytest.fixture(scope="module")
def clip() -> faces.Clip:
    """One generated clip (seeded, so every run measures the same pixels)."""
    subject = faces.make_subject(seed=0, index=0)
    return faces.make_clip(subject, clip_index=0, seed=0, size=SIZE, n_frames=N_FRAMES)


@pytest.mark.parametrize("method", ["tvl1", "dis", "farneback"])
def test_flow_per_clip(benchmark, record_rate, registry, clip, method):
    if method == "tvl1" and not tvl1_available():
        pytest.skip("TV-L1 needs opencv-contrib (cv2.optflow)")
    spec = registry.get("preprocessors", "flow")
    options = {**spec.options, **spec.profiles.get("default", {}), "method": method}
    preprocessor = FlowPreprocessor(options)

    frames = {Path(f"memory/img_{i:03d}.png"): frame for i, frame in enumerate(clip.frames)}
    sample = Sample(
        id="bench_clip",
        subject="s01",
        label=clip.label,
        domain="synthetic",
        frames=tuple(frames),
        onset=clip.onset,
        apex=clip.apex,
        offset=clip.offset,
    )

    def extract() -> np.ndarray:
        return preprocessor(sample, frames.__getitem__, None)

    output = benchmark.pedantic(extract, rounds=20, iterations=1, warmup_rounds=2)

    size = int(options["size"])
    assert output.shape == (len(options["channels"]), size, size)
    assert output.dtype == np.float32
    assert np.isfinite(output).all()
    assert np.abs(output).max() > 0, "a clip with a micro-expression must give non-zero flow"
    benchmark.extra_info.update({"method": method, "frame_size": SIZE, "output_size": size})
    record_rate("clips_per_second", 1)


@pytest.mark.parametrize("work_size", [0, 128], ids=["full-frame", "work-size-128"])
def test_tvl1_on_a_whole_camera_frame(benchmark, record_rate, registry, clip, work_size):
    """TV-L1 on a 640×480 frame pair (a raw CASME II or SMIC frame, not a face crop), as it is and at the default
    ``flow.work_size``: run both and compare their rates (docs/preprocessing.md quotes the ratio)."""
    import cv2

    if not tvl1_available():
        pytest.skip("TV-L1 needs opencv-contrib (cv2.optflow)")
    spec = registry.get("preprocessors", "flow")
    preprocessor = FlowPreprocessor({**spec.options, "method": "tvl1", "work_size": work_size})
    big = {Path(f"memory/whole_{i:03d}.png"): cv2.resize(frame, (640, 480), interpolation=cv2.INTER_CUBIC)
           for i, frame in enumerate(clip.frames)}
    sample = Sample(id="whole", subject="s01", label=clip.label, domain="synthetic", frames=tuple(big),
                    onset=clip.onset, apex=clip.apex, offset=clip.offset)
    output = benchmark.pedantic(lambda: preprocessor(sample, big.__getitem__, None), rounds=3, iterations=1,
                                warmup_rounds=1)
    assert np.isfinite(output).all()
    benchmark.extra_info.update({"frame": "640x480", "work_size": work_size})
    record_rate("clips_per_second", 1)
