"""merbench-plugin-example: registers the model ``example-tinycnn``.

Copy this package to start a model plugin (see merbench's CONTRIBUTING.md).
The factory is a lazy ``"module:attr"`` string so that ``merbench list`` does
not import torch until the model is built.
"""

from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    """Register ``example-tinycnn``."""
    register(
        ModelPlugin(
            name="example-tinycnn",
            build="merbench_plugin_example.network:build_model",
            description="Example plugin: two conv layers and a linear head on optical flow",
            input="flow-uvs",
            options={"width": 16, "dropout": 0.1},
            profiles={"quick": {"width": 8}, "default": {}, "paper": {"width": 32}},
            citation="merbench-plugin-example (original work; no paper)",
            preprocess_options={"flow": {"size": 28}},
        )
    )
