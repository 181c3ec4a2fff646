"""A manifest row whose apex file is its onset file (a one-frame clip) was given apex index 1 beside onset 0, so
``datasets check`` and a run's zero-flow warning, which compare indices, never saw its zero onset-to-apex flow. Such
a row is now a clip with its apex on its onset: counted and named, and warned about when every row is one."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import realtrees as rt
from merbench_plugins.datasets import manifest


def _frames_tree(root: Path) -> list[dict[str, str]]:
    """``build_manifest_frames``'s 9 rows (3 subjects), as dicts."""
    with open(rt.build_manifest_frames(root), newline="") as file:
        return list(csv.DictReader(file))


def test_datasets_check_counts_a_row_whose_apex_is_its_onset_file(run_cli, tmp_path):
    root = tmp_path / "man"
    rows = _frames_tree(root)
    rows[0]["apex"] = "./" + rows[0]["onset"]  # another spelling of the same file
    rows[4]["apex"] = rows[4]["onset"].replace("/", "\\")
    rt.write_csv(root / "one.csv", rows)
    target = tmp_path / "check.json"
    checked = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=one.csv",
                      "--json", str(target))
    said = " ".join(checked.out.split())
    assert checked.code == 0, checked.err
    assert f"apex annotated at the onset 2 ({rows[0]['onset']}, {rows[4]['onset']})" in said, said  # before: 0
    assert sorted(json.loads(target.read_text())["apex_at_onset"]) == sorted([rows[0]["onset"], rows[4]["onset"]])


def test_a_one_frame_clip_has_one_frame_and_an_offset_after_it_stays(tmp_path):
    root = tmp_path / "man"
    rows = _frames_tree(root)
    rows = [{**row, "offset": ""} for row in rows]
    rows[0]["apex"] = rows[0]["onset"]
    rows[1]["apex"], rows[1]["offset"] = rows[1]["onset"], rows[1]["apex"]  # onset, apex on it, a later offset
    rt.write_csv(root / "one.csv", rows)
    dataset = manifest.load(root, {"manifest": "one.csv", "classes": [], "strict": False}, tmp_path / "cache")
    one, with_offset, plain = dataset.samples[:3]
    assert (one.frames, one.onset, one.apex, one.offset) == ((root / rows[0]["onset"],), 0, 0, 0)
    assert with_offset.frames == (root / rows[1]["onset"], root / rows[1]["offset"])
    assert (with_offset.onset, with_offset.apex, with_offset.offset) == (0, 0, 1)
    assert (plain.onset, plain.apex, plain.offset) == (0, 1, 1), "an apex of its own keeps index 1"


def test_a_run_on_one_frame_clips_only_warns_that_the_flow_is_zero(run_cli, tmp_path):
    root = tmp_path / "man"
    rt.write_csv(root / "one.csv", [{**row, "apex": row["onset"]} for row in _frames_tree(root)])
    ran = run_cli("run", "--model", "ststnet", "--dataset", "manifest", "--root", str(root), "--profile", "quick",
                  "--epochs", "1", "--no-store", "--quiet", "--json", str(tmp_path / "r.json"),
                  "--set", "dataset.manifest=one.csv", "protocol.n_splits=3")
    said = " ".join(ran.err.split())
    assert ran.code == 0, said
    assert "every clip of dataset 'manifest' (9 clips) has its apex on its onset frame" in said, said  # before: none
