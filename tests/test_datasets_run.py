"""``merbench run`` end to end on the real-layout fixture trees (quick profile, one epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import realtrees as rt

QUICK = ("--profile", "quick", "--epochs", "1", "--quiet")


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run")
    rt.build_smic(root / "smic", ("HS",))
    rt.build_megc(root / "megc")
    rt.build_manifest_images(root / "manifest")
    rt.build_manifest_frames(root / "manifest")
    return root


@pytest.fixture
def run_json(run_cli, tmp_path):
    def invoke(*args: str) -> dict:
        target = tmp_path / "result.json"
        result = run_cli("run", "--model", "convmixer", *QUICK, "--json", str(target), *args)
        assert result.code == 0, result.err
        return json.loads(target.read_text())

    return invoke


def test_smic_run_records_the_apex_rule(run_json, trees):
    result = run_json("--dataset", "smic", "--root", str(trees / "smic"), "--protocol", "loso")
    assert result["n_samples"] == 10 and result["n_subjects"] == 3
    assert result["preprocess"]["apex_rule"] == "middle frame for 10 of 10 clips without apex"
    assert result["dataset_summary"]["apex_middle_fallback"] == 10
    assert {f["test_subjects"][0] for f in result["folds"]} == {"s1", "s2", "s3"}


@pytest.mark.parametrize("dataset, folder, sets, n_samples", [
    ("casme2", "CASME2", [], 10),
    ("casme2", "CASME2", ["dataset.classes=3"], 9),
    ("samm", "SAMM", [], 9),
])
def test_casme2_and_samm_runs(run_json, trees, dataset, folder, sets, n_samples):
    extra = ["--set", *sets] if sets else []
    result = run_json("--dataset", dataset, "--root", str(trees / "megc" / folder), "--protocol", "loso", *extra)
    assert result["n_samples"] == n_samples and result["n_subjects"] == 3
    assert result["dataset_summary"]["class_counts"] == dict(zip(result["classes"], [
        sum(1 for p in result["predictions"] if p["label"] == i) for i in range(len(result["classes"]))]))


def test_megc2019_run_scores_each_part(run_json, trees):
    result = run_json("--dataset", "megc2019", "--root", str(trees / "megc"), "--protocol", "megc2019",
                      "--set", "dataset.list=derived")
    assert result["classes"] == ["negative", "positive", "surprise"]
    assert result["n_samples"] == 30 and result["n_subjects"] == 9 and len(result["folds"]) == 9
    assert sorted(result["per_domain"]) == ["casme2", "samm", "smic"]
    assert result["dataset_summary"]["parts"]["samm"]["fixed"] == 1
    assert result["dataset_summary"]["skipped"] == 3
    assert result["preprocess"]["apex_rule"] == "middle frame for 12 of 30 clips without apex"


def test_manifest_images_run_with_domain_column(run_json, trees):
    result = run_json("--dataset", "manifest", "--root", str(trees / "manifest"), "--protocol", "loso",
                      "--set", "dataset.manifest=labels.csv", "preprocess=image", "dataset.classes=negative,positive,surprise")
    assert result["classes"] == ["negative", "positive", "surprise"] and result["n_samples"] == 12
    assert sorted(result["per_domain"]) == ["a", "b"]
    assert result["preprocess"]["produces"] == "flow-uvs"
    # image rows take the `image` chain by default: naming it changes nothing, so it is not a changed option
    assert "dataset.manifest=labels.csv" in result["settings_changed"], result["settings_changed"]
    assert not any(s.startswith("preprocess=") for s in result["settings_changed"]), result["settings_changed"]


def test_a_manifest_found_in_the_working_folder_is_recorded_by_its_absolute_path(run_json, trees, tmp_path,
                                                                                  monkeypatch):
    """Two runs on different files both named labels.csv (one under --root, one in the working folder) recorded
    "labels.csv" and the root's full path: which file the first read was lost, and `compare` took them for one."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rows = (trees / "manifest" / "labels.csv").read_text().splitlines()
    (elsewhere / "labels.csv").write_text("\n".join(rows[:10]) + "\n")  # 9 of the 12 images
    monkeypatch.chdir(elsewhere)
    args = ("--dataset", "manifest", "--root", str(trees / "manifest"), "--protocol", "loso",
            "--set", "dataset.manifest=labels.csv", "preprocess=image", "dataset.classes=negative,positive,surprise")
    result = run_json(*args)
    assert result["n_samples"] == 9
    assert result["dataset_summary"]["manifest"] == str(elsewhere / "labels.csv")
    (elsewhere / "labels.csv").unlink()
    result = run_json(*args)
    assert result["n_samples"] == 12
    assert result["dataset_summary"]["manifest"] == str(trees / "manifest" / "labels.csv")


def test_manifest_frames_run_through_flow(run_json, trees):
    result = run_json("--dataset", "manifest", "--root", str(trees / "manifest"), "--protocol", "loso",
                      "--set", "dataset.manifest=frames.csv")
    assert result["n_samples"] == 9 and result["preprocess"]["apex_rule"] == "annotated"


def test_manifest_chain_mismatch_says_what_to_set(run_cli, trees):
    base = ("run", "--model", "convmixer", "--dataset", "manifest", "--root", str(trees / "manifest"), *QUICK)
    result = run_cli(*base, "--set", "dataset.manifest=labels.csv", "preprocess=flow")
    assert result.code == 2 and "add --set preprocess=image" in " ".join(result.err.split())
    result = run_cli(*base, "--set", "dataset.manifest=frames.csv", "preprocess=image")
    assert result.code == 2 and "gives clips of frames" in " ".join(result.err.split())


@pytest.mark.parametrize("command", ["preprocess", "datasets-check"])
def test_preprocess_refuses_a_chain_that_does_not_fit_the_manifest_and_check_does_not_need_one(run_cli, trees, command):
    root = str(trees / "manifest")
    if command == "preprocess":
        result = run_cli("preprocess", "--dataset", "manifest", "--root", root, "--quiet",
                         "--set", "dataset.manifest=labels.csv", "preprocess=flow")
        assert result.code == 2 and "add --set preprocess=image" in " ".join(result.err.split())
        assert "Traceback" not in result.err
    else:  # checking the tree alone names no chain: nothing to refuse
        result = run_cli("datasets", "check", "manifest", "--root", root, "--set", "dataset.manifest=labels.csv")
        assert result.code == 0, result.err


def test_a_subject_in_two_domains_of_a_cross_dataset_run_is_warned_and_recorded(run_json, trees, tmp_path):
    """cross-dataset is subject-independent by design; data that puts one subject in both domains leaks subjects,
    and the result's warnings say so (not only its leakage record)."""
    import csv

    source = trees / "manifest" / "labels.csv"
    rows = list(csv.DictReader(source.open()))
    for i, row in enumerate(rows):
        row["domain"] = "ab"[i % 2]
    mixed = trees / "manifest" / "mixed.csv"
    with mixed.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run_json("--dataset", "manifest", "--root", str(trees / "manifest"), "--protocol", "cross-dataset",
                      "--set", "dataset.manifest=mixed.csv", "preprocess=image", "protocol.train=a", "protocol.test=b")
    assert result["subject_independent"] is False and result["leakage"]["leaks"] == ["subjects"]
    assert any("cross-dataset is subject-independent by design, but the data puts subjects in training and test"
               in warning for warning in result["warnings"]), result["warnings"]


def test_a_sample_level_split_that_shares_no_subject_is_still_flagged(run_json):
    result = run_json("--dataset", "synthetic", "--protocol", "sample-10fold",
                      "--set", "dataset.subjects=12", "dataset.clips_per_subject=1", "protocol.n_splits=2")
    assert result["leakage"]["subject_overlap_folds"] == 0
    assert result["subject_independent"] is False and result["leakage"]["leaks"] == ["subjects"]
    from merbench.report import leakage_warnings
    from merbench.result import RunResult

    [said, _] = leakage_warnings(RunResult.from_dict(result))
    assert "no fold happened to share a subject (0 of 2 folds)" in said and "are in training and test" not in said


def test_a_library_warning_about_the_split_is_shown_once(run_cli, tmp_path):
    """The pre-run check splits the folds as the run will; a splitter's warning comes from the run's split alone (as a
    note in the user's terms)."""
    root = rt.build_casme2(tmp_path / "casme2")
    result = run_cli("run", "--model", "ststnet", "--dataset", "casme2", "--root", str(root), *QUICK, "--no-store",
                     "--set", "dataset.classes=5", "protocol.n_splits=3")
    assert result.code == 0, result.err
    assert result.err.count("3 folds: class 'repression' has only 1 sample, so some test folds have none of it") == 1
    assert "least populated class" not in result.err, "said in merbench's words, not scikit-learn's"
