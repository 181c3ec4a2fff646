"""Coding sheets and folders as copies really hold them: formulas saved without their values, sheet names in another
letter case, and names that differ only in spaces or invisible characters.

Before, a formula with no saved value was read as an empty (``/``) apex cell and the clip silently took its middle
frame; a lower-cased sheet name or a ``.XLSX`` extension was "not found" under a right --root; and a folder or cell
differing from its partner only in a trailing space or a zero-width space got no hint, a misleading one, or advice
to put the invisible character into a folder's name."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

import realtrees as rt
from merbench.errors import DataError
from merbench_plugins.datasets import casme2, mmew, samm, smic

CASME2 = {"classes": "5", "frames": "auto", "fixes": "known", "strict": False}
SAMM = {"classes": "5", "fixes": "known", "strict": False}
MMEW = {"classes": "7", "fixes": "known", "strict": False}
SHEET = "CASME2-coding-20140508.xlsx"


def _set_cell(sheet: Path, cell: str, value: object) -> None:
    """Write ``value`` into ``cell`` of the first worksheet, as a script editing the sheet with openpyxl does."""
    book = openpyxl.load_workbook(sheet)
    book.active[cell] = value
    book.save(sheet)


def _store_value(sheet: Path, cell: str, value: int) -> None:
    """Give the formula in ``cell`` the saved value a spreadsheet program writes beside it."""
    with zipfile.ZipFile(sheet) as old:
        parts = {name: old.read(name) for name in old.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    xml, count = re.subn(rf'(<c r="{cell}"[^>]*><f>[^<]*</f>)<v ?/>', rf"\g<1><v>{value}</v>", xml)
    assert count == 1
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(sheet, "w", zipfile.ZIP_DEFLATED) as new:
        for name, data in parts.items():
            new.writestr(name, data)


@pytest.fixture
def casme2_tree(tmp_path) -> Path:
    return rt.build_casme2(tmp_path / "casme2")


# ------------------------------------------------------------------ formulas without saved values


def test_a_formula_with_no_saved_value_is_refused_naming_the_cell(casme2_tree, tmp_path):
    _set_cell(casme2_tree / SHEET, "E2", "=D2+3")
    with pytest.raises(DataError, match=r"E2 holds a formula =D2\+3 with no saved value; open and save the sheet in "
                                        r"Excel or LibreOffice so its values are stored"):
        casme2.load(casme2_tree, CASME2, tmp_path / "cache")


def test_datasets_check_exits_2_on_a_formula_with_no_saved_value(casme2_tree, run_cli):
    _set_cell(casme2_tree / SHEET, "E2", "=D2+3")
    result = run_cli("datasets", "check", "casme2", "--root", str(casme2_tree))
    assert result.code == 2
    assert "E2 holds a formula =D2+3 with no saved value" in result.err
    assert "Traceback" not in result.err


def test_a_formula_with_its_saved_value_is_read_as_that_value(casme2_tree, tmp_path):
    plain = casme2.load(casme2_tree, CASME2, tmp_path / "cache")
    apex = openpyxl.load_workbook(casme2_tree / SHEET).active["E2"].value
    onset = openpyxl.load_workbook(casme2_tree / SHEET).active["D2"].value
    _set_cell(casme2_tree / SHEET, "E2", f"=D2+{apex - onset}")
    _store_value(casme2_tree / SHEET, "E2", apex)
    read = casme2.load(casme2_tree, CASME2, tmp_path / "cache")
    assert [(s.id, s.apex) for s in read.samples] == [(s.id, s.apex) for s in plain.samples]
    assert read.summary["apex_middle_fallback"] == plain.summary["apex_middle_fallback"]


def test_a_formula_whose_saved_result_is_empty_text_is_an_empty_cell_not_refused(casme2_tree, tmp_path):
    """Excel and LibreOffice store =IF(…,"",…)'s empty text as t="str" with an empty value, which reads as empty like
    a formula never computed: refusing it would ask for a save that writes the same XML."""
    plain = casme2.load(casme2_tree, CASME2, tmp_path / "cache")
    _set_cell(casme2_tree / SHEET, "E2", '=IF(1=1,"",1)')
    with zipfile.ZipFile(casme2_tree / SHEET) as old:
        parts = {name: old.read(name) for name in old.namelist()}
    xml, count = re.subn(r'<c r="E2"([^>]*)><f>', r'<c r="E2" t="str"\g<1>><f>', parts["xl/worksheets/sheet1.xml"].decode())
    assert count == 1
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(casme2_tree / SHEET, "w", zipfile.ZIP_DEFLATED) as new:
        for name, data in parts.items():
            new.writestr(name, data)
    read = casme2.load(casme2_tree, CASME2, tmp_path / "cache")  # E2 is an empty apex: the middle frame, noted
    assert read.summary["apex_middle_fallback"] == plain.summary["apex_middle_fallback"] + 1


def test_an_empty_offset_cell_is_noted_in_plain_words(casme2_tree, tmp_path):
    _set_cell(casme2_tree / SHEET, "F2", None)
    notes = [entry["note"] for entry in casme2.load(casme2_tree, CASME2, tmp_path / "cache").summary["fixed_rows"]]
    assert any(re.fullmatch(r"no offset in the sheet; used the last frame \d+", note) for note in notes), notes
    assert not any("missing not on disk" in note for note in notes)


# ------------------------------------------------------------------ sheet names in any letter case


@pytest.mark.parametrize("name", ["casme2-coding-20140508.xlsx", "CASME2-coding-20140508.XLSX"])
def test_a_casme2_sheet_named_in_another_case_is_found(tmp_path, name):
    root = rt.build_casme2(tmp_path / "casme2", sheet_name=name)
    assert casme2.load(root, CASME2, tmp_path / "cache").summary["annotation"] == str(root / name)


def test_a_lower_cased_samm_sheet_is_found(tmp_path):
    root = rt.build_samm(tmp_path / "samm")
    (root / "SAMM_Micro_FACS_Codes_v2.xlsx").rename(root / "samm_micro_facs_codes_v2.xlsx")
    dataset = samm.load(root, SAMM, tmp_path / "cache")
    assert dataset.summary["annotation"] == str(root / "samm_micro_facs_codes_v2.xlsx")


def test_an_mmew_sheet_with_an_upper_case_extension_is_found(tmp_path):
    root = rt.build_mmew(tmp_path / "mmew")
    sheet = root / "MMEW_Final" / "MMEW_Micro_Exp.xlsx"
    sheet.rename(sheet.with_suffix(".XLSX"))
    dataset = mmew.load(root, MMEW, tmp_path / "cache")
    assert dataset.summary["annotation"] == str(sheet.with_suffix(".XLSX"))


def test_a_lower_cased_sheet_saved_as_csv_is_asked_to_be_saved_as_xlsx(casme2_tree, tmp_path):
    (casme2_tree / SHEET).rename(casme2_tree / "casme2-coding-20140508.CSV")
    with pytest.raises(DataError, match=r"but found casme2-coding-20140508\.CSV; save the sheet as \.xlsx"):
        casme2.load(casme2_tree, CASME2, tmp_path / "cache")


# ------------------------------------------------------------------ names differing in spaces or invisible characters


def _skip_reasons(dataset) -> dict[str, str]:
    return {entry["sample"]: entry["reason"] for entry in dataset.summary["skipped_rows"]}


def test_a_clip_folder_with_a_trailing_space_is_named_quoted(casme2_tree, tmp_path):
    subject = casme2_tree / "CASME2_RAW_selected" / "sub01"
    (subject / "EP04_01").rename(subject / "EP04_01 ")
    reason = _skip_reasons(casme2.load(casme2_tree, CASME2, tmp_path / "cache"))["sub01/EP04_01"]
    assert reason.endswith("('EP04_01 '/ in CASME2_RAW_selected/sub01 differs from the sheet's 'EP04_01' only in "
                           "spaces or invisible characters: rename the folder 'EP04_01')")


def test_an_invisible_character_in_the_sheet_is_to_be_fixed_in_the_cell(casme2_tree, tmp_path):
    _set_cell(casme2_tree / SHEET, "B2", "EP02_01f\u200b")
    reason = _skip_reasons(casme2.load(casme2_tree, CASME2, tmp_path / "cache"))["sub01/EP02_01f\u200b"]
    assert reason.endswith("('EP02_01f'/ in CASME2_RAW_selected/sub01 differs from the sheet's 'EP02_01f\\u200b' "
                           "only in spaces or invisible characters: fix the sheet cell to read 'EP02_01f')")
    assert "rename it" not in reason


def test_a_smic_subject_folder_with_a_trailing_space_skips_each_of_its_clips_naming_it_quoted(tmp_path):
    root = rt.build_smic(tmp_path / "smic", subsets=("HS",))
    whole = smic.load(root, {"subset": "hs", "strict": False}, tmp_path / "cache")
    (root / "HS" / "s2").rename(root / "HS" / "s2 ")
    read = smic.load(root, {"subset": "hs", "strict": False}, tmp_path / "cache")
    lost = sorted(s.id for s in whole.samples if s.id.startswith("s2/"))
    reasons = _skip_reasons(read)
    assert lost and sorted(reasons) == lost
    assert read.summary["rows"] == whole.summary["rows"]
    assert set(reasons.values()) == {"in HS/'s2 ', whose name differs from 's2' only in spaces or invisible "
                                     "characters: rename the folder 's2' to include its clips"}
