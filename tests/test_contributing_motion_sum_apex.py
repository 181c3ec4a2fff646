"""CONTRIBUTING.md's ``motion-sum`` preprocessor follows the apex a frame step before it chose (``ClipFrames.apex``),
as the built-in ``flow`` and ``apex-frame`` do, not the dataset's annotation."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from merbench.contracts import ClipFrames, Sample

REPO = Path(__file__).resolve().parent.parent


def _motion_sum() -> dict:
    """The namespace of CONTRIBUTING.md's preprocessor block, run as written."""
    text = (REPO / "CONTRIBUTING.md").read_text()
    start = text.index("\n### A preprocessor plugin\n")
    body = text[start:text.index("\n##", start + 5)]
    (block,) = re.findall(r"```python\n(.*?)```", body, re.S)
    namespace: dict = {}
    exec(compile(block, "CONTRIBUTING.md (motion-sum)", "exec"), namespace)
    return namespace


def test_the_motion_sum_template_sums_up_to_the_apex_an_earlier_step_chose():
    frames = tuple(Path(f"img{i}.png") for i in range(8))
    pixels = {path: np.full((8, 8), 100 if i < 5 else 200, dtype=np.uint8) for i, path in enumerate(frames)}
    sample = Sample("s1/c1", "s1", -1, "d", frames, onset=0, apex=2, offset=7)  # still until frame 5
    step = _motion_sum()["MotionSum"]({"size": 8})
    read = pixels.__getitem__
    assert set(frames) <= set(step.inputs(sample)), "an apex step may choose any frame from onset to offset"
    annotated = step(sample, read, None)
    chosen = step(sample, read, ClipFrames.of(sample, read, None).derive(apex=6))
    assert annotated.shape == chosen.shape == step.output_shape()
    assert float(annotated.max()) == 0.0  # onset to the annotated apex 2: no motion
    assert np.allclose(chosen, 100 / 255), "onset to the chosen apex 6 holds the change at frame 5"
