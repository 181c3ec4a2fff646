"""Manifest rows read as written: a column given twice (``label`` and ``Label ``) was read from the later one, so a run
trained on the wrong labels with exit 0; subject ids ``006`` and ``6`` (a CSV re-saved by Excel) were two subjects, so
one person's clips sat on both sides of a subject-independent split; a header row repeated inside a concatenated
manifest was skipped as a missing file ``path``."""

from __future__ import annotations

from pathlib import Path

import pytest

import realtrees as rt
from merbench.errors import DataError
from merbench_plugins.datasets import manifest


def flat(text: str) -> str:
    return " ".join(text.split())


def tree_with(tmp_path: Path, edit) -> Path:
    """The ``build_manifest_images`` tree with its ``labels.csv`` rows passed through ``edit`` (``realtrees``)."""
    return rt.build_manifest_edited(tmp_path / "data", edit)


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


# ------------------------------------------------------------------ subject ids with and without leading zeros


def spelled(subjects: dict[str, str]):
    """Rows whose subject is renamed by ``subjects`` (``s0`` → ``006``) from the third row on (the first keeps it)."""
    def edit(rows: list[list[str]]) -> list[list[str]]:
        return rows[:2] + [[subjects.get(row[0], row[0])] + row[1:] for row in rows[2:]]
    return edit


@pytest.mark.parametrize("first, other", [("006", "6"), ("sub06", "sub6"), ("s1", "s01")])
def test_subject_ids_that_differ_only_in_leading_zeros_are_refused_naming_both_rows(run_cli, tmp_path, first, other):
    root = tree_with(tmp_path, lambda rows: spelled({"s0": other})([rows[0]] + [[first] + rows[1][1:]] + rows[2:]))
    with pytest.raises(DataError) as refused:
        load(root, tmp_path)
    assert (f"{root / 'labels.csv'} row 3: subject '{other}' differs from '{first}' (row 2) only in leading zeros"
            in flat(str(refused.value)))
    assert "spell each subject one way" in str(refused.value)
    result = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=labels.csv")
    assert result.code == 2 and "only in leading zeros" in flat(result.err)


def test_subject_ids_that_differ_in_leading_zeros_and_case_say_both(tmp_path):
    root = tree_with(tmp_path, spelled({"s0": "S00"}))
    with pytest.raises(DataError, match=r"row 3: subject 'S00' differs from 's0' \(row 2\) only in leading "
                       "zeros and in case"):
        load(root, tmp_path)


def test_subject_ids_of_other_numbers_stay_apart(tmp_path):
    """``s1``, ``s10`` and ``s100`` are three people: only leading zeros are dropped, never a zero inside."""
    root = tree_with(tmp_path, lambda rows: [rows[0]] + [[{"s0": "s10", "s1": "s100"}.get(r[0], r[0]).replace(
        "s2", "s1")] + r[1:] for r in rows[1:]])
    assert sorted({s.subject for s in load(root, tmp_path).samples}) == ["s1", "s10", "s100"]


def test_number_key_drops_leading_zeros_only_and_spelling_key_keeps_them():
    from merbench.escaping import number_key, spelling_key

    assert number_key("006") == number_key("6") == number_key("\uff10\uff10\uff16")
    assert number_key("Sub06_02") == number_key("sub6_2") != number_key("sub60_2")
    assert number_key("s100") != number_key("s10") and number_key("0") == number_key("000") != number_key("")
    assert spelling_key("006") != spelling_key("6"), "datasets check words its warning for case and invisible marks"


# ------------------------------------------------------------------ a header row repeated inside the file


def concatenated(rows: list[list[str]]) -> list[list[str]]:
    """Two manifests joined: the header row again as row 8."""
    return rows[:7] + [rows[0]] + rows[7:]


def test_a_repeated_header_row_is_skipped_as_such(run_cli, tmp_path):
    root = tree_with(tmp_path, concatenated)
    dataset = load(root, tmp_path)
    assert len(dataset.samples) == 12
    assert [(e["row"], e["sample"]) for e in dataset.summary["skipped_rows"]] == [(8, "header")]
    assert dataset.summary["skipped_rows"][0]["reason"].startswith("repeats the header row (row 1)")
    result = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=labels.csv",
                     "--format", "plain")
    assert result.code == 0 and "repeats the header row" in result.out and "not found" not in result.out
    strict = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=labels.csv",
                     "--strict")
    assert strict.code == 2 and "row 8 (header): repeats the header row (row 1)" in flat(strict.err)
    with pytest.raises(DataError) as refused:
        load(root, tmp_path, strict=True)
    assert f"({root / 'labels.csv'}): 1 row cannot be used, first row 8 (header): repeats the header row" in str(
        refused.value)


def test_a_header_repeated_twice_and_in_other_case_is_skipped_each_time(tmp_path):
    """Two repeats would have been one sample ``path`` claimed twice; ``Subject`` against ``subject`` a case clash."""
    root = tree_with(tmp_path, lambda rows: rows[:4] + [[c.upper() for c in rows[0]]] + rows[4:9] + [rows[0]]
                     + rows[9:])
    dataset = load(root, tmp_path)
    assert len(dataset.samples) == 12
    assert [e["row"] for e in dataset.summary["skipped_rows"]] == [5, 11]
