"""A crop whose Haar cascade finds no face in the clips: the run warns and keeps the warning, which `show` prints
(before: only the result's `crop_counts` said `centre (no face found)`; the researcher believed a face crop ran)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

pytestmark = pytest.mark.skipif(not getattr(getattr(cv2, "data", None), "haarcascades", ""),
                                reason="this OpenCV ships no Haar cascades")

RUN = ("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--protocol", "loso",
       "--epochs", "1", "--set", "dataset.subjects=4", "preprocess=crop,flow")
SAID = "found no face in 24 of 24 clips; they were centre-cropped (crop.fallback=centre)"


def run_and_show(run_cli, tmp_path: Path, *options: str) -> tuple[str, dict, str]:
    """The run's terminal text, its --json result and what `merbench show` prints of it, each flattened."""
    store, record = tmp_path / "s.sqlite", tmp_path / "r.json"
    ran = run_cli(*RUN, *options, "--store", str(store), "--json", str(record))
    assert ran.code == 0, ran.err
    result = json.loads(record.read_text())
    shown = run_cli("show", result["run_id"], "--store", str(store))
    assert shown.code == 0, shown.err
    return " ".join((ran.out + ran.err).split()), result, " ".join(shown.out.split())


def test_a_cascade_that_finds_no_face_is_said_by_run_and_show(run_cli, tmp_path):
    cascade = tmp_path / "r.xml"
    shutil.copy(Path(cv2.data.haarcascades) / "haarcascade_frontalface_alt_tree.xml", cascade)
    said, result, shown = run_and_show(run_cli, tmp_path, f"crop.cascade={cascade}")
    assert result["preprocess"]["crop_counts"] == {"centre (no face found)": 24}
    warning = f"crop: the Haar cascade (crop.cascade={cascade}) {SAID}"
    assert f"Warning: {warning}" in said
    assert any(warning in kept for kept in result["warnings"])
    assert f"Warning: {warning}" in shown


@pytest.mark.parametrize("options", [(), ("crop.detector=centre",)], ids=["faces-found", "detector-centre"])
def test_a_crop_that_finds_faces_or_is_asked_for_the_centre_says_nothing(run_cli, tmp_path, options):
    said, result, shown = run_and_show(run_cli, tmp_path, *options)
    assert "no face found" not in json.dumps(result["preprocess"]["crop_counts"])
    assert "found no face" not in said and "found no face" not in shown
    assert not any("found no face" in kept for kept in result["warnings"])
