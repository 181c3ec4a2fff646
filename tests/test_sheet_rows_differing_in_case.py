"""Two sheet rows whose sample ids differed only in letter case (``sub01/EP02_01f``, ``sub01/EP02_01F``) passed: the
second was skipped with a hint to rename row 1's folder, which would have taken it from row 1, and on a
case-insensitive disk (macOS, Windows) both rows opened one folder: one clip kept twice with two labels. Such rows
are now refused like exact duplicates, naming both rows, in every loader that checks for duplicate samples; and a
missing folder's hint no longer offers to rename a folder another row reads."""

from __future__ import annotations

import shutil

import openpyxl
import pytest

import realtrees as rt
from merbench.errors import DataError
from merbench_plugins.datasets import fourdme, mmew, smic

FOURDME = {"classes": "5", "frames": "auto", "multilabel": "skip", "fixes": "known", "strict": False}
MMEW = {"classes": "7", "fixes": "known", "strict": False}


def _append_row(sheet_path, copy_of: int, **cells: object) -> int:
    """Append to the sheet a copy of row ``copy_of`` with ``cells`` (column index → value) changed; its row number."""
    book = openpyxl.load_workbook(sheet_path)
    sheet = book.active
    values = [cell.value for cell in sheet[copy_of]]
    for column, value in cells.items():
        values[int(column.lstrip("c"))] = value
    sheet.append(values)
    book.save(sheet_path)
    return sheet.max_row


def _said(result) -> str:
    return " ".join((result.out + result.err).split())


def test_a_casme2_row_differing_from_another_only_in_letter_case_is_refused(tmp_path, run_cli):
    root = rt.build_casme2(tmp_path / "casme2")
    row = _append_row(root / "CASME2-coding-20140508.xlsx", 2, c0="sub01", c1="EP02_01F", c8="disgust")
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    said = _said(result)
    assert result.code == 2, said
    assert f"row {row}: sample sub01/EP02_01F duplicates row 2 (sub01/EP02_01f) but for letter case; on a " \
        "case-insensitive disk (macOS, Windows) both name one clip, read twice; remove one of the two rows" in said
    assert "Traceback" not in said and "rename it" not in said


def test_an_exact_duplicate_row_is_still_refused_without_a_case_note(tmp_path, run_cli):
    root = rt.build_casme2(tmp_path / "casme2")
    row = _append_row(root / "CASME2-coding-20140508.xlsx", 2, c0="sub01")
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    said = _said(result)
    assert result.code == 2, said
    assert f"row {row}: sample sub01/EP02_01f duplicates row 2; remove one of the two rows" in said
    assert "letter case" not in said


def test_a_4dme_row_differing_only_in_the_case_of_its_subject_is_refused(tmp_path):
    root = rt.build_4dme(tmp_path / "4dme")
    sheet = root / "4DME" / "4DME_Labelling_Micro_release v1.xlsx"
    row = _append_row(sheet, 2, c1="s01")
    with pytest.raises(DataError, match=rf"row {row}: sample s01/S01_001_01_1 duplicates row 2 \(S01/S01_001_01_1\) "
                                        "but for letter case"):
        fourdme.load(root, FOURDME, tmp_path / "cache")


def test_an_mmew_row_differing_only_in_the_case_of_its_filename_is_refused(tmp_path):
    root = rt.build_mmew(tmp_path / "mmew")
    sheet = root / "MMEW_Final" / "MMEW_Micro_Exp.xlsx"
    first = openpyxl.load_workbook(sheet).active.cell(2, 2).value
    row = _append_row(sheet, 2, c1=first.lower())
    with pytest.raises(DataError, match=rf"row {row}: sample \S+/{first.lower()} duplicates row 2 \(\S+/{first}\) "
                                        "but for letter case"):
        mmew.load(root, MMEW, tmp_path / "cache")


def test_two_smic_clip_folders_differing_only_in_letter_case_are_refused(tmp_path):
    root = rt.build_smic(tmp_path / "smic", subsets=("HS",))
    clip = root / "HS" / "s1" / "micro" / "negative" / "s1_ne_01"
    shutil.copytree(clip, clip.with_name("S1_NE_01"))
    with pytest.raises(DataError) as refused:
        smic.read_part(root, "hs")
    said = " ".join(str(refused.value).split())
    assert "samples s1/S1_NE_01 and s1/s1_ne_01 differ only in letter case" in said \
        or "samples s1/s1_ne_01 and s1/S1_NE_01 differ only in letter case" in said
    assert "HS/s1/micro/negative/s1_ne_01" in said and "HS/s1/micro/negative/S1_NE_01" in said
    assert "keep one of the two folders" in said


def test_a_missing_folder_is_not_told_to_take_a_folder_another_row_reads(tmp_path, run_cli):
    root = rt.build_casme2(tmp_path / "casme2")
    row = _append_row(root / "CASME2-coding-20140508.xlsx", 2, c1="EP2_01f", c8="disgust")  # EP02_01f, spelt otherwise
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    said = _said(result)
    assert result.code == 0, said
    assert f"{row} sub01/EP2_01f no frame folder CASME2_RAW_selected/sub01/EP2_01f" in said
    assert "CASME2_RAW_selected/sub01 holds EP02_01f/, which another row reads: check this row's cells, not the " \
        "folder" in said
    assert "rename it EP2_01f" not in said


def test_a_missing_folder_spelt_like_an_unread_one_still_gets_the_rename_hint(tmp_path, run_cli):
    rows = [row for row in rt.CASME2_ROWS if row[:2] != (1, "EP02_01f")]
    root = rt.build_casme2(tmp_path / "casme2", rows=rows)
    shutil.copytree(root / "CASME2_RAW_selected" / "sub01" / "EP03_02", root / "CASME2_RAW_selected" / "sub01" / "EP02_01f")
    _append_row(root / "CASME2-coding-20140508.xlsx", 2, c1="EP02_01F")  # no row reads EP02_01f/
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    said = _said(result)
    assert result.code == 0, said
    assert "EP02_01F/ is not in CASME2_RAW_selected/sub01, but EP02_01f/ is: rename it EP02_01F" in said
