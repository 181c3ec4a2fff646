"""Messages about a third-party dataset point to its distribution, not to merbench's docs on its own corpora, and
name the dataset as the user typed it; a run whose model cannot go to worker processes records that its folds
trained one after another."""

from __future__ import annotations

import json

import pytest

PLUGIN = '''
import torch

from merbench.contracts import Dataset, DatasetPlugin, ModelPlugin
from merbench.hookspecs import hookimpl


def load(root, options, cache_dir):
    return Dataset("d", ("a", "b"), ())


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="mycorpus", load=load, description="a lab's own corpus"))


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(
        name="lambda-net", description="a model built by a lambda", input="flow-uvs",
        build=lambda options, in_channels, n_classes, input_size: torch.nn.Sequential(
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(in_channels, n_classes))))
'''


@pytest.fixture
def corpus(install_plugin):
    install_plugin("merbench-mycorpus", "mycorpus", "merbench_mycorpus_plugin", PLUGIN)


def _error(result) -> str:
    assert result.code == 2, result.out + result.err
    return " ".join(result.err.split())


def test_a_plugin_datasets_root_messages_point_to_its_distribution(corpus, run_cli, tmp_path):
    missing = _error(run_cli("run", "--model", "ststnet", "--dataset", "mycorpus", "--profile", "quick", "--no-store"))
    assert "dataset 'mycorpus' reads a copy of its data from a folder: give it with --root DIR" in missing
    assert "the documentation of merbench-mycorpus 0.1, which provides it" in missing
    assert "docs/datasets.md" not in missing and "not shipped with merbench" not in missing
    wrong = _error(run_cli("run", "--model", "ststnet", "--dataset", "mycorpus", "--profile", "quick", "--no-store",
                           "--root", str(tmp_path / "nowhere")))
    assert "(layout in the documentation of merbench-mycorpus 0.1;" in wrong and "docs/datasets.md" not in wrong
    assert "docs/datasets.md" not in _error(run_cli("datasets", "check", "mycorpus", "--root", str(tmp_path / "nowhere")))


def test_a_builtin_corpus_still_points_to_docs_datasets(run_cli, tmp_path):
    missing = _error(run_cli("run", "--model", "ststnet", "--dataset", "casme2", "--profile", "quick", "--no-store"))
    assert "licensed and not shipped with merbench" in missing and "docs/datasets.md" in missing
    wrong = _error(run_cli("run", "--model", "ststnet", "--dataset", "casme2", "--root", str(tmp_path / "nowhere"),
                           "--profile", "quick", "--no-store"))
    assert "(layout in docs/datasets.md;" in wrong


def test_datasets_check_names_the_dataset_as_typed(corpus, run_cli, tmp_path):
    message = _error(run_cli("datasets", "check", "mycorpus", "--root", str(tmp_path)))
    assert "dataset plugin 'mycorpus' (merbench-mycorpus 0.1): its load() found no samples" in message
    assert "'d'" not in message


def test_folds_that_could_not_go_to_workers_are_recorded_as_trained_one_after_another(corpus, run_cli, tmp_path):
    result = run_cli("run", "--model", "lambda-net", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--json", str(tmp_path / "r.json"), "--set", "engine.parallel_folds=2", "protocol.n_splits=2",
                     "dataset.subjects=4", "dataset.clips_per_subject=3", "dataset.size=32", "dataset.frames=8")
    assert result.code == 0, result.out + result.err
    assert "cannot be sent to worker processes" in result.err
    plan = json.loads((tmp_path / "r.json").read_text())["engine_plan"]
    assert plan["description"].startswith("fold by fold in this process") and plan["workers"] == 1
    assert "Folds trained fold by fold in this process" in " ".join(result.out.split())
