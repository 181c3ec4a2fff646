"""Outputs never replace a file a stored run read: the manifest the runs of a leakage study read (``report --leakage
S --output``, ``audit S --json``; before, only the study's dataset folders were protected and the manifest, outside
them, was overwritten), and a model's or preprocessor's file (``model.weights``, ``crop.cascade``; before, only
dataset files were protected and ``report --output w.pth`` replaced a user's weights)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch

CONTENT = b"\x00a file a run read"


def _said(result) -> str:
    return " ".join(result.err.split())


def _main(folder: Path, *args: str) -> None:
    """``merbench ARGS`` in-process from the working folder ``folder``, which must succeed (made once per module)."""
    from merbench.cli import main

    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.chdir(folder)
        assert main(list(args)) == 0


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A leakage study of images under ``tree/`` with its manifest ``wf/labels2.csv`` outside them (given from the
    working folder ``wf``): (summary, store, manifest)."""
    import realtrees as rt

    tmp_path = tmp_path_factory.mktemp("study")
    root = tmp_path / "tree"
    root.mkdir()
    rt.build_manifest_images(root, subjects=6, per_subject=4)
    manifest = tmp_path / "wf" / "labels2.csv"
    manifest.parent.mkdir()
    (root / "labels.csv").rename(manifest)
    summary, store = tmp_path / "study.json", tmp_path / "results.sqlite"
    _main(manifest.parent, "leakage", "--model", "ststnet", "--dataset", "manifest", "--root", str(root), "--profile",
          "quick", "--set", "dataset.manifest=labels2.csv", "protocol.n_splits=3", "--store", str(store), "--quiet",
          "--json", str(summary))
    return summary, store, manifest


@pytest.mark.parametrize("command", [
    ["report", "--leakage", "{summary}", "--output", "{manifest}", "--format", "md", "--store", "{store}"],
    ["audit", "{summary}", "--json", "{manifest}", "--store", "{store}"],
], ids=["report-leakage", "audit-summary"])
def test_an_output_onto_the_manifest_a_leakage_study_read_is_refused(run_cli, study, command):
    summary, store, manifest = study
    before = manifest.read_bytes()
    result = run_cli(*(part.format(summary=summary, store=store, manifest=manifest) for part in command))
    assert result.code == 2, result.err
    assert "read (dataset.manifest); merbench never replaces a dataset's files; give another path" in _said(result)
    assert "Traceback" not in result.err
    assert manifest.read_bytes() == before


def test_the_summary_records_the_files_its_runs_read_for_a_store_without_them(run_cli, study, tmp_path):
    summary, _, manifest = study
    assert str(manifest) in json.loads(summary.read_text())["files_read"]
    before = manifest.read_bytes()
    other = tmp_path / "other.sqlite"  # a store that does not hold the study's runs
    result = run_cli("report", "--leakage", str(summary), "--output", str(manifest), "--format", "md",
                     "--store", str(other))
    assert result.code == 2, result.err
    assert (f"is a file that the study in {summary} read ({manifest}); merbench never replaces a file a stored run "
            "read; give another path") in _said(result)
    assert manifest.read_bytes() == before


def _saved_weights(path: Path) -> None:
    from merbench.registry import get_registry
    from merbench_plugins.models.timm_backbone import build_model

    options = {**get_registry().get("models", "timm:").options, "weights": "", "pretrained": False}
    torch.save(build_model("resnet18", options, 3, 3, 28).state_dict(), path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, dict[str, tuple[Path, str]]]:
    """A store with a timm run that read ``w.pth`` (given relative to the working folder) and a convmixer run that
    read the cascade ``casc.xml`` (given relative too: the run records the file it read): (store, {"weights" | "cascade": (file, run id)})."""
    import cv2

    tmp_path = tmp_path_factory.mktemp("runs")
    weights, cascade = tmp_path / "w.pth", tmp_path / "casc.xml"
    _saved_weights(weights)
    cascade.write_bytes((Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml").read_bytes())
    store = tmp_path / "runs.sqlite"
    common = ["--dataset", "synthetic", "--profile", "quick", "--protocol", "loso", "--quiet", "--store", str(store),
              "--set", "dataset.subjects=4"]
    made = {}
    for what, model, setting, file in (("weights", "timm:resnet18", "model.weights=w.pth", weights),
                                       ("cascade", "convmixer", "crop.cascade=casc.xml", cascade)):
        extra = ["preprocess=crop,flow"] if what == "cascade" else []
        _main(tmp_path, "run", "--model", model, *common, setting, *extra, "--json", str(tmp_path / f"{what}.json"))
        made[what] = (file, json.loads((tmp_path / f"{what}.json").read_text())["run_id"])
    return store, made


@pytest.mark.parametrize("command", [
    ["report", "--output", "{file}", "--format", "md"],
    ["show", "{run}", "--json", "{file}"],
    ["audit", "{result}", "--json", "{file}"],
], ids=["report-output", "show-json", "audit-json"])
@pytest.mark.parametrize("what, key", [("weights", "model.weights"), ("cascade", "crop.cascade")])
def test_an_output_onto_a_model_or_preprocessor_file_a_run_read_is_refused(run_cli, runs, tmp_path, monkeypatch,
                                                                            command, what, key):
    store, made = runs
    file, run_id = made[what]
    monkeypatch.chdir(tmp_path)  # elsewhere: the relative weights option names no file here
    original = file.read_bytes()
    given = [part.format(file=file, run=run_id, result=file.parent / f"{what}.json") for part in command]
    result = run_cli(*given, "--store", str(store))
    assert result.code == 2, result.err
    said = _said(result)
    assert f"is the file that run {run_id} read ({key}" in said
    assert "merbench never replaces a file a stored run read; give another path" in said
    assert "Traceback" not in result.err
    assert file.read_bytes() == original


@pytest.mark.parametrize("what, key", [("weights", "model.weights"), ("cascade", "crop.cascade")])
def test_significance_spares_the_files_its_runs_read(run_cli, runs, tmp_path, monkeypatch, what, key):
    """``significance A B --json FILE`` onto a file run A read (recorded in its environment, given relative) is
    refused as ``report`` refuses it."""
    store, made = runs
    file, _ = made[what]
    monkeypatch.chdir(tmp_path)
    original = file.read_bytes()
    result_file = file.parent / f"{what}.json"
    other = file.parent / ("cascade.json" if what == "weights" else "weights.json")
    result = run_cli("significance", str(result_file), str(other), "--json", str(file), "--store", str(store))
    assert result.code == 2, result.err
    said = _said(result)
    assert f"is the file that run A ({result_file}) read ({key})" in said
    assert "Traceback" not in result.err
    assert file.read_bytes() == original
