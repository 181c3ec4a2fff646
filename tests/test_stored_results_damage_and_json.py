"""Stored results read by runs, show, compare and report: damaged stores get one message and leave the other runs
listed; outputs are whole or absent, strict JSON, and end in a newline."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from merbench.compare import build_comparison
from merbench.errors import UsageError
from merbench.export import to_json
from merbench.metrics import METRIC_KEYS
from merbench.store import ResultStore
from result_samples import minimal_result

FIRST, SECOND = "20250611-000000-aaaaaa", "20250611-000000-bbbbbb"


def _scores(uf1: float) -> dict[str, float]:
    return {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}


def _result(model: str, run_id: str, uf1: float):
    """A complete result of ``model`` on d · loso whose every UF1 (pooled, folds, mean, std) is ``uf1``."""
    scores = _scores(uf1)
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": dict(scores)} for i in range(2)]
    return minimal_result(model=model, run_id=run_id, seed=0, pooled=dict(scores), fold_mean=dict(scores),
                          fold_std={**{key: 0.0 for key in scores}, "uf1": uf1}, folds=folds)


def _record(store: ResultStore, run_id: str, model: str, uf1: float) -> None:
    store.begin_run({"model": model, "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0}, 1, {},
                    run_id=run_id)
    store.finish_run(run_id, _result(model, run_id, uf1))


@pytest.fixture
def store(tmp_path) -> Path:
    """Two complete runs: FIRST of model m (UF1 0.25), SECOND of model n (UF1 0.75)."""
    path = tmp_path / "runs.sqlite"
    with ResultStore(path) as opened:
        _record(opened, FIRST, "m", 0.25)
        _record(opened, SECOND, "n", 0.75)
    return path


def _change_result(path: Path, run_id: str, change) -> None:
    """Apply ``change`` to the stored result of ``run_id`` (as a store edited outside merbench)."""
    with sqlite3.connect(path) as db:
        data = json.loads(db.execute("SELECT result_json FROM runs WHERE id = ?", (run_id,)).fetchone()[0])
        change(data)
        db.execute("UPDATE runs SET result_json = ? WHERE id = ?", (json.dumps(data), run_id))
    db.close()


def _one_message(result) -> str:
    assert result.code == 2 and "Traceback" not in result.err, result.err
    text = " ".join(result.err.split())
    assert text.count("merbench: error:") == 1, text
    return text


# ------------------------------------------------------------------ 1. --output where --figures goes


@pytest.mark.parametrize("figures", ["x.md", "x.md/figures"])
def test_report_refuses_figures_where_the_output_file_goes_and_writes_nothing(figures, store, run_cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("report", "--store", str(store), "--output", str(out / "x.md"), "--figures", str(out / figures))
    assert "the figures folder would be made where the --output file goes" in _one_message(result)
    assert list(out.iterdir()) == []


def test_report_refuses_an_output_file_named_as_a_figure(store, run_cli, tmp_path):
    figure = tmp_path / f"{FIRST}-folds.png"
    result = run_cli("report", "--store", str(store), "--format", "md", "--output", str(figure),
                     "--figures", str(tmp_path))
    assert f"is where --figures {tmp_path} writes the figure {figure.name}" in _one_message(result)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["runs.sqlite"]


# ------------------------------------------------------------------ 2. an older schema


def test_an_older_schema_gets_one_message_from_reading_and_writing_and_is_left_alone(store, run_cli):
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA user_version = 0")
    db.close()
    before = store.read_bytes()
    read = _one_message(run_cli("runs", "--store", str(store)))
    with pytest.raises(UsageError) as written:
        ResultStore(store)  # as `merbench run --store` opens it
    expected = f"results store {store}: schema version 0 is older than this merbench reads (1) and cannot be upgraded"
    assert expected in read and expected in str(written.value)
    assert "table runs already exists" not in str(written.value)
    assert store.read_bytes() == before
    assert sorted(path.name for path in store.parent.iterdir()) == [store.name], "no -wal/-shm beside it"


# ------------------------------------------------------------------ 3. scores and matrix that do not agree


DAMAGES = {
    "fold without metrics": (lambda data: data["folds"][0].update(metrics={}),
                             "'folds[0].metrics' lacks the 'accuracy'"),
    "no fold std": (lambda data: data.update(fold_std={}), "'fold_std' lacks the 'accuracy'"),
    "matrix too small": (lambda data: data.update(confusion_matrix=[[1]]),
                         "'confusion_matrix' must have 3 rows of 3 counts (one per class of 'classes'), not 1 row of 1"),
    "domain not scores": (lambda data: data.update(per_domain={"x": 3}), "'per_domain.x' must be an object of numbers"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_scores_and_matrix_that_do_not_agree_get_one_message_and_runs_lists_every_run(damage, store, run_cli,
                                                                                      tmp_path):
    change, named = DAMAGES[damage]
    _change_result(store, FIRST, change)
    where = f"result of run {FIRST} in {store}: "
    for command in (["show", FIRST], ["compare"], ["report", "--output", str(tmp_path / "r.html")]):
        text = _one_message(run_cli(*command, "--store", str(store)))
        assert where + named in text and "run it again with merbench run" in text
    assert not (tmp_path / "r.html").exists()
    listed = run_cli("runs", "--store", str(store))  # reads the leak fields of a result, not its scores
    assert listed.code == 0 and FIRST in listed.out and SECOND in listed.out


def test_a_metric_no_stored_score_has_is_a_dash_in_show_and_named_by_compare(store, run_cli):
    def without_weighted_f1(data):
        for scores in (data["pooled"], data["fold_mean"], data["fold_std"], *(f["metrics"] for f in data["folds"])):
            del scores["weighted_f1"]
    _change_result(store, FIRST, without_weighted_f1)
    shown = run_cli("show", FIRST, "--store", str(store))
    assert shown.code == 0, shown.err
    assert any(line.split()[:1] == ["pooled"] and "—" in line for line in shown.out.splitlines())
    refused = _one_message(run_cli("compare", "--metric", "weighted_f1", "--store", str(store)))
    assert f"run {FIRST} recorded no 'weighted_f1' score" in refused


# ------------------------------------------------------------------ 4. NaN scores


@pytest.mark.parametrize("nan_first", [True, False])
def test_a_nan_score_is_never_best_and_the_other_is_whatever_the_order(nan_first):
    nan, real = _result("m", FIRST, math.nan), _result("n", SECOND, 0.4)
    comparison = build_comparison([nan, real] if nan_first else [real, nan])
    cells = {model: cell for (model, _), cell in comparison.cells.items()}
    assert cells["n"].best and not cells["m"].best
    assert any("No score (NaN in the stored result)" in note and "m on d · loso" in note for note in comparison.notes())


def test_json_outputs_write_null_for_nan_strictly():
    """A stored NaN score is refused as damaged (test_damaged_stored_scores.py); a comparison that holds one anyway
    still writes strict JSON."""
    comparison = build_comparison([_result("m", FIRST, math.nan), _result("n", SECOND, 0.4)])
    document = json.loads(to_json(comparison), parse_constant=lambda name: pytest.fail(f"{name} in strict JSON"))
    rows = {row["model"]: row for row in document["rows"]}
    assert rows["m"]["mean"] is None and rows["m"]["std"] is None and not rows["m"]["best"] and rows["n"]["best"]


# ------------------------------------------------------------------ 5. --output names an existing folder


@pytest.mark.parametrize("extra, suggested", [((), "report.md"), (("--format", "latex"), "report.tex")])
def test_report_output_folder_suggests_a_file_of_the_format_asked_for(extra, suggested, store, run_cli, tmp_path):
    folder = tmp_path / "out.md"
    folder.mkdir()
    text = _one_message(run_cli("report", "--store", str(store), "--output", str(folder), *extra))
    assert f"is a folder; give a file name such as {folder / suggested}" in text


# ------------------------------------------------------------------ 6. bytes that are not UTF-8


def test_a_result_that_is_not_utf8_gets_one_message_and_runs_lists_every_run(store, run_cli, tmp_path):
    _change_result(store, FIRST, lambda data: data.update(classes=["a", "b", "zzDAMAGEzz"]))
    data = bytearray(store.read_bytes())
    at = data.index(b"zzDAMAGEzz")
    data[at:at + 2] = b"\xff\xfe"
    store.write_bytes(bytes(data))
    where = f"result of run {FIRST} in {store}: damaged (not UTF-8 text)"
    for command in (["show", FIRST], ["compare"], ["report", "--output", str(tmp_path / "r.md")]):
        assert where in _one_message(run_cli(*command, "--store", str(store)))
    listed = run_cli("runs", "--store", str(store))  # the bad bytes lie outside the leak fields it reads
    assert listed.code == 0 and FIRST in listed.out and SECOND in listed.out, listed.err
    assert SECOND in run_cli("compare", SECOND, "--json", "--store", str(store)).out


# ------------------------------------------------------------------ 7. an unfinished run's configuration damaged


@pytest.mark.parametrize("config", ["{bad", "[1]", "null"])
def test_runs_lists_every_run_beside_one_whose_configuration_is_damaged(config, store, run_cli):
    with ResultStore(store) as opened:
        unfinished = opened.begin_run({"model": "m", "dataset": "d", "protocol": "loso", "profile": "quick",
                                       "seed": 0}, 1, {})
        opened.mark_stopped(unfinished, "failed", "a test's failure")
    with sqlite3.connect(store) as db:
        db.execute("UPDATE runs SET config_json = ? WHERE id = ?", (config, unfinished))
    db.close()
    for command in (["runs"], ["runs", "--json"]):
        listed = run_cli(*command, "--limit", "0", "--store", str(store))
        assert listed.code == 0 and "Traceback" not in listed.err, listed.err
        assert all(run_id in listed.out for run_id in (unfinished, FIRST, SECOND))
    assert f"configuration of run {unfinished} in {store}" in " ".join(run_cli("runs", "--store", str(store)).out.split())


# ------------------------------------------------------------------ 8. compare --json FILE


@pytest.mark.parametrize("name", ["results.json", "out/cmp"])
def test_compare_json_with_a_file_name_says_it_prints_to_stdout(name, store, run_cli):
    text = _one_message(run_cli("compare", "--json", name, "--store", str(store)))
    assert f"--json prints to stdout, not to a file ('{name}')" in text
    assert f"merbench compare --json > {name}" in text and f"merbench report --output {name}" in text


# ------------------------------------------------------------------ 9. a final newline


def test_report_json_ends_in_a_newline_and_is_what_compare_json_prints(store, run_cli, tmp_path):
    printed = run_cli("compare", "--json", "--store", str(store)).out
    assert run_cli("report", "--store", str(store), "--output", str(tmp_path / "r.json")).code == 0
    written = (tmp_path / "r.json").read_text()
    assert written.endswith("}\n") and written == printed
    assert to_json(build_comparison([_result("m", FIRST, 0.5)])).endswith("}\n")



@pytest.mark.parametrize("document, expected", [
    ({"kind": "tune", "folds": []}, "t.json is a `merbench tune` summary, and a tune stores no runs: the same tune "
                                    "command run again prints its tables"),
    ({"kind": "merbench-leakage"}, "t.json is a `merbench leakage` summary: `merbench report --leakage t.json"),
    ({"model": "m", "folds": [], "run_id": FIRST}, f"t.json is a run's result file: give its run id ({FIRST}) instead"),
])
@pytest.mark.parametrize("command", ["show", "compare", "report"])
def test_a_merbench_json_file_given_as_a_run_id_is_named_with_what_to_do(store, run_cli, tmp_path, monkeypatch,
                                                                         document, expected, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.json").write_text(json.dumps(document))
    extra = ["--output", "r.md"] if command == "report" else []
    result = run_cli(command, "t.json", *extra, "--store", str(store))
    assert not (tmp_path / "r.md").exists()
    assert f"no run 't.json' in the results store {store}; see `merbench runs`; {expected}" in _one_message(result)


def test_a_name_that_is_no_merbench_file_keeps_the_plain_message(store, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.json").write_text('{"anything": 1}')
    text = _one_message(run_cli("show", "notes.json", "--store", str(store)))
    assert text.endswith(f"no run 'notes.json' in the results store {store}; see `merbench runs`")
