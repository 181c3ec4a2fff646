"""Model ``convmixer``: the CABM-FMER reference (ConvMixer with convolutional attention).

Talib et al., "Convolutional Attention Based Mechanism for Facial
Microexpression Recognition", IEEE Access, 2025, doi:10.1109/ACCESS.2024.3525151
(CABM-FMER). The paper's code and exact hyper-parameters are not public: this
plugin is merbench's documented *reconstruction*. It uses timm's ConvMixer blocks
(patch-embedding stem, residual depthwise convolution, pointwise convolution) and
timm's CBAM parts (channel then spatial attention, or either half) after blocks.
The network is built lazily in ``merbench_plugins.models.convmixer.network`` so that
listing plugins does not import torch.

The default configuration was chosen by a design study on development data
(other subjects than the evaluation data; docs/models.md): a 9×9 depthwise
kernel, CBAM's spatial attention after every block, and the literature's
28×28 u, v flow input (the model asks for ``flow.size=28`` and
``flow.channels=u,v`` in every profile; ``paper`` keeps its 28×28 token grid
with patch 1). Every choice is a named option, so each ablation of the study
is one ``--set``:

* ``attention``: ``cbam`` (channel then spatial), ``channel`` (channel half
  only), ``spatial`` (spatial half only) or ``none``; ``attention_every``: after
  every k-th block (at most ``depth``, so that some block gets attention);
* ``dim``, ``depth``, ``kernel``, ``patch``, ``dropout``;
* input resolution and representation are the flow preprocessor's
  (``flow.size=32``, ``flow.channels=u,v,strain`` give the earlier input).

Named sizes ``convmixer-256-8`` and ``convmixer-768-32`` keep the width/depth
of the ConvMixer paper in ``default`` and ``paper``; the same options apply.

The scores the paper reports were measured with sample-level 10-fold
cross-validation (subjects in train and test), so they are not comparable with
subject-independent protocols; merbench shows them for reference only.
"""

from merbench.contracts import ModelPlugin, ReportedScore
from merbench.hookspecs import hookimpl

PAPER = "Talib et al., IEEE Access 2025, doi:10.1109/ACCESS.2024.3525151"
CONVMIXER = "Trockman, Kolter: Patches Are All You Need?, TMLR 2023"

REPORTED = tuple(
    ReportedScore(dataset, "sample-10fold", metric, value, PAPER + " (abstract; F1 averaging not stated)")
    for dataset, scores in {
        "samm": {"accuracy": 99.73, "precision": 97.3, "recall": 96.5, "f1": 99.0},
        "casme2": {"accuracy": 99.12, "precision": 98.3, "recall": 98.7, "f1": 99.4},
    }.items()
    for metric, value in scores.items()
)


# Upper bounds keep a typo or a wide search from building a network that never finishes: ConvMixer's
# largest published sizes are 1536/20 and 768/32 with kernels up to 9 (Trockman & Kolter), CABM-FMER's a few blocks.
_RANGES = {"dim": "[1, 4096]", "depth": "[1, 64]", "kernel": "[1, 64]", "patch": ">= 1",
           "attention": ("cbam", "channel", "spatial", "none"), "attention_every": "[1, 64]", "dropout": "[0, 1)"}


@hookimpl
def merbench_register_models(register):
    """Register the ``convmixer`` model (CABM-FMER reconstruction)."""
    register(
        ModelPlugin(
            name="convmixer",
            build="merbench_plugins.models.convmixer.network:build_model",
            description="CABM-FMER: ConvMixer + convolutional (CBAM spatial) attention (Talib et al. 2025; reconstruction)",
            input="flow-uvs",
            # Chosen by the design study on development data (docs/models.md, benchmarks/studies/convmixer.json).
            options={"dim": 64, "depth": 4, "kernel": 9, "patch": 2, "attention": "spatial", "attention_every": 1,
                     "dropout": 0.1},
            option_ranges=_RANGES,
            profiles={
                "quick": {"dim": 16, "depth": 2, "kernel": 3, "patch": 2},
                "default": {},
                "paper": {"dim": 256, "depth": 8, "kernel": 9, "patch": 1},
            },
            preprocess_options={"flow": {"size": 28, "channels": ["u", "v"]}},
            citation=PAPER,
            reported=REPORTED,
        )
    )
    # Named ConvMixer sizes (Trockman & Kolter): width/depth are the name in default and paper;
    # quick is a smoke-test size. Both are GPU-sized in default: on a CPU use --profile quick.
    for dim, depth, paper_kernel, paper_patch in ((256, 8, 5, 2), (768, 32, 7, 7)):
        register(
            ModelPlugin(
                name=f"convmixer-{dim}-{depth}",
                build="merbench_plugins.models.convmixer.network:build_model",
                description=f"ConvMixer-{dim}/{depth} with CBAM (CABM-FMER layout at a standard ConvMixer size); GPU-sized",
                input="flow-uvs",
                options={"dim": dim, "depth": depth, "kernel": 5, "patch": 2, "attention": "cbam", "attention_every": 1,
                         "dropout": 0.1},
                option_ranges=_RANGES,
                profiles={
                    "quick": {"dim": 32, "depth": 2, "kernel": 3, "patch": 2},
                    "default": {},
                    "paper": {"kernel": paper_kernel, "patch": paper_patch},
                },
                citation=f"{PAPER}; ConvMixer sizes from {CONVMIXER}",
            )
        )
