"""``merbench datasets check --json FILE``: every finding of the check kept as JSON, usable tree or not."""

from __future__ import annotations

import json

import pytest

import realtrees as rt


@pytest.fixture(scope="module")
def casme2(tmp_path_factory):
    return rt.build_casme2(tmp_path_factory.mktemp("json") / "casme2")


def test_the_json_holds_what_the_tables_show(run_cli, casme2, tmp_path):
    target = tmp_path / "check.json"
    result = run_cli("datasets", "check", "casme2", "--root", str(casme2), "--set", "dataset.classes=5", "dataset.frames=raw",
                     "--json", str(target))
    assert result.code == 0, result.err
    assert "usable: 10 samples, 3 subjects, 2 rows skipped" in result.out
    record = json.loads(target.read_text())
    assert record["kind"] == "merbench-dataset-check" and record["dataset"] == "casme2"
    assert record["root"] == str(casme2) and str(record["options"]["classes"]) == "5" and record["options"]["frames"] == "raw"
    assert record["usable"] is True and record["reason"] is None
    assert (record["samples"], record["usable_samples"], record["usable_subjects"]) == (10, 10, 3)
    assert len(record["skipped_rows"]) == 2
    assert any("EP14_01" in str(row) for row in record["skipped_rows"])
    per_subject = sum(sum(entry["counts"].values()) for entry in record["per_subject"])
    per_domain = sum(sum(counts.values()) for counts in record["per_domain"].values())
    assert per_subject == per_domain == record["samples"]
    assert set(record["classes"]) == {name for entry in record["per_subject"] for name in entry["counts"]}
    assert record["software"]["merbench"]


def test_an_unusable_tree_is_written_too_and_still_exits_2(run_cli, tmp_path):
    root = rt.build_samm(tmp_path / "samm", rows=rt.SAMM_ROWS[:4])
    clip = root / "SAMM" / "006" / "006_1_2"
    onset_frame = sorted(clip.iterdir())[rt.clip_frames(6, 0, "Anger").onset]
    onset_frame.write_bytes(b"not a jpeg")
    target = tmp_path / "check.json"
    result = run_cli("datasets", "check", "samm", "--root", str(root), "--strict", "--json", str(target))
    assert result.code == 2 and "missing or unusable" in result.err
    record = json.loads(target.read_text())
    assert record["usable"] is False and "006/006_1_2" in record["reason"] and record["strict"] is True
    problem, = record["problems"]
    assert problem["sample"] == "006/006_1_2" and problem["file"].endswith(onset_frame.name)
    assert problem["clip_left_out"] is True


def test_json_to_stdout_is_the_json_alone(run_cli):
    result = run_cli("datasets", "check", "synthetic", "--quiet", "--set", "dataset.subjects=4",
                     "dataset.clips_per_subject=3", "--json", "-")
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["samples"] == 12 and "usable: 12 samples" in result.err


def test_the_json_may_not_go_inside_the_dataset_folder(run_cli, casme2):
    before = sorted(path.relative_to(casme2) for path in casme2.rglob("*"))
    result = run_cli("datasets", "check", "casme2", "--root", str(casme2), "--json", str(casme2 / "check.json"))
    assert result.code == 2 and "inside" in result.err and "--json" in result.err
    assert sorted(path.relative_to(casme2) for path in casme2.rglob("*")) == before


def test_a_tree_that_cannot_be_loaded_writes_no_json(run_cli, tmp_path):
    target = tmp_path / "check.json"
    result = run_cli("datasets", "check", "casme2", "--root", str(tmp_path / "missing"), "--json", str(target))
    assert result.code == 2 and not target.exists()
