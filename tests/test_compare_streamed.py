"""``compare`` and ``report`` read the selected runs one at a time and keep whole only the newest of each cell: a
store of a thousand LOSO runs held every run's folds at once (700 MB). The table, notes and hidden runs are the
same as the comparison of every result held in memory."""

from __future__ import annotations

import json
import weakref

import merbench.store
from merbench.compare import build_comparison
from merbench.export import to_json
from merbench.metrics import METRIC_KEYS
from merbench.result import RunResult
from result_samples import minimal_result, store_results

FOLDS = 6


def _result(number: int, model: str, uf1: float, settings: dict | None = None):
    scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "train_subjects": [f"s{j}" for j in range(FOLDS) if j != i],
              "n_test": 2, "metrics": scores} for i in range(FOLDS)]
    config = {"model": model, "dataset": "synthetic", "protocol": "loso", "profile": "quick", "seed": 0,
              **(settings or {})}
    return minimal_result(run_id=f"20260301-0000{number:02d}-0000{number:02d}", model=model, dataset="synthetic",
                          protocol="loso", seed=0, pooled=scores, fold_mean=scores,
                          fold_std={key: 0.0 for key in scores}, folds=folds, profile="quick", config=config)


def _results() -> list:
    """Oldest first: ten runs of ststnet, three of convmixer, one of convmixer read from another folder (a row
    of its own), one ststnet again."""
    made = [_result(n, "ststnet", 0.40 + n / 100) for n in range(10)]
    made += [_result(10 + n, "convmixer", 0.30 + n / 100) for n in range(3)]
    made.append(_result(13, "convmixer", 0.2, {"root": "/elsewhere"}))
    made.append(_result(14, "ststnet", 0.35))
    return made


def _peak_of_whole_results(monkeypatch) -> list[int]:
    """Count the results read from the store that are alive with their folds, at each read: ``[peak]``."""
    alive: dict[int, weakref.ref] = {}
    peak = [0]
    read = RunResult.from_dict

    def counted(*args, **kwargs):
        result = read(*args, **kwargs)
        alive[id(result)] = weakref.ref(result, lambda _, key=id(result): alive.pop(key, None))
        peak[0] = max(peak[0], sum(1 for ref in alive.values() if (held := ref()) is not None and held.folds))
        return result

    monkeypatch.setattr(merbench.store.RunResult, "from_dict", staticmethod(counted))
    return peak


def test_compare_holds_only_each_cells_newest_run_whole(tmp_path, run_cli, monkeypatch):
    store = store_results(tmp_path / "many.sqlite", _results())
    peak = _peak_of_whole_results(monkeypatch)
    listed = run_cli("compare", "--store", str(store), "--json")
    assert listed.code == 0, listed.err
    assert len(json.loads(listed.out)["rows"]) == 3
    assert peak[0] <= 3 + 1, f"{peak[0]} whole results held at once for 3 cells"


def test_compare_of_a_store_shows_what_the_comparison_of_every_result_in_memory_does(tmp_path, run_cli):
    results = _results()
    store = store_results(tmp_path / "many.sqlite", results)
    listed = run_cli("compare", "--store", str(store), "--json")
    document = json.loads(listed.out)
    assert document == json.loads(to_json(build_comparison(results, settings=[None] * len(results))))
    assert len(document["hidden_runs"]) == 12 and document["hidden_runs"][0] == results[0].run_id
    assert {row["row"]: row["n_runs"] for row in document["rows"]} == {
        "ststnet (root=-)": 11, "convmixer (root=-)": 3, "convmixer (root=/elsewhere)": 1}
    shown = {row["row"]: row["run_id"] for row in document["rows"]}
    assert shown["ststnet (root=-)"] == results[-1].run_id and shown["convmixer (root=-)"] == results[12].run_id
    printed = run_cli("compare", "--store", str(store))
    assert "Not shown: 12 runs of a cell shown here that finished before" in " ".join(printed.out.split())


def test_report_of_the_runs_names_the_same_hidden_runs(tmp_path, run_cli):
    store = store_results(tmp_path / "many.sqlite", _results())
    target = tmp_path / "report.json"
    written = run_cli("report", "--store", str(store), "--output", str(target))
    assert written.code == 0, written.err
    assert json.loads(target.read_text())["hidden_runs"] == json.loads(
        run_cli("compare", "--store", str(store), "--json").out)["hidden_runs"]
