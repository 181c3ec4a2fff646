"""A merbench model plugin: the hook below registers one model, a tiny CNN on optical flow.

How to copy and rename it, and what each field means: merbench's CONTRIBUTING.md, section 0.
The factory is a lazy ``"module:attr"`` string so that ``merbench list`` does
not import torch until the model is built.
"""

from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    """Register the model; ``name=`` is what users type after ``--model``."""
    register(
        ModelPlugin(
            name="example-tinycnn",
            build="merbench_plugin_example.network:build_model",
            description="Tiny CNN: two conv layers and a linear head on optical flow",
            input="flow-uvs",
            options={"width": 16, "dropout": 0.1},
            option_ranges={"width": ">= 1", "dropout": "[0, 1)"},
            profiles={"quick": {"width": 8}, "default": {}, "paper": {"width": 32}},
            citation="original work (no paper)",
            preprocess_options={"flow": {"size": 28}},
        )
    )
