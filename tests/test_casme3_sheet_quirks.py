"""CAS(ME)³ Part A as a researcher's copy may hold it: the superseded v1 label sheet of the official repository, an
apex lost among the frames dropped at the start of a trial, frames dropped inside a clip, a merged Filename cell, and
frame numbers in cells formatted as dates."""

from __future__ import annotations

import datetime
from pathlib import Path

import openpyxl
import pytest

import realtrees as rt
from merbench.errors import DataError
from merbench_plugins.datasets import casme3
from merbench_plugins.datasets.common import SkipRow, frame_numbers

CASME3 = rt.CASME3_OPTIONS
V2 = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return rt.build_casme3(tmp_path_factory.mktemp("casme3") / "casme3")


def test_the_superseded_v1_label_sheet_is_refused_naming_the_v2_sheet(release, tmp_path):
    root = rt.copied_casme3(release, tmp_path)
    sheet = root / "annotation" / V2
    v1 = sheet.with_name("cas(me)3_part_A_ME_label_JpgIndex_v1.xlsx")
    sheet.rename(v1)
    with pytest.raises(DataError) as refused:
        casme3.load(root, CASME3, tmp_path / "cache")
    assert str(refused.value).startswith(f"{v1}: version 1 of the CAS(ME)3 Part A ME labels (921 rows), superseded "
                                         "by version 2")
    assert f"merbench reads {V2}: copy it from annotation/partA/ of github.com/jingtingEmmaLi/CAS-ME-3" in \
        str(refused.value)


def test_the_superseded_v1_sheet_in_capitals_is_recognised_as_v1(release, tmp_path):
    """A copy made on Windows or macOS may keep any letter case: before, an upper-case v1 .XLS sheet was not recognised,
    and the message asked for the sheet to be saved as .xlsx, which would have led to reading v1."""
    root = rt.copied_casme3(release, tmp_path)
    sheet = root / "annotation" / V2
    v1 = sheet.with_name("CAS(ME)3_PART_A_ME_LABEL_JPGINDEX_V1.XLS")
    sheet.rename(v1)
    with pytest.raises(DataError) as refused:
        casme3.load(root, CASME3, tmp_path / "cache")
    assert str(refused.value).startswith(f"{v1}: version 1 of the CAS(ME)3 Part A ME labels")


def test_the_v1_sheet_as_the_repository_ships_it_is_not_asked_to_be_saved_as_xlsx(release, tmp_path):
    """The repository's v1 is an .xls: "save the sheet as .xlsx" would have led to reading it."""
    root = rt.copied_casme3(release, tmp_path)
    (root / "annotation" / V2).unlink()
    v1 = root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v1.xls"
    v1.write_bytes(b"\xd0\xcf\x11\xe0 an old Excel file")
    with pytest.raises(DataError, match="superseded by version 2") as refused:
        casme3.load(root, CASME3, tmp_path / "cache")
    assert "save the sheet as .xlsx" not in str(refused.value)


def frames(numbers) -> dict[int, Path]:
    return {n: Path(f"{n}.jpg") for n in numbers}


def test_an_apex_among_the_frames_dropped_before_the_clip_skips_the_row():
    """spNO.214/k: onset 4, apex 6; the trial's frames start at 9. Once placed on frame 9 with the onset: zero motion,
    and reported as an apex annotated at the onset."""
    with pytest.raises(SkipRow, match=r"onset frame 4 and apex frame 6 not on disk: the frames on disk start at 9 "
                                      r"\(frame drops\), after the apex"):
        casme3.place_span(frames(range(9, 11)), 4, 6, 10, "spNO.214/k/color")


def test_an_apex_on_the_first_frame_on_disk_after_a_dropped_onset_skips_the_row():
    """Onset 100 dropped, apex 101 the first frame on disk: no onset to flow from (once the apex was moved to 102 with
    a note that 101 was not on disk)."""
    with pytest.raises(SkipRow, match=r"onset frame 100 not on disk: the frames on disk start at 101 \(frame "
                                      r"drops\), the apex, so the clip shows no onset-to-apex motion"):
        casme3.place_span(frames(range(101, 111)), 100, 101, 110, "spNO.1/a")


def test_an_apex_after_the_onset_is_never_placed_on_the_onset_frame():
    placed, notes = casme3.place_span(frames([10, 12, 13]), 10, 11, 13, "trial")  # 11 missing: 10 and 12 as near
    assert placed.apex == 1 and "apex frame 11 not on disk, used 12" in notes
    placed, _ = casme3.place_span(frames([10, 11, 12]), 10, 10, 12, "trial")
    assert placed.apex == 0, "an apex annotated at the onset stays there"


def test_frames_dropped_inside_a_clip_are_counted_as_gaps():
    placed, _ = casme3.place_span(frames([1, 2, 4, 5]), 1, 2, 5, "trial")
    assert placed.gaps == "frame 3 missing of 1..5 (1 of 5)"
    assert casme3.place_span(frames([1, 2, 3]), 1, 2, 3, "trial")[0].gaps is None


def test_an_empty_filename_cell_is_an_error_naming_the_row_and_merged_cells(release, tmp_path):
    root = rt.copied_casme3(release, tmp_path)
    sheet = root / "annotation" / V2
    book = openpyxl.load_workbook(sheet)
    book.active.cell(row=3, column=2).value = None  # as a merged Filename cell reads below its first row
    book.save(sheet)
    with pytest.raises(DataError) as refused:
        casme3.load(root, CASME3, tmp_path / "cache")
    message = str(refused.value)
    assert message.startswith(f"{sheet} row 3 (")
    assert "an empty Filename cell (a merged cell holds its value in its first row only" in message


def test_a_frame_number_formatted_as_a_date_says_to_format_the_column_as_number():
    cells = {"onset": 100, "apex": datetime.datetime(1900, 4, 13), "offset": 120}
    with pytest.raises(SkipRow, match="apex frame .* is a date or time cell, not a whole frame number: format the "
                                      "column as Number"):
        frame_numbers(cells)
    with pytest.raises(SkipRow, match="apex frame 'x' is not a whole frame number$"):
        frame_numbers({**cells, "apex": "x"})


@pytest.mark.parametrize("beside", [["CASME3"], ["CASME"], ["CASME3", "CASME"]])
def test_megc2019_takes_the_casme_ii_folder_beside_other_casme_releases(tmp_path, beside):
    """A lab's folder of releases: /data/{SMIC, CASME2, CASME3, SAMM}; the CASME II part is CASME2."""
    from merbench_plugins.datasets.megc2019 import part_root

    for name in ["SMIC", "CASME2", "SAMM", *beside]:
        (tmp_path / name).mkdir()
    assert part_root("casme2", "", tmp_path) == tmp_path / "CASME2"
    (tmp_path / "CASME II").mkdir()  # two folders of CASME II: which one is for the user to say
    with pytest.raises(DataError, match=r"expected one sub-folder .* whose name contains 'casme' for casme2 \(found "):
        part_root("casme2", "", tmp_path)
