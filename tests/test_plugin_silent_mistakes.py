"""Plugin mistakes that used to pass without a word, or whose message sent the author the wrong way.

A: a register hook that registers nothing (a spec built and dropped) is its plugin's problem, and
``conformance_names`` of a distribution without models refuses, where a parametrized test would pass on no names.
B: a dataset loader's frames outside ``--root`` are refused (a link inside the root to another disk is fine), and a
loader that finds nothing names its plugin and where the layout is described. C: an option whose profile value is
another kind than its default (6 for a list default), or a text default with a number range, is refused when it
registers. D: messages: a torch tensor from a preprocessor, a model's own ``merbench info NAME``, a name clash, and
``--debug`` showing a build's traceback once.
"""

from __future__ import annotations

import os

import pytest

from merbench.registry import Registry

NOTHING = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    raise AssertionError("never built")


@hookimpl
def merbench_register_models(register):
    ModelPlugin(name="forgotten", build=build, description="built, never registered", input="flow-uvs")
'''


def _one_line(result) -> str:
    return " ".join((result.out + result.err).split())


# ------------------------------------------------------------------------------ A: a hook that registers nothing

def test_a_hook_that_registers_nothing_is_its_plugins_problem(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-forgot", "forgot", "merbench_forgot_plugin", NOTHING)
    registry = Registry()
    record = next(r for r in registry.records if r.provider.entry_point == "forgot")
    assert not record.ok and record.registered == {}
    assert ("merbench_register_models in module merbench_forgot_plugin registered no models: call "
            "register(ModelPlugin(...)) for each one") in record.problems[0]
    shown = run_cli("plugins")
    assert "registered no models" in _one_line(shown)
    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    strict = run_cli("list", "models")
    assert strict.code == 2 and "registered no models" in _one_line(strict), _one_line(strict)


def test_conformance_names_of_a_distribution_without_models_refuses(install_plugin):
    from merbench.testing import ConformanceError, conformance_names

    install_plugin("merbench-forgot", "forgot", "merbench_forgot_plugin", NOTHING)
    with pytest.raises(ConformanceError, match="the distribution 'merbench-forgot' registers no model"):
        conformance_names(Registry(), distribution="merbench-forgot")


# ------------------------------------------------------------------------------ B: what a dataset loader returns

FOLDER_DATASET = '''
import os
from pathlib import Path

from merbench.contracts import Dataset, DatasetPlugin, Sample
from merbench.hookspecs import hookimpl


def load(root, options, cache_dir):
    samples = []
    for subject in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for clip in sorted(p for p in subject.iterdir() if p.is_dir()):
            frames = sorted(clip.glob("*.png"))
            if os.environ.get("ESCAPE") == "dots":
                frames = [root / ".." / "outside" / frame.name for frame in frames]
            elif os.environ.get("ESCAPE") == "absolute":
                frames = [Path(os.environ["OUTSIDE"]) / frame.name for frame in frames]
            label = 0 if clip.name.startswith("neg") else 1
            samples.append(Sample(id=f"{subject.name}/{clip.name}", subject=subject.name, label=label, domain="lab",
                                  frames=tuple(frames), onset=0, apex=3, offset=len(frames) - 1))
    return Dataset("folderds", ("negative", "positive"), tuple(samples))


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="folderds", load=load, description="clips in subject folders", needs_root=True))
'''


def _write_clips(root, subjects=("s1", "s2", "s3", "s4")) -> None:
    import cv2
    import numpy as np

    for subject in subjects:
        rng = np.random.default_rng(list(subject.encode()))  # each subject's clips its own: a copy is left out
        for clip in ("neg-1", "pos-1"):
            folder = root / subject / clip
            folder.mkdir(parents=True)
            for index in range(6):
                cv2.imwrite(str(folder / f"f{index}.png"), rng.integers(0, 255, (32, 32), dtype=np.uint8))


@pytest.fixture
def folder_dataset(install_plugin, tmp_path):
    install_plugin("merbench-folderds", "folderds", "merbench_folderds_plugin", FOLDER_DATASET)
    return tmp_path


@pytest.mark.parametrize("escape", ["dots", "absolute"])
def test_frames_outside_the_root_are_refused(folder_dataset, run_cli, monkeypatch, escape):
    root = folder_dataset / "root"
    _write_clips(root)
    monkeypatch.setenv("ESCAPE", escape)
    monkeypatch.setenv("OUTSIDE", str(folder_dataset / "elsewhere"))
    for command in (["datasets", "check", "folderds"],
                    ["run", "--model", "ststnet", "--dataset", "folderds", "--profile", "quick", "--no-store"]):
        result = run_cli(*command, "--root", str(root))
        message = _one_line(result)
        assert result.code == 2, message
        assert "dataset plugin 'folderds' (merbench-folderds 0.1): sample s1/neg-1: its frame" in message
        assert f"lies outside --root {root}; a loader gives only files under --root" in message
        assert "Traceback" not in message


def test_frames_reached_through_a_link_inside_the_root_are_fine(folder_dataset, run_cli):
    disk = folder_dataset / "other-disk"
    _write_clips(disk, subjects=("s3", "s4"))
    root = folder_dataset / "root"
    _write_clips(root, subjects=("s1", "s2"))
    for subject in ("s3", "s4"):
        os.symlink(disk / subject, root / subject)
    result = run_cli("datasets", "check", "folderds", "--root", str(root))
    assert result.code == 0, _one_line(result)
    assert "usable: 8 samples, 4 subjects" in _one_line(result)


def test_a_loader_that_finds_nothing_names_its_plugin_and_the_layout(folder_dataset, run_cli):
    root = folder_dataset / "empty"
    root.mkdir()
    for command in (["datasets", "check", "folderds"],
                    ["run", "--model", "ststnet", "--dataset", "folderds", "--profile", "quick", "--no-store"]):
        result = run_cli(*command, "--root", str(root))
        message = _one_line(result)
        assert result.code == 2, message
        assert (f"dataset plugin 'folderds' (merbench-folderds 0.1): its load() found no samples under --root {root}: "
                "check that --root is the dataset's own folder (the layout it expects is in the documentation of "
                "merbench-folderds 0.1)") in message


# ------------------------------------------------------------------------------ C: option kinds

KINDS = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    raise AssertionError("never built")


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="listwidth", build=build, description="d", input="flow-uvs", options={"width": [12]},
                         option_ranges={"width": ">= 1"}, profiles={"quick": {"width": 6}}))
    register(ModelPlugin(name="textwidth", build=build, description="d", input="flow-uvs", options={"width": "12"},
                         option_ranges={"width": ">= 1"}))
    register(ModelPlugin(name="fine", build=build, description="d", input="flow-uvs",
                         options={"width": 12, "rate": 0.5, "widths": [4, 8], "mode": None},
                         option_ranges={"width": ">= 1"},
                         profiles={"quick": {"width": 6, "rate": 1, "widths": [2], "mode": "fast"}}))
'''


def test_a_profile_value_of_another_kind_than_the_default_or_a_text_default_with_a_range_is_refused(install_plugin):
    install_plugin("merbench-kinds", "kinds", "merbench_kinds_plugin", KINDS)
    registry = Registry()
    assert "fine" in registry.names("models")
    assert "listwidth" not in registry.names("models") and "textwidth" not in registry.names("models")
    listed = next(p for p in registry.problems if "'listwidth'" in p)
    assert ("its profile 'quick' sets width=6, a number, but its default [12] is a list; --set converts every value "
            "to the default's kind") in listed
    text = next(p for p in registry.problems if "'textwidth'" in p)
    assert "its default width='12' is text, but its option_ranges rule '>= 1' is a number range" in text


# ------------------------------------------------------------------------------ D: messages

TENSOR_STEP = '''
import torch

from merbench.contracts import PreprocessorPlugin
from merbench.hookspecs import hookimpl


class Step:
    def inputs(self, sample):
        return [sample.frames[sample.onset]]

    def cache_params(self):
        return {}

    def __call__(self, sample, read_frame, upstream):
        return torch.zeros(3, 8, 8)


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="tensor-step", build=lambda options: Step(), produces="flow-uvs",
                                description="returns a torch tensor"))
'''


def test_a_tensor_from_a_preprocessor_is_named_as_a_tensor(install_plugin, run_cli):
    install_plugin("merbench-tensor", "tensor", "merbench_tensor_plugin", TENSOR_STEP)
    result = run_cli("preprocess", "--dataset", "synthetic", "--model", "ststnet", "--profile", "quick",
                     "--set", "preprocess=tensor-step", "dataset.subjects=2", "dataset.clips_per_subject=2")
    message = _one_line(result)
    assert result.code == 2, message
    assert "returned a torch.Tensor of shape (3, 8, 8), not a numpy array, for sample" in message


def test_a_build_error_names_the_models_own_info_command_and_debug_shows_it_once(install_plugin, run_cli):
    install_plugin("merbench-raises", "raises", "merbench_raises_plugin", NOTHING.replace(
        '    ModelPlugin(name="forgotten"', '    register(ModelPlugin(name="raiser"').replace(
        'input="flow-uvs")', 'input="flow-uvs"))'))
    result = run_cli("run", "--model", "raiser", "--dataset", "synthetic", "--profile", "quick", "--no-store")
    assert result.code == 2
    assert "check the model options given (`merbench info raiser` lists them)" in _one_line(result)
    debug = run_cli("run", "--model", "raiser", "--dataset", "synthetic", "--profile", "quick", "--no-store", "--debug")
    assert debug.code == 2 and "AssertionError: never built" in debug.err
    assert "During handling of the above exception" not in debug.err


def test_a_name_clash_says_to_rename(install_plugin):
    install_plugin("merbench-clash", "clash", "merbench_clash_plugin", NOTHING.replace(
        '    ModelPlugin(name="forgotten"', '    register(ModelPlugin(name="ststnet"').replace(
        'input="flow-uvs")', 'input="flow-uvs"))'))
    problem = next(p for p in Registry().problems if "'ststnet'" in p)
    assert "the name is already registered by plugin 'models' (merbench 0.1.0); give yours another name" in problem
