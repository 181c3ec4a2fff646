"""A stored result that Python's JSON reader cannot take (bytes that are not UTF-8, nesting too deep, a number too
long) or whose scores are no fractions (NaN, infinite, huge, negative) is named once as damaged by every command that
reads it, exit 2, and listed as damaged by ``runs``: never a traceback, never a score shown."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from merbench.errors import DataError
from merbench.metrics import METRIC_KEYS
from merbench.result import RunResult
from merbench.store import ResultStore
from merbench.wording import percent, percent_points
from result_samples import minimal_dict, minimal_result

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


# ------------------------------------------------------------------ 2. scores that are no fractions


def _set_score(path: Path, place, value: float) -> None:
    """Set the UF1 that ``place`` picks out of DAMAGED's stored result to ``value`` (NaN written as JSON's NaN)."""
    data = json.loads(_stored_text(path))
    place(data)["uf1"] = value
    _set_result(path, json.dumps(data))


PLACES = {
    "pooled": lambda data: data["pooled"],
    "fold_mean": lambda data: data["fold_mean"],
    "fold_std": lambda data: data["fold_std"],
    "folds[1].metrics": lambda data: data["folds"][1]["metrics"],
}
NOT_SCORES = {"NaN": math.nan, "Infinity": math.inf, "1e300": 1e300, "1e24": 1e24, "-0.5": -0.5, "1.5": 1.5}


@pytest.mark.parametrize("shown", NOT_SCORES)
def test_a_stored_score_that_is_no_fraction_is_named_as_damaged_by_every_reader(shown, store, run_cli, tmp_path):
    _set_score(store, PLACES["pooled"], NOT_SCORES[shown])
    _every_reader_names_it(store, run_cli, tmp_path, f"'pooled.uf1' is {shown}, not a score from 0 to 1")
    listed = run_cli("runs", "--store", str(store))
    assert listed.code == 0 and DAMAGED in listed.out and CLEAN in listed.out, listed.err
    # JSON SQLite does not read (NaN), or a pooled score SQLite finds outside [0, 1]: runs reads the result whole, as
    # it does a damaged one (before: 1e300, 1e24, -0.5 and 1.5 were listed without a word)
    assert f"damaged in the store: result of run {DAMAGED}" in " ".join(listed.out.split())
    assert f"'pooled.uf1' is {shown}, not a score from 0 to 1" in " ".join(listed.out.split())


@pytest.mark.parametrize("place", PLACES)
def test_every_record_of_scores_is_checked_and_named_by_its_path(place):
    data = minimal_dict()
    PLACES[place](data)["uf1"] = math.nan
    with pytest.raises(DataError, match=rf"^r\.json: '{re.escape(place)}\.uf1' is NaN, not a score from 0 to 1"):
        RunResult.from_dict(data, "r.json")


def test_the_scores_of_seeds_and_domains_are_checked_too():
    half, none = {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}, {"accuracy": 0.0, "uf1": 0.0, "uar": 0.0}
    seed = {"seed": 0, "pooled": dict(half), "fold_mean": dict(half), "fold_std": dict(none)}
    whole = minimal_dict(seeds=[seed, {**seed, "seed": 1}], across_seeds={"n": 2, "mean": half, "std": none},
                         per_domain={"casme2": dict(half)})
    RunResult.from_dict(whole, "r.json")  # every score a fraction: read
    damages = {"seeds[1].fold_mean.uar": lambda d: d["seeds"][1]["fold_mean"].update(uar=2.0),
               "across_seeds.std.uf1": lambda d: d["across_seeds"]["std"].update(uf1=-0.1),
               "per_domain.casme2.accuracy": lambda d: d["per_domain"]["casme2"].update(accuracy=math.inf)}
    for path, change in damages.items():
        damaged = json.loads(json.dumps(whole))
        change(damaged)
        with pytest.raises(DataError, match=rf"'{re.escape(path)}' is .*, not a score from 0 to 1"):
            RunResult.from_dict(damaged, "r.json")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e24, 1e25, 1e300, -1e300, 1.7976931348623157e308])
def test_percentages_of_values_that_are_no_score_never_raise_and_stay_short(value):
    points = percent_points(value)
    if math.isfinite(value):  # every digit, as the percentage of a score keeps them
        assert points == Decimal(repr(value)) * 100 and points.as_tuple().exponent == -1
    else:
        assert str(points) == {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
    for signed in (False, True):
        shown = percent(value, signed)
        assert len(shown) <= 12, shown
    assert percent(0.4865) == "48.7" and percent(0.0125, signed=True) == "+1.3" and percent(-0.0) == "0.0"
