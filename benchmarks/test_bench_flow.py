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
