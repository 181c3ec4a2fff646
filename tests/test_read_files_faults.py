"""A model plugin's ``read_files(options)`` (the files a run records by content) that raises or returns something
other than ``{KEY: path}`` is the plugin's fault, reported in one line naming the plugin, its distribution and
version, and the form merbench expects, with exit code 2 (was: a raw traceback, KeyError or AttributeError)."""

from __future__ import annotations

import json

import pytest

from plugin_sources import MEAN_HEAD_NET

PLUGIN = '''
from pathlib import Path

import torch

from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl
''' + MEAN_HEAD_NET + '''

def build(options, in_channels, n_classes, input_size):
    return Net(in_channels, n_classes)


def weights_file():
    path = Path(__file__).with_name("rf_weights.bin")
    path.write_bytes(b"weights")
    return path


READERS = {
    "rf-raise": lambda options: {"model.vocab": options["vocab_path"]},
    "rf-list": lambda options: [str(weights_file())],
    "rf-number": lambda options: {"model.vocab": 3},
    "rf-key": lambda options: {("model", "vocab"): str(weights_file())},
    "rf-good": lambda options: {"model.vocab": weights_file()},
}


@hookimpl
def merbench_register_models(register):
    for name, reader in READERS.items():
        register(ModelPlugin(name=name, build=build, read_files=reader, description="d", input="flow-uvs"))
'''

RUN = ("--dataset", "synthetic", "--profile", "quick", "--epochs", "1", "--quiet", "--set", "dataset.subjects=4",
       "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2")
WHO = "model plugin '{}' (merbench-rf 0.1): its read_files() "
FORM = "read_files(options) -> {KEY: path}"


@pytest.fixture
def run_model(install_plugin, run_cli):
    """Run the fake plugin's model ``name`` (no store) and return the CLI result."""
    install_plugin("merbench-rf", "rf", "merbench_rf_plugin", PLUGIN)
    return lambda name, *extra: run_cli("run", "--model", name, "--no-store", *RUN, *extra)


@pytest.mark.parametrize(("name", "problem"), [
    ("rf-raise", "raised KeyError: 'vocab_path'"),
    ("rf-list", "returned a list, not a dict"),
    ("rf-number", "returned an int for 'model.vocab', not a path"),
    ("rf-key", "returned a dict with the key ('model', 'vocab'), a tuple, not a string"),
])
def test_a_read_files_that_raises_or_returns_no_dict_of_paths_is_the_plugins_fault(run_model, name, problem):
    run = run_model(name)
    assert run.code == 2, run.err
    assert "Traceback" not in run.out + run.err
    message = " ".join(run.err.split())
    assert WHO.format(name) + problem in message, message
    assert FORM in message and "report it to the plugin's author" in message, message


def test_a_read_files_of_paths_is_recorded_by_content(run_model, tmp_path):
    target = tmp_path / "result.json"
    run = run_model("rf-good", "--json", str(target))
    assert run.code == 0, run.err
    recorded = json.loads(target.read_text())["environment"]["files"]["model.vocab"]
    assert recorded["bytes"] == len(b"weights") and recorded["path"].endswith("rf_weights.bin")
