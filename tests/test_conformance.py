"""The model conformance suite (merbench.testing): every built-in model passes, broken ones are caught."""

from __future__ import annotations

import sys
import textwrap

import pytest

from merbench.registry import Registry
from merbench.testing import ConformanceError, assert_conformant, check_model, conformance_names

BUILTIN = conformance_names(Registry())


def test_every_builtin_model_is_in_the_conformance_list():
    assert {"convmixer", "convmixer-256-8", "convmixer-768-32", "ststnet", "offapexnet", "dual-inception",
            "timm:resnet18", "lbptop-svm"} <= set(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_model_conforms(name):
    findings = assert_conformant(name)
    checks = {f.check for f in findings}
    assert {"metadata", "[quick] output shape", "[quick] determinism", "[quick] batch independence",
            "[paper] output shape", "2-fold quick run"} <= checks
    if name != "lbptop-svm":
        assert {"[quick] class count", "[quick] state registered", "[quick] forward/backward", "[quick] seed",
                "batched folds (vmap, the GPU default)"} <= checks


BROKEN = '''
import numpy as np
import torch
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


class Net(torch.nn.Module):
    def __init__(self, in_channels, n_classes, noisy):
        super().__init__()
        self.noisy = noisy
        self.head = torch.nn.Linear(in_channels, n_classes)

    def forward(self, x):
        out = self.head(x.mean(dim=(2, 3)))
        if self.noisy:  # randomness outside torch's seeded generator
            out = out + torch.from_numpy(np.random.default_rng().normal(size=tuple(out.shape)).astype("float32"))
        return out


def fixed_three(options, in_channels, n_classes, input_size):
    return Net(in_channels, 3, False)


def noisy(options, in_channels, n_classes, input_size):
    return Net(in_channels, n_classes, True)


def fine(options, in_channels, n_classes, input_size):
    return Net(in_channels, n_classes, False)


class ItemNet(Net):
    def forward(self, x):
        out = self.head(x.mean(dim=(2, 3)))
        return out * (1.0 + 0.0 * out.sum().item())  # .item(): fine one model at a time, not under vmap


def unbatchable(options, in_channels, n_classes, input_size):
    return ItemNet(in_channels, n_classes, False)


class PlainStateNet(Net):
    def __init__(self, in_channels, n_classes, noisy):
        super().__init__(in_channels, n_classes, noisy)
        self.offset = torch.zeros(n_classes)  # not register_buffer: invisible to batched folds

    def forward(self, x):
        return super().forward(x) + self.offset


def plain_state(options, in_channels, n_classes, input_size):
    return PlainStateNet(in_channels, n_classes, False)


PROFILES = {"quick": {}, "default": {}, "paper": {}}


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="broken-classes", build=fixed_three, description="ignores n_classes", input="flow-uvs",
                         profiles=PROFILES, citation="test"))
    register(ModelPlugin(name="broken-noisy", build=noisy, description="noise in forward", input="flow-uvs",
                         profiles=PROFILES, citation="test"))
    register(ModelPlugin(name="broken-metadata", build=fine, description="no citation, no profiles", input="flow-uvs"))
    register(ModelPlugin(name="broken-input", build=fine, description="unknown input", input="flow-uvw",
                         profiles=PROFILES, citation="test"))
    register(ModelPlugin(name="broken-vmap", build=unbatchable, description="calls .item()", input="flow-uvs",
                         profiles=PROFILES, citation="test"))
    register(ModelPlugin(name="broken-state", build=plain_state, description="a plain tensor attribute",
                         input="flow-uvs", profiles=PROFILES, citation="test"))
'''


@pytest.fixture
def broken_registry(tmp_path, monkeypatch):
    """A registry that also holds a distribution of deliberately broken models."""
    site = tmp_path / "site"
    (site / "broken_models-0.1.dist-info").mkdir(parents=True)
    (site / "broken_models-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-models\nVersion: 0.1\n")
    (site / "broken_models-0.1.dist-info" / "entry_points.txt").write_text("[merbench]\nbroken = broken_models\n")
    (site / "broken_models.py").write_text(textwrap.dedent(BROKEN))
    monkeypatch.syspath_prepend(str(site))
    yield Registry()
    sys.modules.pop("broken_models", None)


def _failure(registry, name: str) -> str:
    with pytest.raises(ConformanceError) as caught:
        assert_conformant(name, registry, profiles=("quick",), run=False)
    return str(caught.value)


def test_wrong_class_count_is_caught(broken_registry):
    message = _failure(broken_registry, "broken-classes")
    assert "model 'broken-classes' failed 1 conformance check" in message
    assert "[quick] class count: built for 5 classes it gave (4, 3): the head must use the n_classes argument" in message


def test_missing_metadata_is_caught(broken_registry):
    message = _failure(broken_registry, "broken-metadata")
    assert "metadata: ModelPlugin.citation is empty" in message
    assert "ModelPlugin.profiles lacks quick, default, paper" in message


def test_non_deterministic_output_is_caught(broken_registry):
    message = _failure(broken_registry, "broken-noisy")
    assert "[quick] determinism: same seed gave the same outputs: False; two eval passes agreed: False" in message


def test_unknown_input_representation_is_caught(broken_registry):
    message = _failure(broken_registry, "broken-input")
    assert "model 'broken-input' declares input 'flow-uvw', which no registered preprocessor produces" in message and "flow-uvs" in message


def test_check_model_reports_each_check_and_the_run(broken_registry):
    findings = {f.check: f for f in check_model("broken-classes", broken_registry, profiles=("quick",))}
    assert findings["[quick] output shape"].passed and findings["metadata"].passed
    assert not findings["[quick] class count"].passed
    # The 2-fold run goes through the real runner; the broken head still yields 3-class predictions.
    assert findings["2-fold quick run"].passed, findings["2-fold quick run"].detail
    assert "2 folds, 24/24 predictions" in findings["2-fold quick run"].detail


def test_a_model_that_cannot_train_batched_as_on_a_gpu_is_caught(broken_registry):
    findings = {f.check: f for f in check_model("broken-vmap", broken_registry, profiles=("quick",))}
    assert findings["2-fold quick run"].passed, "fold by fold it runs"
    batched = findings["batched folds (vmap, the GPU default)"]
    assert not batched.passed and ".item()" in batched.detail
    assert "on a GPU every run of this model would fail like this" in batched.detail


def test_a_plain_tensor_attribute_is_caught(broken_registry):
    message = _failure(broken_registry, "broken-state")
    assert "[quick] state registered: offset is a plain tensor attribute; register it with " \
           "self.register_buffer(name, tensor)" in message


def test_conformance_names_filters_by_distribution(broken_registry):
    assert conformance_names(broken_registry, distribution="broken_models") == [
        "broken-classes", "broken-input", "broken-metadata", "broken-noisy", "broken-state", "broken-vmap"]
