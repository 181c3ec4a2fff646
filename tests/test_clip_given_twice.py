"""One clip given twice (under two ids or subjects) was trained on and tested as two samples: noise images scored
100 % UF1 with no word. A manifest listing one file in two rows is refused; a clip whose input files have the same
bytes as another clip's is left out (or, under ``dataset.strict=true``, refused)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

import realtrees as rt
from merbench.errors import DataError
from merbench_plugins.datasets import manifest

OPTIONS = {"classes": [], "strict": False}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_a_manifest_listing_one_image_in_two_rows_is_refused(tmp_path):
    root = tmp_path / "man"
    rows = _rows(rt.build_manifest_images(root))
    copy = {**rows[0], "subject": "t0"}
    rt.write_csv(root / "dup.csv", [{"id": f"a{i}", **r} for i, r in enumerate(rows)] + [{"id": "copy", **copy}])
    with pytest.raises(DataError) as refused:
        manifest.load(root, {**OPTIONS, "manifest": "dup.csv"}, tmp_path / "cache")
    assert f"dup.csv row {len(rows) + 2}: sample copy lists the same image as row 2 (sample a0)" in str(refused.value)


def test_a_frames_manifest_listing_one_onset_and_apex_twice_is_refused(tmp_path):
    root = tmp_path / "man"
    rows = _rows(rt.build_manifest_frames(root))
    rows = [{"id": f"c{i}", **row} for i, row in enumerate(rows)]
    rows.append({**rows[1], "subject": "other", "id": "copy", "onset": "./" + rows[1]["onset"]})  # spelt otherwise
    rt.write_csv(root / "dup.csv", rows)
    with pytest.raises(DataError, match=r"row \d+: sample copy lists the same onset and apex frames as row 3 \(sample c1\)"):
        manifest.load(root, {**OPTIONS, "manifest": "dup.csv"}, tmp_path / "cache")


def test_a_byte_identical_copy_under_another_name_is_left_out_or_refused(tmp_path, run_cli):
    root = tmp_path / "man"
    rows = _rows(rt.build_manifest_images(root, subjects=4, per_subject=6))
    copies = []
    for i, row in enumerate(rows[:6]):  # subject s0's clips again, as subject t0, under new file names
        shutil.copy(root / row["path"], root / f"copy{i}.png")
        copies.append({**row, "subject": "t0", "path": f"copy{i}.png"})
    rt.write_csv(root / "dup.csv", rows + copies)
    sets = ["--set", "dataset.manifest=dup.csv", "protocol.n_splits=4"]
    lenient = run_cli("run", "--model", "ststnet", "--dataset", "manifest", "--root", str(root), "--profile", "quick",
                      "--epochs", "1", "--no-store", "--quiet", "--json", str(tmp_path / "r.json"), *sets)
    said = " ".join(lenient.err.split())
    assert lenient.code == 0, said
    assert "skipped 6 clips" in said and "copy0.png, copy1.png" in said
    assert "sample copy0.png (subject t0): its input files have the same bytes as those of sample images/s0/img_0.png " \
        "(subject s0)" in said
    strict = run_cli("run", "--model", "ststnet", "--dataset", "manifest", "--root", str(root), "--profile", "quick",
                     "--epochs", "1", "--no-store", "--quiet", *sets, "dataset.strict=true")
    assert strict.code == 2 and "its input files have the same bytes as those of sample" in " ".join(strict.err.split())


def test_datasets_check_counts_the_copies_a_run_leaves_out(tmp_path, run_cli):
    """datasets check said "usable: 27 samples", --strict passed, and the run then left out or refused the copies."""
    root = tmp_path / "man"
    rows = _rows(rt.build_manifest_images(root, subjects=4, per_subject=6))
    copies = []
    for i, row in enumerate(rows[:3]):
        shutil.copy(root / row["path"], root / f"copy{i}.png")
        copies.append({**row, "subject": "t0", "path": f"copy{i}.png"})
    rt.write_csv(root / "dup.csv", rows + copies)
    checked = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=dup.csv")
    said = " ".join(checked.out.split())
    assert checked.code == 0 and "usable: 24 samples, 4 subjects, 3 clips with missing or unusable files left out" \
        in said, said
    assert "copy0.png its input files have the same bytes as those of sample images/s0/img_0.png (subject s0)" in said
    strict = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=dup.csv",
                     "--strict")
    assert strict.code == 2 and "its input files have the same bytes" in strict.err
