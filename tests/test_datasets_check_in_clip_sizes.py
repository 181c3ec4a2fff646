"""``merbench datasets check`` on a frame between onset and offset of another size than the clip's onset frame: the
check sniffed such frames by their first bytes only and called them fine, while a run whose chain reads across the
clip (lbptop) leaves the clip out for it. The size now comes from the image header, in the run's words."""

from __future__ import annotations

import json

import cv2
import numpy as np
from PIL import Image

import realtrees as rt

SIZE_WORDS = "every frame of a clip must have one size"


def _odd_in_clip_frame(root):
    """A CASME II tree whose first clip has a 48×40 frame between its onset and apex; returns it and the onset frame."""
    rt.build_casme2(root)
    clip = root / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    span = rt.clip_frames(1, 0, "happiness")
    assert span.apex - span.onset >= 2, "a frame between onset and apex that no role names"
    odd, onset = clip / f"img{40 + span.onset + 1}.jpg", clip / f"img{40 + span.onset}.jpg"
    picture = np.random.default_rng(3).integers(0, 256, (40, 48), dtype=np.uint8)
    assert cv2.imwrite(str(odd), picture)
    return odd, onset


def test_the_check_names_an_in_clip_frame_of_another_size_as_the_run_that_skips_it(run_cli, tmp_path):
    root = tmp_path / "casme2"
    odd, onset = _odd_in_clip_frame(root)
    checked = run_cli("datasets", "check", "casme2", "--root", str(root), "--json", str(tmp_path / "c.json"))
    said = " ".join(checked.err.split())
    assert checked.code == 0, checked.err
    assert ("1 clip with a missing or unusable offset or in-clip frame: the default chain (flow) does not read it, "
            "so it is kept, but chains that read frames across the clip") in said, said
    assert (f"first: sample sub01/EP02_01f: {odd} in-clip frame is 48×40 pixels but the onset frame {onset} is "
            f"32×32; {SIZE_WORDS}") in said, said
    problem, = json.loads((tmp_path / "c.json").read_text())["problems"]
    assert (problem["file"], problem["frame"], problem["clip_left_out"]) == (str(odd), "in-clip frame", False)

    ran = run_cli("run", "--no-store", "--dataset", "casme2", "--root", str(root), "--model", "lbptop-svm",
                  "--profile", "quick", "--protocol", "loso", "--quiet")
    words = " ".join(ran.err.split())
    assert ran.code == 0, ran.err
    assert f"sample sub01/EP02_01f: frame {odd} is 48×40 pixels but the onset frame {onset} is 32×32" in words, words


def test_frames_of_the_clip_size_are_no_problem(run_cli, tmp_path):
    root = rt.build_casme2(tmp_path / "casme2")
    checked = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert checked.code == 0 and SIZE_WORDS not in checked.err and "in-clip" not in checked.err, checked.err


def test_the_header_size_is_the_size_opencv_decodes_a_turned_jpeg_at(tmp_path):
    """A JPEG whose EXIF says "turned a quarter" is decoded turned by OpenCV, as a run reads it: width and height
    swapped from what its header says."""
    from merbench.dataset_check import header_size

    path = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48), dtype=np.uint8)).save(path, exif=exif)
    with open(path, "rb") as handle:
        assert header_size(handle) == cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).shape == (48, 40)


def test_a_frame_opencv_turns_to_the_clip_size_is_no_problem(run_cli, tmp_path):
    """A clip of 32×40 frames, one a PNG stored 40×32 whose EXIF turns it a quarter, which OpenCV 4.14 decodes
    32×40 as the run reads it: where the header disagrees with the clip, the run's decoder decides (no false
    report)."""
    import pytest

    root = tmp_path / "casme2"
    odd, onset = _odd_in_clip_frame(root)
    for frame in onset.parent.glob("img*.jpg"):
        assert cv2.imwrite(str(frame), np.full((32, 40), 128, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter: stored 40 high, 32 wide
    Image.fromarray(np.full((40, 32), 128, np.uint8)).save(odd, format="PNG", exif=exif)
    if cv2.imread(str(odd), cv2.IMREAD_GRAYSCALE).shape != (32, 40):
        pytest.skip("this OpenCV does not turn a PNG by its EXIF orientation")
    checked = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert checked.code == 0, checked.err
    assert SIZE_WORDS not in checked.err, checked.err
