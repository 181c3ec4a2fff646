"""A coding sheet whose recorded size (the ``<dimension>`` element some programs write wrong) is shorter than its data
is read whole: before, openpyxl's read-only mode stopped at the recorded size, and the rows past it were lost with
exit 0 and no word (or the right file was called wrong when the size cut the header)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

import realtrees as rt
from merbench_plugins.datasets import casme2

OPTIONS = {"classes": "5", "frames": "auto", "fixes": "known", "strict": False}


def _state_size(sheet: Path, ref: str) -> None:
    """Rewrite the size the workbook records for its first sheet (its data untouched)."""
    with zipfile.ZipFile(sheet) as old:
        parts = {name: old.read(name) for name in old.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    assert "<dimension ref=" in xml
    parts["xl/worksheets/sheet1.xml"] = re.sub(r'<dimension ref="[^"]*"', f'<dimension ref="{ref}"', xml).encode()
    with zipfile.ZipFile(sheet, "w", zipfile.ZIP_DEFLATED) as new:
        for name, data in parts.items():
            new.writestr(name, data)


@pytest.mark.parametrize("ref", ["A1:I8", "A1", "A1:F15"])
def test_a_sheet_recording_a_smaller_size_is_read_whole(tmp_path, ref):
    root = rt.build_casme2(tmp_path / "casme2")
    whole = casme2.load(root, OPTIONS, tmp_path / "cache")
    _state_size(root / "CASME2-coding-20140508.xlsx", ref)
    read = casme2.load(root, OPTIONS, tmp_path / "cache")
    assert [s.id for s in read.samples] == [s.id for s in whole.samples]
    assert read.summary["dropped_by_class_set"] == whole.summary["dropped_by_class_set"]
