"""``merbench audit`` of a hand-edited result: the edits that passed it before, each made to a genuine result.

Fold sizes edited so that the re-check of subjects across folds switched itself off, a fold left out (its
predictions and scores with it), a sample predicted twice, a result naming another run than its configuration ran,
and predictions stripped of their domain: each passed with a finding that claimed more than was checked.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from merbench.metrics import classification_metrics, mean_std

FAST = ("--set", "protocol.n_splits=3", "engine.epochs=1")
SMALL = ("--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "engine.epochs=1")


def _rescored(result: dict) -> dict:
    """``result`` with every score, size and count made again from its (edited) predictions, as a careful forger
    would: only what the predictions themselves cannot hide is left to give the edit away."""
    rows, k = result["predictions"], len(result["classes"])
    truth, predicted = np.array([r["label"] for r in rows]), np.array([r["prediction"] for r in rows])
    folds = np.array([r["fold"] for r in rows])
    result["pooled"] = classification_metrics(truth, predicted, k)
    for fold in result["folds"]:
        mask = folds == fold["fold"]
        fold["n_test"], fold["metrics"] = int(mask.sum()), classification_metrics(truth[mask], predicted[mask], k)
    result["fold_mean"], result["fold_std"] = mean_std([fold["metrics"] for fold in result["folds"]])
    result["confusion_matrix"] = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k).tolist()
    domains = np.array([str(r.get("domain")) for r in rows])
    result["per_domain"] = {domain: {key: classification_metrics(truth[domains == domain], predicted[domains == domain],
                                                                 k)[key] for key in ("uf1", "uar", "accuracy")}
                            for domain in result["per_domain"]}
    return result


def _scrubbed_and_relabelled(result: dict, protocol: str) -> dict:
    """A sample-level ``result`` with every record of its subject overlap edited out, named ``protocol`` (at its top
    and in its configuration): only its predictions still show the overlap."""
    result = copy.deepcopy(result)
    result["protocol"] = result["config"]["protocol"] = protocol
    result["subject_independent"] = True
    result["leakage"].update(leaks=[], subject_overlap_folds=0)
    result["warnings"] = []
    for fold in result["folds"]:
        fold["train_subjects"] = sorted(set(fold["train_subjects"]) - set(fold["test_subjects"]))
        fold["subject_overlap"] = []
    return result


def test_fold_sizes_edited_to_switch_off_the_subject_recheck_fail(quick_run, audited):
    """A sample-10fold result relabelled subject-10fold, each fold's n_train raised by one: the re-check of subjects
    across folds needed n_train + n_test to be every sample, found it was not, and passed the result silently."""
    sample_level = quick_run("--protocol", "sample-10fold", *FAST)
    forged = _scrubbed_and_relabelled(sample_level, "subject-10fold")
    for fold in forged["folds"]:
        fold["n_train"] += 1
    code, text, checks = audited(forged)
    detail = checks["subject overlap"].detail
    assert code == 1 and not checks["subject overlap"].passed, text
    assert "the predictions show 3 of 3 folds testing a subject that another fold also tests" in detail
    assert ("3 of 3 folds record training and test samples (n_train + n_test) that do not add up to the result's 60 "
            "samples (n_samples), which subject-10fold trains or tests in every fold (fold 1: 41 + 20;") in detail


def test_under_a_protocol_merbench_does_not_know_the_subject_recheck_says_it_could_not_run(quick_run, audited):
    """A protocol that does not declare its folds (not installed here, or a plugin's) may train a fold on part of the
    rest: fold sizes that do not add up are
    not wrong there, but the re-check across folds cannot run, and the finding says so; sizes above every sample
    are wrong under any protocol."""
    forged = _scrubbed_and_relabelled(quick_run("--protocol", "sample-10fold", *FAST), "my-kfold")
    for fold in forged["folds"]:
        fold["n_train"] -= 1
    _, _, checks = audited(forged)
    assert checks["subject overlap"].passed
    assert ("whether a subject tested in one fold was trained on in another is not re-checkable from the predictions "
            "(my-kfold does not declare the folds it makes, and the recorded fold sizes do not show that each fold "
            "trains on every sample it does not test)") in checks["subject overlap"].detail
    assert "whether its 3 folds are all that my-kfold makes is not re-checkable" in checks["scores match predictions"].detail
    for fold in forged["folds"]:
        fold["n_train"] += 2
    code, _, checks = audited(forged)
    assert code == 1 and ("3 of 3 folds record more training and test samples (n_train + n_test) than the result's "
                          "60 (n_samples) (fold 1: 41 + 20;") in checks["subject overlap"].detail


@pytest.mark.parametrize("dropped", [0, 2])
def test_a_fold_left_out_with_its_predictions_and_scores_fails(quick_run, audited, dropped):
    """Cherry-picking: the worst fold taken out and every score made again from the rest passed the audit."""
    result = quick_run(*FAST)
    forged = copy.deepcopy(result)
    forged["folds"] = [fold for fold in forged["folds"] if fold["fold"] != dropped]
    forged["predictions"] = [row for row in forged["predictions"] if row["fold"] != dropped]
    _rescored(forged)
    code, text, checks = audited(forged)
    detail = checks["scores match predictions"].detail
    assert code == 1 and not checks["scores match predictions"].passed, text
    assert "the result records 2 folds, subject-10fold makes 3 (protocol.n_splits=3)" in detail
    assert (dropped == 0) == ("fold 1 of the 3 is missing (a protocol numbers its folds from 1 without a gap)" in detail)
    tested = len(forged["predictions"])
    forged["n_samples"] = tested  # the sizes made to fit the folds left
    for fold in forged["folds"]:
        fold["n_train"] = tested - fold["n_test"]
    code, text, checks = audited(forged)
    assert code == 1 and "the result records 2 folds, subject-10fold makes 3" in checks["scores match predictions"].detail
    assert (f"the predictions test {len({r['subject'] for r in forged['predictions']})} of the result's 10 subjects "
            "(n_subjects), and subject-10fold tests every subject") in text


@pytest.fixture
def lbptop_loso(run_cli, tmp_path):
    """A quick lbptop-svm loso result: 4 folds of 4 subjects."""
    target = tmp_path / "loso.json"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--protocol", "loso", *SMALL, "--json", str(target))
    assert result.code == 0, result.err
    return json.loads(target.read_text())


def test_a_loso_fold_left_out_fails_though_the_counts_were_edited_to_fit(lbptop_loso, audited):
    """loso makes one fold per subject: a subject's fold left out, then n_subjects lowered to fit, still leaves that
    subject in the training part of every other fold's record."""
    result = copy.deepcopy(lbptop_loso)
    left_out = result["folds"].pop()
    result["predictions"] = [row for row in result["predictions"] if row["fold"] != left_out["fold"]]
    _rescored(result)
    code, _, checks = audited(result)
    assert code == 1 and "the result records 3 folds, loso makes 4 (one per subject, n_subjects=4)" in \
        checks["scores match predictions"].detail
    result["n_subjects"], result["n_samples"] = 3, len(result["predictions"])
    for fold in result["folds"]:
        fold["n_train"] = result["n_samples"] - fold["n_test"]
    code, _, checks = audited(result)
    assert code == 1 and "the folds and predictions name 4 subjects, the result has 3 (n_subjects)" in \
        checks["scores match predictions"].detail  # the subject left out is still trained on in every other fold


def test_a_sample_predicted_twice_fails_naming_it(quick_run, audited):
    """A right prediction copied (sizes and scores made again) passed, the audit saying the matrix counts each once."""
    forged = quick_run(*FAST)
    right = next(row for row in forged["predictions"] if row["label"] == row["prediction"])
    forged["predictions"].append(dict(right))
    _rescored(forged)
    forged["n_samples"] = len(forged["predictions"])
    for fold in forged["folds"]:
        fold["n_train"] = forged["n_samples"] - fold["n_test"]
    code, text, checks = audited(forged)
    assert code == 1 and not checks["scores match predictions"].passed, text
    assert (f"sample {right['id']} has 2 predictions: the scores count it more than once, where a sample is tested "
            "in one fold and scored once") in checks["scores match predictions"].detail


@pytest.mark.parametrize("field, value", [("model", "ststnet"), ("dataset", "casme2"), ("protocol", "loso"),
                                          ("profile", "default")])
def test_a_result_naming_another_run_than_its_configuration_ran_fails(quick_run, audited, field, value):
    """Tables, compare and report show the result's own model, dataset, protocol and profile; the audit reads the
    configuration's settings: the two could name different runs and pass."""
    result = quick_run(*FAST)
    code, _, checks = audited(result)
    assert code == 0 and "recorded configuration" not in checks
    recorded = result["config"][field]
    result[field] = value
    code, text, checks = audited(result)
    assert code == 1 and not checks["recorded configuration"].passed, text
    assert f"{field} is '{value}', its recorded configuration ran '{recorded}'" in checks["recorded configuration"].detail


def test_per_domain_scores_of_predictions_without_a_domain_are_said_to_be_unchecked(quick_run, audited):
    """The schema keeps a prediction's domain optional (results written before merbench recorded it lack it), so its
    absence is no failure; but the finding said the per-domain scores were reproduced when they were not checked."""
    result = quick_run("--set", "dataset.domains=2", "protocol.n_splits=3", "engine.epochs=1")
    assert len(result["per_domain"]) == 2
    code, text, checks = audited(result)
    assert code == 0 and "reproduce the pooled, per-fold and per-domain scores" in text, text
    for row in result["predictions"]:
        del row["domain"]
    domain = sorted(result["per_domain"])[0]
    result["per_domain"][domain]["uf1"] = 0.95
    _, _, checks = audited(result)
    detail = checks["scores match predictions"].detail
    assert "per-domain scores and" not in detail
    assert "the per-domain scores are not re-checkable (the predictions name no domain)" in detail


@pytest.mark.parametrize("protocol, extra, makes", [
    ("subject-10fold", FAST, "the 3 folds are what subject-10fold makes (protocol.n_splits=3), testing each of the 60 "
                             "samples once"),
    ("sample-10fold", FAST, "the 3 folds are what sample-10fold makes (protocol.n_splits=3), testing each of the 60 "
                            "samples once"),
    ("loso", SMALL, "the 4 folds are what loso makes (one per subject, n_subjects=4), testing each of the 24 samples "
                    "once"),
    ("cross-dataset", ("--set", "dataset.domains=3", "protocol.train=synthetic-1", "protocol.test=synthetic-3",
                       "engine.epochs=1"), "the 1 fold is what cross-dataset makes (always one)"),
], ids=["subject-10fold", "sample-10fold", "loso", "cross-dataset"])
def test_unedited_results_of_each_protocol_still_pass_the_new_checks(quick_run, audited, protocol, extra, makes):
    """cross-dataset tests one domain and trains on another: it tests a part of the samples, and that is no fault."""
    code, text, checks = audited(quick_run("--protocol", protocol, *extra))
    assert checks["scores match predictions"].passed and makes in checks["scores match predictions"].detail, text
    assert checks["subject overlap"].passed == (protocol != "sample-10fold") and "not re-checkable" not in text
    assert code == (1 if protocol == "sample-10fold" else 0) and "recorded configuration" not in checks
