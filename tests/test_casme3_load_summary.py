"""What a CAS(ME)³ load reports on a real-layout copy: frames dropped inside a clip counted as gaps, colour frames
saved as PNG read (and PNG images beside the trial's JPEGs named), and a header-only first sheet passed over."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import realtrees as rt
from merbench_plugins.datasets import casme3

CASME3 = {"classes": "7", "frames": "auto", "fixes": "known", "occluded": "keep", "strict": False}
SHEET = Path("annotation") / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
DROPPED = "spNO.1/b/"
"""The real-layout tree's clip with a frame dropped inside it (``realtrees.CASME3_ROWS``)."""


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return rt.build_casme3(tmp_path_factory.mktemp("casme3") / "casme3")


def copy_of(release: Path, tmp_path: Path) -> Path:
    root = tmp_path / "casme3"
    shutil.copytree(release, root, symlinks=True)
    return root


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
