"""``merbench audit`` re-checks fold records, validation subjects, recorded leaks and clip overlap."""

from __future__ import annotations

import copy
import json

import pytest


FAST = ("--set", "protocol.n_splits=3", "engine.epochs=1")


def test_validation_subjects_shared_by_sample_10fold_are_not_selection_on_test(quick_run, audited):
    result = quick_run("--protocol", "sample-10fold", *FAST, "engine.early_stopping=1", "engine.epochs=2")
    assert all(set(f["validation_subjects"]) & set(f["test_subjects"]) for f in result["folds"])
    code, text, checks = audited(result)
    assert code == 1 and not checks["subject overlap"].passed  # the overlap the protocol declares
    selection = checks["model selection"]
    assert selection.passed, selection.detail
    assert "not training subjects" not in text
    assert "folds 1, 2, 3: validation subjects also in the test part" in selection.detail


def test_validation_subjects_outside_training_fail_with_folds_in_order(quick_run, audited):
    result = quick_run(*FAST, "engine.early_stopping=1", "engine.epochs=2")
    for fold in result["folds"]:
        fold["validation_subjects"] = ["nobody"]
    code, _, checks = audited(result)
    detail = checks["model selection"].detail
    assert code == 1 and not checks["model selection"].passed
    positions = [detail.index(f"fold {n}: validation subjects are not training subjects (nobody)") for n in (1, 2, 3)]
    assert positions == sorted(positions)


@pytest.mark.parametrize("training, role", [(True, "a training subject of the fold"),
                                            (False, "not a subject of the fold")])
def test_a_prediction_outside_its_folds_test_subjects_fails(quick_run, audited, training, role):
    result = quick_run(*FAST)
    fold = result["folds"][0]
    row = next(r for r in result["predictions"] if r["fold"] == 0)
    row["subject"] = fold["train_subjects"][0] if training else "nobody"
    code, text, checks = audited(result)
    assert code == 1 and not checks["subject overlap"].passed
    assert f"fold 1, sample {row['id']}: subject {row['subject']} is {role}, not one of its test subjects" in text


def test_a_prediction_whose_subject_was_taken_out_fails_the_subject_check(quick_run, audited):
    """With one prediction's `subject` deleted the audit passed: the row was left out of the check."""
    result = quick_run(*FAST)
    row = next(r for r in result["predictions"] if r["fold"] == 1)
    del row["subject"]
    code, text, checks = audited(result)
    assert code == 1 and not checks["subject overlap"].passed
    assert (f"fold 2: sample {row['id']} names no subject where the result's other predictions do, so it cannot be "
            "checked against the fold's test subjects") in text
    for row in (r for r in result["predictions"] if r["fold"] == 2):  # a whole fold without subjects
        del row["subject"]
    code, text, checks = audited(result)
    assert code == 1 and "fold 3: samples " in text and "name no subject where the result's other predictions do, " \
        "so they cannot be checked" in text


@pytest.mark.parametrize("everywhere", [False, True])
def test_a_core_score_taken_out_of_a_result_fails_the_scores_check(quick_run, audited, everywhere):
    """With `pooled.uf1` deleted the audit passed every check: only the scores a result holds were compared (a fold
    without a score that pooled has is refused when the result is read)."""
    result = quick_run(*FAST)
    for scores in [result["pooled"]] + ([fold["metrics"] for fold in result["folds"]] if everywhere else []):
        del scores["uf1"]
    code, text, checks = audited(result)
    assert code == 1 and not checks["scores match predictions"].passed
    said = ("pooled and folds 1, 2, 3 lack uf1, which every merbench result records, so it cannot be checked"
            if everywhere else "pooled lacks uf1, which every merbench result records, so it cannot be checked")
    assert said in text


@pytest.mark.parametrize("kind, check", [("subjects", "subject overlap"), ("clips", "clip overlap"),
                                         ("selection", "model selection"), ("normalisation", "normalisation"),
                                         ("made-up", "recorded leaks")])
def test_any_recorded_leak_fails_naming_its_kind(quick_run, audited, kind, check):
    result = quick_run(*FAST)
    code, _, checks = audited(result)
    assert code == 0 and "clip overlap" not in checks and "recorded leaks" not in checks
    result["leakage"]["leaks"] = [kind]
    code, text, checks = audited(result)
    assert code == 1 and not checks[check].passed
    assert kind in checks[check].detail
    assert sum(not c.passed for c in checks.values()) == 1, text


def test_a_recorded_clip_overlap_fails_though_the_predictions_name_no_clip(quick_run, audited):
    result = quick_run(*FAST)
    result["leakage"]["leaks"] = ["clips"]
    result["leakage"]["clip_overlap_folds"] = 3
    code, _, checks = audited(result)
    detail = checks["clip overlap"].detail
    assert code == 1 and not checks["clip overlap"].passed
    assert "records 3 of 3 folds with one clip in training and test (not re-checkable" in detail


def test_frame_10fold_clip_overlap_is_rechecked_from_the_predictions(quick_run, audited):
    result = quick_run("--protocol", "frame-10fold", *FAST, "protocol.pairs=2")
    assert result["leakage"]["clip_overlap_folds"] == 3
    result["leakage"]["leaks"] = ["subjects"]
    result["leakage"]["clip_overlap_folds"] = 0  # a record that hides the overlap
    code, _, checks = audited(result)
    detail = checks["clip overlap"].detail
    assert code == 1 and not checks["clip overlap"].passed
    assert "3 of 3 folds test a clip whose other samples they train on" in detail


def test_a_data_made_overlap_under_a_subject_independent_protocol_is_not_called_declared(quick_run, audited):
    result = quick_run("--protocol", "cross-dataset", "--epochs", "1", "--set", "dataset.domains=2",
                       "protocol.train=synthetic-1", "protocol.test=synthetic-2")
    fold = result["folds"][0]
    fold["train_subjects"] = sorted(fold["train_subjects"] + fold["test_subjects"][:1])  # one subject in both domains
    result["subject_independent"] = False  # as the run records a data-made overlap
    code, text, checks = audited(result)
    assert code == 1 and not checks["subject overlap"].passed
    assert "declared by the protocol" not in text
    assert "not declared: cross-dataset is declared subject-independent, yet its folds share subjects" in text
    result["protocol"] = "not-installed"
    assert "protocol 'not-installed' is not installed" in audited(result)[1]


@pytest.mark.parametrize("where", ["pooled", "folds[0].metrics"])
def test_a_nan_score_is_refused_as_a_damaged_result(quick_run, run_cli, tmp_path, where):
    """NaN is no score merbench records (RunResult.from_dict refuses it); before, a plain `abs(a - b) > tolerance`
    let it pass the check of scores against predictions."""
    edited = copy.deepcopy(quick_run(*FAST))
    (edited["pooled"] if where == "pooled" else edited["folds"][0]["metrics"])["uf1"] = float("nan")
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))
    refused = run_cli("audit", str(path))
    assert refused.code == 2 and f"'{where}.uf1' is NaN, not a score from 0 to 1" in " ".join(refused.err.split())


def test_a_fifo_is_refused_at_once_and_a_bom_is_read(quick_run, run_cli, tmp_path):
    import os

    fifo = tmp_path / "result.fifo"
    os.mkfifo(fifo)
    refused = run_cli("audit", str(fifo))  # reading a FIFO without a writer would wait forever
    assert refused.code == 2 and "not a regular file (a pipe or device)" in refused.err
    with_bom = tmp_path / "bom.json"
    with_bom.write_text("\ufeff" + json.dumps(quick_run(*FAST)), encoding="utf-8")
    assert run_cli("audit", str(with_bom)).code == 0


def test_an_edited_per_domain_score_fails_the_audit(quick_run, audited):
    """The composite's per-part scores are shown by run, show and report; audit checked pooled and fold scores only."""
    result = quick_run("--protocol", "megc2019", "--set", "dataset.domains=3", "dataset.subjects=9", "engine.epochs=1")
    assert len(result["per_domain"]) == 3
    code, text, checks = audited(result)
    assert code == 0 and "reproduce the pooled, per-fold and per-domain scores" in text, text
    domain = sorted(result["per_domain"])[1]
    true_uf1 = result["per_domain"][domain]["uf1"]
    edited = copy.deepcopy(result)
    edited["per_domain"][domain]["uf1"] = 0.95
    code, text, checks = audited(edited)
    assert code == 1 and not checks["scores match predictions"].passed
    assert f"domain {domain} uf1 is 0.9500, its predictions give {true_uf1:.4f}" in text
    renamed = copy.deepcopy(result)
    renamed["per_domain"]["elsewhere"] = renamed["per_domain"].pop(domain)
    code, text, _ = audited(renamed)
    assert code == 1 and "domain elsewhere has scores but no prediction" in text
    assert f"domain {domain} of the predictions without scores" in text


def test_a_file_given_twice_is_audited_and_counted_once(quick_run, run_cli, tmp_path):
    """Before: "Audit: 1 of 2 files passed every check" for one file named twice, its tables printed twice."""
    result = tmp_path / "result.json"
    result.write_text(json.dumps(quick_run(*FAST)))
    other = tmp_path / "other.json"
    other.write_text(json.dumps(quick_run(*FAST)))
    audited = run_cli("audit", str(result), f"{tmp_path}/./result.json", str(other), "--json", str(tmp_path / "a.json"))
    assert audited.code == 0, audited.err
    assert "Audit: 2 of 2 files passed every check" in " ".join(audited.out.split())
    assert [record["file"] for record in json.loads((tmp_path / "a.json").read_text())["files"]] == [str(result),
                                                                                                     str(other)]
