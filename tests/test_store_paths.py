"""Reading commands never create a results store; a mistyped store path is one clear error; ``runs --limit``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from merbench.errors import UsageError
from merbench.store import ResultStore

READERS = [["runs"], ["runs", "--json"], ["show", "20250611-142233-3fa2c1"], ["compare"], ["compare", "--json"],
           ["report", "--output", "{tmp}/report.md"]]
TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "engine.epochs=1"]


def _args(command: list[str], tmp_path: Path) -> list[str]:
    return [part.format(tmp=tmp_path) for part in command]


def _everything_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


def _refused(result, path: Path, origin: str) -> None:
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    text = " ".join(result.err.split())
    assert f"no results store at {path} ({origin})" in text
    assert "run `merbench run` first" in text and "--store PATH or MERBENCH_STORE" in text


@pytest.mark.parametrize("command", READERS)
@pytest.mark.parametrize("folder_exists", [False, True])
def test_a_reading_command_refuses_a_missing_store_and_creates_nothing(command, folder_exists, run_cli, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    store = work / ("s.sqlite" if folder_exists else "no/such/dir/s.sqlite")
    result = run_cli(*_args(command, work), "--store", str(store))
    _refused(result, store, "given by --store")
    assert _everything_under(work) == [], "nothing is created: no store, no folder, no -wal/-shm, no report"


@pytest.mark.parametrize("command", [["runs"], ["show", "20250611"], ["compare"]])
def test_a_missing_store_named_by_merbench_store_is_refused(command, run_cli, tmp_path, monkeypatch):
    store = tmp_path / "mistyped.sqlite"
    monkeypatch.setenv("MERBENCH_STORE", str(store))
    _refused(run_cli(*command), store, "from MERBENCH_STORE")
    assert not store.exists()


@pytest.fixture
def default_store(tmp_path, monkeypatch) -> Path:
    """No MERBENCH_STORE: the store is the default one in the (empty, temporary) user data folder."""
    from merbench.store import default_store_path

    monkeypatch.delenv("MERBENCH_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = default_store_path()
    assert path.is_relative_to(tmp_path)
    return path


def test_with_no_store_yet_at_the_default_path_runs_says_there_are_none(default_store, run_cli, tmp_path):
    listed = run_cli("runs")
    assert listed.code == 0, listed.err
    assert f"No runs in {default_store} match" in " ".join(listed.out.split())
    scripted = run_cli("runs", "--json")
    assert scripted.code == 0 and json.loads(scripted.out) == []
    compared = run_cli("compare")
    assert compared.code == 2 and "no complete runs match" in compared.err
    shown = run_cli("show", "20250611")
    assert shown.code == 2 and "no run '20250611'" in shown.err and "Traceback" not in shown.err
    assert not (tmp_path / "data").exists(), "reading the default store creates nothing"


def test_open_for_reading_in_python(tmp_path, default_store):
    missing = tmp_path / "none" / "s.sqlite"
    with pytest.raises(UsageError, match="no results store at .*given by --store"):
        ResultStore(missing, create=False)
    assert not missing.parent.exists()
    with ResultStore(create=False) as empty:  # the default path, no store yet: read as empty
        assert empty.path == default_store and empty.list_runs() == []
    assert not default_store.parent.exists()
    with ResultStore(missing) as created:  # writers still create it
        created.begin_run(_config(), 1, {})
    with ResultStore(missing, create=False) as existing:
        assert len(existing.list_runs()) == 1


def test_run_still_creates_the_store_and_the_readers_then_find_it(run_cli, tmp_path):
    store = tmp_path / "new" / "folder" / "results.sqlite"
    ran = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY,
                  "--store", str(store))
    assert ran.code == 0, ran.err
    assert store.exists()
    [run] = json.loads(run_cli("runs", "--store", str(store), "--json").out)
    assert run["status"] == "complete"
    assert run_cli("show", run["id"], "--store", str(store)).code == 0
    assert run_cli("compare", "--store", str(store)).code == 0


def test_a_writing_command_still_reports_a_store_folder_it_cannot_create(run_cli, tmp_path):
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc, where no folder can be created (even by root)")
    store = "/proc/merbench-no-such/x.sqlite"
    reading = run_cli("runs", "--store", store)
    _refused(reading, Path(store), "given by --store")
    writing = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY,
                      "--store", store)
    assert writing.code == 2 and "Traceback" not in writing.err
    assert "cannot create its folder /proc/merbench-no-such" in " ".join(writing.err.split())


@pytest.mark.parametrize("command", [["runs"], ["run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile",
                                     "quick", "--quiet", *TINY]])
def test_a_store_path_that_is_a_symbolic_link_loop_is_named_as_one(command, run_cli, tmp_path):
    (tmp_path / "a.sqlite").symlink_to("b.sqlite")
    (tmp_path / "b.sqlite").symlink_to("a.sqlite")
    result = run_cli(*command, "--store", str(tmp_path / "a.sqlite"))
    assert result.code == 2 and "Traceback" not in result.err
    assert (f"results store {tmp_path / 'a.sqlite'}: a symbolic link that leads back to itself (a loop → b.sqlite)"
            in " ".join(result.err.split()))


# ------------------------------------------------------------------ --limit


def _config(model: str = "ststnet") -> dict:
    return {"model": model, "dataset": "synthetic", "protocol": "loso", "profile": "quick", "seed": 0}


@pytest.fixture
def three_runs(tmp_path) -> Path:
    path = tmp_path / "three.sqlite"
    with ResultStore(path) as store:
        for model in ("a", "b", "c"):
            store.begin_run(_config(model), 1, {})
    return path


@pytest.mark.parametrize("limit", ["-1", "-50", "abc", "1.5"])
def test_runs_refuses_a_limit_that_is_not_a_count(limit, three_runs, run_cli):
    result = run_cli("runs", "--store", str(three_runs), f"--limit={limit}")
    assert result.code == 2 and "Traceback" not in result.err
    assert f"argument --limit: '{limit}' is not a number of runs" in " ".join(result.err.split())
    assert result.out == ""


@pytest.mark.parametrize("limit, shown", [("1", 1), ("2", 2), ("0", 3), (None, 3)])
def test_runs_limit_counts_and_zero_means_all(limit, shown, three_runs, run_cli):
    result = run_cli("runs", "--store", str(three_runs), "--json", *([f"--limit={limit}"] if limit else []))
    assert result.code == 0, result.err
    assert len(json.loads(result.out)) == shown
    table = run_cli("runs", "--store", str(three_runs), *([f"--limit={limit}"] if limit else []))
    said = "Showing the newest" in table.out and "more match: --limit 0 shows them all" in " ".join(table.out.split())
    assert said == (shown < 3), "the table says when runs were left out, and only then"
    if limit == "1":
        assert "Showing the newest matching run;" in " ".join(table.out.split())  # not "the newest 1 matching runs"


def test_runs_json_for_scripts_lists_every_run_where_the_table_shows_the_newest(three_runs, run_cli, monkeypatch):
    """`merbench runs --json | jq` (the --help example for scripts) gets every matching run, not the table's newest
    50 with a note on stderr that a script does not read; --limit still limits it."""
    from merbench.commands import runs

    monkeypatch.setattr(runs, "TABLE_LIMIT", 2)
    listed = run_cli("runs", "--store", str(three_runs), "--json")
    assert listed.code == 0 and len(json.loads(listed.out)) == 3 and "Showing the newest" not in listed.err
    table = run_cli("runs", "--store", str(three_runs))
    assert "Showing the newest 2 matching runs" in " ".join(table.out.split())
    assert len(json.loads(run_cli("runs", "--store", str(three_runs), "--json", "--limit", "2").out)) == 2


@pytest.mark.parametrize("table", ["metrics", "predictions"])
def test_a_store_missing_a_table_is_refused_before_a_run_trains(run_cli, tmp_path, table):
    """A store whose metrics table was dropped passed the open check: the run trained, then lost its result."""
    import sqlite3

    path = tmp_path / "r.sqlite"
    ResultStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"DROP TABLE {table}")
    db.close()
    before = path.read_bytes()
    for command in (["run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", *TINY], ["runs"]):
        result = run_cli(*command, "--store", str(path))
        assert result.code == 2, result.err
        assert f"results store {path}: is damaged (its {table} table is missing)" in " ".join(result.err.split())
        assert "Fold" not in result.out and "Traceback" not in result.err
    assert path.read_bytes() == before


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_a_device_given_as_the_store_is_named_as_not_a_file(run_cli, device):
    if not Path(device).exists():
        pytest.skip(f"no {device} here")
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", *TINY,
                     "--store", device)
    assert result.code == 2, result.err
    assert f"results store {device}: is not a regular file (a device, FIFO or socket)" in " ".join(result.err.split())
