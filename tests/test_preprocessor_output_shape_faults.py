"""A third-party preprocessor whose ``output_shape()`` raises or returns no (C, H, W) is one message naming the
plugin and its distribution, exit 2, before anything is preprocessed or recorded (before: a raw traceback from
``merbench.modelinfo``, exit 1); ``merbench info`` shows that message for the model instead of a bare TypeError."""

from __future__ import annotations

import json

import pytest
from plugin_sources import MEAN_HEAD_NET

PLUGIN = '''
import numpy as np
import torch
from merbench.contracts import ClipFrames, ModelPlugin, PreprocessorPlugin
from merbench.hookspecs import hookimpl

SHAPES = {"none": None, "two": (16, 16), "zero": (1, 0, 16), "floats": (1.5, 16, 16), "text": "1x16x16",
          "numpy": (np.int64(1), np.int64(16), np.int64(16))}


class Grey:
    def __init__(self, options):
        self.shape = options["shape"]

    def cache_params(self):
        return {"shape": self.shape}

    def inputs(self, sample):
        return [sample.frames[sample.onset]]

    def output_shape(self):
        if self.shape == "raises":
            return (1, self.options["size"], 16)  # a bug: no such attribute
        return SHAPES[self.shape]

    def __call__(self, sample, read_frame, upstream):
        clip = ClipFrames.of(sample, read_frame, upstream)
        return clip.read(sample.onset)[:16, :16].astype(np.float32)[None] / 255.0


''' + MEAN_HEAD_NET + '''

@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="grey-shape", build=Grey, description="one grey frame", produces="grey-shape",
                                options={"shape": "numpy"}))


@hookimpl
def merbench_register_models(register):
    for name, shape in (("grey-shape-net", "numpy"), ("grey-none-net", "none")):
        register(ModelPlugin(name=name, build=lambda options, c, n, size: Net(c, n), description="d",
                             input="grey-shape", preprocess=["grey-shape"],
                             preprocess_options={"grey-shape": {"shape": shape}}))
'''

LABEL = "preprocessor plugin 'grey-shape' (merbench-greyshape 0.1)"
TINY = ["dataset.subjects=4", "dataset.clips_per_subject=3", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=2", "engine.epochs=1"]


@pytest.fixture
def grey_shape(install_plugin, tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    install_plugin("merbench-greyshape", "greyshape", "merbench_greyshape_plugin", PLUGIN)


def _run(run_cli, tmp_path, shape: str):
    store = tmp_path / "runs.sqlite"
    result = run_cli("run", "--model", "grey-shape-net", "--dataset", "synthetic", "--profile", "quick", "--store",
                     str(store), "--set", *TINY, f"grey-shape.shape={shape}")
    return result, store


@pytest.mark.parametrize("shape, says", [
    ("raises", "its output_shape() raised AttributeError: 'Grey' object has no attribute 'options'"),
    ("none", "its output_shape() returned None, not three positive whole numbers"),
    ("two", "its output_shape() returned (16, 16), not three positive whole numbers"),
    ("zero", "its output_shape() returned (1, 0, 16), not three positive whole numbers"),
    ("floats", "its output_shape() returned (1.5, 16, 16), not three positive whole numbers"),
    ("text", "its output_shape() returned a str, not three positive whole numbers"),
])
def test_a_broken_output_shape_is_one_message_naming_the_plugin(grey_shape, run_cli, tmp_path, shape, says):
    result, store = _run(run_cli, tmp_path, shape)
    assert result.code == 2, result.out + result.err
    errors = [line for line in result.err.splitlines() if line.startswith("merbench: error:")]
    assert len(errors) == 1 and "Traceback" not in result.err, result.err
    assert errors[0].startswith(f"merbench: error: {LABEL}: {says}; "), errors[0]
    assert "fix the preprocessor or report it to the plugin's author" in errors[0]
    assert not store.exists() and not list((tmp_path / "cache").rglob("*.npy"))  # nothing recorded or preprocessed


def test_info_and_list_name_the_plugin_whose_output_shape_fails(grey_shape, run_cli, monkeypatch):
    """Before: ``info`` showed "TypeError: 'NoneType' object is not iterable" for every profile, exit 0."""
    shown = run_cli("info", "grey-none-net")
    assert shown.code == 2 and "Traceback" not in shown.err, shown.out + shown.err
    assert shown.err.startswith(f"merbench: error: {LABEL}: its output_shape() returned None"), shown.err
    monkeypatch.setenv("MERBENCH_DISABLE_PLUGINS", "models,convmixer")  # merbench's own: not built for the listing
    listed = run_cli("list", "models", "--json")
    assert listed.code == 0, listed.err
    record = next(model for model in json.loads(listed.out)["models"] if model["name"] == "grey-none-net")
    assert record["error"].startswith(f"PluginError: {LABEL}: its output_shape() returned None"), record


def test_whole_numbers_of_any_integer_type_are_a_shape(grey_shape, run_cli, tmp_path):
    """numpy's integers are whole numbers: the run goes on (and trains)."""
    result, _ = _run(run_cli, tmp_path, "numpy")
    assert result.code == 0, result.out + result.err


def test_tune_names_the_plugin_whose_output_shape_fails(grey_shape, run_cli, tmp_path):
    """Before: "the chain's last preprocessor: its output_shape() returned None", the plugin not named."""
    space = tmp_path / "space.yaml"
    space.write_text("engine.lr: {type: float, low: 0.001, high: 0.01}\n")
    result = run_cli("tune", "--model", "grey-none-net", "--dataset", "synthetic", "--profile", "quick", "--trials",
                     "1", "--space", str(space), "--storage", str(tmp_path / "trials.sqlite"), "--set", *TINY)
    assert result.code == 2 and "Traceback" not in result.err, result.out + result.err
    assert f"{LABEL}: its output_shape() returned None" in " ".join(result.err.split())


def test_the_conformance_check_reports_a_broken_output_shape_as_a_finding():
    """Before: ``check_output_shape`` raised TypeError out of the conformance suite for an output_shape() of None."""
    import numpy as np

    from merbench.testing import check_output_shape

    class Step:
        def output_shape(self):
            return None

    class OneStep:
        steps, specs, sections = [Step()], [type("Spec", (), {"name": "grey-shape"})], {}

        def label(self, index):
            return LABEL

    finding = check_output_shape(OneStep(), np.zeros((2, 1, 16, 16), np.float32))
    assert finding is not None and not finding.passed
    assert finding.detail.startswith(f"{LABEL}: its output_shape() returned None, not three positive whole numbers")


def test_whole_numbers_written_as_floats_or_an_array_are_a_shape():
    """``output_shape()`` giving (3, 28.0, 28.0) or ``np.array([3, 28, 28])`` worked before the check came in."""
    import numpy as np

    from merbench.modelinfo import step_output_shape

    class Step:
        def __init__(self, shape):
            self.shape = shape

        def output_shape(self):
            return self.shape

    assert step_output_shape(Step((3, 28.0, 28.0)), {}, LABEL) == (3, 28, 28)
    assert step_output_shape(Step(np.array([3, 28, 28])), {}, LABEL) == (3, 28, 28)
