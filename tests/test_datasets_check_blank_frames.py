"""``merbench datasets check`` of clips whose onset and apex files are empty (0 bytes) or blank (every pixel 0):
they were reported as copies of each other ("the same bytes as those of sample …"), which sent the user looking for
a copying mistake. Empty files are unreadable, nothing more; blank frames are named blank, with how to fix them."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import realtrees as rt
from merbench.cache import cache_root
from merbench.dataset_check import load_for_check
from merbench.registry import get_registry


def _spoil(root, how: str) -> list:
    """Make the onset and apex (or middle) files of the first two CASME II clips empty or blank; their samples."""
    rt.build_casme2(root)
    dataset, _ = load_for_check(get_registry(), "casme2", root, {}, cache_root(create=False))
    samples = dataset.samples[:2]
    for sample in samples:
        apex = sample.apex if sample.apex is not None else (sample.onset + sample.offset) // 2
        for path in (sample.frames[sample.onset], sample.frames[apex]):
            if how == "empty":
                path.write_bytes(b"")
            else:
                assert cv2.imwrite(str(path), np.zeros((rt.SIZE, rt.SIZE), np.uint8))
    return samples


def _check(run_cli, root, tmp_path) -> tuple[dict, str]:
    written = tmp_path / "check.json"
    checked = run_cli("datasets", "check", "casme2", "--root", str(root), "--json", str(written))
    assert checked.code == 0, checked.err
    return json.loads(written.read_text()), " ".join((checked.out + checked.err).split())


def test_empty_files_of_two_clips_are_unreadable_not_copies(run_cli, tmp_path):
    first, second = _spoil(tmp_path / "casme2", "empty")
    record, said = _check(run_cli, tmp_path / "casme2", tmp_path)
    problems = [(p["sample"], p["frame"], p["problem"]) for p in record["problems"]]
    assert [frame for sample, frame, _ in problems if sample == second.id] == ["onset", "middle frame"], problems
    assert all("the file is empty (0 bytes)" in problem for _, _, problem in problems), problems
    assert "same bytes" not in said and "copy" not in {frame for _, frame, _ in problems}, said


def test_blank_frames_are_named_blank_and_the_second_clip_is_not_called_a_copy(run_cli, tmp_path):
    first, second = _spoil(tmp_path / "casme2", "blank")
    record, said = _check(run_cli, tmp_path / "casme2", tmp_path)
    blank = [p for p in record["problems"] if p["frame"] != "copy"]
    assert {(p["sample"], p["frame"]) for p in blank} == {(first.id, "onset"), (first.id, "apex"),
                                                        (second.id, "onset"), (second.id, "middle frame")}
    assert all(p["problem"].endswith("blank (every pixel is 0): the file holds no picture, and a run reads it as it "
                                     "is; replace it with the original image") for p in blank), blank
    assert not any(p["clip_left_out"] for p in blank)
    # A run reads both files as one clip given twice and leaves the second out: said in words of blank files.
    again = [p for p in record["problems"] if p["frame"] == "copy"]
    assert [(p["sample"], p["clip_left_out"]) for p in again] == [(second.id, True)]
    assert again[0]["problem"] == (
        f"its onset and middle frame are blank, as are those of sample {first.id} (subject {first.subject}): a run "
        "takes two clips of the same blank files for one clip given twice and leaves this one out; replace the blank "
        "files with the original ones")
    assert "same bytes" not in said and "a copy of one clip" not in said
    assert record["usable_samples"] == record["samples"] - 1
    assert f"1 clip with blank frames or images (every pixel of one value): a run reads it as a clip without a face; " \
        f"first: sample {first.id}:" in said


@pytest.mark.parametrize("value", [0, 255])
def test_a_blank_image_of_a_manifest_is_named_blank(run_cli, tmp_path, value):
    root = tmp_path / "man"
    rt.build_manifest_images(root)
    image = root / "images" / "s0" / "img_0.png"
    assert cv2.imwrite(str(image), np.full((28, 28, 3), value, np.uint8))
    written = tmp_path / "check.json"
    checked = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=labels.csv",
                      "--json", str(written))
    assert checked.code == 0, checked.err
    problems = json.loads(written.read_text())["problems"]
    assert [(p["file"], p["problem"].split(":")[0]) for p in problems] == [
        (str(image), f"image blank (every pixel is {value} {value} {value})")], problems
