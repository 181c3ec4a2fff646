"""Preprocessor ``image``: a precomputed 3-channel image file used as the model input.

For ``manifest`` rows with a ``path`` column (``Dataset.gives == "image"``),
such as the onset→apex flow images that many MER repositories distribute
(u, v and optical strain stored as the three colour channels, usually 28×28 and
min-max scaled to 0..255). The file is decoded in colour, put in ``image.order``
channel order (``rgb``: as image viewers and PIL store them; ``bgr``: OpenCV's
order), resized to ``image.size`` (0 keeps the stored size, which must then be
the same for every file) and scaled to 0..1. It declares ``produces="flow-uvs"``
so flow models take it; the engine standardises channels per training fold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from merbench.contracts import Sample
from merbench.errors import DataError, UsageError
from merbench.datafiles import (IMAGE_BIT_DEPTH_FIX, IMAGE_DECODING, SKIP_CLIP, bit_depth_problem, decode_image,
                                 undecodable)

ORDERS = ("rgb", "bgr")


def read_colour(path: Path) -> np.ndarray:
    """An image file as an (H, W, 3) uint8 array in OpenCV's BGR order, or a DataError naming it (one of more than 8
    bits per channel is refused, not reduced to its high byte)."""
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read image {path} ({exc.strerror}); check the manifest's path column") from None
    image = decode_image(blob, IMAGE_DECODING)
    if image is None:
        raise DataError(f"cannot decode image {path}: the file {undecodable(blob)}; replace it or remove its "
                        f"row{SKIP_CLIP}")
    problem = bit_depth_problem(image)
    if problem:
        raise DataError(f"image {path} {problem}: {IMAGE_BIT_DEPTH_FIX}{SKIP_CLIP}")
    return image


class ImagePreprocessor:
    """Reads one precomputed image per sample (see the module docstring)."""

    def __init__(self, options: dict[str, Any]):
        self.size = int(options["size"])
        self.order = str(options["order"]).lower()
        if self.size < 0 or 0 < self.size < 4:
            raise UsageError(f"image.size={self.size}: use 0 (keep the stored size) or at least 4")
        if self.order not in ORDERS:
            raise UsageError(f"image.order={self.order}: choose rgb or bgr")

    def cache_params(self) -> dict[str, Any]:
        """Everything that changes the output."""
        return {"size": self.size, "order": self.order, "opencv": cv2.__version__}

    def inputs(self, sample: Sample) -> list[Path]:
        """The sample's one image file."""
        if len(sample.frames) != 1:
            raise UsageError(
                f"preprocess=image reads one precomputed image per sample (manifest rows with a path column); "
                f"sample {sample.id} is a clip of {len(sample.frames)} frames: use the default --set preprocess=flow"
            )
        return [sample.frames[0]]

    def run_details(self, samples: Any) -> dict[str, Any]:
        """What the run records about this step."""
        return {"input": f"precomputed images, channel order {self.order}", "apex_rule": "precomputed (not applicable)"}

    def __call__(self, sample: Sample, read_frame: Callable[[Path], np.ndarray], upstream: Any = None) -> np.ndarray:
        image = read_colour(self.inputs(sample)[0])
        if self.order == "rgb":
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if self.size:
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return (np.transpose(image, (2, 0, 1)).astype(np.float32) / 255.0).copy()
