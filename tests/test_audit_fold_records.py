"""``merbench audit`` derives subject overlap and fold coverage from the predictions, and reads each fold's record of
its selected epoch and normalisation.

A fold record's ``train_subjects`` can be edited or dropped; the predictions and the protocol's own declaration
still tell whether subjects were trained and tested on in one fold. A result's leakage flags, warnings and
configuration can be edited to look honest; its fold records still say which epoch was scored and which samples the
normalisation statistics took.
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


# ------------------------------------------------------------------ selected epochs and normalisation per fold

EPOCHS = ("--set", "protocol.n_splits=3", "engine.epochs=3", "dataset.subjects=6", "dataset.clips_per_subject=4")


@pytest.fixture
def torch_run(quick_run):
    """A quick convmixer result (a dict) of 3 folds of 3 epochs, with ``extra`` engine settings."""
    return lambda *extra: quick_run(*EPOCHS, *extra)


def _honest_looking(result: dict, honest: dict) -> dict:
    """``result`` with the flags, warnings, settings and configuration of ``honest``'s engine copied in, and each
    fold's ``selected_on`` set to ``validation``: only the fold records' epochs and normalisation notes are left."""
    result = copy.deepcopy(result)
    for key in ("leakage", "warnings", "settings_changed"):
        result[key] = copy.deepcopy(honest[key])
    result["config"]["options"]["engine"] = copy.deepcopy(honest["config"]["options"]["engine"])
    for fold in result["folds"]:
        fold["selected_on"] = "validation"
    return result


@pytest.mark.parametrize("selected_on", ["validation", None])
def test_an_epoch_chosen_on_test_samples_fails_though_flags_and_configuration_were_edited(torch_run, audited,
                                                                                          selected_on):
    honest = torch_run()
    leaky = torch_run("engine.select_on=test")
    edited = _honest_looking(leaky, honest)
    for fold in edited["folds"]:
        fold["selected_on"] = selected_on
        fold["selected_epoch"], fold["epochs_trained"] = 2, 3  # what select_on=test records when epoch 2 won
    code, text, checks = audited(edited)
    detail = checks["model selection"].detail
    assert code == 1 and not checks["model selection"].passed, text
    assert ("3 of 3 folds scored an epoch selected without a validation split (no validation subjects), so their "
            "test samples chose it (fold 1: epoch 2 of the 3 it trained; fold 2: epoch 2") in detail
    assert "the result says no epoch was selected, but folds 1-3 record a selected epoch" in detail
    assert detail.endswith(f"its record says: {honest['leakage']['model_selection']}")
    assert checks["normalisation"].passed


def test_a_fold_selecting_on_validation_samples_it_does_not_have_fails(torch_run, audited):
    result = torch_run()
    result["folds"][1]["selected_on"] = "validation"
    code, _, checks = audited(result)
    assert code == 1
    assert "fold 2: says its epoch was chosen on validation samples, but records no validation subjects" in (
        checks["model selection"].detail)


def test_a_scored_epoch_the_fold_did_not_train_fails(torch_run, audited):
    result = torch_run("engine.early_stopping=1")
    result["folds"][0]["selected_epoch"] = result["folds"][0]["epochs_trained"] + 1
    code, _, checks = audited(result)
    trained = result["folds"][0]["epochs_trained"]
    assert code == 1
    assert f"fold 1: records epoch {trained + 1} as scored, of the {trained} it trained" in checks["model selection"].detail


def test_folds_normalised_with_their_test_samples_fail_though_the_top_level_was_edited(torch_run, audited):
    honest = torch_run()
    edited = _honest_looking(torch_run("engine.normalise_on=all"), honest)
    for fold in edited["folds"]:
        fold["selected_on"] = None
    note = edited["folds"][0]["normalisation"]
    code, text, checks = audited(edited)
    assert code == 1 and checks["model selection"].passed, text
    assert checks["normalisation"].detail.startswith(
        f"folds 1-3 of 3 record statistics with test samples included ({note}); its record says: "
        f"{honest['leakage']['normalisation']}")


def test_the_engines_notes_of_normalisation_are_the_ones_the_audit_reads():
    from merbench import audit, engine, estimator

    assert audit.uses_test_samples(engine.ALL_NORMALISATION) and audit.uses_test_samples(estimator.ALL_NORMALISATION)
    assert not audit.uses_test_samples(engine.TRAIN_NORMALISATION) and not audit.uses_test_samples(estimator.NORMALISATION)


@pytest.mark.parametrize("flag, check", [("selection_uses_test_data", "model selection"),
                                         ("normalisation_uses_test_data", "normalisation")])
def test_a_flag_recorded_true_is_named_as_what_failed_the_row(torch_run, audited, flag, check):
    result = torch_run()
    result["leakage"][flag] = True
    code, text, checks = audited(result)
    assert code == 1 and sum(not c.passed for c in checks.values()) == 1, text
    assert checks[check].detail.startswith(f"the result records {flag}: true; its record says: ")


def test_flags_an_older_result_lacks_fail_neither_check_and_are_said_to_be_unrecorded(torch_run, audited):
    result = torch_run()
    del result["leakage"]["selection_uses_test_data"], result["leakage"]["normalisation_uses_test_data"]
    code, text, checks = audited(result)
    assert code == 0, text
    for flag, check in (("selection_uses_test_data", "model selection"), ("normalisation_uses_test_data", "normalisation")):
        assert f"{flag} not recorded (an older or edited result): judged by its fold records" in checks[check].detail


@pytest.mark.parametrize("extra", [(), ("engine.early_stopping=1",), ("engine.parallel_mode=vmap",)])
def test_honest_torch_results_pass_the_fold_record_checks(torch_run, audited, extra):
    code, text, checks = audited(torch_run(*extra))
    assert code == 0, text
    assert "not recorded" not in checks["model selection"].detail + checks["normalisation"].detail


def test_an_honest_loso_result_passes(quick_run, audited):
    result = quick_run("--protocol", "loso", "--set", "engine.epochs=2", "dataset.subjects=4", "dataset.clips_per_subject=4")
    code, text, _ = audited(result)
    assert code == 0, text


def test_an_earlier_epoch_chosen_on_validation_subjects_passes(torch_run, audited):
    result = torch_run("engine.early_stopping=1")
    assert all(fold["validation_subjects"] for fold in result["folds"])
    for fold in result["folds"]:  # early stopping may score any epoch its validation subjects chose
        fold["selected_epoch"], fold["selected_on"] = 1, "validation"
    code, text, checks = audited(result)
    assert code == 0, text
    assert checks["model selection"].detail.startswith("best epoch by validation UF1")
