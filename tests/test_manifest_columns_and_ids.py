"""Manifest rows read as written: a column given twice (``label`` and ``Label ``) was read from the later one, so a run
trained on the wrong labels with exit 0; subject ids ``006`` and ``6`` (a CSV re-saved by Excel) were two subjects, so
one person's clips sat on both sides of a subject-independent split; a header row repeated inside a concatenated
manifest was skipped as a missing file ``path``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import realtrees as rt
from merbench.errors import DataError
from merbench_plugins.datasets import manifest


def flat(text: str) -> str:
    return " ".join(text.split())


def tree_with(tmp_path: Path, edit) -> Path:
    """The ``build_manifest_images`` tree with its ``labels.csv`` rows (header first, as lists) passed through
    ``edit``."""
    root = tmp_path / "data"
    rt.build_manifest_images(root)
    with open(root / "labels.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    with open(root / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(edit(rows))
    return root


def load(root: Path, tmp_path: Path, strict: bool = False):
    return manifest.load(root, {"manifest": "labels.csv", "classes": [], "strict": strict}, tmp_path / "cache")


# ------------------------------------------------------------------ a column given twice


def second_label_column(rows: list[list[str]]) -> list[list[str]]:
    """A fifth column headed ``Label `` with other labels than the ``label`` column."""
    return [rows[0] + ["Label "]] + [row + [str((int(row[1]) + 1) % 3)] for row in rows[1:]]


def test_two_columns_read_as_one_name_are_refused_naming_both(run_cli, tmp_path):
    root = tree_with(tmp_path, second_label_column)
    with pytest.raises(DataError) as refused:
        load(root, tmp_path)
    said = str(refused.value)
    assert f"{root / 'labels.csv'} row 1: columns 'label' (column 2) and 'Label ' (column 5) are one column" in said
    assert "rename or remove one of them" in said
    result = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=labels.csv")
    assert result.code == 2 and "'Label ' (column 5)" in flat(result.err)


def test_columns_the_loader_does_not_read_may_repeat(tmp_path):
    """Excel saves trailing empty header cells (``subject,label,path,,``) and a sheet may hold two ``notes``."""
    root = tree_with(tmp_path, lambda rows: [rows[0] + ["notes", "Notes", "", ""]] + [r + ["a", "b", "", ""]
                                                                                     for r in rows[1:]])
    assert len(load(root, tmp_path).samples) == 12
