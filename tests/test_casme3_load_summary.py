"""What a CAS(ME)³ load reports on a real-layout copy: frames dropped inside a clip counted as gaps, colour frames
saved as PNG read (and PNG images beside the trial's JPEGs named), and a header-only first sheet passed over."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import openpyxl
import pytest

import realtrees as rt
from merbench_plugins.datasets import casme3

CASME3 = rt.CASME3_OPTIONS
SHEET = Path("annotation") / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
DROPPED = "spNO.1/b/"
"""The real-layout tree's clip with a frame dropped inside it (``realtrees.CASME3_ROWS``)."""


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return rt.build_casme3(tmp_path_factory.mktemp("casme3") / "casme3")


def flat(text: str) -> str:
    return " ".join(text.split())


def test_a_frame_dropped_inside_a_clip_counts_among_the_clips_with_frames_missing_inside(release, tmp_path, run_cli):
    summary = casme3.load(release, CASME3, tmp_path / "cache").summary
    (gap,) = [row for row in summary["frame_gap_rows"] if row["sample"].startswith(DROPPED)]
    assert summary["frame_gaps"] == len(summary["frame_gap_rows"])
    assert re.fullmatch(r"frame \d+ missing of \d+\.\.\d+ \(1 of \d+\)", gap["note"])
    assert any(row["sample"] == gap["sample"] and "frames missing on disk (frame drops)" in row["note"]
               for row in summary["fixed_rows"]), "the row stays listed among the fixed rows too"
    checked = run_cli("datasets", "check", "casme3", "--root", str(release))
    assert f"clips with frames missing inside {summary['frame_gaps']}" in flat(checked.out)
    as_json = run_cli("datasets", "check", "casme3", "--root", str(release), "--json", "-")
    assert gap["sample"] in [row["sample"] for row in json.loads(as_json.out)["frame_gaps"]]


def as_png(folder: Path, suffix: str = ".png") -> None:
    """Re-save the ``.jpg`` frames of ``folder`` in another image format, as a copy converted by a tool may hold them."""
    for frame in folder.glob("*.jpg"):
        assert cv2.imwrite(str(frame.with_suffix(suffix)), cv2.imread(str(frame)))
        frame.unlink()


@pytest.mark.parametrize("suffix", [".png", ".bmp"])
def test_colour_frames_saved_as_png_or_bmp_in_color_folders_are_read(release, tmp_path, suffix):
    root = rt.copied_casme3(release, tmp_path)
    before = casme3.load(root, CASME3, tmp_path / "cache")
    for colour in root.glob("part_A/**/color"):
        as_png(colour, suffix)
    after = casme3.load(root, CASME3, tmp_path / "cache")
    assert [s.id for s in after.samples] == [s.id for s in before.samples]
    assert {f.suffix for s in after.samples for f in s.frames} == {suffix}
    assert all(f.parent.name == "color" for s in after.samples for f in s.frames), "depth maps are never colour"


def test_a_trial_folder_of_png_images_without_color_says_colour_frames_there_are_read_as_jpg(release, tmp_path):
    root = rt.copied_casme3(release, tmp_path)
    trial = next(root.glob("part_A/**/spNO.1/a"))
    colour = trial / "color"
    as_png(colour)
    shutil.rmtree(trial / "depth")
    for frame in colour.iterdir():
        frame.rename(trial / frame.name)
    colour.rmdir()
    summary = casme3.load(root, CASME3, tmp_path / "cache").summary
    reasons = [row["reason"] for row in summary["skipped_rows"] if row["sample"].startswith("spNO.1/a/")]
    count = len(list(trial.glob("*.png")))
    assert reasons and all(f"the folder holds {count} .png images and CAS(ME)3 colour frames in a trial folder are "
                           "read as .jpg" in reason and "into a color/ folder" in reason for reason in reasons)


def header_only_sheet_first(sheet: Path, keep_data: bool) -> str:
    """Put a sheet holding only the label sheet's header in front of its sheets (a template left in the workbook);
    without ``keep_data`` the released sheet goes. Returns the new sheet's name."""
    book = openpyxl.load_workbook(sheet)
    released = book.worksheets[0]
    template = book.create_sheet("Sheet1", 0)
    template.append([cell.value for cell in released[1]])
    if not keep_data:
        book.remove(released)
    book.save(sheet)
    return template.title


def test_a_header_only_first_sheet_is_passed_over_for_the_sheet_with_data_rows(release, tmp_path):
    root = rt.copied_casme3(release, tmp_path)
    before = casme3.load(root, CASME3, tmp_path / "cache")
    header_only_sheet_first(root / SHEET, keep_data=True)
    after = casme3.load(root, CASME3, tmp_path / "cache")
    assert [s.id for s in after.samples] == [s.id for s in before.samples] and before.samples


def test_a_workbook_whose_only_header_sheet_has_no_data_rows_names_file_and_sheet(release, tmp_path, run_cli):
    root = rt.copied_casme3(release, tmp_path)
    title = header_only_sheet_first(root / SHEET, keep_data=False)
    checked = run_cli("datasets", "check", "casme3", "--root", str(root))
    assert checked.code == 2 and "Traceback" not in checked.out + checked.err
    assert f"{root / SHEET} sheet '{title}': header at row 1 but no data rows; fill in" in flat(checked.out + checked.err)
