"""Bad input to the commands that read results or names: one message, exit 2, and the rest still done."""

from __future__ import annotations

import json

import pytest

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3"]


@pytest.fixture(scope="module")
def result_file(tmp_path_factory):
    """A tiny lbptop-svm result written by ``merbench run --json``."""
    from merbench.cli import main

    path = tmp_path_factory.mktemp("inputs") / "svm.json"
    assert main(["run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY,
                 "--no-store", "--json", str(path)]) == 0
    return path


def test_audit_of_a_folder_is_one_message_and_the_other_files_are_still_audited(run_cli, result_file, tmp_path):
    result = run_cli("audit", str(tmp_path), str(result_file))
    assert result.code == 2
    assert f"{tmp_path}: cannot be read (Is a directory)" in " ".join(result.err.split())
    assert "Traceback" not in result.err
    assert f"Audit of {result_file}" in result.out and "pass" in result.out


def test_significance_refuses_a_label_outside_the_class_set(run_cli, result_file, tmp_path):
    damaged = json.loads(result_file.read_text())
    damaged["predictions"][0]["label"] = 7
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(damaged))
    result = run_cli("significance", str(bad), str(result_file))
    assert result.code == 2 and "Traceback" not in result.err
    sample = damaged["predictions"][0]["id"]
    assert f"run A (lbptop-svm): sample {sample} has label 7, outside 0..2 of its 3 classes" in " ".join(result.err.split())


def test_help_shows_percent_signs_once(run_cli):
    for command in ("report", "significance"):
        text = run_cli(command, "--help").out
        assert "%%" not in text and "%" in text


def test_the_svm_normalisation_is_said_once(result_file):
    note = json.loads(result_file.read_text())["leakage"]["normalisation"]
    assert note.count("training samples only") == 1, note


@pytest.mark.parametrize("args, message", [
    (["--dataset", "synthetic", "--set", "dataset=casme2"],
     "--dataset synthetic and dataset=casme2 (in --set/--config) disagree; give the name once"),
    (["--dataset", "synthetic", "--profile", "quick", "--set", "profile=paper"],
     "--profile quick and profile=paper (in --set/--config) disagree"),
    (["--dataset", "synthetic", "--profile", "default", "--set", "profile=quick"],
     "--profile default and profile=quick (in --set/--config) disagree"),
    (["--dataset", "synthetic", "--set", "model=offapexnet"],
     "--model ststnet and model=offapexnet (in --set/--config) disagree"),
])
def test_a_name_given_twice_differently_is_refused(run_cli, args, message):
    result = run_cli("run", "--model", "ststnet", *args, "--no-store")
    assert result.code == 2 and message in " ".join(result.err.split())


def test_a_name_from_the_settings_still_works_alone(run_cli, tmp_path):
    target = tmp_path / "r.json"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--set", "profile=quick", *TINY[1:],
                     "--no-store", "--quiet", "--json", str(target))
    assert result.code == 0, result.err
    assert json.loads(target.read_text())["config"]["profile"] == "quick"


def test_a_name_that_is_not_text_is_refused(run_cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model: 3\n")
    result = run_cli("run", "--dataset", "synthetic", "--config", str(config), "--no-store")
    assert result.code == 2
    assert f"--config {config}: model: 3 is not a name; write the name, e.g. model: NAME" in " ".join(result.err.split())
    config.write_text("model:\n  name: ststnet\n  dropout: ~\ndataset: synthetic\n")  # YAML's null, not Python's None
    result = run_cli("run", "--config", str(config), "--no-store")
    assert result.code == 2 and f"--config {config}: model.dropout=null: must be" in " ".join(result.err.split())


def test_a_model_family_without_a_member_says_how_to_name_one(run_cli):
    result = run_cli("run", "--model", "timm:", "--dataset", "synthetic", "--profile", "quick", "--no-store")
    assert result.code == 2
    assert "'timm:' is a family of models: name one member, e.g. timm:" in " ".join(result.err.split())


def test_show_of_a_failed_run_says_why_it_failed(run_cli, tmp_path):
    store = tmp_path / "s.sqlite"
    failed = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", *TINY,
                     "engine.lr=1e30", "engine.epochs=2", "--store", str(store), "--quiet")
    assert failed.code != 0 and "loss became" in failed.err
    assert "(now --set engine.lr=1e30)" in " ".join(failed.err.split())  # as typed, not 1e+30 or 1000...0.0
    run_id = next(line.split()[0] for line in run_cli("runs", "--store", str(store)).out.splitlines()
                  if " failed " in line)
    shown = run_cli("show", run_id, "--store", str(store))
    assert shown.code == 0, "showing a failed run is no usage error: what it is, and why it failed"
    message = " ".join(shown.out.split())
    assert f"Failed: run {run_id} failed and has no final result: " in message and "loss became" in message
    assert "start a new run" in message
    as_json = run_cli("show", run_id, "--store", str(store), "--json", str(tmp_path / "r.json"))
    assert as_json.code == 2 and "failed and has no final result" in as_json.err  # no result to write
    assert not (tmp_path / "r.json").exists()


def test_a_store_path_that_looks_like_markup_is_printed_as_it_is(run_cli, tmp_path):
    store = tmp_path / "[red]d" / "s.sqlite"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", *TINY, "--quiet",
                     "--store", str(store))
    assert result.code == 0, result.err
    assert f"(store {store})" in result.err


def test_audit_of_a_grid_summary_says_what_it_is(run_cli, tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"grid": {}, "cells": [], "comparison": None}))
    result = run_cli("audit", str(path))
    assert result.code == 2
    assert f"{path}: a grid summary, not a run's result; audit the runs it lists" in " ".join(result.err.split())


def test_audit_of_a_damaged_leakage_summary_says_what_is_wrong_with_it(run_cli, tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"kind": "merbench-leakage"}))  # audited against its runs when whole
    result = run_cli("audit", str(path))
    assert result.code == 2
    assert (f"leakage summary {path}: summary version null is not one this merbench reads (it reads version 1); the file is "
            "damaged: "
            "write it again with merbench leakage --json") in " ".join(result.err.split())
    path.write_text(json.dumps({"kind": "merbench-leakage", "version": 2}))
    for command in (("audit", str(path)), ("report", "--leakage", str(path), "--output", str(tmp_path / "l.md"))):
        result = run_cli(*command)
        assert result.code == 2
        assert ("summary version 2 is not one this merbench reads (it reads version 1); written by a newer "
                "merbench: upgrade merbench") in " ".join(result.err.split())


def test_a_library_warning_is_one_line(run_cli, monkeypatch):
    import warnings

    import merbench.commands.list as listing

    def warns(args, out, err):
        warnings.warn("The least populated class in y has only 1 members", UserWarning)
        return 0

    monkeypatch.setattr(listing, "execute", warns)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        result = run_cli("list")
    assert result.code == 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Warning (UserWarning from test_cli_input_checks.py:")
    assert lines[0].endswith("): The least populated class in y has only 1 members")
