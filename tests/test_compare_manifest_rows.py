"""A stored ``manifest`` run's row in ``compare`` does not depend on the folder the command runs in, and one manifest
file named relatively by one run and absolutely (or through a link) by another is one row, with the older run hidden
and a best marked (before: ``preprocess=image`` named from another working folder, where the relative
``dataset.manifest`` was not found and the file was taken for frames; and a row per spelling of the file, no best)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from merbench.config import resolve_config
from merbench.metrics import METRIC_KEYS
from merbench.registry import get_registry
from result_samples import minimal_result, store_results


def _tree(tmp_path: Path) -> Path:
    """A dataset folder holding ``labels.csv``, a manifest of image paths (what a manifest gives is read from its
    header: the ``image`` chain is its default)."""
    root = tmp_path / "tree"
    root.mkdir()
    (root / "labels.csv").write_text("subject,label,path\ns1,0,images/a.png\n")
    return root


def _result(run_id: str, model: str, root: Path, named: str, read: Path, uf1: float):
    """A stored-like result of ``model`` run on the manifest dataset under ``root`` with ``--set
    dataset.manifest=NAMED``, whose dataset summary records the file it read, ``read`` (absolute), as a real run's
    does; its configuration is the one ``merbench run`` records (the ``image`` chain, the option as typed)."""
    config = resolve_config(get_registry(), model=model, dataset="manifest", protocol="loso", profile="quick", seed=0,
                            root=root, sets={"dataset.manifest": str(read)}).to_dict()
    assert config["preprocess"] == ["image"]
    config["options"]["dataset"]["manifest"] = named
    scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 4, "metrics": scores} for i in range(3)]
    return minimal_result(run_id=run_id, model=model, dataset="manifest", protocol="loso", seed=0, profile="quick",
                          config=config, pooled=scores, fold_mean=scores, fold_std={key: 0.0 for key in scores},
                          folds=folds, dataset_summary={"root": str(root), "manifest": str(read)})


def _compared(run_cli, store: Path, *run_ids: str) -> tuple[dict[str, str], str, dict]:
    """The rows of ``compare`` (name → line), its whole text on one line, and its ``--json`` document."""
    shown = run_cli("compare", *run_ids, "--store", str(store), "--format", "plain")
    assert shown.code == 0, shown.err
    rows = {line.split("  ")[0]: line for line in shown.out.splitlines() if line.startswith(("ststnet", "offapexnet"))}
    document = json.loads(run_cli("compare", *run_ids, "--store", str(store), "--json").out)
    return rows, " ".join(shown.out.split()), document


def test_a_runs_row_and_settings_are_the_same_from_any_working_folder(tmp_path, run_cli, monkeypatch):
    root, work = _tree(tmp_path), tmp_path / "wf"
    work.mkdir()
    (work / "labels2.csv").write_text((root / "labels.csv").read_text())
    runs = [_result("20250611-000001-000001", "ststnet", root, "labels2.csv", work / "labels2.csv", 0.40),
            _result("20250611-000002-000002", "ststnet", root, "labels.csv", root / "labels.csv", 0.60)]
    store = store_results(tmp_path / "runs.sqlite", runs)
    seen = []
    for folder in (tmp_path, work, root):
        monkeypatch.chdir(folder)
        rows, _, document = _compared(run_cli, store)
        seen.append((sorted(rows), sorted((row["row"], row["settings"]) for row in document["rows"])))
    assert seen[0] == seen[1] == seen[2], seen
    assert not any("preprocess=" in name for name in seen[0][0]), "image is the default chain of an image manifest"
    assert "ststnet (dataset.manifest=labels2.csv, manifest=" + os.path.realpath(work / "labels2.csv") + ")" \
        in seen[0][0]


def test_a_recorded_manifest_that_is_gone_does_not_make_the_chain_look_changed(tmp_path, run_cli, monkeypatch):
    root, work = _tree(tmp_path), tmp_path / "wf"
    work.mkdir()
    (work / "labels2.csv").write_text((root / "labels.csv").read_text())
    store = store_results(tmp_path / "runs.sqlite", [
        _result("20250611-000001-000001", "ststnet", root, "labels2.csv", work / "labels2.csv", 0.40)])
    (work / "labels2.csv").unlink()
    (root / "labels2.csv").write_text("subject,label,onset,apex\n")  # where a relative name is looked for: frames
    monkeypatch.chdir(work)
    shown = run_cli("show", "20250611-000001-000001", "--store", str(store))
    assert shown.code == 0, shown.err
    assert "preprocess=image" not in shown.out, "what the gone file gave cannot be told: the chain is not named"


def test_one_manifest_named_relatively_and_absolutely_is_one_row_with_a_best(tmp_path, run_cli):
    root = _tree(tmp_path)
    labels = root / "labels.csv"
    runs = [_result("20250611-000001-000001", "ststnet", root, "labels.csv", labels, 0.60),
            _result("20250611-000002-000002", "ststnet", root, str(labels), labels, 0.70),
            _result("20250611-000003-000003", "offapexnet", root, "labels.csv", labels, 0.50)]
    rows, text, document = _compared(run_cli, store_results(tmp_path / "runs.sqlite", runs))
    assert set(rows) == {"ststnet", "offapexnet"}, rows
    assert "70.0" in rows["ststnet"] and rows["ststnet"].rstrip().endswith("*"), "the newest run, marked best"
    assert document["hidden_runs"] == ["20250611-000001-000001"]
    assert "No best is marked" not in text
    assert f"dataset.manifest={os.path.realpath(labels)}" in document["common_settings"]


def test_a_manifest_reached_through_a_link_is_one_row_beside_another_file(tmp_path, run_cli):
    root, other = _tree(tmp_path), tmp_path / "other"
    other.mkdir()
    (other / "labels.csv").write_text((root / "labels.csv").read_text())
    os.symlink(root, tmp_path / "link")
    labels, linked = root / "labels.csv", tmp_path / "link" / "labels.csv"
    runs = [_result("20250611-000001-000001", "ststnet", root, "labels.csv", labels, 0.60),
            _result("20250611-000002-000002", "ststnet", root, str(linked), linked, 0.70),
            _result("20250611-000003-000003", "ststnet", root, "labels.csv", other / "labels.csv", 0.50)]
    rows, text, document = _compared(run_cli, store_results(tmp_path / "runs.sqlite", runs))
    real = os.path.realpath(labels)
    assert set(rows) == {f"ststnet (dataset.manifest={real})",
                         f"ststnet (dataset.manifest=labels.csv, manifest={os.path.realpath(other / 'labels.csv')})"}
    assert document["hidden_runs"] == ["20250611-000001-000001"]
    assert "*" not in text.split("Profile:")[0], "no best across two files"
