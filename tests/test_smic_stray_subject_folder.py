"""A SMIC subject folder renamed to something that is not ``s<N>`` (``HS/s2 [red]``): its clips are lost, but the
loader logged the folder as one skipped row, so "rows skipped" undercounted the loss. Each clip is now a skipped row,
as for a folder whose name differs from ``s2`` only in spaces."""

from __future__ import annotations

import realtrees as rt
from merbench_plugins.datasets import smic

S2_CLIPS = [f"s2_{rt.SMIC_CODES[label]}_{number:02d}" for subject, label, number in rt.SMIC_CLIPS["HS"] if subject == 2]


def test_each_clip_of_a_stray_subject_folder_is_a_skipped_row(tmp_path):
    root = rt.build_smic(tmp_path / "smic", subsets=("HS",))
    (root / "HS" / "s2").rename(root / "HS" / "s2 [red]")
    dataset = smic.load(root, {"subset": "hs", "strict": False}, tmp_path / "cache")
    skipped = dataset.summary["skipped_rows"]
    assert len(S2_CLIPS) == 4 and sorted(entry["sample"] for entry in skipped) == \
        sorted(f"s2 [red]/{clip}" for clip in S2_CLIPS)
    assert all(entry["reason"] == "in HS/s2 [red] is not a subject folder s<N> (s1, s2, …): rename it to include "
               "its clips" for entry in skipped), skipped
    assert len(dataset.samples) == len(rt.SMIC_CLIPS["HS"]) - len(S2_CLIPS)


def test_the_check_counts_the_lost_clips_and_shows_the_name_as_it_is(run_cli, tmp_path):
    root = rt.build_smic(tmp_path / "smic", subsets=("HS",))
    (root / "HS" / "s2").rename(root / "HS" / "s2 [red]")
    result = run_cli("datasets", "check", "smic", "--root", str(root), "--quiet")
    assert result.code == 0, result.err
    assert f"Rows skipped ({len(S2_CLIPS)})" in result.out and "s2 [red]/s2_ne_01" in result.out, result.out


def test_a_stray_folder_without_clips_is_still_one_entry(tmp_path):
    root = rt.build_smic(tmp_path / "smic", subsets=("HS",))
    (root / "HS" / "notes").mkdir()
    skipped = smic.load(root, {"subset": "hs", "strict": False}, tmp_path / "cache").summary["skipped_rows"]
    assert [(entry["sample"], entry["reason"]) for entry in skipped] == [
        ("notes", "HS/notes is not a subject folder s<N> (s1, s2, …): rename it to include its clips")]
