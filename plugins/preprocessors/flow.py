"""Preprocessor ``flow``: onset→apex optical flow (u, v) and optical strain.

Output channels (``flow.channels``, default ``u,v,strain``; also ``magnitude``
and ``apex``), resized to ``flow.size`` × ``flow.size`` (any size from 4; 28,
64, 112 and 224 are the usual ones). Normalisation, documented once here:

* ``u``, ``v`` are displacements in pixels of the *output* grid (the flow of the
  working frame, below, times ``size / its width`` and ``size / its height``),
  so magnitudes do not depend on the source resolution;
* with ``flow.subtract_median`` (default on), the median flow of the frame is
  removed first, cancelling global head drift;
* ``strain`` is the optical-strain magnitude sqrt(exx² + eyy² + 2·exy²) of the
  working frame's flow, dimensionless, averaged down to the output size;
* the flow is computed on frames whose longer side is at most ``flow.work_size``
  pixels (default 128, ``quick`` 64, ``paper`` 0: as they are): larger frames are
  area-resized first, keeping their aspect ratio. With TV-L1 a whole 640×480
  frame pair takes about 5.0 s per clip on one core, at 128×96 0.24 s (20×,
  ``pytest benchmarks/test_bench_flow.py -k whole``); frames of the synthetic
  data (64 px) and face crops up to that size are not touched;
* ``apex`` is the apex grey frame itself (appearance beside the motion), aligned
  and resized as the flow planes are: grey levels divided by 255, minus the
  frame's own mean, so it is centred near 0 like the flow (``u,v,apex`` gives
  ConvMixer flow and apex in one input).

No per-sample min-max scaling is applied; the engine standardises channels
with statistics of each fold's training samples only. When a sample has no apex
annotation the middle frame between onset and offset is used, and the run
records how many clips used that rule. After frame steps (``crop``, ``apex``,
``magnify``) the flow is computed on their frames and with their apex.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from merbench.contracts import ClipFrames, PreprocessorPlugin, Sample
from merbench.datafiles import SKIP_CLIP, STRAIN_SIZE_FIX, strain_size_problem
from merbench.errors import DataError, UsageError
from merbench.hookspecs import hookimpl

METHODS = ("auto", "tvl1", "dis", "farneback")
CHANNELS = ("u", "v", "strain", "magnitude", "apex")


def tvl1_available() -> bool:
    """True when OpenCV's contrib module with TV-L1 flow is installed."""
    return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")


def resolve_method(method: str) -> str:
    """Turn ``auto`` into the best available method; reject unknown or missing ones."""
    if method not in METHODS:
        raise UsageError(f"flow.method={method}: choose one of {', '.join(METHODS)}")
    if method == "auto":
        return "tvl1" if tvl1_available() else "dis"
    if method == "tvl1" and not tvl1_available():
        raise UsageError(
            "flow.method=tvl1 needs OpenCV's contrib module (cv2.optflow): "
            "pip install opencv-contrib-python-headless, or use --set flow.method=dis"
        )
    return method


def make_flow_function(method: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function (prev, next) -> (H, W, 2) float32 flow for a resolved method."""
    if method == "tvl1":
        solver = cv2.optflow.DualTVL1OpticalFlow_create()
        return lambda prev, nxt: solver.calc(prev, nxt, None)
    if method == "dis":
        solver = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda prev, nxt: solver.calc(prev, nxt, None)
    if method == "farneback":
        return lambda prev, nxt: cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, 3, 9, 3, 5, 1.1, 0)
    raise UsageError(f"flow method '{method}' is not resolved: call resolve_method() first")


DIS_MIN_SIDES = (8, 12)
"""The smallest frames OpenCV's DIS flow takes: both sides at least 8 pixels and one of them at least 12 (checked for
every size up to 40×40 with OpenCV 4.14)."""


def check_dis_size(frame: np.ndarray, sample: Sample, option: str, other: str) -> None:
    """``DataError`` when ``frame`` is too small for DIS flow, naming the sample, the ``option`` that chose DIS and
    the ``other`` choice that works at that size."""
    height, width = frame.shape[:2]
    shorter, longer = DIS_MIN_SIDES
    if min(height, width) < shorter or max(height, width) < longer:
        raise DataError(f"sample {sample.id} ({sample.frames[sample.onset]}): its frames are {width}×{height} pixels, "
                        f"and DIS optical flow ({option}) needs both sides of at least {shorter} pixels and one of at "
                        f"least {longer}: use --set {other}, or larger frames")


def check_strain_size(frame: np.ndarray, working: np.ndarray, sample: Sample, channels: Sequence[str],
                      work_size: int, stepped: bool = False) -> None:
    """``DataError`` when the ``working`` frame (``frame`` after ``working_frames``) is too thin for optical strain,
    naming the sample, its first file and the frames' size (and what ``flow.work_size`` made of it); ``stepped``: the
    frames are those of the steps before ``flow`` (``crop``), not the files'."""
    problem = strain_size_problem(*working.shape[:2])
    if problem is None:
        return
    height, width = frame.shape[:2]
    shrunk = f"{width}×{height} pixels, shrunk by flow.work_size={work_size} to " if frame.shape != working.shape else ""
    fix = STRAIN_SIZE_FIX.format(channels=",".join(c for c in channels if c != "strain") or "u,v")
    keep = ", or keep their size (--set flow.work_size=0)" if shrunk and strain_size_problem(height, width) is None else ""
    frames = "its frames as the steps before flow left them" if stepped else "its frames"
    raise DataError(f"sample {sample.id} ({sample.frames[sample.onset]}): {frames} are {shrunk}{problem}: "
                    f"{fix}{keep}{SKIP_CLIP}")


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Optical-strain magnitude of an (H, W, 2) flow field."""
    du_dy, du_dx = np.gradient(flow[..., 0])
    dv_dy, dv_dx = np.gradient(flow[..., 1])
    shear = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx**2 + dv_dy**2 + 2.0 * shear**2).astype(np.float32)


def working_frames(onset: np.ndarray, apex: np.ndarray, work_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The onset and apex frames the flow is computed on: area-resized, keeping their aspect ratio, so that the
    longer side is ``work_size`` when it is longer than that (``flow.work_size``; 0: as they are)."""
    height, width = onset.shape[:2]
    if work_size <= 0 or max(height, width) <= work_size:
        return onset, apex
    scale = work_size / max(height, width)
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    return (cv2.resize(onset, shape, interpolation=cv2.INTER_AREA),
            cv2.resize(apex, shape, interpolation=cv2.INTER_AREA))


def apex_index(sample: Sample) -> int:
    """The annotated apex, or the middle frame between onset and offset."""
    if sample.apex is not None:
        return sample.apex
    return (sample.onset + sample.offset) // 2


class FlowPreprocessor:
    """Onset→apex flow features of one clip (see the module docstring)."""

    def __init__(self, options: dict[str, Any]):
        self.method = resolve_method(str(options["method"]))
        self.method_option = f"flow.method={options['method']}" + (" (DIS here)" if options["method"] == "auto" else "")
        self.size = int(options["size"])
        if self.size < 4:
            raise UsageError(f"flow.size={self.size}: must be at least 4 pixels")
        self.channels = tuple(options["channels"])
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown or not self.channels:
            raise UsageError(f"flow.channels={','.join(self.channels)}: choose from {', '.join(CHANNELS)}")
        self.subtract_median = bool(options["subtract_median"])
        self.work_size = int(options.get("work_size", 0))
        if 0 < self.work_size < DIS_MIN_SIDES[1]:
            raise UsageError(f"flow.work_size={self.work_size}: give 0 (frames as they are) or at least "
                             f"{DIS_MIN_SIDES[1]} pixels, the longer side of the frames the flow is computed on")
        self._flow: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    def cache_params(self) -> dict[str, Any]:
        """Everything that changes this preprocessor's output."""
        return {
            "method": self.method,
            "size": self.size,
            "channels": list(self.channels),
            "subtract_median": self.subtract_median,
            "work_size": self.work_size,
            "opencv": cv2.__version__,
        }

    def inputs(self, sample: Sample) -> list[Path]:
        """The onset and apex frame files of ``sample``."""
        return [sample.frames[sample.onset], sample.frames[apex_index(sample)]]

    def run_details(self, samples: Sequence[Sample]) -> dict[str, Any]:
        """What the run should record about this step over ``samples``."""
        without_apex = sum(sample.apex is None for sample in samples)
        rule = "annotated" if not without_apex else f"middle frame for {without_apex} of {len(samples)} clips without apex"
        return {"flow_method": self.method, "apex_rule": rule}

    def flow(self, onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
        """Raw (H, W, 2) flow from the onset to the apex frame."""
        if self._flow is None:
            self._flow = make_flow_function(self.method)
        return self._flow(onset, apex)

    def __call__(self, sample: Sample, read_frame: Callable[[Path], np.ndarray], upstream: Any = None) -> np.ndarray:
        clip = ClipFrames.of(sample, read_frame, upstream)
        onset, apex = clip.read(sample.onset), clip.read(clip.apex)
        if onset.shape != apex.shape:
            apex = cv2.resize(apex, (onset.shape[1], onset.shape[0]), interpolation=cv2.INTER_AREA)
        given = onset
        onset, apex = working_frames(onset, apex, self.work_size)
        if self.method == "dis":
            check_dis_size(onset, sample, self.method_option, "flow.method=farneback")
        if "strain" in self.channels:
            check_strain_size(given, onset, sample, self.channels, self.work_size, upstream is not None)
        flow = self.flow(onset, apex)
        if self.subtract_median:
            flow = flow - np.median(flow.reshape(-1, 2), axis=0)
        height, width = onset.shape
        u = flow[..., 0] * (self.size / width)
        v = flow[..., 1] * (self.size / height)
        planes = {"u": u, "v": v}
        if "strain" in self.channels:
            planes["strain"] = optical_strain(flow)
        if "magnitude" in self.channels:
            planes["magnitude"] = np.hypot(u, v)
        if "apex" in self.channels:
            grey = apex.astype(np.float32) / 255.0
            planes["apex"] = grey - grey.mean()
        out = [
            cv2.resize(planes[name].astype(np.float32), (self.size, self.size), interpolation=cv2.INTER_AREA)
            for name in self.channels
        ]
        return np.stack(out).astype(np.float32)


@hookimpl
def merbench_register_preprocessors(register):
    """Register the ``flow`` preprocessor."""
    register(
        PreprocessorPlugin(
            name="flow",
            build=FlowPreprocessor,
            description="Onset→apex optical flow u, v and optical strain (TV-L1, DIS or Farneback), resized",
            accepts=("frames",),
            produces="flow-uvs",
            version="2",
            options={"method": "auto", "size": 32, "channels": ["u", "v", "strain"], "subtract_median": True,
                     "work_size": 128},
            option_ranges={"method": METHODS, "size": "[4, 1024]", "channels": CHANNELS, "work_size": "[0, 8192]"},
            profiles={"quick": {"size": 16, "work_size": 64}, "default": {"size": 32}, "paper": {"size": 112, "work_size": 0}},
        )
    )
