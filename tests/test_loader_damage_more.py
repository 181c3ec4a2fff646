"""Coding sheets the loaders cannot read: an old Excel .xls workbook renamed to .xlsx is said to be one, with how to
convert it, where it was called a damaged zip to copy again (which does not help); a damaged file still is."""

from __future__ import annotations

import pytest

import realtrees as rt

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""The first bytes of an OLE2 compound file, which old Excel .xls workbooks are."""


@pytest.mark.parametrize("name, build, sheet", [
    ("casme2", rt.build_casme2, "CASME2-coding-20140508.xlsx"),
    ("samm", rt.build_samm, "SAMM_Micro_FACS_Codes_v2.xlsx"),
])
def test_an_old_xls_workbook_named_xlsx_is_said_so_with_how_to_convert_it(run_cli, tmp_path, name, build, sheet):
    root = build(tmp_path / name)
    path = root / sheet
    assert path.exists(), sorted(p.name for p in root.iterdir())
    path.write_bytes(OLE2 + bytes(504))
    result = run_cli("datasets", "check", name, "--root", str(root), "--quiet")
    said = " ".join(result.err.split())
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert (f"{path} is an old Excel .xls workbook (Excel 97-2003) with an .xlsx name, which cannot be read as .xlsx; "
            "open it in a spreadsheet program and save it as .xlsx (Excel Workbook)") in said, said
    assert "re-copy" not in said and "BadZipFile" not in said


def test_a_damaged_workbook_is_still_copied_again(run_cli, tmp_path):
    root = rt.build_casme2(tmp_path / "casme2")
    path = root / "CASME2-coding-20140508.xlsx"
    path.write_bytes(b"PK\x03\x04 cut short")
    result = run_cli("datasets", "check", "casme2", "--root", str(root), "--quiet")
    said = " ".join(result.err.split())
    assert result.code == 2 and f"cannot read {path} as an .xlsx workbook (" in said and "re-copy the file" in said
    assert ".xls workbook" not in said
