"""``merbench compare`` and ``report`` never compare runs of different profiles silently: when the runs span
several, each row names its profile, no best is marked between profiles and a note says how to compare alike
(``--profile NAME``); a table of one profile looks as before, naming its profile once."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from merbench.compare import build_comparison, comparison_table, shown_runs
from merbench.export import to_csv, to_json, to_markdown
from merbench.metrics import METRIC_KEYS
from merbench.store import ResultStore
from result_samples import minimal_result

QUICK_ST, QUICK_CM, DEFAULT_ST, QUICK_ST_LOSO = (f"20250611-00000{i}-00000{i}" for i in range(4))
COLUMN = ("synthetic", "subject-10fold")


def _result(run_id: str, model: str, profile: str | None, uf1: float, protocol: str = "subject-10fold"):
    scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores} for i in range(2)]
    recorded = {} if profile is None else {"profile": profile, "config": {"profile": profile}}  # None: an old run
    return minimal_result(run_id=run_id, model=model, dataset="synthetic", protocol=protocol, seed=0, pooled=scores,
                          fold_mean=scores, fold_std={key: 0.0 for key in scores}, folds=folds, **recorded)


def _mixed() -> list:
    """As a user made them, oldest first: quick runs of two models, then ststnet with the (longer) default profile."""
    return [_result(QUICK_ST, "ststnet", "quick", 0.45), _result(QUICK_CM, "convmixer", "quick", 0.20),
            _result(QUICK_ST_LOSO, "ststnet", "quick", 0.40, "loso"), _result(DEFAULT_ST, "ststnet", "default", 0.63)]


@pytest.fixture
def store(tmp_path) -> Path:
    path = tmp_path / "profiles.sqlite"
    with ResultStore(path) as results:
        for result in _mixed():
            results.begin_run({"model": result.model, "dataset": result.dataset, "protocol": result.protocol,
                               "profile": result.profile, "seed": 0}, 1, {}, run_id=result.run_id)
            results.finish_run(result.run_id, result)
    return path


def test_runs_of_two_profiles_get_rows_naming_their_profile_and_no_best_between_them():
    comparison = build_comparison(_mixed())
    assert comparison.models == ["convmixer (profile=quick)", "ststnet (profile=default)", "ststnet (profile=quick)"]
    assert comparison.profiles == ["default", "quick"]
    cells = {model: comparison.cells[(model, COLUMN)] for model in comparison.models}
    assert cells["ststnet (profile=quick)"].run_id == QUICK_ST, "the quick run is not replaced by the newer default one"
    assert cells["ststnet (profile=default)"].run_id == DEFAULT_ST
    assert not any(cell.best for cell in comparison.cells.values()), "no winner between a quick and a default run"
    assert [run.run_id for run in shown_runs(comparison)] == [QUICK_CM, DEFAULT_ST, QUICK_ST, QUICK_ST_LOSO]
    assert "--profile NAME" in comparison.profile_note() and "default, quick" in comparison.profile_note()


def test_a_table_of_one_profile_looks_as_before_and_names_its_profile_once():
    quick = [r for r in _mixed() if r.profile == "quick"]
    comparison = build_comparison(quick)
    assert comparison.models == ["convmixer", "ststnet"] and comparison.profiles == ["quick"]
    assert comparison.cells[("ststnet", COLUMN)].best and not comparison.cells[("convmixer", COLUMN)].best
    caption = comparison_table(comparison).caption
    assert caption.endswith("best per column (bold green on a terminal). Profile: quick. Every cell: seed 0."), \
        "no reported column: no legend for it"


def test_a_run_without_a_recorded_profile_is_not_mixed_silently_either():
    old = _result(QUICK_CM, "convmixer", None, 0.9)
    comparison = build_comparison([_result(QUICK_ST, "ststnet", "quick", 0.45), old])
    assert comparison.models == ["convmixer (profile not recorded)", "ststnet (profile=quick)"]
    assert not any(cell.best for cell in comparison.cells.values())
    assert build_comparison([old]).profile_note() is None


def test_compare_at_80_columns_piped_names_each_rows_profile_whole(store, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("compare", "--store", str(store))
    assert result.code == 0, result.err
    rows = {line.split("  ")[0].strip(): line for line in result.out.splitlines() if line.startswith(("conv", "stst"))}
    assert set(rows) == {"convmixer (profile=quick)", "ststnet (profile=default)", "ststnet (profile=quick)"}
    assert "63.0 ± 0.0" in rows["ststnet (profile=default)"] and "45.0 ± 0.0" in rows["ststnet (profile=quick)"]
    assert "*" not in "".join(rows.values())
    assert "Runs of 2 profiles (default, quick)" in result.out and "--profile NAME" in result.out


def test_profile_selects_alike_runs(store, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("compare", "--profile", "quick", "--store", str(store))
    assert result.code == 0, result.err
    assert "ststnet  " in result.out and "45.0 ± 0.0 *" in result.out and "63.0" not in result.out
    assert "profile=" not in result.out and "Profile: quick." in result.out
    document = json.loads(run_cli("compare", "--profile", "default", "--json", "--store", str(store)).out)
    assert document["profiles"] == ["default"] and [c["run_id"] for c in document["rows"]] == [DEFAULT_ST]
    refused = run_cli("compare", DEFAULT_ST, "--profile", "quick", "--store", str(store))
    assert refused.code == 2 and f"--profile quick leaves out {DEFAULT_ST} (default)" in " ".join(refused.err.split())
    assert "--profile NAME" in run_cli("compare", "--help").out


def test_exports_keep_each_cells_profile():
    comparison = build_comparison(_mixed())
    markdown = to_markdown(comparison)
    assert "| ststnet (profile=default) | 63.0 ± 0.0 |" in markdown and "Runs of 2 profiles" in markdown
    records = list(csv.DictReader(io.StringIO(to_csv(comparison))))
    assert {(r["row"], r["model"], r["profile"]) for r in records} == {
        ("convmixer (profile=quick)", "convmixer", "quick"), ("ststnet (profile=default)", "ststnet", "default"),
        ("ststnet (profile=quick)", "ststnet", "quick")}
    document = json.loads(to_json(comparison))
    assert document["profiles"] == ["default", "quick"]
    assert {row["run_id"]: row["profile"] for row in document["rows"]}[DEFAULT_ST] == "default"
    from merbench.html_report import render_report

    page = render_report(comparison, _mixed())
    assert "ststnet (profile=default)" in page and "Runs of 2 profiles (default, quick)" in page


def _cells(run_cli, store, *args) -> list[str]:
    """The run ids of the cells ``compare --json`` shows for ``args``."""
    shown = run_cli("compare", *args, "--json", "--store", str(store))
    assert shown.code == 0, shown.err
    return sorted(cell["run_id"] for cell in json.loads(shown.out)["rows"])


def test_a_filter_takes_names_repeated_or_with_commas_and_leaves_run_ids_to_the_run_list(store, run_cli):
    """`--model A --model B` kept only B, `--model A,B` matched nothing, and `--model A RUN_ID` took the id for a
    model name and showed every run of A instead of the run asked for."""
    both = _cells(run_cli, store, "--profile", "quick", "--protocol", "subject-10fold", "--model", "convmixer", "ststnet")
    assert both == sorted([QUICK_CM, QUICK_ST])
    assert _cells(run_cli, store, "--profile", "quick", "--protocol", "subject-10fold", "--model", "convmixer",
                  "--model", "ststnet") == both
    assert _cells(run_cli, store, "--profile", "quick", "--protocol", "subject-10fold", "--model",
                  "convmixer,ststnet") == both
    assert _cells(run_cli, store, "--model", "ststnet", QUICK_ST_LOSO) == [QUICK_ST_LOSO]
    assert _cells(run_cli, store, "--protocol", "loso", QUICK_ST_LOSO[:15]) == [QUICK_ST_LOSO]
    refused = run_cli("compare", "--model", "convmixer", QUICK_ST, "--store", str(store))
    assert refused.code == 2 and f"--model convmixer leaves out {QUICK_ST} (ststnet)" in " ".join(refused.err.split())
    empty = run_cli("compare", "--model", "convmixer,", "--store", str(store))
    assert empty.code == 2 and "an empty name in 'convmixer,'" in empty.err


def test_every_cell_that_shows_the_top_score_is_best():
    runs = [_result(f"20250611-00001{i}-00001{i}", model, "quick", uf1)
            for i, (model, uf1) in enumerate([("a", 0.7465), ("b", 0.74649999999999), ("c", 0.74654), ("d", 0.7464)])]
    comparison = build_comparison(runs)
    best = {model: comparison.cells[(model, COLUMN)].best for model in comparison.models}
    assert best == {"a": True, "b": True, "c": True, "d": False}, best  # before: only c, though a, b, c show 74.7
