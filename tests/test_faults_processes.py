"""Fault injection around processes: Ctrl-C and kill -9 with worker processes, two resumes at once, the store
under stress (damaged, under a file, disk full) and a plugin with several errors.

Each case asserts what the user sees (exit code, one message, no traceback) and that nothing was lost.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from merbench.errors import UsageError
from merbench.registry import Registry
from merbench.store import ResultStore, check_store_file, disk_full_error, is_disk_full, mount_point
from result_samples import minimal_result

psutil = pytest.importorskip("psutil")

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "engine.epochs=2", "engine.parallel_folds=1", "engine.preprocess_workers=1"]
TINY_RUN = ["run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY]
# Folds long enough that a worker is always mid-fold when the run is stopped.
LONG_LOSO = ["run", "--model", "ststnet", "--dataset", "synthetic", "--protocol", "loso", "--quiet", "--epochs", "5000"]
# Fold workers need long folds (many epochs), not many clips: fewer clips to preprocess first.
SMALL_DATA = ["--set", "dataset.subjects=6", "dataset.clips_per_subject=6"]


# ------------------------------------------------------------------ helpers


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _workers(pid: int) -> list[psutil.Process]:
    """The run's live child processes except multiprocessing's resource tracker: the fork server and its workers."""
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if _alive(child) and "resource_tracker" not in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "merbench", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_workers(run: subprocess.Popen, count: int, timeout: float = 120) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.poll() is not None:
            pytest.fail(f"the run ended before its worker processes started: {run.communicate()[1][-2000:]}")
        workers = _workers(run.pid)
        if len(workers) >= count:
            return workers
        time.sleep(0.1)
    run.kill()
    pytest.fail(f"the run did not start {count} worker processes in {timeout} s")


def _gone_within(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    """The processes still alive after ``seconds`` (polled closely; psutil.wait_procs polls too coarsely)."""
    deadline = time.monotonic() + seconds
    left = list(processes)
    while left and time.monotonic() < deadline:
        left = [p for p in left if _alive(p)]
        time.sleep(0.02)
    return [p for p in left if _alive(p)]


STAGES = {
    # stage: (extra arguments, worker processes to wait for: the fork server plus its workers)
    "folds": (["--set", "engine.parallel_folds=2"], 3),
    "preprocessing": (["--set", "engine.preprocess_workers=2", "engine.parallel_folds=1"], 2),
}


def _run_in_stage(stage: str, tmp_path: Path) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """A long LOSO run in a subprocess, once its worker processes for ``stage`` are running."""
    extra, count = STAGES[stage]
    cache = tmp_path / "cache"
    if stage == "folds":  # preprocessed once beforehand, so the workers are fold workers
        prepare = subprocess.run([sys.executable, "-m", "merbench", "preprocess", "--dataset", "synthetic", "--model", "ststnet", "--quiet",
                                  *SMALL_DATA],
                                 env={**os.environ, "MERBENCH_CACHE": str(cache)}, capture_output=True, text=True)
        assert prepare.returncode == 0, prepare.stderr
    small = SMALL_DATA if stage == "folds" else []
    run = _start([*LONG_LOSO, *small, "--store", str(tmp_path / "r.sqlite"), *extra],
                 {"MERBENCH_CACHE": str(cache), "MERBENCH_STORE": str(tmp_path / "r.sqlite")})
    return run, _wait_for_workers(run, count)


# ------------------------------------------------------------------ 1. Ctrl-C sent to the run's process only


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_sigint_to_the_run_stops_it_and_its_workers_at_once_without_a_traceback(stage, tmp_path):
    err = _stopped_by(signal.SIGINT, *_run_in_stage(stage, tmp_path), 130, tmp_path)
    assert "merbench: interrupted" in err and "Error" not in err, err


def _stopped_by(signum: int, run: subprocess.Popen, workers: list, code: int, tmp_path: Path) -> str:
    """Send ``signum`` to the run; check it ends at once with ``code``, the resume command, no traceback, no worker
    left and its run ``interrupted``; returns its standard error."""
    os.kill(run.pid, signum)
    try:
        _, err = run.communicate(timeout=60)  # before the fix the run waited for every worker's fold (minutes)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail("the stopped run waited for its workers to finish their folds")
    assert run.returncode == code, err
    assert "merbench run --resume" in err and "Traceback" not in err, err
    assert not _gone_within(workers, 2.0), "worker processes outlived the stopped run"
    with ResultStore(tmp_path / "r.sqlite") as store:
        [summary] = store.list_runs()
    assert summary.status == "interrupted"
    return err


def test_sigterm_stops_the_run_as_ctrl_c_does_and_says_how_to_resume(tmp_path):
    """`kill`, a batch scheduler or a container stop send SIGTERM: the run stops cleanly, keeps its completed folds,
    says how to resume, exits 143 (128 + SIGTERM) and leaves no worker behind."""
    err = _stopped_by(signal.SIGTERM, *_run_in_stage("folds", tmp_path), 143, tmp_path)
    assert "merbench: terminated (SIGTERM)" in err and "leaked semaphore" not in err, err


# ------------------------------------------------------------------ 2. the run killed with -9


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_workers_and_the_fork_server_stop_within_a_second_of_a_killed_run(stage, tmp_path):
    run, workers = _run_in_stage(stage, tmp_path)
    os.kill(run.pid, signal.SIGKILL)  # not reaped yet: a zombie that `kill -0` still finds
    try:
        left = _gone_within(workers, 1.5)
        assert not left, f"processes outlived the killed run by 1.5 s: {[p.cmdline()[-1][:60] for p in left]}"
    finally:
        run.wait()


# ------------------------------------------------------------------ 3. two resumes of one run at once


def _recorded_run(store_path: Path) -> str:
    with ResultStore(store_path) as store:
        run_id = store.begin_run({"model": "m", "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0}, 1, {})
        with store.transaction() as db:  # as a run killed with -9 leaves it: 'running', its process gone
            db.execute("UPDATE runs SET pid = ? WHERE id = ?", (_dead_pid(), run_id))
    return run_id


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


CLAIM = textwrap.dedent("""
    import sys, time
    from merbench.errors import UsageError
    from merbench.store import ResultStore
    store_path, run_id, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with ResultStore(store_path) as store:
        time.sleep(max(0.0, start - time.time()))
        try:
            store.claim_run(run_id, {"device": "cpu"})
            print("claimed", flush=True)
        except UsageError as exc:
            print("refused:", exc, flush=True)
        time.sleep(1.5)  # the winner stays alive while the loser checks
""")


def test_two_resumes_at_once_only_one_claims_the_run(tmp_path):
    store_path = tmp_path / "r.sqlite"
    run_id = _recorded_run(store_path)
    start = time.time() + 3.0
    claims = [subprocess.Popen([sys.executable, "-c", CLAIM, str(store_path), run_id, str(start)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [claim.communicate(timeout=60) for claim in claims]
    said = [out.strip() for out, _ in outputs]
    assert all(err == "" for _, err in outputs), outputs
    assert sorted(s.split()[0] for s in said) == ["claimed", "refused:"], said
    winner = claims[[s.startswith("claimed") for s in said].index(True)]
    loser_says = next(s for s in said if s.startswith("refused:"))
    assert f"run {run_id} is being resumed by process {winner.pid}" in loser_says
    with ResultStore(store_path) as store:
        row = store.run_row(run_id)
    assert row["status"] == "running" and row["pid"] == winner.pid


def test_a_run_held_by_a_live_process_is_not_claimed_one_left_by_a_dead_one_is(tmp_path):
    store_path = tmp_path / "r.sqlite"
    run_id = _recorded_run(store_path)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with ResultStore(store_path) as store:
            with store.transaction() as db:
                db.execute("UPDATE runs SET pid = ? WHERE id = ?", (holder.pid, run_id))
            with pytest.raises(UsageError, match=f"being resumed by process {holder.pid}"):
                store.claim_run(run_id, {})
    finally:
        holder.kill()
        holder.wait()
    with ResultStore(store_path) as store:
        store.claim_run(run_id, {})  # the holder is gone: the run is free again
        assert store.run_row(run_id)["pid"] == os.getpid()
        store.finish_run(run_id, minimal_result(seed=0))
        with pytest.raises(UsageError, match="is complete"):
            store.claim_run(run_id, {})


# ------------------------------------------------------------------ 4. damaged stores, a store under a file


def _wal_store(path: Path) -> None:
    with ResultStore(path) as store:
        for _ in range(20):
            store.begin_run({"model": "m" * 200, "dataset": "d", "protocol": "p", "profile": "quick", "seed": 0}, 1, {})


def _damage_page_2(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[4096:8192] = random.Random(0).randbytes(4096)
    path.write_bytes(bytes(blob))


def _foreign_wal(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    db.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    db.commit()
    db.close()


@pytest.mark.parametrize("kind", ["damaged", "foreign"])
def test_refusing_a_store_leaves_no_wal_or_shm_files_beside_it(kind, run_cli, tmp_path):
    path = tmp_path / "results.sqlite"
    if kind == "damaged":
        _wal_store(path)
        _damage_page_2(path)
    else:
        _foreign_wal(path)
    before = path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite"]
    result = run_cli("runs", "--store", str(path))
    assert result.code == 2 and "Traceback" not in result.err
    assert str(path) in result.err and "--store" in result.err
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite"]


def test_a_healthy_store_in_use_is_still_accepted(tmp_path):
    path = tmp_path / "results.sqlite"
    _wal_store(path)
    with ResultStore(path) as first:  # its -wal and -shm exist while it is open
        assert Path(f"{path}-wal").exists()
        check_store_file(path)
        with ResultStore(path) as second:
            assert len(second.list_runs()) == len(first.list_runs()) == 20
    check_store_file(path)  # closed: no -wal, read as it is


@pytest.mark.parametrize("command", [["runs"], TINY_RUN])
def test_a_store_under_a_regular_file_is_a_clear_error(command, run_cli, tmp_path):
    blocker = tmp_path / "hostname"
    blocker.write_text("not a folder\n")
    result = run_cli(*command, "--store", str(blocker / "x.sqlite"))
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert f"{blocker} is a file, not a folder" in result.err and "--store" in result.err
    assert blocker.read_text() == "not a folder\n"


def test_a_store_whose_folder_cannot_be_created_is_a_clear_error(run_cli):
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc, where no folder can be created (even by root)")
    result = run_cli(*TINY_RUN, "--store", "/proc/merbench-no-such/x.sqlite")
    assert result.code == 2 and "Traceback" not in result.err
    assert "cannot create its folder /proc/merbench-no-such" in " ".join(result.err.split())


# ------------------------------------------------------------------ 5. disk full


def _stop_second_call(error: BaseException, original):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise error
        return original(*args, **kwargs)

    return failing


def test_a_full_disk_while_storing_a_fold_names_the_file_system_and_the_run_resumes(run_cli, tmp_path, monkeypatch):
    store_path = tmp_path / "r.sqlite"
    full = sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(ResultStore, "add_fold", _stop_second_call(full, ResultStore.add_fold))
    result = run_cli(*TINY_RUN, "--store", str(store_path))
    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    with ResultStore(store_path) as store:
        [summary] = store.list_runs()
    assert summary.status == "interrupted" and summary.folds_done == 1
    message = result.err.split("merbench: error:")[1]
    assert f"no space left on the file system at {mount_point(tmp_path)}" in " ".join(message.split())
    assert f"merbench run --resume {summary.id}" in " ".join(message.split())

    monkeypatch.undo()
    resumed = run_cli("run", "--resume", summary.id, "--store", str(store_path), "--quiet")
    assert resumed.code == 0, resumed.err
    assert "1 completed fold reused" in resumed.err


def test_a_real_full_database_keeps_its_disk_full_error(tmp_path):
    """SQLite rolls a transaction back itself when the disk fills: the store's own ROLLBACK then fails, and that
    failure once replaced the disk-full error (a traceback and a 'failed' run instead of a resumable one)."""
    from merbench.store import _transaction

    db = sqlite3.connect(tmp_path / "full.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    db.execute("PRAGMA max_page_count = 10")  # a disk that fills after ten pages
    with pytest.raises(sqlite3.OperationalError) as raised:
        with _transaction(db):
            for _ in range(100):
                db.execute("INSERT INTO t VALUES (?)", ("x" * 4000,))
    assert is_disk_full(raised.value), raised.value
    assert not db.in_transaction and db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    db.close()


def test_a_full_disk_while_writing_the_cache_is_one_message(run_cli, tmp_path, monkeypatch, fresh_cache):
    import merbench.preprocess

    full = OSError(errno.ENOSPC, "No space left on device", str(fresh_cache / "entry.npy"))
    monkeypatch.setattr(merbench.preprocess, "store_entry", _stop_second_call(full, merbench.preprocess.store_entry))
    result = run_cli(*TINY_RUN, "--store", str(tmp_path / "r.sqlite"))
    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    text = " ".join(result.err.split())
    assert f"no space left on the file system at {mount_point(fresh_cache)}" in text
    assert str(fresh_cache / "entry.npy") in text and "merbench run --resume" in text

    no_store = run_cli(*TINY_RUN, "--no-store")  # cached entries now exist: the failing write comes later or not at all
    assert "Traceback" not in no_store.err


def test_a_full_disk_without_a_store_says_run_again(run_cli, monkeypatch, fresh_cache):
    import merbench.preprocess

    full = OSError(errno.ENOSPC, "No space left on device")  # a write() names no file: the fullest place is named
    monkeypatch.setattr(merbench.preprocess, "store_entry", _stop_second_call(full, merbench.preprocess.store_entry))
    result = run_cli(*TINY_RUN, "--no-store")
    assert result.code == 1 and "Traceback" not in result.err
    text = " ".join(result.err.split())
    assert "no space left on the file system at" in text and "run again" in text and "--resume" not in text


def test_disk_full_is_recognised_in_all_its_forms(tmp_path):
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert not is_disk_full(sqlite3.OperationalError("database is locked"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    error = disk_full_error(OSError(errno.ENOSPC, "full"), [tmp_path / "cache", tmp_path / "r.sqlite"], "RUN")
    assert error.exit_code == 1 and "merbench run --resume RUN" in str(error)
    assert str(mount_point(tmp_path)) in str(error)


def test_disk_full_is_recognised_where_sqlite3_does_not_name_its_code(monkeypatch):
    """Python 3.10's sqlite3 has no SQLITE_FULL (nor an error code on its exceptions): every SQLite error reaching
    the check (a locked store too) became a raw AttributeError."""
    monkeypatch.delattr(sqlite3, "SQLITE_FULL", raising=False)  # as on 3.10, where it is missing already
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert not is_disk_full(sqlite3.OperationalError("database is locked"))


# ------------------------------------------------------------------ 6. every error of a plugin


def test_merbench_plugins_shows_every_error_of_a_plugin(run_cli, tmp_path, monkeypatch):
    site = tmp_path / "site"
    info = site / "merbench_twice-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: merbench-twice\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[merbench]\ntwice = merbench_twice_plugin\n")
    (site / "merbench_twice_plugin.py").write_text(textwrap.dedent('''
        from merbench.hookspecs import hookimpl

        @hookimpl
        def merbench_register_models(register):
            register("not a ModelPlugin")

        @hookimpl
        def merbench_register_datasets(register):
            raise ValueError("cannot list datasets")
    '''))
    monkeypatch.syspath_prepend(str(site))
    try:
        [record] = [r for r in Registry(strict=False).records if r.provider.entry_point == "twice"]
        assert len(record.errors) == 2
        shown = run_cli("plugins")
        listed = json.loads(run_cli("plugins", "--json").out)
    finally:
        sys.modules.pop("merbench_twice_plugin", None)
    text = " ".join(shown.out.split())
    assert shown.code == 0
    assert "expected ModelPlugin" in text and "cannot list datasets" in text
    [entry] = [p for p in listed["plugins"] if p["provider"]["entry_point"] == "twice"]
    assert len(entry["errors"]) == 2


# ------------------------------------------------------------------ 7. kill -9 at random moments, then --resume


def _metrics(result: dict) -> dict:
    return {key: result[key] for key in ("pooled", "fold_mean", "fold_std", "confusion_matrix", "predictions")} | {
        "folds": [f["metrics"] for f in result["folds"]]}


@pytest.mark.slow
def test_runs_killed_at_random_moments_resume_to_the_uninterrupted_metrics(run_cli, tmp_path):
    reference_path = tmp_path / "reference.json"
    reference = run_cli(*TINY_RUN, "--store", str(tmp_path / "reference.sqlite"), "--json", str(reference_path))
    assert reference.code == 0, reference.err
    expected = _metrics(json.loads(reference_path.read_text()))
    store_path = tmp_path / "killed.sqlite"
    moments = random.Random(17)
    for attempt in range(3):
        run = _start([*TINY_RUN, "--store", str(store_path)], {"MERBENCH_STORE": str(store_path)})
        line = run.stderr.readline()  # "Run ID (store ...)": the run is recorded
        assert line.startswith("Run "), line + run.communicate()[1]
        run_id = line.split()[1]
        time.sleep(moments.uniform(0.5, 4.0))  # during preprocessing, between or inside folds, or after
        run.kill()
        run.communicate()
        with ResultStore(store_path) as store:
            [status] = [summary.status for summary in store.list_runs() if summary.id == run_id]
        target = tmp_path / f"resumed-{attempt}.json"
        if status == "complete":  # finished before the kill: its stored result is the one to compare
            shown = run_cli("show", run_id, "--store", str(store_path), "--json", str(target))
            assert shown.code == 0, shown.err
        else:
            assert status == "interrupted", status
            resumed = run_cli("run", "--resume", run_id, "--store", str(store_path), "--quiet", "--json", str(target))
            assert resumed.code == 0, resumed.err
        assert _metrics(json.loads(target.read_text())) == expected, f"attempt {attempt}"
    with sqlite3.connect(store_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_ctrl_c_after_the_command_finished_is_ignored_not_a_traceback(tmp_path):
    """Once the command is done (its run stored), a Ctrl-C while Python exits must not print a traceback over it."""
    script = textwrap.dedent("""
        import os, signal, sys
        import torch  # its exit handlers run during shutdown, where a Ctrl-C used to land
        from merbench.cli import main
        sys.argv = ["merbench", "list", "protocols"]
        code = main()
        os.kill(os.getpid(), signal.SIGINT)
        print("after the Ctrl-C, exit", code)
        sys.exit(code)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "after the Ctrl-C, exit 0" in done.stdout and "Traceback" not in done.stderr
