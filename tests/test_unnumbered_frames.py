"""A clip folder whose images do not end in their frame number (``img40_crop.jpg``, ``image000123_aligned.bmp``) is
skipped saying so, not as a folder that "holds no image files" / "holds 0 image files"."""

from __future__ import annotations

from pathlib import Path

import realtrees as rt
from merbench_plugins.datasets import casme2, smic


def _suffix_names(folder: Path, suffix: str) -> int:
    frames = sorted(p for p in folder.iterdir() if p.is_file())
    for path in frames:
        path.rename(path.with_name(f"{path.stem}{suffix}{path.suffix}"))
    return len(frames)


def test_casme2_frames_not_ending_in_their_number_are_named(tmp_path):
    root = rt.build_casme2(tmp_path / "casme2")
    clip = sorted(p for p in (root / "CASME2_RAW_selected").glob("sub*/*") if p.is_dir())[0]
    count = _suffix_names(clip, "_crop")
    dataset = casme2.load(root, {"classes": "5", "frames": "auto", "fixes": "known", "strict": False}, tmp_path / "c")
    (reason,) = [e["reason"] for e in dataset.summary["skipped_rows"] if e["sample"] == clip.relative_to(clip.parents[1]).as_posix()]
    assert "holds no image files; it holds" in reason
    assert f"{count} image files whose names do not end in a frame number" in reason and "_crop.jpg, ...)" in reason


def test_smic_frames_not_ending_in_their_number_are_named(tmp_path):
    root = rt.build_smic(tmp_path / "smic", subsets=("HS",))
    clip = sorted(p for p in root.rglob("s*_*_*") if p.is_dir())[0]
    _suffix_names(clip, "_aligned")
    dataset = smic.load(root, {"subset": "HS", "classes": "3", "fixes": "known", "strict": False}, tmp_path / "c")
    (reason,) = [e["reason"] for e in dataset.summary["skipped_rows"] if e["sample"].endswith(clip.name)]
    assert "holds 0 image files; need at least 3; it holds" in reason and "_aligned.bmp, ...)" in reason
