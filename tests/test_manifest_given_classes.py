"""A manifest read with ``dataset.classes`` gives every row one reading: labels that are all class names are names,
even when they look like integers (SAMM-style 1-based classes ``1,2,3``); before, each row was read on its own, so
label 1 became class '2', and labels 2 and 3 were merged into class '3' with exit 0."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

import realtrees as rt
from merbench.errors import DataError
from merbench_plugins.datasets import manifest


def _relabelled(tmp_path: Path, labels: list[str]) -> Path:
    root = tmp_path / "man"
    rt.build_manifest_images(root)
    with open(root / "labels.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    for row, label in zip(rows, labels * len(rows)):
        row["label"] = label
    rt.write_csv(root / "relabelled.csv", rows)
    return root


def _load(root: Path, classes: str, tmp_path: Path):
    options = {"manifest": "relabelled.csv", "classes": classes.split(","), "strict": False}
    return manifest.load(root, options, tmp_path / "cache")


def test_integer_looking_labels_that_are_all_given_names_keep_their_names(tmp_path):
    dataset = _load(_relabelled(tmp_path, ["1", "2", "3"]), "1,2,3", tmp_path)
    assert dataset.classes == ("1", "2", "3")
    assert Counter(dataset.classes[s.label] for s in dataset.samples) == {"1": 4, "2": 4, "3": 4}


def test_whole_float_labels_are_the_integer_names_they_write(tmp_path):
    """Labels 1.0, 2.0 (as pandas writes a column with a gap) with dataset.classes=1,2,3 were read as indices 1, 2:
    class '2' and '3', shifted with exit 0."""
    dataset = _load(_relabelled(tmp_path, ["1.0", "2.0", "3.0"]), "1,2,3", tmp_path)
    assert Counter(dataset.classes[s.label] for s in dataset.samples) == {"1": 4, "2": 4, "3": 4}
    two = _load(_relabelled(tmp_path / "two", ["1.0", "2.0"]), "1,2,3", tmp_path)
    assert Counter(two.classes[s.label] for s in two.samples) == {"1": 6, "2": 6}


def test_integer_labels_still_index_the_given_names(tmp_path):
    dataset = _load(_relabelled(tmp_path, ["0", "1", "2"]), "negative,positive,surprise", tmp_path)
    assert Counter(dataset.classes[s.label] for s in dataset.samples) == {"negative": 4, "positive": 4, "surprise": 4}


def test_labels_mixing_names_and_indices_are_refused_naming_a_row_of_each(tmp_path):
    with pytest.raises(DataError) as refused:
        _load(_relabelled(tmp_path, ["1", "2", "0"]), "1,2,3", tmp_path)
    text = str(refused.value)
    assert "relabelled.csv row 4: label '0' is not one of dataset.classes=1,2,3" in text
    assert "the index of class '1', but row 2 names a class ('1')" in text and "use one kind of label" in text
