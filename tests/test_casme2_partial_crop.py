"""CASME II with ``dataset.frames=auto`` reads the cropped tree when both are there; a clip missing from a partial crop
is skipped with the raw copy that holds it named, and the option that reads it (before: only "no frame folder")."""

from __future__ import annotations

import shutil

import realtrees as rt
from merbench_plugins.datasets import casme2

OPTIONS = {"classes": "5", "frames": "auto", "fixes": "known", "strict": False}


def test_a_clip_missing_from_a_partial_crop_names_its_raw_copy(tmp_path, run_cli):
    root = rt.build_casme2(tmp_path / "casme2")
    raw = root / "CASME2_RAW_selected"
    clips = sorted(p for p in raw.glob("sub*/*") if p.is_dir())
    for clip in clips[:6]:
        shutil.copytree(clip, root / "Cropped" / clip.relative_to(raw))
    dataset = casme2.load(root, OPTIONS, tmp_path / "cache")
    missing = {e["sample"]: e["reason"] for e in dataset.summary["skipped_rows"]
               if e["reason"].startswith("no frame folder")}
    in_raw = [sample for sample in missing if (raw / sample).is_dir()]
    assert in_raw and len(in_raw) < len(missing)  # and a clip in neither tree
    for sample, reason in missing.items():
        named = f"; CASME2_RAW_selected/{sample} holds it: --set dataset.frames=raw reads the raw tree" in reason
        assert named == (sample in in_raw), reason
    whole = casme2.load(root, {**OPTIONS, "frames": "raw"}, tmp_path / "cache")
    assert len(whole.samples) > len(dataset.samples)
    checked = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert checked.code == 0 and "holds it: --set dataset.frames=raw reads the raw tree" in " ".join(checked.out.split())
