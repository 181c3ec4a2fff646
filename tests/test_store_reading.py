"""Reading the results store: runs chosen by id are used newest first, filtered and counted once; reading
commands open the store read-only (also in a read-only folder) and leave an empty file as it is."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from merbench.metrics import METRIC_KEYS
from merbench.store import APPLICATION_ID, ResultStore
from result_samples import minimal_result

OLD, NEW, OTHER = "20250611-000000-ffffff", "20250611-000000-000000", "20250611-000000-aaaaaa"


def _record(store: ResultStore, run_id: str, model: str, uf1: float) -> None:
    """A complete run of ``model`` on d · loso whose fold-mean UF1 is ``uf1``."""
    store.begin_run({"model": model, "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0}, 1, {},
                    run_id=run_id)
    scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores} for i in range(2)]
    store.finish_run(run_id, minimal_result(model=model, run_id=run_id, seed=0, pooled=scores, fold_mean=scores,
                                            fold_std={key: 0.0 for key in scores}, folds=folds))


@pytest.fixture
def two_runs(tmp_path) -> Path:
    """OLD and then NEW, of one model, dataset and protocol, recorded in the same second; OTHER of another model.

    NEW's id sorts before OLD's: only the order they were recorded in says which is newer.
    """
    path = tmp_path / "two.sqlite"
    with ResultStore(path) as store:
        _record(store, OLD, "m", 0.25)
        _record(store, NEW, "m", 0.75)
        _record(store, OTHER, "n", 0.5)
    return path


def _cells(run_cli, store: Path, *args: str) -> list[dict]:
    result = run_cli("compare", *args, "--json", "--store", str(store))
    assert result.code == 0, result.err
    return json.loads(result.out)["rows"]


def _one_line_error(result) -> str:
    assert result.code == 2 and result.out == "" and "Traceback" not in result.err
    text = " ".join(result.err.split())
    assert text.startswith("merbench: error:") and text.count("merbench: error:") == 1
    return text


# ------------------------------------------------------------------ runs selected by id


@pytest.mark.parametrize("order", [[NEW, OLD], [OLD, NEW]])
def test_compare_with_run_ids_shows_the_newest_run_of_a_cell_in_any_order(order, two_runs, run_cli):
    [cell] = _cells(run_cli, two_runs, *order)
    assert (cell["run_id"], cell["mean"], cell["n_runs"]) == (NEW, 0.75, 2)
    assert _cells(run_cli, two_runs, NEW[:16] + "0", OLD)[0]["run_id"] == NEW  # a prefix names the same run


def test_report_with_run_ids_shows_the_newest_run_and_calls_the_other_older(two_runs, run_cli, tmp_path):
    page = tmp_path / "x.html"
    written = run_cli("report", NEW, OLD, "--output", str(page), "--store", str(two_runs))
    assert written.code == 0, written.err
    html = page.read_text()
    assert NEW in html and html.count(OLD) == 1  # named in the note only, with how to see it
    assert f"Not shown: 1 run of a cell shown here that finished before the run the cell shows (same model, settings, " \
           f"dataset and protocol; each cell shows the run that finished last): {OLD}. See it with " \
           "<code>merbench show ID</code>" in " ".join(html.split())
    [record] = json.loads(run_cli("report", OLD, NEW, "--output", "-", "--format", "json",
                                  "--store", str(two_runs)).out)["rows"]
    assert record["run_id"] == NEW


def test_a_run_id_given_twice_counts_once(two_runs, run_cli):
    [cell] = _cells(run_cli, two_runs, OLD, OLD)
    assert (cell["run_id"], cell["n_runs"]) == (OLD, 1)
    with ResultStore(two_runs, create=False) as store:
        assert [r.run_id for r in store.complete_results([NEW, OLD, NEW, OLD[:18]])] == [OLD, NEW]


def test_filters_apply_to_the_given_run_ids(two_runs, run_cli):
    assert [c["run_id"] for c in _cells(run_cli, two_runs, OLD, OTHER, "--model", "n")] == [OTHER]
    assert [c["run_id"] for c in _cells(run_cli, two_runs, OTHER, NEW, "--model", "m", "--dataset", "d")] == [NEW]


@pytest.mark.parametrize("flag, value, named", [("--model", "n", f"--model n leaves out {OLD} (m)"),
                                                ("--dataset", "casme2", f"--dataset casme2 leaves out {OLD} (d)"),
                                                ("--protocol", "megc2019", f"--protocol megc2019 leaves out {OLD} (loso)")])
def test_a_filter_that_leaves_out_every_given_run_is_named(flag, value, named, two_runs, run_cli):
    text = _one_line_error(run_cli("compare", OLD, flag, value, "--store", str(two_runs)))
    assert "none of the given runs match the filters" in text and named in text


# ------------------------------------------------------------------ read-only: nothing created, nothing changed


def test_json_dash_prints_to_stdout_as_run_and_show_do(two_runs, run_cli):
    store = ("--store", str(two_runs))
    assert json.loads(run_cli("runs", "--json", "-", *store).out) == json.loads(run_cli("runs", "--json", *store).out)
    dashed = run_cli("compare", "--json", "-", *store)
    assert dashed.code == 0 and json.loads(dashed.out) == json.loads(run_cli("compare", "--json", *store).out)
    chosen = run_cli("compare", "--json", "-", OLD, *store)  # '-' is not taken for a run id beside real ones
    assert [row["model"] for row in json.loads(chosen.out)["rows"]] == ["m"]
    after = run_cli("compare", OLD, "--json", "-", *store)  # `--json -` after the run ids, as its help says
    assert after.code == 0, after.err
    assert json.loads(after.out) == json.loads(chosen.out) == json.loads(run_cli("compare", "--json", OLD, *store).out)
    assert "'-' is not a run id" in _one_line_error(run_cli("compare", "-", *store))
    refused = run_cli("runs", "--json", "runs.json", *store)
    assert refused.code == 2 and "redirect it, e.g. merbench runs --json > runs.json" in " ".join(refused.err.split())


# Each reading command, and what it prints of the newer run.
READERS = [(["runs"], NEW), (["runs", "--json"], NEW), (["show", NEW], NEW), (["compare", "--json"], NEW),
           (["compare", OLD, NEW], "75.0")]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in ``folder``: its bytes and modification time."""
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("command, shown", READERS)
def test_reading_creates_no_file_beside_the_store_and_changes_nothing(command, shown, two_runs, run_cli):
    before = _snapshot(two_runs.parent)
    assert sorted(before) == ["two.sqlite"]
    result = run_cli(*command, "--store", str(two_runs))
    assert result.code == 0 and shown in result.out, result.err
    assert _snapshot(two_runs.parent) == before, "no -wal/-shm/journal, same bytes, same mtime"


@pytest.mark.parametrize("command, shown", READERS)
def test_reading_opens_the_store_read_only_as_a_read_only_folder_requires(command, shown, two_runs, run_cli, monkeypatch):
    """A folder where no file can be created: SQLite opens the store only read-only (simulated, works as root)."""
    connect = sqlite3.connect

    def read_only_folder(database, *args, **kwargs):
        if str(database) != ":memory:" and not ("mode=ro" in str(database) or "immutable=1" in str(database)):
            raise sqlite3.OperationalError("unable to open database file")
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", read_only_folder)
    result = run_cli(*command, "--store", str(two_runs))
    assert result.code == 0, result.err
    assert shown in result.out


def _read_only_mount_command(folder: Path) -> list[str]:
    """A command prefix that runs what follows with ``folder`` mounted read-only (skips the test where it cannot)."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        pytest.skip("needs unshare(1) on Linux for a read-only bind mount")
    script = ('mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" || exit 97; '
              'touch "$0/probe" 2>/dev/null && exit 98; exec "$@"')
    prefix = [unshare, "-m" if os.geteuid() == 0 else "-rm", "sh", "-c", script, str(folder)]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no read-only bind mount here (exit {probe.returncode}: {probe.stderr.decode().strip()})")
    return prefix


@pytest.mark.parametrize("with_wal_files", [False, True])
def test_reading_commands_read_a_store_in_a_read_only_folder(with_wal_files, two_runs, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    shutil.copy(two_runs, folder / "results.sqlite")
    if with_wal_files:  # as a writer that has the store open leaves them
        reader = sqlite3.connect(f"{(folder / 'results.sqlite').as_uri()}?mode=ro", uri=True)
        reader.execute("SELECT COUNT(*) FROM runs").fetchone()
        reader.close()
        assert (folder / "results.sqlite-wal").exists()
    prefix = _read_only_mount_command(folder)
    before = _snapshot(folder)
    for command, shown in READERS:
        done = subprocess.run([*prefix, sys.executable, "-m", "merbench", *command, "--store",
                               str(folder / "results.sqlite")], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert shown in done.stdout
    assert _snapshot(folder) == before


def test_an_old_schema_store_read_only_gets_a_clear_message_and_is_left_alone(tmp_path, run_cli):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY)")
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.commit()
    db.close()
    before = _snapshot(tmp_path)
    text = _one_line_error(run_cli("runs", "--store", str(path)))
    assert f"results store {path}: schema version 0 is older than this merbench reads (1)" in text
    assert "cannot be upgraded; read it with the merbench that wrote it" in text
    assert _snapshot(tmp_path) == before


# ------------------------------------------------------------------ an empty file


def _empty_sqlite(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE scratch (x)")
    db.execute("DROP TABLE scratch")
    db.commit()
    db.close()
    assert path.stat().st_size > 0


@pytest.mark.parametrize("kind", ["0 bytes", "SQLite without tables"])
def test_an_empty_file_reads_as_an_empty_store_and_is_left_untouched(kind, tmp_path, run_cli):
    path = tmp_path / "e.db"
    path.write_bytes(b"") if kind == "0 bytes" else _empty_sqlite(path)
    before = _snapshot(tmp_path)
    listed = run_cli("runs", "--store", str(path))
    assert listed.code == 0 and f"No runs in {path} match" in " ".join(listed.out.split())
    assert json.loads(run_cli("runs", "--json", "--store", str(path)).out) == []
    assert "no complete runs match" in _one_line_error(run_cli("compare", "--store", str(path)))
    assert "no run '20250611'" in _one_line_error(run_cli("show", "20250611", "--store", str(path)))
    with ResultStore(path, create=False) as store:
        assert store.list_runs() == [] and store.complete_results() == []
    assert _snapshot(tmp_path) == before, "a reading command creates and changes nothing"
    with ResultStore(path) as store:  # a writing command still makes it a store
        store.begin_run({"model": "m", "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0}, 1, {})
    with ResultStore(path, create=False) as store:
        assert len(store.list_runs()) == 1


@pytest.mark.parametrize("command", [("runs",), ("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile",
                                                 "quick", "--quiet")], ids=["runs", "run"])
def test_a_store_locked_by_another_process_is_called_busy_not_damaged(command, tmp_path, run_cli, monkeypatch):
    """A shared store that another program holds is fine: the advice is to wait, never to move it away."""
    import sqlite3

    import merbench.store
    from merbench.store import ResultStore

    path = tmp_path / "shared.sqlite"
    ResultStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(merbench.store, "BUSY_TIMEOUT_MS", 200)
    try:
        result = run_cli(*command, "--store", str(path))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = " ".join(result.err.split())
    assert result.code == 2 and "locked by another process" in message and "not damaged" in message, message
    assert "move the file away" not in message
    assert run_cli("runs", "--store", str(path)).code == 0, "released, it reads as before"


def test_filters_that_match_nothing_say_what_the_store_holds(two_runs, run_cli):
    said = " ".join(run_cli("runs", "--model", "M", "--status", "failed", "--store", str(two_runs)).out.split())
    assert f"No runs in {two_runs} match --model M --status failed; it holds 3 runs (models: m, n; statuses: " \
           "complete); names are matched exactly" in said, said


@pytest.mark.parametrize("args", [("runs", "--model", "x\udcff"), ("runs", "--protocol", "x\udcff"), ("show", "x\udcff"),
                                  ("compare", "x\udcff"), ("run", "--resume", "x\udcff")])
def test_a_name_or_id_with_bytes_that_are_not_utf8_gets_one_message(args, two_runs, run_cli):
    # an argument with bytes that are not UTF-8 reaches Python as lone surrogates, which SQLite cannot take
    result = run_cli(*args, "--store", str(two_runs))
    assert result.code == 2, result.err
    line = _one_line_error(result)
    assert "'x\\udcff' is not UTF-8 text" in line and "`merbench runs` lists the stored runs" in line, line
    assert "while every run id, model, dataset and protocol in the results store is UTF-8 text: type it again" in line
