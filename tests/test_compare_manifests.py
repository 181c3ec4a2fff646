"""Runs on two manifest files of one name (``--set dataset.manifest=labels.csv``, one found under ``--root``, one in
another working folder) are two rows of ``compare``, each naming its manifest, with no best marked across them and no
"older run of a cell shown here" note (before: one cell, the older run hidden as if made with the same settings)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from merbench.config import resolve_config
from merbench.metrics import METRIC_KEYS
from merbench.registry import get_registry
from result_samples import minimal_result, store_results


def _result(run_id: str, root: Path, manifest: str | None, uf1: float, subjects: int):
    """A stored-like result of ststnet on the manifest dataset read from ``root`` with ``dataset.manifest=labels.csv``,
    whose dataset summary records ``manifest`` (``None``: no summary, as some older results have)."""
    config = resolve_config(get_registry(), model="ststnet", dataset="manifest", protocol="loso", profile="quick",
                            seed=0, root=root, sets={"dataset.manifest": "labels.csv"}).to_dict()
    scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 6, "metrics": scores} for i in range(subjects)]
    summary = {} if manifest is None else {"dataset_summary": {"root": str(root), "manifest": manifest}}
    return minimal_result(run_id=run_id, model="ststnet", dataset="manifest", protocol="loso", seed=0,
                          profile="quick", config=config, pooled=scores, fold_mean=scores,
                          fold_std={key: 0.0 for key in scores}, folds=folds, **summary)


def _compared(run_cli, store: Path) -> tuple[dict[str, str], str, dict]:
    shown = run_cli("compare", "--store", str(store), "--model", "ststnet", "--dataset", "manifest",
                    "--format", "plain")
    assert shown.code == 0, shown.err
    rows = {line.split("  ")[0]: line for line in shown.out.splitlines() if line.startswith("ststnet")}
    document = json.loads(run_cli("compare", "--store", str(store), "--dataset", "manifest", "--json").out)
    return rows, " ".join(shown.out.split()), document


def test_runs_on_two_manifests_of_one_name_are_two_rows_naming_their_manifest(tmp_path, run_cli):
    data, elsewhere = tmp_path / "DATA", tmp_path / "elsewhere"
    data.mkdir(), elsewhere.mkdir()
    (data / "labels.csv").write_text("x\n"), (elsewhere / "labels.csv").write_text("x\n")
    under_root = _result("20250611-000001-000001", data, str(data / "labels.csv"), 0.40, 6)
    working_folder = _result("20250611-000002-000002", data, str(elsewhere / "labels.csv"), 0.60, 4)
    rows, text, document = _compared(run_cli, store_results(tmp_path / "runs.sqlite", [under_root, working_folder]))
    first, second = (f"ststnet (manifest={os.path.realpath(folder / 'labels.csv')})" for folder in (data, elsewhere))
    assert set(rows) == {first, second}, rows
    assert "40.0" in rows[first] and "60.0" in rows[second]
    assert "*" not in rows[first] + rows[second], "no best across other data"
    assert "Not shown" not in text and "older run" not in text, text
    assert "or manifest files (manifest=)" in text
    assert document["hidden_runs"] == [] and {row["row"] for row in document["rows"]} == {first, second}


def test_an_older_runs_relative_manifest_is_told_apart_and_one_manifest_stays_one_cell(tmp_path, run_cli):
    data = tmp_path / "DATA"
    data.mkdir()
    (data / "labels.csv").write_text("x\n")
    os.symlink(data, tmp_path / "link")
    older = _result("20250611-000001-000001", data, "labels.csv", 0.60, 4)  # found in the working folder, as recorded
    same = [_result("20250611-000002-000002", data, str(data / "labels.csv"), 0.40, 6),
            _result("20250611-000003-000003", data, str(tmp_path / "link" / "labels.csv"), 0.45, 6)]
    rows, _, _ = _compared(run_cli, store_results(tmp_path / "runs.sqlite", [older, *same]))
    assert set(rows) == {"ststnet (manifest=labels.csv)", f"ststnet (manifest={os.path.realpath(data / 'labels.csv')})"}
    rows, text, document = _compared(run_cli, store_results(tmp_path / "same.sqlite", same))
    assert list(rows) == ["ststnet"] and "45.0" in rows["ststnet"], "one file through a link is one manifest"
    assert document["hidden_runs"] == ["20250611-000002-000002"]
    without_summary = _result("20250611-000004-000004", data, None, 0.50, 6)
    rows, _, _ = _compared(run_cli, store_results(tmp_path / "option.sqlite", [without_summary, older]))
    assert set(rows) == {"ststnet"}, "no summary: the recorded option, labels.csv as well, is all that is known"
