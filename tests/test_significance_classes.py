"""``merbench significance`` of runs whose classes differ (``dataset.classes=neg,pos,sur`` beside the manifest's own
``0,1,2``) says so and how to make them alike; it said "compare runs of one dataset and protocol", which they were."""

from __future__ import annotations

import json

import pytest

from merbench.errors import DataError
from merbench.result import RunResult
from merbench.significance import compare_runs


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    from merbench.cli import main

    path = tmp_path_factory.mktemp("significance-classes") / "a.json"
    assert main(["run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                 "--no-store", "--json", str(path)]) == 0
    return path


@pytest.mark.parametrize("renamed", [{"negative": "neg", "positive": "pos", "surprise": "sur"},
                                     {"negative": "positive", "positive": "negative"}])
def test_runs_whose_classes_differ_are_refused_naming_dataset_classes(run_file, tmp_path, run_cli, renamed):
    """Other names, or the same names in another order: a label number names another class in each run."""
    document = json.loads(run_file.read_text())
    classes_a = document["classes"]
    classes_b = [renamed.get(name, name) for name in classes_a]
    path = tmp_path / "b.json"
    path.write_text(json.dumps({**document, "classes": classes_b}))
    with pytest.raises(DataError) as refused:
        compare_runs(RunResult.from_dict(document), RunResult.from_dict(json.loads(path.read_text())))
    message = str(refused.value)
    assert f"run A (lbptop-svm) has {classes_a}, run B (lbptop-svm) {classes_b}" in message
    assert "run both with the same class names in the same order (dataset.classes)" in message
    assert "one dataset and protocol" not in message
    shown = run_cli("significance", str(run_file), str(path))
    assert shown.code == 2 and "(dataset.classes)" in " ".join(shown.err.split()), shown.err
