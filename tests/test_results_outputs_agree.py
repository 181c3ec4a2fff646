"""`runs --json` names a damaged run as the table does; `show --json` of a NaN score is a result file
that audit and significance read back (a null score is named by its key); `report --output FOLDER` suggests a file
of the format asked for, with and without --format; the store reads texts with SQLite's own decoder; a run id that
names a large JSON file is not read for a note; option_roots names where a dataset folder was given and hides no
bug; `cache info` orders rows of any field kinds."""

from __future__ import annotations

import argparse
import json
import math
import sqlite3

import pytest

from merbench.errors import DataError
from merbench.result import RunResult
from merbench.store import FILE_NOTE_LIMIT, ResultStore
from result_samples import minimal_dict
from test_stored_results_damage_and_json import FIRST, SECOND, _change_result, _one_message, _record


@pytest.fixture
def store(tmp_path):
    """Two complete runs: FIRST of model m, SECOND of model n."""
    path = tmp_path / "runs.sqlite"
    with ResultStore(path) as opened:
        _record(opened, FIRST, "m", 0.25)
        _record(opened, SECOND, "n", 0.75)
    return path


def _flat(text: str) -> str:
    return " ".join(text.split())


def _damage_result_bytes(store) -> None:
    """Make FIRST's stored result hold bytes that are not UTF-8 (damaged on disk)."""
    _change_result(store, FIRST, lambda data: data.update(classes=["a", "b", "zzDAMAGEzz"]))
    data = bytearray(store.read_bytes())
    at = data.index(b"zzDAMAGEzz")
    data[at:at + 2] = b"\xff\xfe"
    store.write_bytes(bytes(data))


# ------------------------------------------------------------------ 2. runs --json carries the damaged state


@pytest.mark.parametrize("damage", ["result", "configuration"])
def test_runs_json_names_a_damaged_run_as_the_table_does(damage, store, run_cli):
    if damage == "result":  # cut short: not JSON, which runs reads (it reads only the leak fields of a result)
        with sqlite3.connect(store) as db:
            db.execute("UPDATE runs SET result_json = substr(result_json, 1, 200) WHERE id = ?", (FIRST,))
        db.close()
        damaged_id = FIRST
    else:
        with ResultStore(store) as opened:
            damaged_id = opened.begin_run({"model": "m", "dataset": "d", "protocol": "loso", "profile": "quick",
                                           "seed": 0}, 1, {})
            opened.mark_stopped(damaged_id, "failed", "a test's failure")
        with sqlite3.connect(store) as db:
            db.execute("UPDATE runs SET config_json = '{bad' WHERE id = ?", (damaged_id,))
        db.close()
    listed = run_cli("runs", "--json", "--limit", "0", "--store", str(store))
    assert listed.code == 0 and "Traceback" not in listed.err, listed.err
    records = {record["id"]: record for record in json.loads(listed.out)}
    reason = records[damaged_id]["damaged"]
    assert f"{damage} of run {damaged_id} in {store}" in reason
    assert all(record["damaged"] is None for run_id, record in records.items() if run_id != damaged_id)
    table = run_cli("runs", "--limit", "0", "--store", str(store))
    assert f"⚠ damaged in the store: {_flat(reason)}" in _flat(table.out), "the same reason in both forms"


# ------------------------------------------------------------------ 3. show --json of a NaN score reads back


def _nan_uf1(data) -> None:
    """Every UF1 of a stored result NaN, with the predictions and leakage record a result file has."""
    for scores in (data["pooled"], data["fold_mean"], data["fold_std"], *(f["metrics"] for f in data["folds"])):
        scores.update(uf1=math.nan)
    data["predictions"] = [{"id": f"c{i}-{j}", "subject": f"s{i}", "fold": i, "label": j, "prediction": j}
                           for i in range(2) for j in range(2)]
    data["leakage"] = {"leaks": []}


def test_show_json_of_a_nan_score_writes_no_file_audit_or_significance_would_refuse(store, run_cli, tmp_path):
    """Before, show --json wrote NaN, which audit and significance read as a score; NaN is no score merbench records,
    so the stored result is damaged and named once (test_damaged_stored_scores.py)."""
    _change_result(store, FIRST, _nan_uf1)
    written = tmp_path / "s.json"
    text = _one_message(run_cli("show", FIRST, "--store", str(store), "--json", str(written)))
    assert f"result of run {FIRST} in {store}: 'pooled.uf1' is NaN, not a score from 0 to 1" in text
    assert not written.exists()


def test_a_null_score_in_a_result_names_its_key():
    data = minimal_dict()
    data["pooled"]["uf1"] = None
    with pytest.raises(DataError, match=r"'pooled\.uf1' must be a number, not null \(a result file writes a missing "
                                        r"score as NaN"):
        RunResult.from_dict(json.loads(json.dumps(data)), "r.json")
    data = minimal_dict()
    data["folds"][1]["metrics"]["uar"] = "high"
    with pytest.raises(DataError, match=r"'folds\[1\]\.metrics\.uar' must be a number, not a string;"):
        RunResult.from_dict(data, "r.json")


# ------------------------------------------------------------------ 6. report --output FOLDER: one message


@pytest.mark.parametrize("leakage", [False, True])
@pytest.mark.parametrize("extra, fmt", [((), "html"), (("--format", "md"), "md"), (("--format", "json"), "json")])
def test_report_output_folder_gets_one_message_with_and_without_format(leakage, extra, fmt, store, run_cli, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    given = ["--leakage", str(tmp_path / "leakage.json")] if leakage else []
    text = _one_message(run_cli("report", *given, "--store", str(store), "--output", str(folder), *extra))
    name = f"{'leakage' if leakage else 'report'}.{fmt}"
    assert f"--output {folder}: is a folder; give a file name such as {folder / name}" in text


# ------------------------------------------------------------------ 10. SQLite's own decoder


def test_the_store_reads_texts_with_sqlites_own_decoder(store, tmp_path):
    for create in (False, True):
        with ResultStore(store, create=create) as opened:
            assert opened._db.text_factory is str, "no Python callback per text cell"
    with ResultStore(store, create=False) as opened:
        assert [run.id for run in opened.list_runs()] == [SECOND, FIRST]


def test_a_damaged_text_beside_readable_runs_is_named_and_the_others_read(store, run_cli):
    _damage_result_bytes(store)
    with ResultStore(store, create=False) as opened:
        assert {run.id for run in opened.list_runs()} == {FIRST, SECOND}
        assert opened.result(SECOND).run_id == SECOND
        with pytest.raises(DataError, match=f"result of run {FIRST} in .*: damaged \\(not UTF-8 text\\)"):
            opened.result(FIRST)
        assert opened._db.text_factory is str, "the decoder is SQLite's again after reading the damaged row"
    assert SECOND in run_cli("compare", SECOND, "--json", "--store", str(store)).out


# ------------------------------------------------------------------ 11. a run id naming a large JSON file


def test_a_run_id_naming_a_json_file_over_the_limit_is_not_read_for_a_note(store, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    document = {"model": "m", "folds": [], "run_id": FIRST, "padding": "x" * FILE_NOTE_LIMIT}
    (tmp_path / "big.json").write_text(json.dumps(document))
    (tmp_path / "small.json").write_text(json.dumps({**document, "padding": ""}))
    assert FILE_NOTE_LIMIT <= 8 * 2**20, "a few MiB at most"
    text = _one_message(run_cli("show", "big.json", "--store", str(store)))
    assert text.endswith(f"no run 'big.json' in the results store {store}; see `merbench runs`"), text
    assert "is a run's result file" in _one_message(run_cli("show", "small.json", "--store", str(store)))


# ------------------------------------------------------------------ 5. option_roots


def test_a_dataset_folder_from_config_is_named_as_given_in_the_config(tmp_path):
    from merbench.outputs import option_roots

    smic = tmp_path / "smic"
    smic.mkdir()
    config = tmp_path / "c.yaml"
    config.write_text(f"dataset:\n  smic: {smic}\n")
    args = argparse.Namespace(config=str(config), dataset="megc2019", sets=None, root=None)
    assert option_roots(args) == {f"the dataset folder given as dataset.smic={smic} in --config {config}": smic}
    args.sets = [[f"dataset.smic={smic}"]]
    assert option_roots(args) == {f"the dataset folder given with --set dataset.smic={smic}": smic}


def test_json_inside_a_folder_from_config_names_the_config(run_cli, tmp_path):
    smic = tmp_path / "smic"
    smic.mkdir()
    config = tmp_path / "c.yaml"
    config.write_text(f"dataset:\n  smic: {smic}\n")
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "megc2019", "--config", str(config),
                     "--no-store", "--json", str(smic / "out.json"))
    text = _one_message(result)
    assert f"lies inside the dataset folder given as dataset.smic={smic} in --config {config}" in text
    assert "--set" not in text.split("merbench never writes")[0]


@pytest.mark.parametrize("broken", ["registry", "config"])
def test_option_roots_hides_no_bug(broken, monkeypatch, tmp_path):
    import merbench.config
    import merbench.registry
    from merbench.outputs import option_roots

    def bug(*args, **kwargs):
        raise TypeError("a bug")

    class Registry:
        get = staticmethod(bug)

    if broken == "registry":
        monkeypatch.setattr(merbench.registry, "get_registry", lambda: Registry())
    else:
        monkeypatch.setattr(merbench.config, "load_config_file", bug)
    args = argparse.Namespace(config=str(tmp_path / "c.yaml"), dataset="megc2019", sets=[["dataset.smic=x"]],
                              root=None)
    with pytest.raises(TypeError, match="a bug"):
        option_roots(args)


# ------------------------------------------------------------------ 11. cache info's row order


def test_cache_info_orders_rows_whatever_the_kinds_of_their_fields():
    from merbench.commands.cache import _row_order

    row = {"dataset": "d", "chain": ["a"], "produces": "p", "shape": [3, 8], "params": "x", "written": "2020"}
    odd = [{**row, "shape": 5}, {**row, "written": None}, {**row, "params": None}, row]
    assert sorted(odd, key=_row_order)[-1] is row
