"""A stored result that Python's JSON reader cannot take (bytes that are not UTF-8, nesting too deep, a number too
long) or whose scores are no fractions (NaN, infinite, huge, negative) is named once as damaged by every command that
reads it, exit 2, and listed as damaged by ``runs``: never a traceback, never a score shown."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from merbench.metrics import METRIC_KEYS
from merbench.store import ResultStore
from result_samples import minimal_result

DAMAGED, CLEAN = "20250611-000000-aaaaaa", "20250611-000000-bbbbbb"


def _result(model: str, run_id: str):
    """A complete result of ``model`` on d · loso with every score 0.5."""
    scores = {key: 0.5 for key in METRIC_KEYS}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": dict(scores)} for i in range(2)]
    return minimal_result(model=model, run_id=run_id, seed=0, pooled=dict(scores), fold_mean=dict(scores),
                          fold_std={key: 0.0 for key in scores}, folds=folds)


@pytest.fixture
def store(tmp_path) -> Path:
    """Two complete runs, DAMAGED (model m) and CLEAN (model n), each still whole."""
    path = tmp_path / "runs.sqlite"
    with ResultStore(path) as opened:
        for run_id, model in ((DAMAGED, "m"), (CLEAN, "n")):
            opened.begin_run({"model": model, "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0}, 1,
                             {}, run_id=run_id)
            opened.finish_run(run_id, _result(model, run_id))
    return path


def _set_result(path: Path, value) -> None:
    """Store ``value`` (text or bytes) as the result of DAMAGED, as a store edited outside merbench."""
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET result_json = ? WHERE id = ?", (value, DAMAGED))
    db.close()


def _stored_text(path: Path) -> str:
    with sqlite3.connect(path) as db:
        text = db.execute("SELECT result_json FROM runs WHERE id = ?", (DAMAGED,)).fetchone()[0]
    db.close()
    return text


def _one_message(result) -> str:
    assert result.code == 2 and "Traceback" not in result.err, result.err
    text = " ".join(result.err.split())
    assert text.count("merbench: error:") == 1, text
    return text


def _every_reader_names_it(store: Path, run_cli, tmp_path, named: str) -> None:
    """show, compare, report and significance stop with one message naming the run and ``named``; nothing written."""
    where = f"result of run {DAMAGED} in {store}: "
    for command in (["show", DAMAGED], ["show", DAMAGED, "--json", str(tmp_path / "r.json")], ["compare"],
                    ["report", "--output", str(tmp_path / "r.html")], ["significance", DAMAGED, CLEAN]):
        text = _one_message(run_cli(*command, "--store", str(store)))
        assert where + named in text and "run it again with merbench run" in text.lower(), (command, text)
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "r.json").exists()


# ------------------------------------------------------------------ 1. a result Python's JSON reader cannot take


UNREADABLE = {
    "bytes that are not UTF-8": (lambda text: b'{"\xff"', "damaged (not UTF-8 text)"),
    "nested too deeply": (lambda text: "[" * 100_000 + "]" * 100_000, "damaged (JSON nested too deeply to read)"),
    "a number of 5001 digits": (lambda text: text.replace('"n_samples": 4', '"n_samples": 1' + "0" * 5000),
                                "damaged (a number of more than 4300 digits)"),
}


@pytest.mark.parametrize("damage", UNREADABLE)
def test_a_result_python_cannot_parse_is_named_as_damaged_by_every_reader(damage, store, run_cli, tmp_path):
    change, named = UNREADABLE[damage]
    _set_result(store, change(_stored_text(store)))
    _every_reader_names_it(store, run_cli, tmp_path, named)
    listed = run_cli("runs", "--store", str(store))
    assert listed.code == 0 and DAMAGED in listed.out and CLEAN in listed.out, listed.err
    if damage != "a number of 5001 digits":  # runs reads only the leak fields, which this damage leaves readable
        assert f"damaged in the store: result of run {DAMAGED} in {store}: {named}" in " ".join(listed.out.split())
    assert CLEAN in run_cli("compare", CLEAN, "--json", "--store", str(store)).out
