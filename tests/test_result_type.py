"""The typed result (``merbench.result.RunResult``): its dict and its type give each other back, old results load,
and a damaged one is one clear error (docs/design.md, Result schema)."""

from __future__ import annotations

import ast
import copy
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

import import_graph as graph
from merbench.errors import DataError
from merbench.result import FoldRecord, LeakageRecord, RunResult
from result_samples import minimal_dict

TINY = {"dataset.subjects": 6, "dataset.clips_per_subject": 6, "protocol.n_splits": 3, "engine.epochs": 2}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A real quick run of 2 seeds, recorded in a store: (the RunResult, its --json dict, the store's path)."""
    from merbench.config import resolve_config
    from merbench.recording import run_recorded
    from merbench.registry import get_registry
    from merbench.store import ResultStore

    registry = get_registry()
    config = resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick", sets=dict(TINY))
    path = tmp_path_factory.mktemp("typed") / "results.sqlite"
    with ResultStore(path) as store:
        result, _, _ = run_recorded(store, config, registry, 2)
    return result, json.loads(json.dumps(result.to_dict())), path  # the JSON `merbench run --json` writes


@pytest.fixture
def store_copy(recorded, tmp_path):
    """A copy of the recorded run's store that a test may damage: (path, run id)."""
    result, _, path = recorded
    copied = tmp_path / "results.sqlite"
    shutil.copy(path, copied)
    return copied, result.run_id


def _set_result_json(path: Path, run_id: str, text: str) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE runs SET result_json = ? WHERE id = ?", (text, run_id))
    db.close()


# ------------------------------------------------------------------ round trips


def test_the_dict_of_a_real_run_and_its_type_give_each_other_back(recorded):
    result, written, _ = recorded
    typed = RunResult.from_dict(written)
    assert typed.to_dict() == written
    assert json.dumps(typed.to_dict(), indent=2) == json.dumps(written, indent=2)  # same keys in the same order
    assert RunResult.from_dict(result.to_dict()) == result
    assert typed == result
    assert isinstance(typed.folds[0], FoldRecord) and isinstance(typed.leakage, LeakageRecord)
    assert typed.seeds is not None and [s.seed for s in typed.seeds] == [0, 1]
    assert typed.across_seeds is not None and typed.across_seeds.n == 2
    assert typed.seconds.total_all_seeds == pytest.approx(written["seconds"]["total_all_seeds"])
    assert typed.run_id == written["run_id"] and typed.pooled["uf1"] == written["pooled"]["uf1"]


def test_the_store_gives_back_the_result_it_was_given(recorded):
    from merbench.store import ResultStore

    result, written, path = recorded
    with ResultStore(path) as store:
        assert store.result(result.run_id) == result
        assert store.complete_results() == [result]
        first_seed = store.stored_folds(result.run_id, 0)
    assert [stored.record for stored in first_seed.values()] == result.folds
    assert [FoldRecord.from_dict(fold) for fold in written["folds"]] == result.folds


def test_optional_keys_stay_absent_when_a_run_has_none(recorded):
    _, written, _ = recorded
    single = {key: value for key, value in copy.deepcopy(written).items()
              if key not in ("seeds", "across_seeds", "run_id")}
    del single["seconds"]["total_all_seeds"]
    typed = RunResult.from_dict(single)
    assert (typed.seeds, typed.across_seeds, typed.run_id, typed.seconds.total_all_seeds) == (None, None, None, None)
    assert typed.to_dict() == single and list(typed.to_dict()) == list(single)


# ------------------------------------------------------------------ results of older merbench versions


def _previous_layout(written: dict) -> dict:
    """The result as the first merbench with a results store wrote it: no memory, engine plan, seeds or run id;
    folds without normalisation and selected_on; leakage without clip overlap, normalisation flag and leaks."""
    old = {key: value for key, value in copy.deepcopy(written).items()
           if key not in ("memory", "engine_plan", "seeds", "across_seeds", "run_id")}
    del old["seconds"]["total_all_seeds"]
    for fold in old["folds"]:
        del fold["normalisation"], fold["selected_on"]
    for key in ("clip_overlap_folds", "normalisation_uses_test_data", "leaks"):
        del old["leakage"][key]
    return old


def test_a_result_of_the_previous_layout_loads_with_defaults(recorded):
    _, written, _ = recorded
    old = _previous_layout(written)
    typed = RunResult.from_dict(old, "an old result")
    assert (typed.memory, typed.engine_plan, typed.seeds, typed.run_id) == (None, None, None, None)
    assert typed.leakage.leaks is None and typed.leakage.clip_overlap_folds is None
    assert all(fold.normalisation is None and fold.selected_on is None for fold in typed.folds)
    assert typed.to_dict() == old  # the keys it lacks stay out, selected_on (null when recorded) too
    assert RunResult.from_dict(typed.to_dict()) == typed


def test_a_result_with_only_the_minimum_keys_loads_and_stays_minimal():
    minimal = minimal_dict()
    typed = RunResult.from_dict(minimal)
    assert typed.predictions is None and typed.leakage is None and typed.seed is None
    assert typed.to_dict() == minimal


def test_commands_read_a_stored_result_of_the_previous_layout(recorded, store_copy, run_cli, tmp_path):
    _, written, _ = recorded
    path, run_id = store_copy
    _set_result_json(path, run_id, json.dumps(_previous_layout(written), sort_keys=True))
    shown = run_cli("show", run_id, "--store", str(path))
    assert shown.code == 0, shown.err
    assert "pooled" in shown.out and "Leakage audit" in shown.out
    report = run_cli("report", "--store", str(path), "--output", str(tmp_path / "r.md"))
    assert report.code == 0, report.err
    assert "ststnet" in (tmp_path / "r.md").read_text()


# ------------------------------------------------------------------ damaged results


@pytest.mark.parametrize("damage, message", [
    (lambda d: d.pop("pooled"), "'pooled' is missing"),
    (lambda d: d["folds"][1].update(metrics=[0.5]), "'folds[1].metrics' must be an object of numbers, not a list"),
    (lambda d: d.update(n_samples="72"), "'n_samples' must be an integer, not a string"),
    (lambda d: d["predictions"][3].pop("label"), "'predictions[3].label' is missing"),
    (lambda d: d["seconds"].update(total=None), "'seconds.total' must be a number, not null"),
    (lambda d: d["leakage"].update(leaks="subjects"), "'leakage.leaks' must be a list of strings, not a string"),
])
def test_a_malformed_result_is_one_data_error_naming_the_key_and_its_origin(recorded, damage, message):
    _, written, _ = recorded
    damaged = copy.deepcopy(written)
    damage(damaged)
    with pytest.raises(DataError) as caught:
        RunResult.from_dict(damaged, "result of run 12 in results.sqlite")
    text = str(caught.value)
    assert text.startswith("result of run 12 in results.sqlite: ") and message in text
    assert "run it again with merbench run" in text


def test_something_that_is_not_an_object_is_refused():
    with pytest.raises(DataError, match=r"^r\.json: must be a JSON object, not a list"):
        RunResult.from_dict([], "r.json")


@pytest.mark.parametrize("command", [["show", "{run}"], ["report", "--output", "{out}"], ["compare"]])
def test_commands_on_a_store_with_a_damaged_result_exit_2_with_one_message(recorded, store_copy, run_cli, tmp_path,
                                                                           command):
    _, written, _ = recorded
    path, run_id = store_copy
    damaged = {key: value for key, value in written.items() if key != "pooled"}
    _set_result_json(path, run_id, json.dumps(damaged, sort_keys=True))
    args = [part.format(run=run_id, out=tmp_path / "r.md") for part in command]
    result = run_cli(*args, "--store", str(path))
    assert result.code == 2
    text = " ".join(result.err.split())
    assert f"result of run {run_id} in {path}: 'pooled' is missing" in text
    assert "Traceback" not in result.err


def test_a_result_that_is_not_json_exits_2(store_copy, run_cli):
    path, run_id = store_copy
    _set_result_json(path, run_id, '{"model": "ststnet", ')
    result = run_cli("show", run_id, "--store", str(path))
    assert result.code == 2 and "Traceback" not in result.err
    assert f"result of run {run_id} in {path}: not valid JSON" in " ".join(result.err.split())


def test_audit_of_a_result_file_with_a_wrong_type_exits_2(recorded, run_cli, tmp_path):
    _, written, _ = recorded
    damaged = copy.deepcopy(written)
    damaged["folds"][0]["n_test"] = "12"
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(damaged))
    audited = run_cli("audit", str(path))
    assert audited.code == 2 and "Traceback" not in audited.err
    assert f"{path}: 'folds[0].n_test' must be an integer, not a string" in " ".join(audited.err.split())


# ------------------------------------------------------------------ its place in the layers


def test_the_result_module_is_foundation_and_imports_no_heavy_library():
    modules = graph.read_modules()
    rows = graph.layer_rows()
    assert graph.row_of("merbench.result", rows) == (8, "foundation")
    imported = modules["merbench.result"].top_imports | {t for _, t in modules["merbench.result"].local_imports}
    assert imported and all(graph.row_of(name, rows)[1] == "foundation" for name in imported)
    tree = ast.parse((graph.ROOT / "merbench" / "result.py").read_text())
    libraries = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            libraries |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            libraries.add(node.module.split(".")[0])
    assert "merbench" in libraries and not libraries & {"torch", "sklearn", "cv2", "ray", "scipy", "matplotlib"}


def test_the_fold_statistic_of_a_repeated_run_covers_every_seeds_folds():
    import numpy as np

    from merbench.compare import cell_of
    from result_samples import minimal_dict

    folds_of_seed = {0: [0.2, 0.4, 0.6], 1: [0.5, 0.7, 0.9]}
    seeds = [{"seed": seed, "pooled": {"uf1": 0.0, "uar": 0.0, "accuracy": 0.0},
              "fold_mean": {"uf1": float(np.mean(values)), "uar": 0.0, "accuracy": 0.0},
              "fold_std": {"uf1": float(np.std(values)), "uar": 0.0, "accuracy": 0.0}} for seed, values in folds_of_seed.items()]
    across = {"n": 2, "mean": {"uf1": 0.0, "uar": 0.0, "accuracy": 0.0}, "std": {"uf1": 0.0, "uar": 0.0, "accuracy": 0.0}}
    result = RunResult.from_dict(minimal_dict(seeds=seeds, across_seeds=across))
    every_fold = folds_of_seed[0] + folds_of_seed[1]
    mean, std = result.fold_stat("uf1")
    assert (mean, std) == pytest.approx((np.mean(every_fold), np.std(every_fold)))
    assert (cell_of(result, "uf1", "fold").mean, cell_of(result, "uf1", "fold").std) == pytest.approx((mean, std))
    older = RunResult.from_dict(minimal_dict(seeds=[{k: v for k, v in s.items() if k != "fold_std"} for s in seeds],
                                             across_seeds=across))
    assert older.fold_stat("uf1") == (pytest.approx(np.mean(every_fold)), None), "no fold std recorded: no std shown"


# ------------------------------------------------------------------ the schema version


def test_a_run_records_its_schema_version_and_an_old_result_reads_without_one(recorded):
    from merbench.result import RESULT_SCHEMA

    _, written, _ = recorded
    assert written["schema_version"] == RESULT_SCHEMA == 1 and list(written)[-1] == "schema_version"
    old = {key: value for key, value in written.items() if key != "schema_version"}
    assert RunResult.from_dict(old).to_dict() == old  # written before results carried it: read as version 1


@pytest.mark.parametrize("version, message", [
    (2, "written by a newer merbench (result schema 2); this merbench reads result schema 1 and older: upgrade"),
    (0, "'schema_version' must be a whole number from 1, not 0"),
])
def test_a_result_of_a_newer_schema_is_refused_by_every_reader(recorded, store_copy, run_cli, tmp_path, version,
                                                               message):
    _, written, _ = recorded
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**written, "schema_version": version}))
    same = tmp_path / "same.json"
    same.write_text(json.dumps(written))
    for command in (["audit", str(newer)], ["significance", str(same), str(newer)],
                    ["run", "--config", str(newer), "--no-store", "--quiet"]):
        result = run_cli(*command)
        assert result.code == 2 and "Traceback" not in result.err, (command, result.err)
        assert message in " ".join(result.err.split()), (command, result.err)
    path, run_id = store_copy
    _set_result_json(path, run_id, json.dumps({**written, "schema_version": version}))
    shown = run_cli("show", run_id, "--store", str(path))
    assert shown.code == 2 and f"result of run {run_id} in {path}: " in " ".join(shown.err.split())


def test_a_result_that_lost_its_folds_is_still_read_as_a_result_not_as_options(recorded, run_cli, tmp_path):
    """``run --config`` said "unknown setting 'subject_independent'" of it, taking it for a file of options."""
    _, written, _ = recorded
    damaged = tmp_path / "no-folds.json"
    damaged.write_text(json.dumps({key: value for key, value in written.items() if key != "folds"}))
    again = run_cli("run", "--config", str(damaged), "--no-store", "--quiet", "--seeds", "1")
    assert again.code == 0, again.err  # its recorded configuration runs again
    audited = run_cli("audit", str(damaged))
    assert audited.code == 2 and "missing folds" in audited.err and "unknown setting" not in audited.err


def test_a_result_without_its_seed_shows_the_seed_of_its_configuration_never_none(recorded, run_cli, tmp_path):
    """``show`` printed "Run: seed None" for a result without ``seed`` whose configuration held seed 0."""
    from merbench.report import provenance_line

    _, written, _ = recorded
    single = {key: value for key, value in written.items() if key not in ("seed", "seeds", "across_seeds")}
    assert provenance_line(RunResult.from_dict(single)).startswith(f"Run: seed {written['config']['seed']};")
    unknown = {**single, "config": {**single["config"], "seed": None}}
    assert provenance_line(RunResult.from_dict(unknown)).startswith("Run: seed ?;")


def test_the_fold_statistic_of_seeds_without_a_score_has_no_std_either():
    import math

    from result_samples import minimal_result

    nan = float("nan")
    seeds = [{"seed": seed, "pooled": {"uf1": nan, "uar": nan, "accuracy": nan},
              "fold_mean": {"uf1": nan, "uar": 0.0, "accuracy": 0.0},
              "fold_std": {"uf1": nan, "uar": 0.0, "accuracy": 0.0}} for seed in (0, 1)]
    across = {"n": 2, "mean": {"uf1": nan, "uar": 0.0, "accuracy": 0.0}, "std": {"uf1": nan, "uar": 0.0, "accuracy": 0.0}}
    mean, std = minimal_result(seeds=seeds, across_seeds=across).fold_stat("uf1")
    assert math.isnan(mean) and math.isnan(std), (mean, std)  # before: std 0.0, "a perfectly stable score"
