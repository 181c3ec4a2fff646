"""``merbench compare`` never marks a best between runs of different merbench code silently: when the cells shown come
from more than one merbench version or git commit, a note names each cell's, and no best is marked in a column that
mixes them (as for mixed profiles); runs of one merbench compare as before."""

from __future__ import annotations

import json

from merbench.compare import build_comparison, comparison_table, software_of
from merbench.export import to_json, to_markdown
from merbench.metrics import METRIC_KEYS
from result_samples import minimal_result, store_results

OLD_COMMIT = "0123456789abcdef0123456789abcdef01234567"
NEW_COMMIT = "52fee11105ee9142d8e39bdf9c5f42e26167d3eb"
OLD, NEW = {"merbench": "0.0.9", "git_commit": OLD_COMMIT}, {"merbench": "0.1.0", "git_commit": NEW_COMMIT}


def _result(run_id: str, model: str, uf1: float, software: dict, protocol: str = "loso"):
    scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores} for i in range(2)]
    return minimal_result(folds=folds, run_id=run_id, model=model, dataset="synthetic", protocol=protocol, seed=0, pooled=scores,
                          fold_mean=scores, fold_std={key: 0.0 for key in scores}, profile="quick",
                          config={"model": model, "dataset": "synthetic", "protocol": protocol, "profile": "quick",
                                  "seed": 0},
                          environment={"device": "cpu", "torch": "2.4.0", **software})


def test_runs_of_two_merbench_versions_get_no_best_and_a_note_naming_each():
    comparison = build_comparison([_result("20260301-000000-000001", "convmixer", 0.17, OLD),
                                   _result("20260301-000000-000002", "ststnet", 0.45, NEW)], stat="pooled")
    assert not any(cell.best for cell in comparison.cells.values()), "no winner between two merbench versions"
    note = comparison.software_note()
    assert note is not None and note in comparison.notes()
    assert "merbench 0.0.9, commit 0123456789ab: convmixer" in note
    assert "merbench 0.1.0, commit 52fee11105ee: ststnet" in note
    assert "no best is marked" in note
    caption = comparison_table(comparison).caption
    assert "*: best per column" not in caption and "merbench 0.0.9" in caption
    assert "merbench 0.0.9" in to_markdown(comparison)
    assert any("merbench 0.0.9, commit 0123456789ab" in text for text in json.loads(to_json(comparison))["notes"])


def test_another_commit_of_one_version_is_other_code_too():
    other = {**NEW, "git_commit": OLD_COMMIT}
    comparison = build_comparison([_result("20260301-000000-000001", "convmixer", 0.17, other),
                                   _result("20260301-000000-000002", "ststnet", 0.45, NEW)])
    assert not any(cell.best for cell in comparison.cells.values())
    assert "commit 0123456789ab" in comparison.software_note()


def test_columns_of_one_merbench_each_keep_their_best_and_the_note():
    comparison = build_comparison([
        _result("20260301-000000-000001", "convmixer", 0.17, OLD), _result("20260301-000000-000002", "ststnet", 0.45, OLD),
        _result("20260301-000000-000003", "convmixer", 0.30, NEW, "subject-10fold"),
        _result("20260301-000000-000004", "ststnet", 0.20, NEW, "subject-10fold")])
    best = {key for key, cell in comparison.cells.items() if cell.best}
    assert best == {("ststnet", ("synthetic", "loso")), ("convmixer", ("synthetic", "subject-10fold"))}
    assert "ststnet on synthetic · loso" in comparison.software_note()


def test_runs_of_one_merbench_compare_as_before():
    comparison = build_comparison([_result("20260301-000000-000001", "convmixer", 0.17, NEW),
                                   _result("20260301-000000-000002", "ststnet", 0.45, NEW)])
    assert comparison.cells[("ststnet", ("synthetic", "loso"))].best
    assert comparison.software_note() is None


def test_a_run_resumed_under_other_software_names_both():
    resumed = _result("20260301-000000-000001", "convmixer", 0.17, NEW)
    resumed.environment["earlier_software"] = dict(OLD, torch="2.4.0")
    assert software_of(resumed) == f"merbench 0.0.9 + 0.1.0, commit {OLD_COMMIT} + {NEW_COMMIT}"


def test_compare_of_stored_runs_of_two_versions_prints_no_best(tmp_path, run_cli):
    store = store_results(tmp_path / "versions.sqlite", [_result("20260301-000000-000001", "convmixer", 0.17, OLD),
                                                         _result("20260301-000000-000002", "ststnet", 0.45, NEW)])
    result = run_cli("compare", "--store", str(store), "20260301-000000-000001", "20260301-000000-000002",
                     "--stat", "pooled")
    assert result.code == 0, result.err
    assert " *" not in result.out and "best per column" not in result.out
    assert "different merbench code (merbench 0.0.9, commit 0123456789ab: convmixer; merbench 0.1.0" in " ".join(
        result.out.split())


def test_each_exported_record_names_its_runs_software():
    """A CSV row is read alone: with no note under a table, its software column says why it has no best."""
    import csv
    import io

    from merbench.export import to_csv

    comparison = build_comparison([_result("20260301-000000-000001", "convmixer", 0.17, OLD),
                                   _result("20260301-000000-000002", "ststnet", 0.45, NEW)])
    software = {record["model"]: record["software"] for record in json.loads(to_json(comparison))["rows"]}
    assert software == {"convmixer": f"merbench 0.0.9, commit {OLD_COMMIT}", "ststnet": f"merbench 0.1.0, commit {NEW_COMMIT}"}
    rows = list(csv.DictReader(io.StringIO(to_csv(comparison))))
    assert {row["model"]: row["software"] for row in rows} == software
