"""Clips skipped as unreadable can take a whole class with them: the run then classifies the classes that are left
(as a loader lists only the classes its tree has) and says so, and refuses a single class left (exit 2) instead of
training a one-class model; ``merbench datasets check`` tells the same before any run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import realtrees as rt

RUN = ("--model", "ststnet", "--dataset", "casme2", "--profile", "quick", "--epochs", "1", "--quiet", "--no-store",
       "--protocol", "loso", "--set", "preprocess=crop,flow", "flow.method=farneback")


@pytest.fixture(scope="module")
def casme2(tmp_path_factory) -> Path:
    return rt.build_casme2(tmp_path_factory.mktemp("classes") / "casme2")


def damaged_copy(source: Path, target: Path, labels: set[str]) -> Path:
    """A copy of the CASME II tree whose clips of the classes ``labels`` have frames that are not images."""
    from merbench_plugins.datasets.casme2 import load

    shutil.copytree(source, target)
    dataset = load(target, {"classes": "5", "frames": "auto", "fixes": "known", "strict": False}, None)
    for sample in dataset.samples:
        if dataset.classes[sample.label] in labels:
            for frame in sample.frames:
                Path(frame).write_bytes(b"")
    return target


def test_a_class_whose_clips_are_all_skipped_is_dropped_and_named(run_cli, casme2, tmp_path):
    root = damaged_copy(casme2, tmp_path / "casme2", {"others"})
    checked = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert checked.code == 0, checked.err
    assert ("class others has no sample left once those clips are left out: a run classifies 4 classes "
            "(happiness, disgust, repression, surprise)") in " ".join((checked.out + checked.err).split())

    target = tmp_path / "result.json"
    ran = run_cli("run", *RUN, "--root", str(root), "--json", str(target))
    assert ran.code == 0, ran.err
    assert "class others has no sample left after the skipped clips: the run classifies 4 classes" in " ".join(
        ran.err.split())
    result = json.loads(target.read_text())
    assert result["classes"] == ["happiness", "disgust", "repression", "surprise"]
    assert result["dataset_summary"]["class_counts"] == {"happiness": 3, "disgust": 2, "repression": 1, "surprise": 3}
    assert result["dataset_summary"]["classes_without_samples"] == ["others"]
    assert len(result["confusion_matrix"]) == 4 and result["n_samples"] == 9
    assert result["pooled"]["macro_f1"] == pytest.approx(result["pooled"]["uf1"]), "no empty class in the averages"


def test_one_class_left_after_the_skipped_clips_is_refused_by_run_and_check(run_cli, casme2, tmp_path):
    root = damaged_copy(casme2, tmp_path / "casme2", {"disgust", "repression", "surprise", "others"})
    ran = run_cli("run", *RUN, "--root", str(root))
    assert ran.code == 2, ran.err
    assert ("dataset 'casme2' has samples of only one class (happiness) after 7 clips with unusable frames were "
            "skipped") in " ".join(ran.err.split()) and "Traceback" not in ran.err

    checked = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert checked.code == 2
    assert ("has samples of only one class (happiness) once the 7 clips with missing or unusable files are left "
            "out") in " ".join(checked.err.split())
