"""What a plugin hands back is checked before merbench uses it, and a mistake is one message naming the plugin.

A: a dataset plugin's samples need a non-empty text id, subject and domain (``datasets check`` and ``run``, before
any run id). B: ``datasets check`` on a plugin dataset without a ``strict`` option says that a run stops at a
missing frame, not that it leaves the clip out. C: a model plugin's first-batch output must be floating-point
scores that depend on trainable parameters; an estimator's ``predict`` one class per sample. D: a model factory
string that cannot be imported, and a ``build()`` returning None, are refused naming the plugin, before a run id.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import realtrees as rt

SUBJECTS, CLIPS = 4, 3

DATASETS = '''
import dataclasses
from pathlib import Path

from merbench.contracts import Dataset, DatasetPlugin, Sample
from merbench.hookspecs import hookimpl

CHANGES = {
    "id-none": {"id": None}, "id-int": {"id": 7}, "id-empty": {"id": ""},
    "subject-none": {"subject": None}, "subject-int": {"subject": 1}, "subject-blank": {"subject": " "},
    "domain-none": {"domain": None}, "domain-int": {"domain": 3},
}


def make(kind):
    def load(root, options, cache_dir):
        samples = []
        for s in range(%(subjects)d):
            for c in range(%(clips)d):
                frames = tuple(sorted((Path(root) / f"s{s}" / f"c{c}").glob("*.png")))
                samples.append(Sample(id=f"s{s}/c{c}", subject=f"s{s}", label=c %% 2, domain="tiny", frames=frames,
                                      onset=0, apex=2, offset=len(frames) - 1))
        if kind == "missing":
            samples[1] = dataclasses.replace(samples[1], frames=tuple(Path(f"{f}.gone") for f in samples[1].frames))
        elif kind in CHANGES:
            samples[1] = dataclasses.replace(samples[1], **CHANGES[kind])
        return Dataset("tiny", ("a", "b"), tuple(samples))
    return load


@hookimpl
def merbench_register_datasets(register):
    for kind in (*CHANGES, "missing", "fine"):
        register(DatasetPlugin(name=f"tiny-{kind}", load=make(kind), description=kind, needs_root=True))
    register(DatasetPlugin(name="tiny-missing-strict", load=make("missing"), description="has strict",
                           options={"strict": True}, needs_root=True))
''' % {"subjects": SUBJECTS, "clips": CLIPS}

MODELS = '''
import torch
from torch import nn

from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


class Net(nn.Module):
    def __init__(self, in_channels, n_classes, kind):
        super().__init__()
        self.head = nn.Linear(in_channels, n_classes)
        self.kind = kind

    def forward(self, x):
        out = self.head(x.mean((2, 3)))
        if self.kind == "int":
            return out.long()
        if self.kind == "detached":
            return out.detach()
        return out


class NoParameters(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.n_classes = n_classes

    def forward(self, x):
        return x.flatten(1)[:, :self.n_classes]


class Scores:
    def fit(self, X, y):
        return self

    def predict(self, X):
        import numpy as np
        return np.zeros((len(X), 3))


def make(kind):
    def build(options, in_channels, n_classes, input_size):
        if kind == "none":
            return None
        if kind == "no-parameters":
            return NoParameters(n_classes)
        if kind == "scores":
            return Scores()
        return Net(in_channels, n_classes, kind)
    return build


@hookimpl
def merbench_register_models(register):
    for kind in ("int", "detached", "no-parameters", "scores", "none"):
        register(ModelPlugin(name=f"m-{kind}", build=make(kind), description=kind, input="flow-uvs"))
    register(ModelPlugin(name="m-unimportable", build="merbench_no_such_module.nets:build", description="typo",
                         input="flow-uvs"))
'''


@pytest.fixture
def tiny_root(tmp_path) -> Path:
    root = tmp_path / "tiny"
    for s in range(SUBJECTS):
        for c in range(CLIPS):
            clip = rt.clip_frames(s, c, "happiness" if c % 2 else "disgust", n_frames=5)
            rt.write_frames(root / f"s{s}" / f"c{c}", clip.frames, [f"img{k}.png" for k in range(5)])
    return root


@pytest.fixture
def datasets(install_plugin):
    install_plugin("merbench-tiny-data", "tinydata", "merbench_tiny_data", DATASETS)


@pytest.fixture
def models(install_plugin):
    install_plugin("merbench-odd-models", "oddmodels", "merbench_odd_models", MODELS)


def _said(result) -> str:
    return " ".join(result.err.split())


def _no_run_id(result) -> bool:
    return not any(line.startswith("Run ") for line in result.err.splitlines())


# ------------------------------------------------------------------ A: id, subject and domain are non-empty text


@pytest.mark.parametrize("kind, problem", [
    ("id-none", "sample 2 of 12 (subject s0): its id is None, not text"),
    ("id-int", "sample 2 of 12 (subject s0): its id is 7, an int, not text"),
    ("id-empty", "sample 2 of 12 (subject s0): its id is empty"),
    ("subject-none", "sample s0/c1: its subject is None, not text"),
    ("subject-int", "sample s0/c1: its subject is 1, an int, not text"),
    ("subject-blank", "sample s0/c1: its subject is empty"),
    ("domain-none", "sample s0/c1: its domain is None, not text"),
    ("domain-int", "sample s0/c1: its domain is 3, an int, not text"),
])
def test_a_sample_id_subject_or_domain_that_is_not_text_is_refused_naming_the_plugin(datasets, run_cli, tiny_root,
                                                                                    kind, problem):
    checked = run_cli("datasets", "check", f"tiny-{kind}", "--root", str(tiny_root))
    run = run_cli("run", "--model", "convmixer", "--dataset", f"tiny-{kind}", "--root", str(tiny_root),
                  "--protocol", "loso", "--profile", "quick", "--quiet")
    for result in (checked, run):
        said = _said(result)
        assert (result.code, "Traceback" in result.err) == (2, False), result.err
        assert f"dataset plugin 'tiny-{kind}' (merbench-tiny-data 0.1): {problem}" in said, said
        assert "it must be a non-empty str" in said and "fix the dataset plugin or report it to its author" in said
    assert _no_run_id(run), "refused before a run id is taken"


def test_a_dataset_plugin_with_text_ids_is_usable(datasets, run_cli, tiny_root):
    result = run_cli("datasets", "check", "tiny-fine", "--root", str(tiny_root))
    assert result.code == 0, result.err
    assert f"usable: {SUBJECTS * CLIPS} samples, {SUBJECTS} subjects" in result.out


# ------------------------------------------------------------------ B: a dataset without a strict option


def test_check_of_a_plugin_dataset_without_a_strict_option_says_a_run_stops_at_a_missing_frame(datasets, run_cli,
                                                                                              tiny_root):
    result = run_cli("datasets", "check", "tiny-missing", "--root", str(tiny_root))
    said = _said(result)
    assert result.code == 2, result.err
    assert ("dataset 'tiny-missing' has no dataset.strict option, so a run reads every clip it lists and stops at "
            "the first missing or unusable frame: 1 clip with 2 files a run reads first (onset, apex or middle "
            "frame) missing or unusable, first: sample s0/c1:") in said, said
    assert "fix the dataset plugin" in said
    assert "--strict" not in said and "dataset.strict=true" not in said and "(the default)" not in said
    overview = " ".join(result.out.split())
    assert "as a run leaves them" not in overview and "at which a run stops" in overview
    run = run_cli("run", "--model", "convmixer", "--dataset", "tiny-missing", "--root", str(tiny_root),
                  "--protocol", "loso", "--profile", "quick", "--quiet", "--no-store")
    assert run.code == 2 and "s0/c1" in run.err, "a run does stop at the clip, as the check says"


def test_check_of_a_plugin_dataset_with_a_strict_option_keeps_the_strict_wording(datasets, run_cli, tiny_root):
    lenient = run_cli("datasets", "check", "tiny-missing-strict", "--root", str(tiny_root),
                      "--set", "dataset.strict=false")
    assert lenient.code == 0, lenient.err
    assert "as a run leaves them" in " ".join(lenient.out.split())
    strict = run_cli("datasets", "check", "tiny-missing-strict", "--root", str(tiny_root))
    said = _said(strict)
    assert strict.code == 2 and "strict check (--strict or dataset.strict=true): 2 files a run reads first" in said
    assert "dataset.strict=false (the default)" in said


# ------------------------------------------------------------------ C: model output


@pytest.mark.parametrize("model, message", [
    ("m-int", "fold 1, first batch: model plugin 'm-int' (merbench-odd-models 0.1) returned int64 scores; expected "
              "floating-point scores (logits)"),
    ("m-detached", "fold 1, first batch: model plugin 'm-detached' (merbench-odd-models 0.1) returned scores that do "
                   "not depend on any trainable parameter (requires_grad is False)"),
    ("m-no-parameters", "fold 1: model plugin 'm-no-parameters' (merbench-odd-models 0.1) built a NoParameters with "
                        "no parameters, so training cannot change it"),
    ("m-scores", "fold 1: model plugin 'm-scores' (merbench-odd-models 0.1)'s predict() returned shape (54, 3) for 54 "
                 "samples; expected (54,), one class index per sample (a score per class?"),
])
def test_a_model_plugins_wrong_output_is_its_error_not_merbenchs(models, run_cli, model, message):
    result = run_cli("run", "--model", model, "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--set", "engine.parallel_folds=1")
    said = _said(result)
    assert (result.code, "Traceback" in result.err) == (2, False), result.err
    assert message in said, said
    assert "report it to merbench" not in said and "report it to the plugin's author" in said


# ------------------------------------------------------------------ D: the model's factory and build() in preflight


def test_a_factory_string_that_cannot_be_imported_names_the_model_plugin(models, run_cli):
    result = run_cli("run", "--model", "m-unimportable", "--dataset", "synthetic", "--profile", "quick", "--quiet")
    said = _said(result)
    assert (result.code, "Traceback" in result.err) == (2, False), result.err
    assert ("model plugin 'm-unimportable' (merbench-odd-models 0.1): its build= factory "
            "'merbench_no_such_module.nets:build' cannot be loaded: ModuleNotFoundError") in said, said
    assert _no_run_id(result)


def test_a_build_that_returns_none_is_refused_before_a_run_id_without_an_estimator_warning(models, run_cli):
    result = run_cli("run", "--model", "m-none", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--set", "engine.epochs=1")
    said = _said(result)
    assert (result.code, "Traceback" in result.err) == (2, False), result.err
    assert ("model plugin 'm-none' (merbench-odd-models 0.1): its build() returned None, which is neither a "
            "torch.nn.Module nor an estimator") in said, said
    assert "fitted in one go" not in said
    assert _no_run_id(result), "refused in the preflight, before a run id is taken"
