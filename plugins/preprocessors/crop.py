"""Preprocessor ``crop``: a square face crop with a margin, one box per clip.

The box is found once per clip, on the onset frame, and the same box cuts every
frame, so the crop itself adds no motion. Detectors (``crop.detector``):

* ``auto`` (default): OpenCV's Haar frontal-face cascade when its XML file is
  installed (``cv2.data.haarcascades``, shipped by the OpenCV 4 wheels; OpenCV 5
  wheels no longer carry it) or given with ``crop.cascade=PATH``; otherwise the
  centre crop. Nothing is downloaded.
* ``haar``: the cascade, or an error saying how to get one.
* ``centre``: the largest centred square.
* ``none``: frames pass unchanged (datasets that ship cropped faces, such as
  CASME II's ``Cropped`` release).

When the detector finds no face, ``crop.fallback`` (``centre`` or ``none``)
applies. Each clip's choice and box are recorded in the run's details.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from merbench.contracts import ClipFrames, Sample
from merbench.errors import UsageError

from merbench_plugins.preprocessors import CROP_DETECTORS as DETECTORS, CROP_FALLBACKS as FALLBACKS

CASCADE_FILE = "haarcascade_frontalface_default.xml"

Box = tuple[int, int, int]  # x, y, side


def installed_cascade() -> Path | None:
    """OpenCV's frontal-face Haar cascade shipped inside the opencv package, if any."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    candidate = Path(folder) / CASCADE_FILE if folder else None
    return candidate if candidate is not None and candidate.is_file() else None


def load_cascade(path: Path, given: str) -> Any:
    """The Haar cascade classifier in ``path``, or a ``UsageError`` when OpenCV cannot load it (``given``: the
    ``crop.cascade`` value, empty for OpenCV's installed cascade)."""
    try:
        classifier = cv2.CascadeClassifier(str(path))
        loaded = not classifier.empty()
    except (cv2.error, SystemError):  # OpenCV raises SystemError on a file that is no cascade XML
        loaded = False
    if loaded:
        return classifier
    fix = ("give the path of an OpenCV Haar cascade XML file such as haarcascade_frontalface_default.xml "
           "(cv2.data.haarcascades, or OpenCV's data/haarcascades), or use crop.detector=centre")
    if given:
        raise UsageError(f"crop.cascade={given}: not a Haar cascade XML file (OpenCV could not load it); {fix}")
    raise UsageError(f"OpenCV's installed Haar cascade {path} could not be loaded; give another with "
                     "--set crop.cascade=PATH, or use crop.detector=centre")


def square_box(x: float, y: float, w: float, h: float, margin: float, width: int, height: int) -> Box:
    """A square around the (x, y, w, h) face, grown by ``margin`` of its side on each side, kept inside the frame."""
    side = int(round(max(w, h) * (1.0 + 2.0 * margin)))
    side = max(1, min(side, width, height))
    cx, cy = x + w / 2.0, y + h / 2.0
    x0 = int(round(cx - side / 2.0))
    y0 = int(round(cy - side / 2.0))
    return min(max(x0, 0), width - side), min(max(y0, 0), height - side), side


def centre_box(width: int, height: int) -> Box:
    """The largest square centred in a ``width`` × ``height`` frame."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


class CropPreprocessor:
    """Square face crop of every frame with one box per clip (see the module docstring)."""

    def __init__(self, options: dict[str, Any]):
        self.detector = str(options["detector"])
        self.fallback = str(options["fallback"])
        self.margin = float(options["margin"])
        self.min_face = float(options["min_face"])
        if self.detector not in DETECTORS:
            raise UsageError(f"crop.detector={self.detector}: choose one of {', '.join(DETECTORS)}")
        if self.fallback not in FALLBACKS:
            raise UsageError(f"crop.fallback={self.fallback}: choose one of {', '.join(FALLBACKS)}")
        if not 0.0 <= self.margin <= 1.0:
            raise UsageError(f"crop.margin={self.margin}: give a fraction of the face size between 0 and 1")
        if not 0.0 < self.min_face <= 1.0:
            raise UsageError(f"crop.min_face={self.min_face}: give a fraction of the frame between 0 and 1")
        cascade = str(options["cascade"])
        self.cascade: Path | None = None
        if cascade:
            self.cascade = Path(cascade).expanduser()
            if not self.cascade.is_file():
                raise UsageError(f"crop.cascade={cascade}: no such file; give the path of a Haar cascade XML file")
        elif self.detector in ("auto", "haar"):
            self.cascade = installed_cascade()
        if self.detector == "haar" and self.cascade is None:
            raise UsageError(
                f"crop.detector=haar needs OpenCV's {CASCADE_FILE}, which this OpenCV does not ship "
                "(cv2.data.haarcascades is empty; OpenCV 5 wheels dropped it): give one with --set crop.cascade=PATH, "
                "or use crop.detector=centre (or none for datasets with cropped faces)"
            )
        self.method = "haar" if self.detector in ("auto", "haar") and self.cascade is not None else (
            "centre" if self.detector == "auto" else self.detector
        )
        # Loaded now, so that a file that is no cascade is refused before any sample is cropped.
        self._classifier: Any = load_cascade(self.cascade, cascade) if self.method == "haar" and self.cascade else None

    def cache_params(self) -> dict[str, Any]:
        """Everything that changes this preprocessor's output (the cascade by its content; the margin only around a
        detected face, so ``centre`` and ``none`` share entries whatever ``crop.margin`` says)."""
        params: dict[str, Any] = {"method": self.method}
        if self.method == "haar":
            assert self.cascade is not None
            params.update(
                margin=self.margin,
                fallback=self.fallback,
                min_face=self.min_face,
                cascade_sha256=hashlib.sha256(self.cascade.read_bytes()).hexdigest(),
                opencv=cv2.__version__,
            )
        return params

    def inputs(self, sample: Sample) -> list[Path]:
        """The onset frame, on which the box is found."""
        return [sample.frames[sample.onset]]

    def run_details(self, samples: Sequence[Sample]) -> dict[str, Any]:
        """The detector used (per-clip choices are in ``crop_counts``)."""
        detector = f"haar ({self.cascade.name})" if self.method == "haar" and self.cascade else self.method
        if self.detector == "auto" and self.method != "haar":
            detector += " (auto: no Haar cascade installed)"
        return {"crop_detector": detector}

    def detect(self, frame: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Faces (x, y, w, h) found in a grey frame by the Haar cascade."""
        if self._classifier is None:
            self._classifier = load_cascade(self.cascade, str(self.cascade))
        smallest = max(8, int(self.min_face * min(frame.shape)))
        found = self._classifier.detectMultiScale(frame, scaleFactor=1.1, minNeighbors=4, minSize=(smallest, smallest))
        return [tuple(int(v) for v in box) for box in found]

    def box(self, frame: np.ndarray) -> tuple[Box | None, str]:
        """The clip's box from its onset frame (``None``: no crop) and how it was chosen."""
        height, width = frame.shape[:2]
        if self.method == "none":
            return None, "none"
        if self.method == "centre":
            return centre_box(width, height), "centre"
        faces = self.detect(frame)
        if faces:
            x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
            return square_box(x, y, w, h, self.margin, width, height), "haar"
        if self.fallback == "centre":
            return centre_box(width, height), "centre (no face found)"
        return None, "none (no face found)"

    def __call__(self, sample: Sample, read_frame: Callable[[Path], np.ndarray], upstream: Any = None) -> ClipFrames:
        clip = ClipFrames.of(sample, read_frame, upstream)
        box, how = self.box(clip.read(sample.onset))
        if box is None:
            return clip.derive(crop=how)
        x, y, side = box

        def read(index: int) -> np.ndarray:
            return np.ascontiguousarray(clip.read(index)[y : y + side, x : x + side])

        return clip.derive(read=read, crop=how, crop_box=[x, y, side])
