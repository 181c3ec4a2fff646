"""Preprocessor ``magnify``: linear Eulerian motion magnification of the clip.

Following the linear method of Wu et al. (SIGGRAPH 2012), every pixel's grey
level over the frames from onset to offset is filtered in time with an ideal
band-pass (``magnify.band=LOW,HIGH`` in cycles per frame, 0 ≤ LOW < HIGH ≤ 0.5;
multiply by the frame rate for Hz) and the band is added back ``magnify.alpha``
times (at most 1000). Only a spatially smoothed copy is amplified (Gaussian,
``magnify.sigma`` pixels, at most 64; 0 for none), which keeps the first-order
approximation behind the method valid for larger factors. The excluded zero
frequency keeps the clip's mean image; results are rounded and clipped to
0..255 grey levels. Put it before ``flow`` (``--set preprocess=magnify,flow``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from merbench.contracts import ClipFrames, Sample
from merbench.errors import PluginError, UsageError
from merbench.wording import number_text

from merbench_plugins.preprocessors import MAGNIFY_MAX_ALPHA, MAGNIFY_MAX_SIGMA


def in_band(n_frames: int, low: float, high: float) -> np.ndarray:
    """Which temporal frequencies of an ``n_frames`` clip (``np.fft.rfftfreq``, cycles per frame) the band LOW..HIGH
    keeps, never the zero frequency; none for a clip too short to hold one (2 frames hold only 0 and 0.5)."""
    frequencies = np.fft.rfftfreq(n_frames)
    return (frequencies >= low) & (frequencies <= high) & (frequencies > 0)


def band_text(value: Any) -> str:
    """``magnify.band`` as it is typed: ``0.05,0.4``, not a Python list."""
    if isinstance(value, (list, tuple)):
        return ",".join(number_text(v) if isinstance(v, float) else str(v) for v in value)
    return str(value)


def magnify_frames(frames: np.ndarray, alpha: float, low: float, high: float, sigma: float) -> np.ndarray:
    """Linearly magnify the (T, H, W) grey ``frames``; returns uint8 frames of the same shape."""
    stack = frames.astype(np.float32)
    smooth = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in stack]) if sigma > 0 else stack
    spectrum = np.fft.rfft(smooth, axis=0)
    spectrum[~in_band(len(stack), low, high)] = 0
    band = np.fft.irfft(spectrum, n=len(stack), axis=0).astype(np.float32)
    return np.clip(np.rint(stack + alpha * band), 0, 255).astype(np.uint8)


class MagnifyPreprocessor:
    """Magnifies small motions of each clip before flow (see the module docstring)."""

    def __init__(self, options: dict[str, Any]):
        self.alpha = float(options["alpha"])
        self.sigma = float(options["sigma"])
        try:
            self.low, self.high = (float(v) for v in options["band"])
        except (TypeError, ValueError):
            raise UsageError(f"magnify.band={band_text(options['band'])}: give two numbers LOW,HIGH, "
                             "e.g. 0.05,0.4") from None
        if not 0.0 <= self.low < self.high <= 0.5:
            raise UsageError(f"magnify.band={band_text([self.low, self.high])}: need 0 <= LOW < HIGH <= 0.5 "
                             "(cycles per frame)")
        if not 0 <= self.alpha <= MAGNIFY_MAX_ALPHA:
            raise UsageError(f"magnify.alpha={self.alpha:g}: must be in [0, {MAGNIFY_MAX_ALPHA}] (default 8)")
        if not 0 <= self.sigma <= MAGNIFY_MAX_SIGMA:
            raise UsageError(f"magnify.sigma={self.sigma:g}: must be in [0, {MAGNIFY_MAX_SIGMA}] pixels (default 2)")

    def cache_params(self) -> dict[str, Any]:
        """Everything that changes this preprocessor's output: with ``alpha`` 0 (off) the clip as it came, so band
        and sigma stay out of the key and changing them reuses the cached entries."""
        if not self.alpha:
            return {"alpha": 0.0}
        return {"alpha": self.alpha, "band": [self.low, self.high], "sigma": self.sigma, "opencv": cv2.__version__}

    def inputs(self, sample: Sample) -> list[Path]:
        """The frames from onset to offset."""
        return list(sample.frames[sample.onset : sample.offset + 1])

    def __call__(self, sample: Sample, read_frame: Callable[[Path], np.ndarray], upstream: Any = None) -> ClipFrames:
        clip = ClipFrames.of(sample, read_frame, upstream)
        if not self.alpha:
            return clip.derive(magnify="unchanged: alpha 0 is off")
        first = clip.read(sample.onset)
        frames = [clip.read(i) for i in range(sample.onset, sample.offset + 1)]
        # read_frame refuses a frame of another size than the clip's first, and crop cuts every frame with one box:
        # only a plugin's frame step before this one can give several sizes, which resizing would hide.
        other = next((f for f in frames if f.shape != first.shape), None)
        if other is not None:
            raise PluginError(
                f"magnify got frames of several sizes for sample {sample.id} ({first.shape[1]}×{first.shape[0]} and "
                f"{other.shape[1]}×{other.shape[0]}) from the frame step before it in the chain, which must give one "
                "size per clip: fix that step or report it to its plugin's author"
            )
        if not in_band(len(frames), self.low, self.high).any():
            # counted in magnify_counts, so a run of 2-frame clips (onset and apex) does not claim a magnification
            return clip.derive(magnify=f"unchanged: {len(frames)} {'frame holds' if len(frames) == 1 else 'frames hold'} "
                                       f"no frequency of band {self.low:g}-{self.high:g}")
        magnified = magnify_frames(np.stack(frames), self.alpha, self.low, self.high, self.sigma)

        def read(index: int) -> np.ndarray:
            if sample.onset <= index <= sample.offset:
                return magnified[index - sample.onset]
            return clip.read(index)

        return clip.derive(read=read, magnify=f"alpha {self.alpha:g}, band {self.low:g}-{self.high:g}")
