"""A model plugin's faults while a fold trains are the plugin's, said once with the fix (exit code 2, or 1 for a
training run that fails), never a traceback nor "please report it to merbench": weights on the meta device (a
module-level cache filled while merbench checked the model under ``torch.device("meta")``), ``sys.exit`` in
forward(), scores on another device than the inputs, NaN scores in the middle of training (not the learning rate's
fault) and BatchNorm with a batch of one sample. Each case runs fold by fold and as batched (vmap) folds."""

from __future__ import annotations

import math

import pytest
import torch

from merbench.engine import epoch_loss, failures_named
from merbench.errors import RunFailed
from merbench.folds import plan

PLUGIN = '''
import copy

import torch
from torch import nn
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl

CACHE = {}


class Net(nn.Module):
    def __init__(self, in_channels, n_classes, kind):
        super().__init__()
        self.kind = kind
        self.linear = nn.Linear(in_channels, n_classes)
        self.bn = nn.BatchNorm1d(in_channels)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        pooled = x.mean(dim=(2, 3))
        if self.kind == "bn":
            pooled = self.bn(pooled)
        if self.kind == "keyerror":
            raise KeyError("gate")
        if self.kind == "sysexit" and self.calls == 3:
            raise SystemExit(1)
        scores = self.linear(pooled)
        if self.kind == "backward":
            scores.register_hook(self.refuse)
        if self.kind == "device":
            return scores.to("meta")
        if self.kind == "latenan" and self.calls >= 2:
            return scores * float("inf")
        return scores

    def refuse(self, grad):
        raise RuntimeError("no gradient here")


def build(options, in_channels, n_classes, input_size):
    kind = options["kind"]
    if kind == "cached":  # a backbone made once per process, each fold gets its own copy
        if "backbone" not in CACHE:
            CACHE["backbone"] = nn.Linear(in_channels, n_classes)
        net = Net(in_channels, n_classes, "ok")
        net.linear = copy.deepcopy(CACHE["backbone"])
        return net
    return Net(in_channels, n_classes, kind)


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="faulty7", build=build, description="a model with faults", input="flow-uvs",
                         options={"kind": "ok"}))
'''

TINY = ("dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=2", "engine.epochs=2")
MODES = {"folds": ("engine.parallel_mode=processes", "engine.parallel_folds=1"),
         "vmap": ("engine.parallel_mode=vmap", "engine.parallel_folds=2"),
         "vmap-auto": ("engine.parallel_mode=vmap",)}  # the group's size measured from one plain training step
FIRST_STEP_MODES = list(MODES)  # faults at the first step, which vmap-auto meets while it measures
LATER_MODES = ["folds", "vmap"]
PLAIN_STEP_MODES = ["folds", "vmap-auto"]  # a plain first step (under torch.func.vmap, other faults and wording)
NAMED = "model plugin 'faulty7' (merbench-faulty7 0.1)"


@pytest.fixture
def run_kind(install_plugin, run_cli, tmp_path, monkeypatch):
    """Run the quick profile with the faulty model's ``kind``; returns (exit code, stderr on one line)."""
    install_plugin("merbench-faulty7", "faulty7", "merbench_faulty7_plugin", PLUGIN)
    monkeypatch.setattr(plan, "usable_cores", lambda: 2)  # vmap-auto: batched folds whose memory need is measured

    def run(kind: str, mode: str, *extra: str) -> tuple[int, str]:
        result = run_cli("run", "--model", "faulty7", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                         "--store", str(tmp_path / "r.sqlite"), "--set", f"model.kind={kind}", *TINY, *MODES[mode],
                         *extra)
        assert "Traceback" not in result.out + result.err
        assert "report it to merbench" not in result.err
        return result.code, " ".join(result.err.split())

    return run


@pytest.mark.parametrize("mode", FIRST_STEP_MODES)
def test_weights_on_the_meta_device_are_the_plugins_module_level_cache(run_kind, mode):
    code, message = run_kind("cached", mode)
    assert code == 2, message
    assert f"fold 1: {NAMED}: its build() returned a network whose weights hold no data (on the meta device" in message
    assert 'while merbench checked the model under torch.device("meta") (a module-level cache)' in message
    assert "copy cached weights (a state dict loaded on the CPU), inside build()" in message


@pytest.mark.parametrize("mode", LATER_MODES)
def test_sys_exit_in_forward_is_the_plugins_and_named(run_kind, mode):
    code, message = run_kind("sysexit", mode)
    assert code == 2, message
    assert f"training or predicting with {NAMED} raised SystemExit(1)" in message
    assert "merbench_faulty7_plugin.py" in message and "in forward" in message
    assert ("fold 1:" if mode == "folds" else "batched folds 1, 2:") in message


@pytest.mark.parametrize("mode", PLAIN_STEP_MODES)
def test_an_exception_in_forward_at_the_first_step_is_the_plugins(run_kind, mode):
    code, message = run_kind("keyerror", mode)
    assert code == 2, message
    assert f"fold 1, first batch: {NAMED} failed on inputs of shape (" in message
    assert "KeyError: 'gate'" in message and "check the model's options" in message


@pytest.mark.parametrize("mode", PLAIN_STEP_MODES)
def test_an_exception_in_backward_at_the_first_step_is_the_plugins(run_kind, mode):
    code, message = run_kind("backward", mode)
    assert code == 1, message
    assert f"training or predicting with {NAMED} raised RuntimeError: no gradient here" in message
    assert "merbench_faulty7_plugin.py" in message and "in refuse" in message


def test_keyboard_interrupt_still_passes_through_a_fold():
    with pytest.raises(KeyboardInterrupt), failures_named("model plugin 'x'", 0):
        raise KeyboardInterrupt


@pytest.mark.parametrize("mode", FIRST_STEP_MODES)
def test_scores_on_another_device_than_the_inputs_name_both(run_kind, mode):
    code, message = run_kind("device", mode)
    assert code == 2, message
    assert f"fold 1, first batch: {NAMED} returned scores on device meta for inputs on cpu" in message


@pytest.mark.parametrize("mode", LATER_MODES)
def test_nan_scores_mid_training_name_the_model_beside_the_learning_rate(run_kind, mode):
    """Once weights were updated, NaN scores come from a diverging training as well as from a forward() that
    overflows: both are said (a learning rate of 1e30 on a sound model gives NaN scores too)."""
    code, message = run_kind("latenan", mode, "engine.lr=1e-6")
    assert code == 1, message
    assert "fold 1, epoch 2, step 1: the training loss became nan; training diverged." in message
    assert "Lower the learning rate (now --set engine.lr=1e-6)" in message
    assert f"the scores {NAMED} returned at that step were NaN or infinite: if a lower learning rate does not help" \
        in message


def test_the_first_steps_nan_scores_are_the_models_and_later_ones_are_said_beside_the_learning_rate():
    first = [torch.tensor(math.nan), torch.tensor(1.0)]
    with pytest.raises(RunFailed, match=r"step 1: model plugin 'x' returned NaN or infinite scores before any weight "
                                        r"was updated") as fp32:
        epoch_loss(first, [4, 4], 0, 0, 0.5, [torch.tensor(False), torch.tensor(True)], "model plugin 'x'")
    assert "engine.lr" not in str(fp32.value) and "engine.amp" not in str(fp32.value)  # amp: only where it was used
    with pytest.raises(RunFailed, match=r"overflows in mixed precision: try --set engine.amp=off"):
        epoch_loss(first, [4, 4], 0, 0, 0.5, [torch.tensor(False), torch.tensor(True)], "model plugin 'x'", True)
    later = [torch.tensor(1.0), torch.tensor(math.inf)]
    with pytest.raises(RunFailed, match=r"step 2: the training loss became inf; training diverged. Lower the learning"
                                        r" rate \(now --set engine.lr=0.5\) or check the inputs for NaN$"):
        epoch_loss(later, [4, 4], 0, 0, 0.5, [torch.tensor(True), torch.tensor(True)], "model plugin 'x'")
    with pytest.raises(RunFailed, match=r"Lower the learning rate .*; the scores model plugin 'x' returned at that step"):
        epoch_loss(later, [4, 4], 0, 0, 0.5, [torch.tensor(True), torch.tensor(False)], "model plugin 'x'")
    with pytest.raises(RunFailed, match=r"epoch 2, step 1: .* Lower the learning rate"):  # not the first epoch's first step
        epoch_loss(first, [4, 4], 0, 1, 0.5, [torch.tensor(False), torch.tensor(True)], "model plugin 'x'")


@pytest.mark.parametrize("mode", FIRST_STEP_MODES)
def test_batch_norm_on_a_batch_of_one_says_to_raise_the_batch_size(run_kind, mode):
    code, message = run_kind("bn", mode, "engine.batch_size=1")
    assert code == 2, message
    assert "Expected more than 1 value per channel when training" in message
    assert "use --set engine.batch_size=2 or more" in message
    assert "check the model's options" not in message and "torch.func.vmap" not in message
