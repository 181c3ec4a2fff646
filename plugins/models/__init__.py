"""Baseline model plugins beside the CABM-FMER ConvMixer reference.

``ststnet``, ``offapexnet``, ``dual-inception`` (published MER CNNs on optical
flow), ``timm:<name>`` (any timm architecture) and ``lbptop-svm`` (LBP-TOP
features, registered here as the ``lbptop`` preprocessor, with an SVM). Every
factory is a lazy ``"module:attr"`` string, so listing plugins imports no torch.
Reported scores are the MEGC2019 composite LOSO results as tabulated by the
HTNet paper; they are shown beside measured values, never used as results.
"""

from merbench.contracts import ModelPlugin, PreprocessorPlugin, ReportedScore
from merbench.hookspecs import hookimpl

_HERE = "merbench_plugins.models"
HTNET = "as tabulated in Wang et al., HTNet, Neurocomputing 2024, Table 2"


def megc2019(uf1: float, uar: float, paper: str) -> tuple[ReportedScore, ...]:
    """UF1 and UAR (percent) on the MEGC2019 composite under LOSO, with their source."""
    source = f"{paper}; {HTNET}"
    return (
        ReportedScore("megc2019", "megc2019", "uf1", uf1, source),
        ReportedScore("megc2019", "megc2019", "uar", uar, source),
    )


STSTNET = "Liong, Gan, See, Khor, Huang: Shallow Triple Stream Three-dimensional CNN (STSTNet) for Micro-expression Recognition, IEEE FG 2019 (MEGC2019)"
OFFAPEXNET = "Gan, Liong, Yau, Huang, Tan: OFF-ApexNet on micro-expression recognition system, Signal Processing: Image Communication 74, 2019, doi:10.1016/j.image.2019.02.005"
DUAL_INCEPTION = "Zhou, Mao, Xue: Dual-Inception Network for Cross-Database Micro-Expression Recognition, IEEE FG 2019 (MEGC2019)"
LBPTOP = "Zhao, Pietikäinen: Dynamic Texture Recognition Using Local Binary Patterns with an Application to Facial Expressions, IEEE TPAMI 29(6), 2007"
MEGC2019_SUMMARY = ("See, Yap, Li, Hong, Wang: MEGC 2019 - The Second Facial Micro-Expressions Grand Challenge, "
                    "IEEE FG 2019 (the organisers' LBP-TOP baseline on the composite)")
TIMM = "Wightman: PyTorch Image Models (timm), https://github.com/huggingface/pytorch-image-models, doi:10.5281/zenodo.4414861"

UV_28 = {"flow": {"size": 28, "channels": ["u", "v"]}}

# Upper bounds on sizes keep a typo or a wide search from building a network that never finishes training on a
# CPU; each is far above the published networks (filters 3-16, kernels 3-5, hidden 1024).
CHANNELS = "[1, 1024]"
"""Filters (output channels) of each convolution."""
KERNEL = "[1, 64]"
"""Convolution kernel size."""
HIDDEN = "[1, 8192]"
"""Units of a fully connected layer."""


@hookimpl
def merbench_register_models(register):
    """Register ``ststnet``, ``offapexnet``, ``dual-inception``, the ``timm:`` family and ``lbptop-svm``."""
    register(
        ModelPlugin(
            name="ststnet",
            build=f"{_HERE}.ststnet:build_model",
            description="STSTNet: shallow triple-stream CNN on 28x28 u/v/strain flow (Liong et al. 2019)",
            input="flow-uvs",
            options={"filters": [3, 5, 8], "kernel": 3, "batchnorm": True, "dropout": 0.2},
            option_ranges={"filters": CHANNELS, "kernel": KERNEL, "dropout": "[0, 1)"},
            profiles={"quick": {}, "default": {}, "paper": {}},
            citation=STSTNET,
            reported=megc2019(73.53, 76.05, STSTNET),
            preprocess_options={"flow": {"size": 28, "channels": ["u", "v", "strain"]}},
        )
    )
    register(
        ModelPlugin(
            name="offapexnet",
            build=f"{_HERE}.offapexnet:build_model",
            description="OFF-ApexNet: two CNN streams on 28x28 u and v flow, dense fusion (Gan et al. 2019)",
            input="flow-uvs",
            options={"filters": [6, 16], "kernel": 5, "hidden": 256, "dropout": 0.5},
            option_ranges={"filters": CHANNELS, "kernel": KERNEL, "hidden": HIDDEN, "dropout": "[0, 1)"},
            profiles={"quick": {"hidden": 32}, "default": {}, "paper": {"hidden": 1024}},
            citation=OFFAPEXNET,
            reported=megc2019(71.96, 70.96, OFFAPEXNET),
            preprocess_options=UV_28,
        )
    )
    register(
        ModelPlugin(
            name="dual-inception",
            build=f"{_HERE}.dual_inception:build_model",
            description="Dual-Inception: Inception streams on 28x28 u and v flow (Zhou et al. 2019)",
            input="flow-uvs",
            options={"filters": [6, 16], "hidden": 256, "dropout": 0.5},
            option_ranges={"filters": CHANNELS, "hidden": HIDDEN, "dropout": "[0, 1)"},
            profiles={"quick": {"filters": [4, 8], "hidden": 32}, "default": {}, "paper": {"hidden": 1024}},
            citation=DUAL_INCEPTION,
            reported=megc2019(73.22, 72.78, DUAL_INCEPTION),
            preprocess_options=UV_28,
        )
    )
    register(
        ModelPlugin(
            name="timm:",
            build=f"{_HERE}.timm_backbone:build_model",
            description="Any timm architecture, e.g. timm:resnet18 (stem and head adapted; local pretrained weights only)",
            input="flow-uvs",
            options={"pretrained": False, "weights": "", "drop_rate": 0.0},
            option_ranges={"drop_rate": "[0, 1)", "weights": "file"},
            profiles={"quick": {}, "default": {}, "paper": {}},
            citation=TIMM,
            examples=("timm:resnet18",),
            check_member=f"{_HERE}.timm_backbone:check_name",
            read_files=f"{_HERE}.timm_backbone:read_files",
        )
    )
    register(
        ModelPlugin(
            name="lbptop-svm",
            build=f"{_HERE}.lbptop_svm:build_model",
            description="LBP-TOP histograms (XY, XT, YT planes) with a scikit-learn SVM: the hand-crafted baseline",
            input="lbptop-hist",
            options={"kernel": "linear", "C": 1.0, "class_weight": "balanced"},
            option_ranges={"kernel": ("linear", "rbf", "poly", "sigmoid"), "C": "> 0", "class_weight": ("none", "balanced")},
            profiles={"quick": {}, "default": {}, "paper": {}},
            citation=LBPTOP,
            reported=megc2019(58.82, 57.85, MEGC2019_SUMMARY),  # LBPTOP, the method's paper, predates the composite
            preprocess=("lbptop",),
        )
    )


@hookimpl
def merbench_register_preprocessors(register):
    """Register ``lbptop``, the features of the ``lbptop-svm`` baseline."""
    register(
        PreprocessorPlugin(
            name="lbptop",
            build=f"{_HERE}.lbptop:LbpTopPreprocessor",
            description="LBP-TOP: uniform LBP histograms on XY, XT and YT planes per spatial block, shaped (F,1,1)",
            produces="lbptop-hist",
            options={"size": 64, "frames": 10, "blocks": 4},
            option_ranges={"size": "[8, 1024]", "frames": "[3, 256]", "blocks": "[1, 32]"},
            profiles={"quick": {"size": 32, "frames": 6, "blocks": 2}, "default": {}, "paper": {"size": 128, "frames": 16, "blocks": 5}},
            reads_apex=False,  # frames evenly spaced from onset to offset
        )
    )
