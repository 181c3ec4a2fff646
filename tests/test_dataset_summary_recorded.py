"""A dataset plugin's ``Dataset.summary`` holding a path, numpy numbers or tuples (as the docs' own loader makes
``root / "labels.csv"``) is recorded as JSON text, numbers and lists in the run's result, its ``--json`` file and the
store; anything else is refused when the dataset loads, before any training, naming the entry."""

from __future__ import annotations

import json

import pytest

PLUGIN = '''
import dataclasses
from pathlib import Path

import numpy as np

from merbench.contracts import DatasetPlugin
from merbench.hookspecs import hookimpl
from merbench_plugins.datasets.synthetic import load as synthetic_load

TINY = {"preset": "real", "subjects": 4, "clips_per_subject": 3, "size": 32, "frames": 8, "seed": 0, "domains": 1}


def load_paths(root, options, cache_dir):
    dataset = synthetic_load(root, options, cache_dir)
    summary = {**dataset.summary, "annotation": Path("/data/corpus") / "labels.csv", "clips": np.int64(12),
               "mean_size": np.float32(0.5), "sizes": np.array([1, 2]), "pair": (Path("a"), np.int32(3))}
    return dataclasses.replace(dataset, summary=summary)


def load_set(root, options, cache_dir):
    dataset = synthetic_load(root, options, cache_dir)
    return dataclasses.replace(dataset, summary={**dataset.summary, "extra": {"tags": {"a", "b"}}})


@hookimpl
def merbench_register_datasets(register):
    for name, load in (("paths-summary", load_paths), ("set-summary", load_set)):
        register(DatasetPlugin(name=name, load=load, description="synthetic clips", options=TINY, needs_root=False,
                               reads_root=False))
'''

RUN = ("--model", "lbptop-svm", "--profile", "quick", "--quiet", "--set", "protocol.n_splits=2")


@pytest.fixture
def plugin(install_plugin):
    install_plugin("merbench-summaries", "summaries", "merbench_summaries_plugin", PLUGIN)


def test_paths_and_numpy_numbers_in_the_summary_are_recorded_as_json(plugin, run_cli, tmp_path):
    """Before: `run --json` ended after training with "TypeError: Object of type PosixPath is not JSON serializable"
    (with --no-store, all the training lost)."""
    written = tmp_path / "r.json"
    ran = run_cli("run", "--dataset", "paths-summary", *RUN, "--no-store", "--json", str(written))
    assert ran.code == 0 and "Traceback" not in ran.err, ran.err
    summary = json.loads(written.read_text())["dataset_summary"]
    assert summary["annotation"] == "/data/corpus/labels.csv"
    assert summary["clips"] == 12 and type(summary["clips"]) is int
    assert summary["mean_size"] == 0.5 and summary["sizes"] == [1, 2] and summary["pair"] == ["a", 3]


def test_the_stored_summary_and_the_json_file_agree(plugin, run_cli, tmp_path):
    written, store = tmp_path / "r.json", tmp_path / "s.sqlite"
    ran = run_cli("run", "--dataset", "paths-summary", *RUN, "--store", str(store), "--json", str(written))
    assert ran.code == 0, ran.err
    listed = run_cli("runs", "--json", "--store", str(store))
    run_id = json.loads(listed.out)[0]["id"]
    shown = run_cli("show", run_id, "--store", str(store), "--json", "-")
    assert json.loads(shown.out)["dataset_summary"] == json.loads(written.read_text())["dataset_summary"]


def test_a_summary_entry_no_json_can_hold_is_refused_before_training(plugin, run_cli, tmp_path):
    ran = run_cli("run", "--dataset", "set-summary", *RUN, "--no-store", "--json", str(tmp_path / "r.json"))
    assert ran.code == 2 and "Traceback" not in ran.err
    text = " ".join(ran.err.split())
    assert "its dataset summary['extra']['tags'] is a set, which a result cannot record as JSON" in text
    assert "Fold" not in ran.out, "refused before any fold trained"
    assert not (tmp_path / "r.json").exists()
