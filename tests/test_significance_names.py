"""``merbench significance`` names runs A and B as ``merbench compare`` names their rows, and its ``--json`` says
how each was made: two runs of one model that differ only in their profile, or in the folder they read the dataset
from, were both ``ststnet`` (``B (ststnet) vs A (ststnet)``), and the JSON recorded neither difference."""

from __future__ import annotations

import json
import shutil

import pytest

import realtrees as rt
from merbench.compare import build_comparison
from merbench.registry import get_registry
from merbench.result import RunResult
from merbench.run_settings import changed_settings_of

QUICK_DATA = ("dataset.preset=easy", "dataset.subjects=10", "dataset.clips_per_subject=6", "dataset.size=48",
              "dataset.frames=10", "dataset.domains=1")
"""The quick profile's synthetic data, pinned for a default-profile run so that both runs score the same samples."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """lbptop-svm under the quick and the default profile on the same data; ststnet on two copies of a manifest."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("significance-names")
    first, second = folder / "man", folder / "man2"
    first.mkdir()
    rt.build_manifest_images(first)
    shutil.copytree(first, second)
    made = {}
    for name, options in {
        "quick": ("--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick"),
        "default": ("--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "default", "--set", *QUICK_DATA),
        "man": ("--model", "ststnet", "--dataset", "manifest", "--root", str(first), "--protocol", "loso",
                "--profile", "quick", "--epochs", "1", "--set", "dataset.manifest=labels.csv"),
        "man2": ("--model", "ststnet", "--dataset", "manifest", "--root", str(second), "--protocol", "loso",
                 "--profile", "quick", "--epochs", "1", "--set", "dataset.manifest=labels.csv"),
    }.items():
        path = folder / f"{name}.json"
        assert main(["run", *options, "--quiet", "--no-store", "--json", str(path)]) == 0
        made[name] = path
    return made


def _compared_rows(*paths) -> list[str]:
    results = [RunResult.from_dict(json.loads(path.read_text())) for path in paths]
    comparison = build_comparison(results, settings=changed_settings_of(results, get_registry()))
    return [record["row"] for record in comparison.records()]


def test_runs_of_two_profiles_are_named_by_their_profile_as_compare_names_them(runs, run_cli):
    shown = run_cli("significance", str(runs["quick"]), str(runs["default"]), "--bootstrap", "100", "--json", "-")
    assert shown.code == 0, shown.err
    title = " ".join(shown.err.split()).split(" on synthetic")[0]
    rows = _compared_rows(runs["quick"], runs["default"])
    name_a = next(row for row in rows if "profile=quick" in row)
    name_b = next(row for row in rows if "profile=default" in row)
    assert title == f"UF1: B ({name_b}) vs A ({name_a})"
    assert name_a == "lbptop-svm (profile=quick)" and name_b.startswith("lbptop-svm (profile=default, dataset.")
    document = json.loads(shown.out)
    assert (document["a"]["profile"], document["b"]["profile"]) == ("quick", "default")
    assert (document["a"]["name"], document["b"]["name"]) == (name_a, name_b)
    assert document["a"]["settings"] == [] and sorted(document["b"]["settings"]) == sorted(QUICK_DATA)
    assert document["a"]["root"] is None


def test_runs_of_two_copies_of_a_dataset_folder_are_named_by_their_folder(runs, run_cli):
    shown = run_cli("significance", str(runs["man"]), str(runs["man2"]), "--bootstrap", "100", "--json", "-")
    assert shown.code == 0, shown.err
    root_a, root_b = (json.loads(runs[name].read_text())["config"]["root"] for name in ("man", "man2"))
    name_a, name_b = f"ststnet (root={root_a})", f"ststnet (root={root_b})"
    assert sorted(_compared_rows(runs["man"], runs["man2"])) == sorted([name_a, name_b])
    assert f"UF1: B ({name_b}) vs A ({name_a}) on manifest" in " ".join(shown.err.split())
    document = json.loads(shown.out)
    assert (document["a"]["name"], document["b"]["name"]) == (name_a, name_b)
    assert (document["a"]["root"], document["b"]["root"]) == (root_a, root_b)
    assert document["a"]["profile"] == document["b"]["profile"] == "quick"
    assert document["a"]["settings"] == document["b"]["settings"] == ["dataset.manifest=labels.csv", "engine.epochs=1"]
