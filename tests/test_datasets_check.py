"""``merbench datasets check`` and ``list``: tables, exit codes and specific messages on fixture trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import realtrees as rt


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("check")
    rt.build_casme2(root / "casme2")
    rt.build_samm(root / "samm")
    rt.build_megc(root / "megc")
    rt.build_manifest_images(root / "manifest")
    return root


def test_check_reports_counts_skips_and_exits_0(run_cli, trees):
    result = run_cli("datasets", "check", "casme2", "--root", str(trees / "casme2"))
    assert result.code == 0, result.err
    assert "usable: 10 samples, 3 subjects, 2 row(s) skipped" in result.out
    assert "Samples per class and domain" in result.out and "Samples per subject" in result.out
    assert "sub03/EP12_01f" in result.out and "apex" in result.out and "outside onset" in result.out
    assert "no frame folder CASME2_RAW_selected/sub03/EP14_01" in result.out
    assert "fear 1, sadness 1" in result.out


def test_check_strict_turns_skipped_rows_into_exit_2(run_cli, trees):
    result = run_cli("datasets", "check", "samm", "--root", str(trees / "samm"), "--strict")
    assert result.code == 2
    assert "--strict: 1 row(s) skipped, first samm row 23 (009/009_1_1): apex" in " ".join(result.err.split())
    assert "Rows fixed (1)" in result.out and "used the last frame" in result.out


def test_check_dataset_options_are_those_of_run(run_cli, trees):
    result = run_cli("datasets", "check", "casme2", "--root", str(trees / "casme2"), "--set", "dataset.classes=3")
    assert result.code == 0 and "usable: 9 samples" in result.out
    result = run_cli("datasets", "check", "casme2", "--root", str(trees / "casme2"), "--set", "model.depth=3")
    assert result.code == 2 and "unknown setting 'model.depth'" in result.err and "dataset.frames" in result.err


def test_check_megc2019_per_domain_and_manifest(run_cli, trees):
    result = run_cli("datasets", "check", "megc2019", "--root", str(trees / "megc"), "--set", "dataset.list=derived")
    assert result.code == 0, result.err
    assert "usable: 30 samples, 9 subjects" in result.out
    for domain in ("casme2", "samm", "smic"):
        assert any(line.startswith(f"{domain} ") for line in result.out.splitlines())
    result = run_cli("datasets", "check", "manifest", "--root", str(trees / "manifest"), "--set", "dataset.manifest=labels.csv")
    assert result.code == 0, result.err
    assert "usable: 12 samples" in result.out and "precomputed images" in result.out


def test_check_unreadable_frame_is_exit_2_naming_the_file(run_cli, tmp_path):
    root = rt.build_samm(tmp_path / "samm", rows=rt.SAMM_ROWS[:4])
    clip = root / "SAMM" / "006" / "006_1_2"
    onset_frame = sorted(clip.iterdir())[rt.clip_frames(6, 0, "Anger").onset]
    onset_frame.write_bytes(b"not a jpeg")
    result = run_cli("datasets", "check", "samm", "--root", str(root), "--strict")
    assert result.code == 2
    message = " ".join(result.err.split())
    assert "1 file(s) missing or unreadable, first: sample 006/006_1_2" in message and onset_frame.name in message


@pytest.mark.parametrize("name, expected", [
    ("casme2", "expected CASME2-coding-*.xlsx or CASME2*coding*.xlsx in"),
    ("samm", "expected SAMM_Micro_FACS_Codes*.xlsx"),
    ("smic", "expected the folder HS/ in"),
])
def test_check_empty_directory_names_the_expected_file(run_cli, tmp_path, name, expected):
    result = run_cli("datasets", "check", name, "--root", str(tmp_path))
    assert result.code == 2 and expected in " ".join(result.err.split())


def test_check_manifest_escape_and_missing_root(run_cli, tmp_path, trees):
    root = tmp_path / "data"
    shutil.copytree(trees / "manifest", root)
    rt.write_csv(root / "bad.csv", [{"subject": "a", "label": "0", "path": "images/s0/img_0.png"},
                                    {"subject": "b", "label": "1", "path": "../x.png"}])
    result = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=bad.csv")
    assert result.code == 2 and "row 3: path ../x.png escapes the root" in " ".join(result.err.split())
    result = run_cli("datasets", "check", "samm")
    assert result.code == 2 and "give its folder with --root DIR" in result.err


def test_datasets_list_shows_options(run_cli):
    result = run_cli("datasets", "list")
    assert result.code == 0
    for name in ("smic", "casme2", "samm", "megc2019", "manifest"):
        assert any(line.startswith(f"{name} ") for line in result.out.splitlines())
    assert "subset=hs" in result.out and "frames=auto" in result.out
    assert "datasets check casme2 --root" in run_cli("datasets", "check", "--help").out
