"""Preprocessor ``lbptop``: LBP-TOP histograms of a clip (Zhao & Pietikäinen 2007).

``lbptop.frames`` frames are taken evenly from onset to offset, resized to
``lbptop.size`` × ``lbptop.size`` grey images and stacked into a (T, H, W)
volume. A local binary pattern with 8 neighbours at radius 1 (the square
neighbourhood, no interpolation) is computed in each of the three orthogonal
planes through every interior voxel: XY (appearance), XT and YT (motion). Codes
are mapped to the 59 uniform-pattern bins (58 uniform patterns and one bin for
all others) and histogrammed per spatial block of a ``lbptop.blocks`` ×
``lbptop.blocks`` grid, pooling over time; each histogram sums to 1. The output
is the concatenation, shaped (F, 1, 1) with F = 3 · blocks² · 59, representation
``lbptop-hist``. Written from the method's description; no code was copied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from merbench.contracts import ClipFrames, Sample
from merbench.errors import UsageError

NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
PLANES = {"xy": (1, 2), "xt": (0, 2), "yt": (0, 1)}
"""Each plane's two axes in the (T, H, W) volume."""


def uniform_table() -> np.ndarray:
    """Map each 8-bit LBP code to one of 59 bins (uniform patterns first, 58 = non-uniform)."""
    table = np.full(256, 58, dtype=np.int64)
    next_bin = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code] = next_bin
            next_bin += 1
    return table


UNIFORM = uniform_table()
BINS = 59


def lbp_codes(volume: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
    """8-neighbour LBP codes in the plane of ``axes`` for the interior voxels of ``volume``."""
    shape = volume.shape
    centre = volume[1:-1, 1:-1, 1:-1]
    codes = np.zeros(centre.shape, dtype=np.uint8)
    for bit, (da, db) in enumerate(NEIGHBOURS):
        shift = [0, 0, 0]
        shift[axes[0]], shift[axes[1]] = da, db
        neighbour = volume[tuple(slice(1 + s, n - 1 + s) for s, n in zip(shift, shape))]
        codes |= (neighbour >= centre).astype(np.uint8) << bit
    return codes


def block_histograms(codes: np.ndarray, blocks: int) -> np.ndarray:
    """Uniform-bin histograms per spatial block (pooled over time), each summing to 1."""
    _, height, width = codes.shape
    by = (np.arange(height) * blocks // height)[None, :, None]
    bx = (np.arange(width) * blocks // width)[None, None, :]
    index = (by * blocks + bx) * BINS + UNIFORM[codes]
    counts = np.bincount(index.ravel(), minlength=blocks * blocks * BINS).reshape(blocks * blocks, BINS).astype(np.float32)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)


class LbpTopPreprocessor:
    """LBP-TOP features of one clip (see the module docstring)."""

    def __init__(self, options: dict[str, Any]):
        self.size, self.frames, self.blocks = int(options["size"]), int(options["frames"]), int(options["blocks"])
        if self.size < 8:
            raise UsageError(f"lbptop.size={self.size}: must be at least 8 pixels")
        if self.frames < 3:
            raise UsageError(f"lbptop.frames={self.frames}: LBP-TOP needs at least 3 frames (the XT and YT planes)")
        if not 1 <= self.blocks <= self.size // 4:
            raise UsageError(f"lbptop.blocks={self.blocks}: must be between 1 and lbptop.size/4 ({self.size // 4})")

    def cache_params(self) -> dict[str, Any]:
        """Everything that changes this preprocessor's output."""
        return {"size": self.size, "frames": self.frames, "blocks": self.blocks, "opencv": cv2.__version__}

    def output_shape(self) -> tuple[int, int, int]:
        """The (C, H, W) shape of every output: (3 · blocks² · 59, 1, 1)."""
        return (3 * self.blocks * self.blocks * BINS, 1, 1)

    def indices(self, sample: Sample) -> list[int]:
        """The frame indices used: ``frames`` evenly spaced from onset to offset."""
        return [int(round(i)) for i in np.linspace(sample.onset, sample.offset, self.frames)]

    def run_details(self, samples: Sequence[Sample]) -> dict[str, Any]:
        """How the run's clips filled the ``frames`` time slices: a clip with fewer frames from onset to offset
        repeats some (nearest-frame resampling), so its XT and YT codes compare a frame with itself there."""
        spans = [sample.offset - sample.onset + 1 for sample in samples]
        short = [span for span in spans if span < self.frames]
        text = f"{self.frames} frames evenly spaced from onset to offset"
        if short:
            text += (f"; {len(short)} of {len(spans)} clips span fewer (fewest {min(short)}), so some of their "
                     "frames are used twice")
        return {"lbptop_frames": text}

    def inputs(self, sample: Sample) -> list[Path]:
        """The frame files read for ``sample``."""
        return [sample.frames[i] for i in sorted(set(self.indices(sample)))]

    def __call__(self, sample: Sample, read_frame: Callable[[Path], np.ndarray], upstream: Any = None) -> np.ndarray:
        clip = ClipFrames.of(sample, read_frame, upstream)
        volume = np.stack([
            cv2.resize(clip.read(i), (self.size, self.size), interpolation=cv2.INTER_AREA) for i in self.indices(sample)
        ]).astype(np.int16)
        features = [block_histograms(lbp_codes(volume, axes), self.blocks).ravel() for axes in PLANES.values()]
        return np.concatenate(features).astype(np.float32).reshape(self.output_shape())
