"""A store of many large results: listing a few runs, finding a stored run and `merbench runs` read only the results
they show or use, whatever the store holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from merbench.config import RunConfig
from merbench.store import ResultStore
from result_samples import minimal_result
from bytes_read import bytes_read

RUNS = 24
PREDICTIONS = 5000
"""Each stored result holds this many per-sample rows: about 400 KB, as a LOSO run on a real dataset."""


def _config(seed: int) -> RunConfig:
    return RunConfig(model="m", dataset="d", protocol="loso", profile="quick", seed=seed, device="cpu", root=None,
                     preprocess=(), sections={})


def _large_result(run_id: str, seed: int):
    rows = [{"id": f"clip-{i:05d}", "subject": f"s{i % 20:02d}", "domain": None, "fold": i % 2, "label": i % 3,
             "prediction": (i + 1) % 3} for i in range(PREDICTIONS)]
    return minimal_result(run_id=run_id, seed=seed, config=_config(seed).to_dict(), predictions=rows)


@pytest.fixture(scope="module")
def large_store(tmp_path_factory) -> Path:
    """``RUNS`` complete runs of m on d · loso, seeds 0.. in that order, each with a result of about 400 KB."""
    path = tmp_path_factory.mktemp("scale") / "large.sqlite"
    with ResultStore(path) as store:
        for seed in range(RUNS):
            run_id = store.begin_run(_config(seed).to_dict(), 1, {}, run_id=f"20250611-{seed:06d}-aaaaaa")
            store.finish_run(run_id, _large_result(run_id, seed))
    return path


def _result_bytes(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as db:
        size = db.execute("SELECT MAX(length(result_json)) FROM runs").fetchone()[0]
    db.close()
    return size


# ------------------------------------------------------------------ reading the store


def test_listing_a_few_runs_reads_the_results_of_those_runs_only(large_store):
    one = _result_bytes(large_store)
    with ResultStore(large_store, create=False) as store:
        listed = []
        read = bytes_read(lambda: listed.extend(store.list_runs(limit=3)))
        assert [run.seed for run in listed] == [23, 22, 21]
        assert all(run.seconds == 1.0 and run.pooled for run in listed), "the time and scores of each listed run"
        assert read < 6 * one, f"{read} bytes read to list 3 of {RUNS} runs of {one} bytes each"
        everything = bytes_read(lambda: store.list_runs(status="complete"))
        assert everything < RUNS * one / 2, "listing every run reads the time of each, not its whole result"


def test_listing_a_few_runs_reads_no_environment_of_the_others(tmp_path):
    path = tmp_path / "environments.sqlite"
    packages = {f"package-{i:04d}": "1.0.0" for i in range(2000)}  # about 50 KB, as a pip freeze
    with ResultStore(path) as store:
        for seed in range(40):
            run_id = store.begin_run(_config(seed).to_dict(), 1, {"packages": packages})
            store.finish_run(run_id, minimal_result(run_id=run_id, seed=seed))
    with ResultStore(path, create=False) as store:
        read = bytes_read(lambda: store.list_runs(limit=1))
    assert read < 5 * 50_000, f"{read} bytes read to list 1 of 40 runs, each with an environment of 50 KB"


def test_finding_a_stored_run_reads_the_result_of_the_run_found_only(large_store):
    one = _result_bytes(large_store)
    with ResultStore(large_store, create=False) as store:
        found = []
        read = bytes_read(lambda: found.append(store.identical_result(_config(5))))
        assert found[0] is not None and found[0].run_id == "20250611-000005-aaaaaa"
        assert read < 4 * one, f"{read} bytes read to find 1 of {RUNS} runs of {one} bytes each"
        assert store.identical_result(_config(RUNS)) is None


# ------------------------------------------------------------------ merbench runs


CLEAN, MIXED, TUNED, UNREADABLE = (f"20250612-00000{i}-bbbbbb" for i in range(4))


@pytest.fixture
def leaky_store(tmp_path) -> Path:
    """Four complete runs: CLEAN leaks nothing; MIXED mixes subjects (not subject-independent); TUNED chose epochs on
    its test folds; UNREADABLE mixes subjects and holds a NaN training loss (a fold that trained no epoch), which
    SQLite's JSON functions do not read."""
    scores = {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}
    nan_loss = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "final_train_loss": float("nan"),
                 "metrics": dict(scores)} for i in range(2)]
    results = {CLEAN: {}, MIXED: {"subject_independent": False},
               TUNED: {"leakage": {"leaks": ["selection"], "selection_uses_test_data": True}},
               UNREADABLE: {"subject_independent": False, "folds": nan_loss}}
    path = tmp_path / "leaky.sqlite"
    with ResultStore(path) as store:
        for seed, (run_id, changes) in enumerate(results.items()):
            store.begin_run(_config(seed).to_dict(), 1, {}, run_id=run_id)
            store.finish_run(run_id, minimal_result(run_id=run_id, seed=seed, **changes))
    return path


def test_runs_reads_what_each_run_leaked_without_reading_its_whole_result(leaky_store, run_cli, monkeypatch):
    from merbench.result import RunResult

    read_whole = []
    from_dict = RunResult.from_dict.__func__

    def counted(cls, data, where="result", predictions=True):
        read_whole.append(where)
        return from_dict(cls, data, where, predictions)

    monkeypatch.setattr(RunResult, "from_dict", classmethod(counted))
    listed = run_cli("runs", "--json", "--limit", "0", "--store", str(leaky_store))
    assert listed.code == 0, listed.err
    leaks = {record["id"]: record["leaks"] for record in json.loads(listed.out)}
    assert leaks == {CLEAN: [], MIXED: ["subjects"], TUNED: ["selection"], UNREADABLE: ["subjects"]}
    assert read_whole == [f"result of run {UNREADABLE} in {leaky_store}"], "only the result SQLite cannot read"
    table = " ".join(run_cli("runs", "--store", str(leaky_store)).out.split())
    assert f"subjects (clips of one subject in training and test): {UNREADABLE}, {MIXED}" in table


def test_runs_names_a_run_whose_leak_record_is_damaged(leaky_store, run_cli):
    import sqlite3

    with sqlite3.connect(leaky_store) as db:
        db.execute("UPDATE runs SET result_json = json_remove(result_json, '$.subject_independent') WHERE id = ?",
                   (MIXED,))
    db.close()
    listed = run_cli("runs", "--json", "--store", str(leaky_store))
    records = {record["id"]: record for record in json.loads(listed.out)}
    assert records[MIXED]["damaged"].startswith(f"result of run {MIXED} in {leaky_store}: 'subject_independent' is "
                                                "missing; the result was not written by merbench")
    assert records[TUNED]["leaks"] == ["selection"] and records[TUNED]["damaged"] is None


# ------------------------------------------------------------------ a run deleted while a command reads the store


def _deleting_after(monkeypatch, method: str, path: Path, run_id: str) -> None:
    """Make ``ResultStore.<method>`` delete ``run_id`` from ``path`` (as another merbench process would) the first
    time it has returned."""
    original = getattr(ResultStore, method)

    def then_delete(self, *args, **kwargs):
        value = original(self, *args, **kwargs)
        monkeypatch.setattr(ResultStore, method, original)
        with ResultStore(path) as other:
            other.delete_runs({run_id: other.list_runs(run_ids=[run_id])[0].status})
        return value

    monkeypatch.setattr(ResultStore, method, then_delete)


@pytest.mark.parametrize("when", ["list_runs", "result_fields"])
def test_runs_leaves_out_a_run_deleted_while_it_reads_the_store(when, leaky_store, run_cli, monkeypatch):
    with ResultStore(leaky_store) as store:
        stopped = store.begin_run(_config(9).to_dict(), 1, {}, run_id="20250612-000009-cccccc")
        store.mark_stopped(stopped, "interrupted")
    gone = MIXED if when == "list_runs" else stopped  # a run with a result, or one read as its configuration
    _deleting_after(monkeypatch, when, leaky_store, gone)
    listed = run_cli("runs", "--json", "--store", str(leaky_store))
    assert listed.code == 0 and "Traceback" not in listed.err, listed.err
    assert {record["id"] for record in json.loads(listed.out)} == {CLEAN, MIXED, TUNED, UNREADABLE, stopped} - {gone}


@pytest.mark.parametrize("command", ["compare", "report"])
def test_compare_and_report_leave_out_a_run_deleted_while_they_read_the_results(command, leaky_store, run_cli,
                                                                                  monkeypatch, tmp_path):
    _deleting_after(monkeypatch, "complete_ids", leaky_store, UNREADABLE)  # listed, then gone before its result is read
    output = tmp_path / "r.json"
    shown = run_cli(command, "--store", str(leaky_store),
                    *(["--json"] if command == "compare" else ["--output", str(output)]))
    assert shown.code == 0 and "Traceback" not in shown.err, shown.err
    cells = json.loads(shown.out if command == "compare" else output.read_text())["rows"]
    assert [cell["run_id"] for cell in cells] == [TUNED], "the newest run left of m on d · loso"


# ------------------------------------------------------------------ the leakage note of many leaky runs


def test_the_leakage_note_names_a_dozen_runs_and_counts_the_rest(tmp_path, run_cli):
    path = tmp_path / "many.sqlite"
    leaky = [f"20250613-{seed:06d}-dddddd" for seed in range(30)]
    with ResultStore(path) as store:
        for seed, run_id in enumerate(leaky):
            store.begin_run(_config(seed).to_dict(), 1, {}, run_id=run_id)
            store.finish_run(run_id, minimal_result(run_id=run_id, seed=seed, subject_independent=False))
    listed = run_cli("runs", "--limit", "0", "--store", str(path))
    assert listed.code == 0, listed.err
    flat = " ".join(listed.out.split())
    note = flat[flat.index("⚠ leakage, scores inflated"):]
    assert sum(run_id in note for run_id in leaky) == 12
    assert note.endswith(f"{leaky[-12]} (and 18 more)"), note
    rows = [line for line in listed.out.splitlines() if line.split()[:1] in [[run_id] for run_id in leaky]]
    assert len(rows) == 30 and all("⚠" in row for row in rows), "every leaky run is marked in the table"


def test_results_read_in_batches_leave_out_a_run_deleted_between_two_batches(leaky_store, monkeypatch):
    """``complete_results`` (compare and report of runs named by id) reads ids first, then results batch by batch."""
    monkeypatch.setattr("merbench.store.RESULTS_READ_AT_ONCE", 1)  # one result per query: a run goes between two
    _deleting_after(monkeypatch, "_results", leaky_store, UNREADABLE)
    with ResultStore(leaky_store, create=False) as store:
        read = [result.run_id for result in store.complete_results(predictions=False)]
    assert UNREADABLE not in read and len(read) >= 2


def test_the_damaged_note_names_a_dozen_runs_and_counts_the_rest():
    from merbench.commands.runs import NAMED_RUNS, damaged_note

    damaged = {f"run-{i}": f"result of run run-{i} is damaged" for i in range(30)}
    note = damaged_note(damaged)
    assert note.count("is damaged") == NAMED_RUNS and note.endswith(f"(and {30 - NAMED_RUNS} more)")
    assert damaged_note({"a": "why"}) == "⚠ damaged in the store: why" and damaged_note({}) is None


def test_a_store_whose_wal_lacks_its_shm_on_a_read_only_file_system_is_not_called_damaged(tmp_path, monkeypatch):
    """SQLite cannot create the -shm it needs to read the -wal there; the advice was to move the store away."""
    import sqlite3

    import merbench.store as store_module

    path = tmp_path / "archived.sqlite"
    path.write_bytes(b"")
    Path(f"{path}-wal").write_bytes(b"")
    monkeypatch.setattr(store_module, "on_read_only_file_system", lambda folder: True)
    message = str(store_module._refuse_unreadable(path, "cannot be read as SQLite",
                                                  sqlite3.OperationalError("unable to open database file")))
    assert "its write-ahead log archived.sqlite-wal lies beside it without archived.sqlite-shm" in message
    assert "the store is not damaged: copy it with its archived.sqlite-wal to a writable folder" in message
    assert "move the file away" not in message
    Path(f"{path}-shm").write_bytes(b"")  # both there: another cause, said as before
    assert "move the file away" in str(store_module._refuse_unreadable(path, "cannot be read",
                                                                       sqlite3.DatabaseError("file is not a database")))
