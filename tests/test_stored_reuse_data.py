"""`--stored` reuses a stored run only while the dataset still gives the samples, labels and model inputs it was
tested on: a corrected coding sheet (same clip ids, other labels) or replaced images (same names and labels) make
`grid --stored` and `regress --stored` train again."""

from __future__ import annotations

import csv

import pytest

import realtrees as rt
from merbench.stored_runs import data_change

CELL = ("--models", "ststnet", "--datasets", "manifest", "--protocols", "subject-10fold", "--profile", "quick",
        "--set", "dataset.manifest=labels.csv", "protocol.n_splits=3", "engine.parallel_folds=1")


def _relabel_first_row(manifest) -> None:
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[0]["label"] = str((int(rows[0]["label"]) + 1) % 3)
    rt.write_csv(manifest, rows)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "manifest"
    root.mkdir()
    return root, rt.build_manifest_images(root, subjects=6, per_subject=4)


def test_grid_stored_trains_again_once_a_label_changed(tree, run_cli, tmp_path):
    root, manifest = tree
    store = ("--store", str(tmp_path / "s.sqlite"))
    first = run_cli("grid", *CELL, "--root", str(root), "--quiet", *store)
    assert first.code == 0, first.err
    again = run_cli("grid", *CELL, "--root", str(root), "--quiet", "--stored", *store)
    assert again.code == 0 and "is not reused" not in again.err  # unchanged data: reused
    _relabel_first_row(manifest)
    changed = run_cli("grid", *CELL, "--root", str(root), "--quiet", "--stored", *store)
    text = " ".join(changed.err.split())
    assert changed.code == 0, changed.err
    assert "is not reused: the dataset changed since it ran (1 sample now has another label, first" in text


def test_regress_stored_trains_again_once_a_label_changed(tree, run_cli, tmp_path):
    root, manifest = tree
    baseline = tmp_path / "b.yaml"
    baseline.write_text("version: 1\ndefaults: {dataset: manifest, profile: quick, device: cpu, metrics: [uf1],\n"
                        "  set: {dataset.manifest: labels.csv, protocol.n_splits: 3, engine.parallel_folds: 1}}\n"
                        "entries:\n  - model: ststnet\n    metrics: {uf1: {expected: 0.5, tolerance: 0.5}}\n")
    args = ("regress", "--baseline", str(baseline), "--root", f"manifest={root}", "--quiet",
            "--store", str(tmp_path / "s.sqlite"))
    assert run_cli(*args).code == 0
    _relabel_first_row(manifest)
    checked = run_cli(*args, "--stored")
    assert "is not reused: the dataset changed since it ran" in " ".join(checked.out.split() + checked.err.split())


def test_grid_stored_trains_again_once_images_were_replaced_under_the_same_names(tree, run_cli, tmp_path):
    import cv2

    root, _ = tree
    store = ("--store", str(tmp_path / "s.sqlite"))
    assert run_cli("grid", *CELL, "--root", str(root), "--quiet", *store).code == 0
    for image in sorted((root / "images").rglob("*.png")):  # inverted, labels kept
        assert cv2.imwrite(str(image), 255 - cv2.imread(str(image), cv2.IMREAD_COLOR))
    changed = run_cli("grid", *CELL, "--root", str(root), "--quiet", "--stored", *store)
    text = " ".join(changed.err.split())
    assert changed.code == 0, changed.err
    assert "is not reused: the dataset changed since it ran (its model inputs were " in text, text
    assert "frames were replaced or the preprocessing changed); it is trained again" in text
    again = run_cli("grid", *CELL, "--root", str(root), "--quiet", "--stored", *store)
    assert again.code == 0 and "is not reused" not in again.err, "the run trained on the new images is reused"


class _Row:
    def __init__(self, sample_id: str, label: int):
        self.id, self.label = sample_id, label


class _Stored:
    classes = ["a", "b"]
    n_samples = 2
    predictions = [_Row("x", 0), _Row("y", 1)]


@pytest.mark.parametrize("classes, labels, said", [
    (["a", "b"], {"x": "a", "y": "b"}, None),
    (["a", "b", "c"], {"x": "a", "y": "b"}, "its classes were a, b; the dataset now gives a, b, c"),
    (["a", "b"], {"x": "a"}, "1 sample it tested is gone, first y"),
    (["a", "b"], {"x": "b", "y": "b"}, "1 sample now has another label, first x: a then, b now"),
    (["a", "b"], {"x": "a", "y": "b", "z": "a"}, "the dataset now gives 1 more sample than it tested"),
])
def test_data_change_names_what_differs(classes, labels, said):
    assert data_change(_Stored(), classes, labels) == said


def test_a_stored_run_of_another_third_party_plugin_version_is_not_reused():
    """A plugin author's model changed from 0.1 to 0.2: `grid --stored` said "trained with this software" and showed
    the old model's scores. merbench's own plugins go with merbench's version, named as other software instead."""
    from merbench.stored_runs import plugins_change
    from result_samples import minimal_result

    def stored(plugins):
        return minimal_result(environment={"plugins": plugins} if plugins is not None else {})

    now = {"model:mynet": "myplug 0.2", "dataset:synthetic": "merbench 0.1.0"}
    assert plugins_change(stored({"model:mynet": "myplug 0.2", "dataset:synthetic": "merbench 0.0.9"}), now) is None
    assert plugins_change(stored({"model:mynet": "myplug 0.1", "dataset:synthetic": "merbench 0.1.0"}), now) == \
        "it ran with other plugin code (plugin model:mynet myplug 0.1 → myplug 0.2)"
    assert plugins_change(stored(None), now) == \
        "it ran with other plugin code (plugin model:mynet unknown → myplug 0.2)"
    resumed = minimal_result(environment={"plugins": {"model:mynet": "myplug 0.2"},
                                          "earlier_software": {"plugins": {"model:mynet": "myplug 0.1"}}})
    assert plugins_change(resumed, now) == "it ran with other plugin code (plugin model:mynet myplug 0.1 → myplug 0.2)"


def test_a_resume_under_another_plugin_version_is_said_and_recorded_as_mixed():
    from merbench.environment import changed_setup

    earlier = {"merbench": "0.1.0", "plugins": {"model:mynet": "myplug 0.1"}}
    now = {"merbench": "0.1.0", "plugins": {"model:mynet": "myplug 0.2"}}
    assert changed_setup(earlier, now) == (["plugin model:mynet myplug 0.1 → myplug 0.2"], [])
    assert changed_setup({"merbench": "0.1.0"}, now) == ([], []), "an earlier record without plugins says nothing"
