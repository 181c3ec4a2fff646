"""The conformance suite called from a script: it starts no worker process (one would run an unguarded script, and
the suite, again) and removes its temporary cache when ``check_model`` returns, on error too; and it gives each
forward a batch of its own, as the engine does."""

from __future__ import annotations

import tempfile

import pytest

import merbench.folds.local
import merbench.preprocess
import merbench.runner
import merbench.testing
from merbench.registry import Registry
from merbench.testing import check_model
from plugin_sources import MEAN_HEAD_NET

PLUGIN = '''
import torch
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


''' + MEAN_HEAD_NET + '''

class InPlace(Net):
    def forward(self, x):
        return super().forward(x.mul_(2))  # changes its input batch: the engine gives each forward its own


def build(options, in_channels, n_classes, input_size):
    return Net(in_channels, n_classes)


def in_place(options, in_channels, n_classes, input_size):
    return InPlace(in_channels, n_classes)


@hookimpl
def merbench_register_models(register):
    for name, factory in (("plain", build), ("in-place", in_place)):
        register(ModelPlugin(name=name, build=factory, description="test model", input="flow-uvs",
                             citation="original work", profiles={"quick": {}, "default": {}, "paper": {}}))
'''


@pytest.fixture
def plain(install_plugin):
    install_plugin("merbench-plain", "plain", "merbench_plain_model", PLUGIN)
    return Registry()


@pytest.fixture
def scratch_parent(tmp_path, monkeypatch):
    """The folder temporary folders go into, for this test only."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_the_suite_starts_no_worker_process_even_where_a_run_would(plain, monkeypatch):
    def no_workers(*args, **kwargs):
        raise RuntimeError("a worker process was started")

    for module, name in ((merbench.preprocess, "start_pool"), (merbench.folds.local, "start_pool"),
                         (merbench.folds.local, "start_worker_server"), (merbench.runner, "start_worker_server")):
        monkeypatch.setattr(module, name, no_workers)
    # preprocessing that seems slow: a run would let worker processes help with it
    monkeypatch.setattr(merbench.preprocess, "PARALLEL_WORTH_S", 0.0)
    monkeypatch.setattr(merbench.preprocess, "MIN_PARALLEL", 1)
    monkeypatch.setattr(merbench.preprocess, "PROBE_CLIPS", 1)
    monkeypatch.setattr(merbench.preprocess, "usable_cores", lambda: 4)
    findings = check_model("plain", plain, profiles=("quick",), run=True)
    assert [f for f in findings if not f.passed] == []
    assert "2-fold quick run" in {f.check for f in findings}


def test_check_model_removes_its_temporary_cache_when_it_returns(plain, scratch_parent):
    check_model("plain", plain, profiles=("quick",), run=True)
    assert list(scratch_parent.glob("merbench-conformance-*")) == []


def test_check_model_removes_its_temporary_cache_on_error(plain, scratch_parent, monkeypatch):
    def interrupted(*args):
        assert list(scratch_parent.glob("merbench-conformance-*/*")), "the check wrote into its folder"
        raise KeyboardInterrupt

    monkeypatch.setattr(merbench.testing, "check_quick_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        check_model("plain", plain, profiles=("quick",), run=True)
    assert list(scratch_parent.glob("merbench-conformance-*")) == []


def test_a_forward_that_changes_its_input_in_place_passes_as_its_runs_do(plain):
    findings = check_model("in-place", plain, profiles=("quick",), run=True)
    assert [f for f in findings if not f.passed] == []
    assert {"[quick] determinism", "[quick] batch independence", "[quick] seed"} <= {f.check for f in findings}
