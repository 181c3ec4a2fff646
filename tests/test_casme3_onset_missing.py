"""CAS(ME)³ rows without an onset frame ("/" or an empty cell): the onset is part of a sample's id
(``spNO.1/a/101``), and such rows were listed as ``spNO.1/a/None``; two of them in one trial were refused as one
sample given twice. They are skipped rows named ``spNO.1/a``, as the loader's other skips without an onset write."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

import realtrees as rt
from merbench_plugins.datasets import casme3

V2 = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return rt.build_casme3(tmp_path_factory.mktemp("casme3") / "casme3")


def _without_onsets(root: Path, cells: dict[int, object]) -> None:
    """Write ``cells`` (sheet row: value) into the Onset column of the label sheet."""
    path = root / "annotation" / V2
    book = openpyxl.load_workbook(path)
    for row, value in cells.items():
        book.active.cell(row=row, column=3).value = value  # cell(value=None) would keep the old value
    book.save(path)


def test_rows_without_an_onset_are_skipped_under_an_id_without_none(release, tmp_path):
    root = rt.copied_casme3(release, tmp_path)
    assert [rt.CASME3_ROWS[i][:2] for i in (0, 1)] == [("spNO.1", "a")] * 2, "two rows of one trial"
    _without_onsets(root, {2: "/", 3: None})
    dataset = casme3.load(root, rt.CASME3_OPTIONS, tmp_path / "cache")
    skipped = {entry["row"]: entry for entry in dataset.summary["skipped_rows"]}
    assert (skipped[2]["sample"], skipped[3]["sample"]) == ("spNO.1/a", "spNO.1/a")
    assert skipped[2]["reason"] == "no onset frame in the sheet: Onset '/'; fill in the onset frame number"
    assert skipped[3]["reason"].startswith("no onset frame in the sheet: an empty Onset cell (a merged cell")
    assert not any("None" in str(entry["sample"]) for entry in dataset.summary["skipped_rows"])
    assert len(dataset.samples) == len(release_samples(release, tmp_path)) - 2


def test_the_check_lists_the_row_under_its_trial(run_cli, release, tmp_path):
    root = rt.copied_casme3(release, tmp_path)
    _without_onsets(root, {2: "/"})
    result = run_cli("datasets", "check", "casme3", "--root", str(root), "--quiet")
    assert result.code == 0, result.err
    row = next(line for line in result.out.splitlines() if line.startswith("casme3    2 "))
    assert row.split()[2] == "spNO.1/a" and "None" not in result.out


def release_samples(release: Path, tmp_path: Path):
    """The samples the unchanged tree gives."""
    return casme3.load(release, rt.CASME3_OPTIONS, tmp_path / "cache-release").samples
