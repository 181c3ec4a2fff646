"""Preprocessor ``apex``: choose the apex frame of clips that have none (SMIC).

Rules (``apex.rule``): ``middle`` (default), the frame halfway between onset and
offset; ``motion-peak``, the frame between onset and offset whose motion from the
onset frame is largest. ``apex.measure`` says how motion is measured: ``flow``
(mean magnitude of DIS optical flow after removing the median flow, so head
drift does not count) or ``difference`` (mean absolute grey-level difference
after giving each frame the onset's mean and contrast, so a change of brightness
or gain over the whole frame does not count; uneven lighting does). Annotated apexes are kept unless ``apex.override=true``. The rule and
each clip's chosen frame are recorded in the run's details.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from merbench.contracts import ClipFrames, Sample
from merbench.errors import UsageError

from merbench_plugins.preprocessors import APEX_MEASURES as MEASURES, APEX_RULES as RULES
from merbench_plugins.preprocessors.flow import check_dis_size


def _standardised(frame: np.ndarray) -> np.ndarray:
    """``frame`` with mean 0 and standard deviation 1 (a flat frame: mean 0), so frames differ by what moved, not by
    a camera's gain or the light's brightness."""
    values = frame.astype(np.float32)
    values -= values.mean()
    spread = float(values.std())
    return values / spread if spread > 0 else values


def motion_scores(frames: Sequence[np.ndarray], measure: str) -> np.ndarray:
    """Motion of each frame from the first one (the onset): 0 for the first."""
    onset = frames[0]
    scores = np.zeros(len(frames), dtype=np.float64)
    if measure == "flow":
        solver = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        for t, frame in enumerate(frames[1:], start=1):
            flow = solver.calc(onset, frame, None)
            flow = flow - np.median(flow.reshape(-1, 2), axis=0)
            scores[t] = float(np.hypot(flow[..., 0], flow[..., 1]).mean())
    elif measure == "difference":
        base = _standardised(onset)
        for t, frame in enumerate(frames[1:], start=1):
            scores[t] = float(np.abs(_standardised(frame) - base).mean())
    else:
        raise UsageError(f"apex.measure={measure}: choose one of {', '.join(MEASURES)}")
    return scores


class ApexPreprocessor:
    """Resolves the apex index that later steps (flow, apex-frame) use."""

    def __init__(self, options: dict[str, Any]):
        self.rule = str(options["rule"])
        self.measure = str(options["measure"])
        self.override = bool(options["override"])
        if self.rule not in RULES:
            raise UsageError(f"apex.rule={self.rule}: choose one of {', '.join(RULES)}")
        if self.measure not in MEASURES:
            raise UsageError(f"apex.measure={self.measure}: choose one of {', '.join(MEASURES)}")

    def cache_params(self) -> dict[str, Any]:
        """Everything that changes which frame is chosen."""
        params: dict[str, Any] = {"rule": self.rule, "override": self.override}
        if self.rule == "motion-peak":
            params.update(measure=self.measure, opencv=cv2.__version__)
            if self.measure == "difference":  # since frames are compared at one mean and contrast
                params["frames"] = "standardised"
        return params

    def applies(self, sample: Sample) -> bool:
        """Whether the rule chooses this clip's apex (no annotation, or override)."""
        return sample.apex is None or self.override

    def inputs(self, sample: Sample) -> list[Path]:
        """The frames the chosen apex depends on, when the rule applies: all from onset to offset (motion peak), or
        the onset and middle frames (middle; the onset first, as the flow step lists it, so that a clip without
        apex keeps its cache key); none when the annotated apex is kept."""
        if not self.applies(sample):
            return []
        if self.rule == "motion-peak":
            return list(sample.frames[sample.onset : sample.offset + 1])
        return [sample.frames[sample.onset], sample.frames[(sample.onset + sample.offset) // 2]]

    def describe(self) -> str:
        """The rule in words."""
        return f"motion-peak ({self.measure})" if self.rule == "motion-peak" else "middle"

    def run_details(self, samples: Sequence[Sample]) -> dict[str, Any]:
        """The apex rule of the run and how many clips it chose for."""
        chosen = sum(self.applies(sample) for sample in samples)
        if not chosen:
            return {"apex_rule": "annotated"}
        scope = "all" if self.override else "without apex"
        return {"apex_rule": f"{self.describe()} for {chosen} of {len(samples)} clips ({scope})"}

    def choose(self, clip: ClipFrames) -> int:
        """The apex index of ``clip`` under the rule."""
        sample = clip.sample
        if self.rule == "middle" or sample.offset <= sample.onset:
            return (sample.onset + sample.offset) // 2
        frames = [clip.read(i) for i in range(sample.onset, sample.offset + 1)]
        shape = frames[0].shape
        frames = [f if f.shape == shape else cv2.resize(f, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) for f in frames]
        if self.measure == "flow":
            check_dis_size(frames[0], sample, "apex.measure=flow", "apex.measure=difference")
        return sample.onset + int(np.argmax(motion_scores(frames, self.measure)))

    def __call__(self, sample: Sample, read_frame: Callable[[Path], np.ndarray], upstream: Any = None) -> ClipFrames:
        clip = ClipFrames.of(sample, read_frame, upstream)
        if not self.applies(sample):
            return clip.derive(apex=sample.apex, apex_rule="annotated")
        apex = self.choose(clip)
        return clip.derive(apex=apex, apex_rule=self.describe())
