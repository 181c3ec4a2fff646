"""The conformance suite compares a chain's declared ``output_shape()`` with the (C, H, W) it really gives, naming
the preprocessor plugin (``info`` and ``list`` print the declared one)."""

from __future__ import annotations

import pytest

from merbench.registry import Registry
from merbench.testing import check_model
from plugin_sources import MEAN_HEAD_NET

PLUGIN = '''
import numpy as np
import torch
from merbench.contracts import ClipFrames, ModelPlugin, PreprocessorPlugin
from merbench.hookspecs import hookimpl


class Grey:
    def __init__(self, options):
        self.size = int(options["size"])
        self.says = int(options["says"])

    def cache_params(self):
        return {"size": self.size}

    def inputs(self, sample):
        return [sample.frames[sample.onset]]

    def output_shape(self):
        return (self.says, self.size, self.size)

    def __call__(self, sample, read_frame, upstream):
        clip = ClipFrames.of(sample, read_frame, upstream)
        frame = clip.read(sample.onset)[: self.size, : self.size].astype(np.float32) / 255.0
        return frame[None]


''' + MEAN_HEAD_NET + '''

def build(options, in_channels, n_classes, input_size):
    return Net(in_channels, n_classes)


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="grey-one", build=Grey, description="one grey frame", produces="grey-one",
                                options={"size": 16, "says": 1}))


@hookimpl
def merbench_register_models(register):
    for name, says in (("grey-net", 1), ("grey-net-3", 3)):
        register(ModelPlugin(name=name, build=build, description="test model", input="grey-one",
                             preprocess=("grey-one",), preprocess_options={"grey-one": {"says": says}},
                             citation="original work", profiles={"quick": {}, "default": {}, "paper": {}}))
'''


@pytest.fixture
def grey(install_plugin):
    install_plugin("merbench-grey", "grey", "merbench_grey_one", PLUGIN)
    return Registry()


def _findings(registry, name):
    return {f.check: f for f in check_model(name, registry, profiles=("quick",), run=False)}


def test_an_output_shape_that_is_not_the_real_one_fails_naming_the_preprocessor(grey):
    findings = _findings(grey, "grey-net-3")
    assert sorted(check for check, f in findings.items() if not f.passed) == ["[quick] preprocessor output shape"]
    detail = findings["[quick] preprocessor output shape"].detail
    assert "preprocessor plugin 'grey-one'" in detail
    assert "declares output_shape() (3, 16, 16) and gives (1, 16, 16); make output_shape() return" in detail


def test_a_true_output_shape_passes(grey):
    findings = _findings(grey, "grey-net")
    assert all(f.passed for f in findings.values()), findings
    assert findings["[quick] preprocessor output shape"].detail.endswith(
        "declares output_shape() (1, 16, 16) and gives (1, 16, 16)")
