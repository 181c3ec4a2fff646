"""What a user with a broken copy of a dataset is told: the cell, the file, the row, and what a run keeps."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

import realtrees as rt

SHEET = "CASME2-coding-20140508.xlsx"
COLUMN = {"subject": 1, "onset": 4, "apex": 5, "offset": 6, "emotion": 9}


@pytest.fixture(scope="module")
def casme2(tmp_path_factory) -> Path:
    return rt.build_casme2(tmp_path_factory.mktemp("messages") / "casme2")


def edited_copy(source: Path, target: Path, column: str, value: object, row: int = 2) -> Path:
    """A copy of the CASME II tree whose coding sheet has ``value`` in ``column`` of ``row`` (2: the first clip)."""
    shutil.copytree(source, target)
    book = openpyxl.load_workbook(target / SHEET)
    book.active.cell(row, COLUMN[column]).value = value
    book.save(target / SHEET)
    return target


def skipped_reason(out: str, sample: str) -> str:
    """The reason printed (piped, plain rows) for the skipped ``sample``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if f" {sample} " in line and line.startswith("casme2 "))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    row = " ".join(" ".join(lines[start:end]).split())  # a long reason goes on over lines under its column
    return row.split(sample, 1)[1].strip()


@pytest.mark.parametrize("value, reason", [
    ("abc", "apex frame 'abc' is not a whole frame number"),
    (44.5, "apex frame 44.5 is not a whole frame number"),
])
def test_a_frame_cell_that_is_not_a_whole_number_names_the_cell(run_cli, casme2, tmp_path, value, reason):
    root = edited_copy(casme2, tmp_path / "casme2", "apex", value)
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert result.code == 0, result.err
    assert skipped_reason(result.out, "sub01/EP02_01f") == reason


def test_onset_and_offset_swapped_in_the_sheet_are_named_as_such(run_cli, casme2, tmp_path):
    import openpyxl as xl

    book = xl.load_workbook(casme2 / SHEET)
    onset, offset = (book.active.cell(2, COLUMN[column]).value for column in ("onset", "offset"))
    root = edited_copy(casme2, tmp_path / "casme2", "onset", offset)
    book = xl.load_workbook(root / SHEET)
    book.active.cell(2, COLUMN["offset"]).value = onset
    book.save(root / SHEET)
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert result.code == 0, result.err
    assert skipped_reason(result.out, "sub01/EP02_01f").endswith("onset and offset look swapped in the sheet")


@pytest.mark.parametrize("column, message", [
    ("emotion", f"{SHEET} row 2 (sub01/EP02_01f): an empty emotion cell (a merged cell holds its value in its first "
                "row only: unmerge it and fill each row); expected one of happiness"),
    ("subject", f"{SHEET} row 2: an empty Subject cell (a merged cell holds its value in its first row only: unmerge "
                "it and fill each row) is not a subject number"),
])
def test_an_empty_required_cell_is_called_empty(run_cli, casme2, tmp_path, column, message):
    root = edited_copy(casme2, tmp_path / "casme2", column, None)
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert result.code == 2
    assert message in " ".join(result.err.split()) and "None" not in result.err


def test_an_unreadable_frame_is_left_out_of_the_usable_count_and_the_skip_reason_gives_no_contradiction(
        run_cli, casme2, tmp_path):
    root = tmp_path / "casme2"
    shutil.copytree(casme2, root)
    for frame in (root / "CASME2_RAW_selected" / "sub01" / "EP02_01f").iterdir():
        frame.write_bytes(b"not a jpeg")
    checked = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert checked.code == 0, checked.err
    assert "usable: 9 samples, 3 subjects, 2 rows skipped" in checked.out
    assert "1 clip with missing or unusable files left out" in checked.out

    prepared = run_cli("preprocess", "--dataset", "casme2", "--root", str(root), "--set", "preprocess=crop,flow",
                       "flow.method=farneback")
    assert prepared.code == 0, prepared.err
    message = " ".join(prepared.err.split())
    assert "skipped 1 clip with unusable frames" in message and "replace it with the original frame" in message
    assert "dataset.strict=false" not in message  # it is off already: the advice would contradict the line


def test_every_clip_skipped_as_unreadable_is_named_not_only_the_first(run_cli, casme2, tmp_path):
    root = tmp_path / "casme2"
    shutil.copytree(casme2, root)
    from merbench_plugins.datasets import casme2 as loader

    samples = loader.load(root, {"classes": "5", "frames": "auto", "strict": False}, tmp_path / "cache").samples[:2]
    for sample in samples:
        for frame in sample.frames:
            frame.write_bytes(b"not a jpeg")
    prepared = run_cli("preprocess", "--dataset", "casme2", "--root", str(root), "--set", "preprocess=crop,flow",
                       "flow.method=farneback")
    message = " ".join(prepared.err.split())
    assert prepared.code == 0 and "skipped 2 clips with unusable frames" in message, prepared.err
    assert f"skipped 2 clips with unusable frames (dataset.strict is off): {samples[0].id}, {samples[1].id}; " \
           f"first: sample {samples[0].id}: cannot decode frame" in message, message


def test_the_overview_keeps_a_long_annotation_path_at_80_columns(run_cli, casme2, tmp_path, monkeypatch):
    root = tmp_path / "a-folder-name-long-enough-to-push-the-sheet-path-past-the-column" / "casme2"
    shutil.copytree(casme2, root)
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("--format", "table", "datasets", "check", "casme2", "--root", str(root))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert max(len(line) for line in lines) <= 80 and "Not shown at this width" not in result.out
    start = next(i for i, line in enumerate(lines) if line.startswith("│ annotation "))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("│    "))
    folded = "".join(line.split("│")[2].strip() for line in lines[start:end])
    assert str(root / SHEET) in folded


def test_a_smic_folder_not_named_like_a_subject_is_reported(run_cli, tmp_path):
    root = rt.build_smic(tmp_path / "smic", subsets=("HS",))
    (root / "HS" / "s2").rename(root / "HS" / "subject2")
    result = run_cli("datasets", "check", "smic", "--root", str(root))
    assert result.code == 0, result.err
    assert "HS/subject2 is not a subject folder s<N> (s1, s2, …): rename it to include its clips" in \
        " ".join(result.out.split())
    strict = run_cli("datasets", "check", "smic", "--root", str(root), "--strict")
    assert strict.code == 2 and "subject2" in strict.err


def test_manifest_errors_name_the_manifest_file_and_line(run_cli, tmp_path):
    root = tmp_path / "data"
    rt.build_manifest_images(root)
    rt.write_csv(root / "bad.csv", [{"subject": "a", "label": "0", "path": "images/s0/img_0.png"},
                                    {"subject": "b", "label": "1", "path": "../x.png"}])
    escaped = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=bad.csv")
    assert escaped.code == 2
    assert f"{root / 'bad.csv'} row 3: path ../x.png escapes the root" in " ".join(escaped.err.split())
    (root / "latin.csv").write_bytes("subject,label,path\ns0,0,images/s0/img_0.png\nJos\xe9,1,images/s0/img_1.png\n"
                                     .encode("latin-1"))
    latin = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=latin.csv")
    assert latin.code == 2
    assert f"{root / 'latin.csv'} line 3 (byte 0xe9) is not UTF-8 text; save the manifest as CSV UTF-8" in " ".join(
        latin.err.split())
