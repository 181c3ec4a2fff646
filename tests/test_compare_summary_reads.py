"""`merbench compare` and `report` over a store of many runs: every selected run is read without its folds (SQLite
leaves them out), and only the run each cell shows is read whole; what that leaves out still fails loudly where it is
damaged, and a result of an older merbench without its run id is named by the store's id."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from merbench.config import RunConfig
from merbench.errors import DataError
from merbench.result import WHOLE_ONLY_KEYS, RunResult
from merbench.store import ResultStore
from result_samples import minimal_dict, minimal_result

CELLS = {"m": 5, "n": 3}
"""How many runs of each model (one cell each, on d · loso) the store holds, oldest first."""


def _config(model: str, seed: int) -> RunConfig:
    return RunConfig(model=model, dataset="d", protocol="loso", profile="quick", seed=seed, device="cpu", root=None,
                     preprocess=(), sections={})


def _run_id(model: str, seed: int) -> str:
    return f"20250701-{seed:06d}-{'a' if model == 'm' else 'b'}{seed:05d}"


@pytest.fixture()
def store_path(tmp_path) -> Path:
    path = tmp_path / "cells.sqlite"
    with ResultStore(path) as store:
        for model, count in CELLS.items():
            for seed in range(count):
                run_id = store.begin_run(_config(model, seed).to_dict(), 1, {}, run_id=_run_id(model, seed))
                store.finish_run(run_id, minimal_result(run_id=run_id, seed=seed, model=model,
                                                        config=_config(model, seed).to_dict()))
    return path


def _set_result(path: Path, run_id: str, text: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET result_json = ? WHERE id = ?", (text, run_id))
    db.close()


def _stored(path: Path, run_id: str) -> dict:
    with sqlite3.connect(path) as db:
        (text,) = db.execute("SELECT result_json FROM runs WHERE id = ?", (run_id,)).fetchone()
    db.close()
    return json.loads(text)


def _newest(model: str) -> str:
    return _run_id(model, CELLS[model] - 1)


def _whole_reads(monkeypatch) -> list[str]:
    """The run ids ``ResultStore.result`` (a whole result, folds and all) is called for, from now on."""
    read: list[str] = []
    original = ResultStore.result

    def counting(self, run_id, *args, **kwargs):
        read.append(run_id)
        return original(self, run_id, *args, **kwargs)

    monkeypatch.setattr(ResultStore, "result", counting)
    return read


@pytest.mark.parametrize("command", ["compare", "report"])
def test_only_the_run_each_cell_shows_is_read_whole(command, store_path, run_cli, monkeypatch, tmp_path):
    read = _whole_reads(monkeypatch)
    output = tmp_path / "r.json"
    shown = run_cli(command, "--store", str(store_path),
                    *(["--json"] if command == "compare" else ["--output", str(output)]))
    assert shown.code == 0, shown.err
    document = json.loads(shown.out if command == "compare" else output.read_text())
    shown_ids = sorted([_newest("m"), _newest("n")])
    assert sorted(cell["run_id"] for cell in document["rows"]) == shown_ids
    assert sorted(read) == shown_ids, "the older runs were read whole too"
    hidden = {_run_id(model, seed) for model, count in CELLS.items() for seed in range(count - 1)}
    assert set(document["hidden_runs"]) == hidden


def test_a_shown_cell_keeps_the_scores_of_its_whole_result(store_path, run_cli):
    whole = run_cli("compare", "--json", _newest("m"), _newest("n"), "--store", str(store_path))  # by id: read whole
    summary = run_cli("compare", "--json", "--store", str(store_path))
    assert whole.code == summary.code == 0, whole.err + summary.err
    by_id = {cell["run_id"]: cell for cell in json.loads(whole.out)["rows"]}
    for cell in json.loads(summary.out)["rows"]:
        assert cell.pop("n_runs") == CELLS[cell["model"]]  # by id, each cell holds the one run named
        assert cell == {key: value for key, value in by_id[cell["run_id"]].items() if key != "n_runs"}


def test_a_hidden_run_that_is_no_json_is_still_named_as_damaged(store_path, run_cli):
    damaged = _run_id("m", 1)
    _set_result(store_path, damaged, '{"model": "m", ')
    shown = run_cli("compare", "--store", str(store_path))
    assert shown.code == 2 and "Traceback" not in shown.err
    assert f"result of run {damaged} in {store_path}: not valid JSON" in shown.err


def test_a_hidden_run_with_a_malformed_key_that_is_read_is_still_named(store_path, run_cli):
    damaged = _run_id("n", 0)
    result = _stored(store_path, damaged)
    result["pooled"]["uf1"] = "high"
    _set_result(store_path, damaged, json.dumps(result))
    shown = run_cli("compare", "--store", str(store_path))
    assert shown.code == 2 and "Traceback" not in shown.err
    assert f"result of run {damaged} in {store_path}: 'pooled.uf1' must be a number" in shown.err


def test_results_without_their_run_id_are_named_by_the_store_however_selected(store_path, run_cli):
    """A shown and a hidden run whose results record no id (as a merbench before run ids were kept in the result
    wrote them) are named by the store's id, by filters as by ids (before the fix by ids: the cell's run_id null,
    the hidden run left out of hidden_runs and the note)."""
    newest, older = _newest("n"), _run_id("n", 0)
    for run_id in (newest, older):
        result = _stored(store_path, run_id)
        del result["run_id"]
        _set_result(store_path, run_id, json.dumps(result))
    every = [_run_id(model, seed) for model, count in CELLS.items() for seed in range(count)]
    by_filters = run_cli("compare", "--json", "--store", str(store_path))
    by_ids = run_cli("compare", "--json", *every, "--store", str(store_path))
    assert by_filters.code == by_ids.code == 0, by_filters.err + by_ids.err
    assert by_filters.out == by_ids.out
    document = json.loads(by_ids.out)
    assert newest in [cell["run_id"] for cell in document["rows"]] and older in document["hidden_runs"]
    shown = run_cli("show", older, "--json", "-", "--store", str(store_path))
    assert json.loads(shown.out)["run_id"] == older


def test_a_shown_run_deleted_before_it_is_read_whole_is_one_clear_error(store_path, run_cli, monkeypatch):
    original = ResultStore.result
    gone = _newest("m")

    def deleted_first(self, run_id, *args, **kwargs):
        monkeypatch.setattr(ResultStore, "result", original)
        with ResultStore(store_path) as other:  # another merbench process: `merbench delete`
            other.delete_runs({gone: "complete"})
        return original(self, run_id, *args, **kwargs)

    monkeypatch.setattr(ResultStore, "result", deleted_first)
    shown = run_cli("compare", "--store", str(store_path))
    assert shown.code == 2 and "Traceback" not in shown.err
    assert f"run {gone} was deleted while the store was read" in shown.err
    assert "run the command again" in shown.err


# ------------------------------------------------------------------ the result read without its folds


def test_a_result_read_without_its_folds_needs_none_of_them():
    data = {key: value for key, value in minimal_dict(run_id="r1").items() if key not in WHOLE_ONLY_KEYS}
    with pytest.raises(DataError, match="'per_domain' is missing"):
        RunResult.from_dict(data, "result r1")
    summary = RunResult.from_dict(data, "result r1", whole=False)
    assert summary.folds == [] and summary.per_domain == {} and summary.confusion_matrix == []
    assert summary.predictions is None and summary.pooled == RunResult.from_dict(minimal_dict(run_id="r1")).pooled


def test_a_result_read_without_its_folds_still_checks_what_it_reads():
    data = minimal_dict(run_id="r1")
    data["fold_mean"] = {"uf1": 0.5}  # lacks the other scores of 'pooled'
    with pytest.raises(DataError, match="'fold_mean' lacks"):
        RunResult.from_dict(data, "result r1", whole=False)


# ------------------------------------------------------------------ the defaults each run is compared with


def test_runs_alike_share_the_defaults_resolved_for_the_first(monkeypatch):
    import merbench.run_settings as run_settings
    from merbench.registry import get_registry

    config = RunConfig(model="lbptop-svm", dataset="synthetic", protocol="loso", profile="quick", seed=0,
                       device="cpu", root=None, preprocess=(), sections={}).to_dict()
    results = [minimal_result(run_id=f"r{i}", seed=0, model="lbptop-svm", dataset="synthetic", config=config)
               for i in range(6)]
    other = minimal_result(run_id="r6", seed=1, model="lbptop-svm", dataset="synthetic", config=config)
    resolved = []
    original = run_settings.resolve_config
    monkeypatch.setattr(run_settings, "resolve_config",
                        lambda *args, **kwargs: resolved.append(kwargs["seed"]) or original(*args, **kwargs))
    settings = run_settings.changed_settings_of([*results, other], get_registry())
    assert resolved == [0, 1], "resolved once per seed, not once per run"
    assert len(set(settings)) == 1 and settings[0] is not None
