"""A leak is flagged wherever a result appears (docs/leakage.md): ``merbench significance`` names the leaky run and
what it leaks, ``merbench runs`` marks leaky runs; a significance test over too few folds gives no p-value."""

from __future__ import annotations

import json

import pytest

from merbench.leaks import LEAKS
from merbench.result import RunResult
from merbench.significance import MIN_FOLDS, compare_runs
from merbench.store import ResultStore
from result_samples import minimal_dict, minimal_result

TINY = ["--profile", "quick", "--quiet", "--set", "dataset.subjects=4", "dataset.clips_per_subject=6",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=3"]
BOX = set("┃│━─┏┓┗┛┡┩└┘╇╋┳┻")
SELECTION = {"selection_uses_test_data": True, "leaks": ["selection"]}


def _narrow(run_cli, monkeypatch, *args: str) -> str:
    """``merbench --format table ARGS`` at 80 columns: a Rich table, no line wider than 80."""
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("--format", "table", *args)
    assert result.code == 0, result.err
    assert BOX & set(result.out) and max(len(line) for line in result.out.splitlines()) <= 80
    return result.out


def _piped(run_cli, *args: str) -> str:
    """``merbench ARGS | cat``: plain text."""
    result = run_cli(*args)
    assert result.code == 0, result.err
    assert not BOX & set(result.out)
    return result.out


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    """An honest run and one with ``engine.select_on=test`` on the same folds, stored and written as JSON."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("flags")
    store, made = folder / "results.sqlite", {}
    for name, extra in {"honest": ["engine.epochs=1"], "selection": ["engine.epochs=2", "engine.select_on=test"]}.items():
        path = folder / f"{name}.json"
        assert main(["run", "--model", "ststnet", "--dataset", "synthetic", *TINY, *extra, "--store", str(store),
                     "--json", str(path)]) == 0
        made[name] = path
    return store, made


def _result_file(folder, name: str, n_folds: int, **changes) -> str:
    """A hand-made result with ``n_folds`` folds of two samples each and their predictions."""
    scores = {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": dict(scores)} for i in range(n_folds)]
    predictions = [{"id": f"c{i}-{j}", "subject": f"s{i}", "fold": i, "label": j, "prediction": (i + j) % 2}
                   for i in range(n_folds) for j in range(2)]
    path = folder / f"{name}.json"
    changes = {"folds": folds, "predictions": predictions, "leakage": {"leaks": []}, **changes}
    path.write_text(json.dumps(minimal_dict(**changes)))
    return str(path)


# ------------------------------------------------------------------ significance: leakage


def test_significance_names_the_leaky_run_and_what_it_leaks(real_runs, run_cli, monkeypatch):
    _, made = real_runs
    args = ("significance", str(made["honest"]), str(made["selection"]), "--bootstrap", "200")
    for out in (_flat(_piped(run_cli, *args)), _flat(_narrow(run_cli, monkeypatch, *args))):
        assert f"⚠ leakage: run B (ststnet) leaks (selection): {LEAKS['selection']}" in out
        assert "run A" not in out


def test_significance_names_both_runs_of_a_sample_level_protocol(run_cli, tmp_path):
    sample = {"protocol": "sample-10fold", "subject_independent": False}
    a = _result_file(tmp_path, "a", 3, **sample)
    b = _result_file(tmp_path, "b", 3, model="n", leakage={"normalisation_uses_test_data": True}, **sample)
    out = _flat(_piped(run_cli, "significance", a, b, "--bootstrap", "100"))
    assert f"run A (m) leaks (subjects): {LEAKS['subjects']}" in out
    assert f"run B (n) leaks (subjects, normalisation): {LEAKS['subjects']}; {LEAKS['normalisation']}" in out


def test_significance_of_honest_runs_warns_of_nothing(run_cli, tmp_path):
    a, b = _result_file(tmp_path, "a", 3), _result_file(tmp_path, "b", 3, model="n")
    assert "leak" not in _piped(run_cli, "significance", a, b, "--bootstrap", "100")


# ------------------------------------------------------------------ significance: too few folds


def test_one_fold_gives_no_p_value_but_says_why(run_cli, tmp_path):
    a = _result_file(tmp_path, "a", 1, protocol="cross-dataset")
    b = _result_file(tmp_path, "b", 1, protocol="cross-dataset", model="n")
    comparison = compare_runs(RunResult.from_dict(json.loads(open(a).read())),
                              RunResult.from_dict(json.loads(open(b).read())), n_bootstrap=100)
    assert comparison.p_value is None and comparison.wilcoxon_statistic is None
    assert "not applicable (1 fold;" in comparison.wilcoxon_note
    out = _flat(_piped(run_cli, "significance", a, b, "--bootstrap", "100"))
    assert "Wilcoxon signed-rank over folds: not applicable (1 fold;" in out and "p =" not in out
    assert "cross-dataset, 1 fold " in out


def test_the_fewest_usable_folds_give_a_p_value(tmp_path):
    def predicting(right: bool) -> list[dict]:  # the fold scores come from the predictions
        return [{"id": f"c{i}-{j}", "subject": f"s{i}", "fold": i, "label": j, "prediction": j if right else 1 - j}
                for i in range(MIN_FOLDS) for j in range(2)]

    a = _result_file(tmp_path, "a", MIN_FOLDS, predictions=predicting(False))
    b = _result_file(tmp_path, "b", MIN_FOLDS, model="n", predictions=predicting(True))
    comparison = compare_runs(*(RunResult.from_dict(json.loads(open(p).read())) for p in (a, b)), n_bootstrap=100)
    assert comparison.p_value == pytest.approx(2 / 2 ** MIN_FOLDS) and comparison.wilcoxon_note is None


# ------------------------------------------------------------------ runs


@pytest.fixture
def leaky_store(tmp_path):
    """An honest run, a select_on=test run, a sample-10fold run and a still running normalise_on=all run."""
    path = tmp_path / "leaky.sqlite"
    runs = {"honest": ({}, {}), "selection": ({}, {"leakage": SELECTION}),
            "subjects": ({"protocol": "sample-10fold"}, {"protocol": "sample-10fold", "subject_independent": False})}
    ids = {}
    with ResultStore(path) as store:
        for name, (config, changes) in runs.items():
            config = {"model": name, "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0, **config}
            ids[name] = store.begin_run(config, 1, {})
            store.finish_run(ids[name], minimal_result(model=name, run_id=ids[name], seed=0, **changes))
        ids["normalisation"] = store.begin_run(
            {"model": "normalisation", "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0,
             "options": {"engine": {"normalise_on": "all"}}}, 1, {})  # as RunConfig.to_dict() stores it
    return path, ids


def _row(text: str, run_id: str) -> str:
    [line] = [line for line in text.splitlines() if line.startswith(run_id)]
    return line


def test_runs_marks_leaky_runs_in_a_pipe_with_a_note(leaky_store, run_cli):
    path, ids = leaky_store
    out = _piped(run_cli, "runs", "--store", str(path))
    assert "⚠" not in _row(out, ids["honest"])
    for name in ("selection", "subjects", "normalisation"):
        assert "⚠" in _row(out, ids[name]), name
    text = _flat(out)
    assert "⚠: leakage warning (listed below)" in text
    for name in ("selection", "subjects", "normalisation"):
        assert f"{name} ({LEAKS[name]}): {ids[name]}" in text
    assert f": {ids['honest']}" not in text


def test_runs_marks_leaky_runs_at_80_columns(leaky_store, run_cli, monkeypatch):
    path, ids = leaky_store
    out = _narrow(run_cli, monkeypatch, "runs", "--store", str(path))
    rows = {name: next(line for line in out.splitlines() if f"│ {run_id} │" in line) for name, run_id in ids.items()}
    assert "⚠" not in rows.pop("honest") and all("⚠" in row for row in rows.values())
    assert f"selection ({LEAKS['selection']}): {ids['selection']}" in _flat(out)


def test_runs_json_gives_each_runs_leak_kinds(leaky_store, run_cli):
    path, ids = leaky_store
    runs = {run["id"]: run["leaks"] for run in json.loads(_piped(run_cli, "runs", "--store", str(path), "--json"))}
    assert runs == {ids["honest"]: [], ids["selection"]: ["selection"], ids["subjects"]: ["subjects"],
                    ids["normalisation"]: ["normalisation"]}


def test_runs_marks_a_real_select_on_test_run(real_runs, run_cli):
    store, made = real_runs
    honest, leaky = (json.loads(made[name].read_text())["run_id"] for name in ("honest", "selection"))
    out = _piped(run_cli, "runs", "--store", str(store))
    assert "⚠" in _row(out, leaky) and "⚠" not in _row(out, honest)
    assert f"selection ({LEAKS['selection']}): {leaky}" in _flat(out)
