"""``merbench audit`` derives subject overlap and fold coverage from the predictions.

A fold record's ``train_subjects`` can be edited or dropped; the predictions and the protocol's own declaration
still tell whether subjects were trained and tested on in one fold.
"""

from __future__ import annotations

import copy
import json

import pytest


SMALL = ("--set", "dataset.subjects=4", "dataset.clips_per_subject=6")


@pytest.fixture
def lbptop_run(run_cli, tmp_path):
    """A quick lbptop-svm result (a dict) under ``protocol``, 4 folds of 4 subjects."""

    def run(protocol: str) -> dict:
        splits = () if protocol == "loso" else ("protocol.n_splits=4",)
        target = tmp_path / f"{protocol}.json"
        result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                         "--no-store", "--protocol", protocol, *SMALL, *splits, "--json", str(target))
        assert result.code == 0, result.err
        return json.loads(target.read_text())

    return run


def _scrubbed(result: dict) -> dict:
    """``result`` with every trace of subject overlap edited out of its records; its predictions are kept."""
    result = copy.deepcopy(result)
    result["subject_independent"] = True
    result["leakage"].update(leaks=[], subject_overlap_folds=0)
    result["warnings"] = []
    for fold in result["folds"]:
        fold["train_subjects"] = [s for s in fold["train_subjects"] if s not in fold["test_subjects"]]
        fold.pop("subject_overlap", None)
    return result


def test_a_scrubbed_sample_level_result_fails_on_its_predictions_and_its_protocol(lbptop_run, audited):
    code, text, checks = audited(_scrubbed(lbptop_run("sample-10fold")))
    assert code == 1 and not checks["subject overlap"].passed
    detail = checks["subject overlap"].detail
    assert "the result claims subject independence, but its protocol sample-10fold is not subject-independent" in detail
    assert "the predictions show 4 of 4 folds testing a subject that another fold also tests" in detail


def test_the_predictions_alone_show_the_overlap_whatever_protocol_the_result_names(lbptop_run, audited):
    result = _scrubbed(lbptop_run("sample-10fold"))
    result["protocol"] = "subject-10fold"  # relabelled: only the predictions are left to tell
    code, _, checks = audited(result)
    assert code == 1
    assert "the predictions show 4 of 4 folds testing a subject" in checks["subject overlap"].detail


def test_a_sample_level_protocol_claimed_subject_independent_fails(lbptop_run, audited):
    result = lbptop_run("subject-10fold")
    result["protocol"] = "sample-10fold"  # no fold shares a subject; only the declaration is wrong
    code, _, checks = audited(result)
    assert code == 1 and checks["subject overlap"].detail.startswith(
        "the result claims subject independence, but its protocol sample-10fold")


@pytest.mark.parametrize("protocol", ["subject-10fold", "loso"])
def test_honest_results_still_pass(lbptop_run, audited, protocol):
    code, text, checks = audited(lbptop_run(protocol))
    assert code == 0, text
    assert checks["subject overlap"].passed


def test_a_result_without_fold_records_fails(lbptop_run, audited):
    result = lbptop_run("subject-10fold")
    result["folds"] = []
    code, _, checks = audited(result)
    assert code == 1
    assert "the result records no fold" in checks["subject overlap"].detail


def test_predictions_of_a_fold_without_a_record_fail(lbptop_run, audited):
    result = lbptop_run("subject-10fold")
    result["folds"] = result["folds"][1:]  # fold 1's 6 predictions stay, its record is gone
    code, _, checks = audited(result)
    assert code == 1
    assert "6 predictions of fold 1 that the result records nothing about" in checks["subject overlap"].detail
    assert "predictions of fold 1 without a fold record" in checks["scores match predictions"].detail


def test_a_prediction_moved_to_a_fold_that_does_not_exist_is_named(lbptop_run, audited):
    result = lbptop_run("subject-10fold")
    result["predictions"][0]["fold"] = 99
    code, _, checks = audited(result)
    assert code == 1
    assert "1 prediction of fold 100 that the result records nothing about" in checks["subject overlap"].detail
    assert "predictions of fold 100 without a fold record" in checks["scores match predictions"].detail
