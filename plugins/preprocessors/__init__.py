"""Preprocessor plugins beyond optical flow: face crop, apex choice, apex frames, motion magnification.

``crop``, ``apex`` and ``magnify`` are frame steps: they take and give frames
(``merbench.contracts.ClipFrames``) and go before a step that makes model input
(``flow`` or ``apex-frame``), e.g. ``--set preprocess=crop,apex,magnify,flow``.
Factories are lazy ``"module:attr"`` strings so listing plugins imports nothing.
"""

from merbench.contracts import PreprocessorPlugin
from merbench.hookspecs import hookimpl

_HERE = "merbench_plugins.preprocessors"

# Accepted values, declared here (a light module) so that the specs can name them without importing OpenCV.
CROP_DETECTORS = ("auto", "haar", "centre", "none")
CROP_FALLBACKS = ("centre", "none")
APEX_RULES = ("middle", "motion-peak")
APEX_MEASURES = ("flow", "difference")
APEX_FRAME_CHANNELS = ("apex", "onset", "difference")
# Upper bounds of magnify: far above the factors of Wu et al. (alpha 5-150) and of micro-expression studies (tens at
# most), and a blur wider than any face crop; they refuse a typo (alpha=1e300 saturates every frame, and
# sigma=1e6 makes OpenCV build a kernel of millions of taps that cannot be interrupted).
MAGNIFY_MAX_ALPHA = 1000
MAGNIFY_MAX_SIGMA = 64


@hookimpl
def merbench_register_preprocessors(register):
    """Register ``crop``, ``apex``, ``apex-frame`` and ``magnify``."""
    register(
        PreprocessorPlugin(
            name="crop",
            build=f"{_HERE}.crop:CropPreprocessor",
            description="Square face crop with margin, one box per clip from the onset frame (Haar cascade, else centre)",
            produces="frames",
            options={"detector": "auto", "fallback": "centre", "margin": 0.2, "min_face": 0.3, "cascade": ""},
            option_ranges={"detector": CROP_DETECTORS, "fallback": CROP_FALLBACKS, "margin": "[0, 1]",
                           "min_face": "(0, 1]", "cascade": "file"},
            reads_apex=False,
        )
    )
    register(
        PreprocessorPlugin(
            name="apex",
            build=f"{_HERE}.apex:ApexPreprocessor",
            description="Apex for clips without one (SMIC): middle frame or motion peak from onset",
            produces="frames",
            options={"rule": "middle", "measure": "flow", "override": False},
            option_ranges={"rule": APEX_RULES, "measure": APEX_MEASURES},
            sets_apex=True,
            reads_apex=False,
        )
    )
    register(
        PreprocessorPlugin(
            name="magnify",
            build=f"{_HERE}.magnify:MagnifyPreprocessor",
            description="Linear Eulerian motion magnification (factor alpha, temporal band) before flow",
            produces="frames",
            version="2",  # 2: a clip too short for any frequency of the band is noted as unchanged
            options={"alpha": 8.0, "band": [0.05, 0.4], "sigma": 2.0},
            option_ranges={"alpha": f"[0, {MAGNIFY_MAX_ALPHA}]", "band": "[0, 0.5]", "sigma": f"[0, {MAGNIFY_MAX_SIGMA}]"},
            reads_apex=False,
        )
    )
    register(
        PreprocessorPlugin(
            name="apex-frame",
            build=f"{_HERE}.apex_frame:ApexFramePreprocessor",
            description="Apex (and onset, difference) grey frames scaled to 0..1, for appearance models",
            produces="apex-grey",
            options={"size": 64, "channels": ["apex"]},
            option_ranges={"size": "[4, 1024]", "channels": APEX_FRAME_CHANNELS},
            profiles={"quick": {"size": 16}, "default": {"size": 32}, "paper": {"size": 112}},
        )
    )
