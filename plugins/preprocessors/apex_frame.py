"""Preprocessor ``apex-frame``: grey frames as input for appearance models.

Channels (``apex-frame.channels``): ``apex`` (default), ``onset`` and
``difference`` (apex − onset), each resized to ``apex-frame.size`` squared with
area averaging. Grey levels are divided by 255, so frames lie in 0..1 and the
difference in −1..1; the engine then standardises channels with statistics of
each fold's training samples only. The apex is the annotated one, the middle
frame, or what an ``apex`` step before it chose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from merbench.contracts import ClipFrames, Sample
from merbench.errors import UsageError

from merbench_plugins.preprocessors import APEX_FRAME_CHANNELS as CHANNELS


class ApexFramePreprocessor:
    """The apex (and onset) grey frame of a clip, resized and scaled to 0..1."""

    def __init__(self, options: dict[str, Any]):
        self.channels = tuple(str(c) for c in options["channels"])
        self.size = int(options["size"])
        if not self.channels or any(c not in CHANNELS for c in self.channels):
            raise UsageError(f"apex-frame.channels={','.join(self.channels)}: choose from {', '.join(CHANNELS)}")
        if self.size < 4:
            raise UsageError(f"apex-frame.size={self.size}: must be at least 4 pixels")

    def cache_params(self) -> dict[str, Any]:
        """Everything that changes this preprocessor's output."""
        return {"channels": list(self.channels), "size": self.size, "opencv": cv2.__version__}

    def inputs(self, sample: Sample) -> list[Path]:
        """The onset and (annotated or middle) apex frames."""
        apex = sample.apex if sample.apex is not None else (sample.onset + sample.offset) // 2
        return [sample.frames[sample.onset], sample.frames[apex]]

    def __call__(self, sample: Sample, read_frame: Callable[[Path], np.ndarray], upstream: Any = None) -> np.ndarray:
        clip = ClipFrames.of(sample, read_frame, upstream)
        onset = clip.read(sample.onset)
        apex = clip.read(clip.apex)
        if apex.shape != onset.shape:
            apex = cv2.resize(apex, (onset.shape[1], onset.shape[0]), interpolation=cv2.INTER_AREA)
        planes = {"onset": onset.astype(np.float32) / 255.0, "apex": apex.astype(np.float32) / 255.0}
        planes["difference"] = planes["apex"] - planes["onset"]
        out = [cv2.resize(planes[c], (self.size, self.size), interpolation=cv2.INTER_AREA) for c in self.channels]
        return np.stack(out).astype(np.float32)
