"""A re-run of a recorded result (``run --config result.json``) computes what the record did, with the ``auto``
options and relative files the record resolved pinned (``RunConfig.pinned``), and is named as its record: the same
``settings_changed``, one ``compare`` cell, and no fold settings told apart by ``significance``."""

from __future__ import annotations

import json

from merbench.config import options_as_recorded, resolve_config
from merbench.registry import get_registry
from test_rerun_pins import manifest_result

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "engine.epochs=1"]


def run_json(run_cli, tmp_path, name, *args):
    """Run ``merbench run ARGS --json NAME.json`` into the session's store; the result read back."""
    target = tmp_path / f"{name}.json"
    outcome = run_cli("run", "--quiet", "--store", str(tmp_path / "s.sqlite"), "--json", str(target), *args)
    assert outcome.code == 0, outcome.err
    return json.loads(target.read_text())


def test_a_rerun_and_a_rerun_of_it_are_named_and_compared_as_the_recorded_run(run_cli, tmp_path):
    first = run_json(run_cli, tmp_path, "first", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick",
                     *TINY)
    assert first["config"]["options"]["flow"]["method"] == "auto" and "pinned" not in first["config"]
    again = run_json(run_cli, tmp_path, "again", "--config", str(tmp_path / "first.json"))
    ran = first["preprocess"]["chain"][0]["params"]["method"]
    assert again["config"]["options"]["flow"]["method"] == ran != "auto"  # the record's resolution ran again
    assert again["config"]["pinned"]["flow.method"] == "auto"
    third = run_json(run_cli, tmp_path, "third", "--config", str(tmp_path / "again.json"))
    assert third["config"]["pinned"]["flow.method"] == "auto"  # the first record's value, not the re-run's
    assert first["settings_changed"] == again["settings_changed"] == third["settings_changed"]
    assert not any(text.startswith("flow.method") for text in again["settings_changed"])
    assert first["pooled"] == again["pooled"] == third["pooled"]
    shown = run_cli("compare", "--store", str(tmp_path / "s.sqlite"), "--model", "ststnet")
    said = " ".join(shown.out.split())
    assert shown.code == 0 and "(flow.method=" not in said and "Not shown: 2 runs of a cell shown here" in said


def test_a_rerun_given_another_value_with_set_is_named_by_it(run_cli, tmp_path):
    run_json(run_cli, tmp_path, "first", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", *TINY)
    other = run_json(run_cli, tmp_path, "other", "--config", str(tmp_path / "first.json"),
                     "--set", "flow.method=farneback")
    assert "flow.method=farneback" in other["settings_changed"]
    assert "flow.method" not in other["config"].get("pinned", {})


def test_a_rerun_reading_the_recorded_manifest_by_its_absolute_path_keeps_the_relative_name(tmp_path, monkeypatch):
    first = tmp_path / "A"
    first.mkdir()
    (first / "labels.csv").write_text("subject,label,path\ns01,a,x.png\n")
    monkeypatch.chdir(tmp_path)
    result = manifest_result(first / "a.json", first / "labels.csv")
    config = resolve_config(get_registry(), model=None, dataset=None, root=first, config_file=result).to_dict()
    assert config["options"]["dataset"]["manifest"] == str(first / "labels.csv")
    assert config["pinned"] == {"dataset.manifest": "labels.csv"}
    assert options_as_recorded(config)["dataset"]["manifest"] == "labels.csv"
