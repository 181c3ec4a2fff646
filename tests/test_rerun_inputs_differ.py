"""A re-run of a recorded result (``run --config result.json``) whose preprocessed inputs are not those the recorded
run trained on warns before training and keeps the warning (before: nothing said, though the re-run was no
like-for-like repeat); one whose inputs match says nothing."""

from __future__ import annotations

import json

TINY = ["--profile", "quick", "--quiet", "--no-store", "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2", "engine.epochs=1"]


def said(text: str) -> str:
    return " ".join(text.split())


def test_a_rerun_whose_inputs_differ_from_the_recorded_ones_warns_and_one_whose_match_does_not(run_cli, tmp_path):
    recorded = tmp_path / "a.json"
    ran = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--json", str(recorded))
    assert ran.code == 0, ran.err
    same = run_cli("run", "--config", str(recorded), "--quiet", "--no-store", "--json", str(tmp_path / "b.json"))
    assert same.code == 0, same.err
    assert "preprocessed inputs differ" not in said(same.err)
    assert not any("inputs differ" in w for w in json.loads((tmp_path / "b.json").read_text())["warnings"])
    result = json.loads(recorded.read_text())
    key = result["preprocess"]["inputs_key"]
    result["preprocess"]["inputs_key"] = "0123456789ab" + "0" * 52  # as if made by another OpenCV
    result["preprocess"]["chain"][0]["params"]["opencv"] = "4.9.0"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(result))
    again = run_cli("run", "--config", str(other), "--quiet", "--no-store", "--json", str(tmp_path / "c.json"))
    assert again.code == 0, again.err
    warning = (f"--config {other}: the preprocessed inputs differ from those the recorded run used (key 0123456789ab "
               f"vs {key[:12]}): its scores may differ (recorded → now: flow.opencv 4.9.0 → ")
    assert f"Warning: {warning}" in said(again.err)
    assert said(again.err).index("Warning: --config") < said(again.err).index("Note: 2 folds")  # before training
    [kept] = [w for w in json.loads((tmp_path / "c.json").read_text())["warnings"] if "inputs differ" in w]
    assert kept.startswith(warning), kept


def test_the_labels_key_a_run_records_for_resumes_is_not_named_as_a_preprocessing_change():
    from merbench.rerun_inputs import RerunCheck

    recorded = {"inputs_key": "a" * 64, "chain": []}
    check = RerunCheck("--config r.json", recorded)
    check.compare({**recorded, "inputs_key": "b" * 64, "labels_key": "c" * 64}, None)
    assert "labels_key" not in check.warning and "c" * 12 not in check.warning
    assert "the same preprocessing settings, so the dataset's files or the code" in check.warning
