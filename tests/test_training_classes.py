"""What a fold trains on: a fold that trains on one class only is refused, a class tested but never trained on is a
recorded warning (before: a 100 % score from unlearnable folds, or an SVM's error blamed on its plugin), and so is one
subject id in two domains, which a subject-independent protocol treats as one person."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import realtrees as rt

LABELS = ["negative", "positive", "surprise"]
SPACES = Path(__file__).resolve().parents[1] / "benchmarks" / "spaces"


def one_class_per_subject(root: Path, subjects: int) -> Path:
    """A manifest of onset/apex frame pairs where subject ``p<i>`` holds only class ``LABELS[i]``, 3 clips each."""
    rows = []
    for subject in range(subjects):
        label = LABELS[subject]
        for number in range(3):
            clip = rt.clip_frames(subject, number, "happiness" if label == "positive" else label)
            folder = root / "clips" / f"p{subject}" / f"c{number}"
            rt.write_frames(folder, clip.frames[[clip.onset, clip.apex]], ("onset.png", "apex.png"))
            rows.append({"subject": f"p{subject}", "label": label, "onset": f"clips/p{subject}/c{number}/onset.png",
                         "apex": f"clips/p{subject}/c{number}/apex.png"})
    rt.write_csv(root / "frames.csv", rows)
    return root


def run_args(root: Path, model: str, *extra: str) -> list[str]:
    return ["run", "--model", model, "--dataset", "manifest", "--root", str(root), "--set",
            "dataset.manifest=frames.csv", "--protocol", "loso", "--profile", "quick", "--no-store", *extra]


@pytest.mark.parametrize("model", ["ststnet", "lbptop-svm"])
def test_a_fold_that_trains_on_one_class_is_refused_before_the_run(run_cli, tmp_path, model):
    root = one_class_per_subject(tmp_path / "data", subjects=2)
    result = run_cli(*run_args(root, model))
    assert result.code == 2, result.out + result.err
    assert "fold 1 of protocol 'loso' trains on one class only ('positive', 3 clips)" in result.err
    assert "at least two classes" in result.err and "report it to the plugin's author" not in result.err
    assert "Traceback" not in result.err and "pooled" not in result.out


def test_a_class_tested_but_never_trained_on_is_a_recorded_warning(run_cli, tmp_path):
    root = one_class_per_subject(tmp_path / "data", subjects=3)
    target = tmp_path / "result.json"
    result = run_cli(*run_args(root, "ststnet", "--json", str(target)))
    assert result.code == 0, result.err
    expected = ("3 of 3 folds test a class their training part has no clip of (first: fold 1, class 'negative', "
                "3 test clips)")
    assert expected in result.out + result.err
    assert any(warning.startswith(expected) for warning in json.loads(target.read_text())["warnings"])


def test_folds_that_train_on_every_class_they_test_say_nothing(quick_run):
    assert not any("training part has no clip" in warning for warning in quick_run()["warnings"])


def test_a_tune_says_so_too(run_cli, tmp_path):
    root = one_class_per_subject(tmp_path / "data", subjects=2)
    result = run_cli("tune", "--model", "lbptop-svm", "--dataset", "manifest", "--root", str(root), "--set",
                     "dataset.manifest=frames.csv", "--protocol", "loso", "--profile", "quick", "--trials", "1",
                     "--space", str(SPACES / "lbptop-svm.yaml"), "--storage", str(tmp_path / "trials.db"))
    assert result.code == 2 and "trains on one class only ('positive', 3 clips)" in result.err
    assert not (tmp_path / "trials.db").exists()


def test_one_subject_id_in_two_domains_under_loso_is_a_recorded_warning(run_cli, tmp_path):
    """A manifest whose two domains reuse ids 1..4 (8 people): LOSO and megc2019 merged each pair into one fold
    without a word, where cross-dataset warned."""
    import csv

    manifest = rt.build_manifest_images(tmp_path / "images", subjects=8, per_subject=3)
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["subject"] = f"p{int(row['subject'][1:]) // 2}"  # s0, s1 -> p0 (domains a and b), ...
    rt.write_csv(manifest, rows)
    target = tmp_path / "result.json"
    result = run_cli("run", "--model", "ststnet", "--dataset", "manifest", "--root", str(manifest.parent),
                     "--set", "dataset.manifest=labels.csv", "--protocol", "loso", "--profile", "quick", "--no-store",
                     "--json", str(target))
    assert result.code == 0, result.err
    said = "subject id 'p0' is in 2 domains (a, b) (3 more such ids); the protocol treats it as one person"
    assert said in " ".join((result.out + result.err).split())
    assert any(warning.startswith(said) for warning in json.loads(target.read_text())["warnings"])


def test_a_tune_whose_inner_fold_trains_on_one_class_is_refused_before_any_trial(run_cli, tmp_path):
    """Three subjects of one class each: every LOSO outer fold trains on two classes, but its two inner folds train
    on one each; the SVC's error came back from the trial, blamed on the plugin, exit 1."""
    root = one_class_per_subject(tmp_path / "data", subjects=3)
    result = run_cli("tune", "--model", "lbptop-svm", "--dataset", "manifest", "--root", str(root), "--set",
                     "dataset.manifest=frames.csv", "--protocol", "loso", "--profile", "quick", "--trials", "1",
                     "--inner-folds", "2", "--space", str(SPACES / "lbptop-svm.yaml"), "--storage",
                     str(tmp_path / "trials.db"))
    said = " ".join(result.err.split())
    assert result.code == 2, said
    assert "outer fold 1: inner fold 1 trains on one class only" in said
    assert "too few per class for --inner-folds 2: use a dataset with more subjects of each class" in said  # 2: fewest
    assert "report it to the plugin's author" not in said
