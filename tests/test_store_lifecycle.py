"""The life of a stored run: who holds a running run, resuming it from elsewhere, and reading while others write."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import realtrees as rt
from merbench import runner
from merbench.errors import UsageError
from merbench.store import HOLDER_KEY, ResultStore, status_of
from merbench.workers import pid_namespace, process_started

STOPPER = Path(__file__).parent / "stop_after_folds.py"
QUICK = ["--profile", "quick", "--epochs", "1", "--quiet"]
CONFIG = {"model": "m", "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0}


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------ who holds a running run


@pytest.fixture
def sleeper():
    """A live process that is not a merbench run."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


def _held_by(path: Path, run_id: str, pid: int, started: str | None, namespace: str | None = None) -> None:
    """Record ``run_id`` as running in process ``pid`` (of this PID namespace unless ``namespace`` is given),
    recorded as started at ``started``."""
    with ResultStore(path) as store, store.transaction() as db:
        environment = json.loads(db.execute("SELECT environment_json FROM runs WHERE id = ?", (run_id,)).fetchone()[0])
        environment[HOLDER_KEY] = {"pid": pid, "started": started, "namespace": namespace or pid_namespace()}
        db.execute("UPDATE runs SET status = 'running', pid = ?, environment_json = ? WHERE id = ?",
                   (pid, json.dumps(environment), run_id))


@pytest.mark.skipif(process_started(os.getpid()) is None, reason="needs /proc (Linux)")
def test_a_run_whose_process_number_now_belongs_to_another_process_reads_interrupted_and_can_be_claimed(
        sleeper, tmp_path):
    """A run killed with -9 in a container where it was process 1: after a restart process 1 lives again, as another
    program. Its recorded start tells the two apart."""
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        run_id = store.begin_run(CONFIG, 1, {})
    _held_by(path, run_id, sleeper.pid, "an-earlier-boot:12")
    with ResultStore(path, create=False) as store:
        assert status_of(store.run_row(run_id)) == "interrupted"
        assert [run.id for run in store.list_runs(status="interrupted")] == [run_id]
    with ResultStore(path) as store:
        store.claim_run(run_id, {})
        row = store.run_row(run_id)
        assert row["pid"] == os.getpid() and status_of(row) == "running"
        assert json.loads(row["environment_json"])[HOLDER_KEY] == {
            "pid": os.getpid(), "started": process_started(os.getpid()), "namespace": pid_namespace()}


@pytest.mark.skipif(process_started(os.getpid()) is None, reason="needs /proc (Linux)")
def test_a_run_whose_recorded_process_still_runs_it_stays_running(sleeper, tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        run_id = store.begin_run(CONFIG, 1, {})
    _held_by(path, run_id, sleeper.pid, process_started(sleeper.pid))
    with ResultStore(path) as store:
        assert status_of(store.run_row(run_id)) == "running"
        with pytest.raises(UsageError, match=f"being resumed by process {sleeper.pid}"):
            store.claim_run(run_id, {})


@pytest.mark.skipif(process_started(os.getpid()) is None, reason="needs /proc (Linux)")
def test_a_process_of_another_pid_namespace_is_not_checked_here_and_force_takes_over(sleeper, tmp_path, run_cli):
    """A run in another container of this host (its own process numbers): its process 1 is not this command's."""
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        run_id = store.begin_run(CONFIG, 1, {})
    _held_by(path, run_id, sleeper.pid, "a-boot:12", namespace="pid:[1]")
    with ResultStore(path, create=False) as store:
        assert status_of(store.run_row(run_id)) == "running"
    refused = _one_line(run_cli("run", "--resume", run_id, "--store", str(path)).err)
    assert "it ran in another process namespace (another container) than this command" in refused
    assert f"`merbench run --resume {run_id} --force`" in refused


def test_the_holder_is_not_taken_for_a_software_change_on_resume(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        run_id = store.begin_run(CONFIG, 1, {"torch": "2.3"})
        store.mark_stopped(run_id, "interrupted")
        assert store.claim_run(run_id, {"torch": "2.4"}) == {"torch": "2.3"}


# ------------------------------------------------------------------ an interrupted run on a dataset folder


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run of a dataset read from a relative --root, killed after 1 of its 3 folds: (store, run id, data folder)."""
    work = tmp_path_factory.mktemp("lifecycle")
    data = rt.build_manifest_images(work / "data" / "manifest").parent
    store = work / "results.sqlite"
    killed = subprocess.run([sys.executable, str(STOPPER), "1", "run", "--model", "convmixer", "--dataset", "manifest",
                             "--root", "data/manifest", "--protocol", "loso", "--set", "dataset.manifest=labels.csv",
                             *QUICK, "--store", str(store)],
                            cwd=work,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == 99, killed.stderr
    with ResultStore(store, create=False) as opened:
        [run] = opened.list_runs()
    assert run.status == "interrupted" and run.folds_done == 1
    return store, run.id, data


def _copy(store: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.sqlite"
    shutil.copy(store, copy)
    return copy


def test_a_new_run_stores_its_dataset_folder_as_an_absolute_path(interrupted):
    store, run_id, data = interrupted
    with ResultStore(store, create=False) as opened:
        assert opened.run_config(run_id)["root"] == str(data)


def test_a_moved_dataset_is_given_to_resume_with_root(interrupted, run_cli, tmp_path):
    store, run_id, data = interrupted
    copy = _copy(store, tmp_path)
    with sqlite3.connect(copy) as db:  # as a run stored with a folder that is not here (moved, another machine)
        config = json.loads(db.execute("SELECT config_json FROM runs").fetchone()[0])
        db.execute("UPDATE runs SET config_json = ?", (json.dumps({**config, "root": "data/manifest"}),))
    db.close()
    missing = _one_line(run_cli("run", "--resume", run_id, "--store", str(copy), "--quiet").err)
    assert f"run {run_id} read dataset 'manifest' from data/manifest (relative to the folder the run was started in), "\
           "which does not exist here" in missing
    assert f"give the folder of your copy with `merbench run --resume {run_id} --root DIR`" in missing
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    resumed = run_cli("run", "--resume", run_id, "--store", str(copy), "--root", str(moved), "--device", "cpu",
                      "--quiet", "--json", str(tmp_path / "r.json"))
    assert resumed.code == 0, resumed.err
    assert "1 completed fold reused" in resumed.err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["config"]["root"] == str(moved) and result["config"]["device"] == "cpu"
    assert len(result["folds"]) == 3


def test_resume_refuses_root_for_a_dataset_that_reads_no_folder(tmp_path, run_cli):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        run_id = store.begin_run({**CONFIG, "model": "convmixer", "dataset": "synthetic", "protocol": "loso",
                                  "device": "auto", "root": None, "preprocess": [],
                                  "options": {"engine": {}, "dataset": {}}}, 1, {})
        store.mark_stopped(run_id, "interrupted")
    (tmp_path / "folder").mkdir()
    refused = run_cli("run", "--resume", run_id, "--store", str(path), "--root", str(tmp_path / "folder"))
    assert refused.code == 2 and "dataset 'synthetic' is generated and reads no folder; drop --root" in refused.err


def test_a_run_recorded_on_another_host_is_resumed_with_force_and_a_warning(interrupted, run_cli, tmp_path):
    store, run_id, _ = interrupted
    copy = _copy(store, tmp_path)
    with sqlite3.connect(copy) as db:  # killed with -9 on node-7 (or node-7 was lost): it stays 'running' there
        db.execute("UPDATE runs SET status = 'running', host = 'node-7', pid = 4242")
    db.close()
    listed = run_cli("runs", "--store", str(copy))
    assert "running" in listed.out, "another host's process cannot be checked from here"
    refused = _one_line(run_cli("run", "--resume", run_id, "--store", str(copy), "--quiet").err)
    assert f"run {run_id} is recorded as still running (process 4242 on node-7)" in refused
    assert f"`merbench run --resume {run_id} --force`" in refused and "stop it first" not in refused
    resumed = run_cli("run", "--resume", run_id, "--store", str(copy), "--force", "--quiet")
    assert resumed.code == 0, resumed.err
    said = _one_line(resumed.err)
    assert "Warning: run " in said and "(process 4242 on node-7); --force takes it as gone" in said
    assert "1 completed fold reused" in said
    with ResultStore(copy, create=False) as opened:
        assert status_of(opened.run_row(run_id)) == "complete"


def test_a_running_row_that_names_no_process_is_taken_as_interrupted(interrupted, run_cli, tmp_path):
    import socket

    store, run_id, _ = interrupted
    copy = _copy(store, tmp_path)
    with sqlite3.connect(copy) as db:  # a row changed by hand: running, on this host, no process
        db.execute("UPDATE runs SET status = 'running', host = ?, pid = NULL", (socket.gethostname(),))
    db.close()
    with ResultStore(copy, create=False) as opened:
        assert status_of(opened.run_row(run_id)) == "interrupted"


def test_a_forced_resume_that_is_refused_leaves_the_run_as_it_was(interrupted, run_cli, tmp_path):
    store, run_id, _ = interrupted
    copy = _copy(store, tmp_path)
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE runs SET status = 'running', host = 'node-7', pid = 4242")
    db.close()
    refused = run_cli("run", "--resume", run_id, "--store", str(copy), "--force", "--quiet", "--device", "cuda:99")
    assert refused.code == 2, refused.err
    with ResultStore(copy, create=False) as opened:
        row = opened.run_row(run_id)
        assert (row["status"], row["host"], row["pid"]) == ("running", "node-7", 4242), "nothing ran it: not taken"


@pytest.mark.skipif(process_started(os.getpid()) is None, reason="needs /proc (Linux)")
def test_force_does_not_take_a_run_its_live_process_on_this_host_holds(tmp_path, run_cli):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:  # held by this (live) process, as recorded
        run_id = store.begin_run(CONFIG, 1, {})
    refused = _one_line(run_cli("run", "--resume", run_id, "--store", str(path), "--force").err)
    assert f"run {run_id} is still running (process {os.getpid()}" in refused and "wait for it or stop it" in refused


def test_force_goes_with_resume_only(run_cli):
    refused = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--force")
    assert refused.code == 2 and "--force goes with --resume ID only" in refused.err


# ------------------------------------------------------------------ what --resume is given


def test_resume_of_a_store_that_does_not_exist_creates_nothing(tmp_path, run_cli):
    typo = tmp_path / "typo" / "stroe.sqlite"
    refused = run_cli("run", "--resume", "20261205-094019", "--store", str(typo))
    assert refused.code == 2 and f"no results store at {typo} (given by --store)" in _one_line(refused.err)
    assert not (tmp_path / "typo").exists()


def test_an_empty_resume_is_refused_not_ignored(run_cli):
    for extra in ([], ["--model", "nope", "--no-store"]):
        refused = run_cli("run", "--resume", "", *extra)
        assert refused.code == 2 and "--resume: an empty run id" in refused.err, refused.err


def test_resume_into_a_read_only_store_does_not_suggest_no_store(tmp_path, run_cli, monkeypatch):
    import merbench.store as store_module

    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        run_id = store.begin_run(CONFIG, 1, {})
        store.mark_stopped(run_id, "interrupted")
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == path else access(p, mode, **kw))
    monkeypatch.setattr(store_module, "on_read_only_file_system", lambda p: True)
    refused = _one_line(run_cli("run", "--resume", run_id, "--store", str(path)).err)
    assert "lies on a read-only file system" in refused and "--no-store" not in refused
    assert "copy the store to a writable place and give the copy with --store PATH" in refused


def test_a_run_stopped_before_its_first_fold_does_not_claim_stored_folds(tmp_path, run_cli, monkeypatch):
    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_with_seeds", stopped)
    path = tmp_path / "r.sqlite"
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", *QUICK, "--store", str(path))
    said = _one_line(result.err)
    assert "Completed folds are stored" not in said
    assert "The run is stored (no fold completed yet); continue with: merbench run --resume" in said


# ------------------------------------------------------------------ reading while another process writes


def test_a_reader_opened_before_a_writer_sees_its_runs_and_no_torn_pages(tmp_path):
    """A store without -wal/-shm files is read as immutable (no lock, nothing created beside it); a writer that
    opens it later and checkpoints into it must not leave the reader with half old, half new pages."""
    path = tmp_path / "r.sqlite"
    big = {**CONFIG, "notes": "x" * 3000}  # runs that fill pages, so that new ones split them
    with ResultStore(path) as store:
        for _ in range(5):
            store.begin_run(big, 1, {})
    reader = ResultStore(path, create=False)
    try:
        assert len(reader.list_runs()) == 5
        writer = subprocess.run([sys.executable, "-c", (
            "import sys, json; from merbench.store import ResultStore\n"
            "with ResultStore(sys.argv[1]) as store:\n"
            "    for _ in range(300):\n"
            "        store.mark_stopped(store.begin_run(json.loads(sys.argv[2]), 1, {}), 'interrupted')\n"),
            str(path), json.dumps(big)], capture_output=True, text=True, timeout=300)
        assert writer.returncode == 0, writer.stderr
        runs = reader.list_runs()
        assert len(runs) == 305
        assert all(reader.run_config(run.id)["notes"] == big["notes"] for run in runs)
    finally:
        reader.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.sqlite"], "the reader created nothing beside it"


def test_resume_never_writes_its_json_over_a_file_its_stored_options_name(run_cli, tmp_path):
    store, kept = tmp_path / "s.sqlite", tmp_path / "labels.csv"
    kept.write_text("id,subject,label\n")
    made = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--protocol", "loso", "--profile", "quick",
                   "--quiet", "--set", "dataset.subjects=4", "dataset.clips_per_subject=4", "--store", str(store))
    assert made.code == 0, made.err
    run_id = made.err.split("Stored as run ")[1].split()[0]
    with sqlite3.connect(store) as db:  # as a run whose options named a file (a manifest, weights) stopped early
        config = json.loads(db.execute("SELECT config_json FROM runs").fetchone()[0])
        config["options"]["dataset"]["labels_file"] = str(kept)
        db.execute("UPDATE runs SET status = 'interrupted', result_json = NULL, config_json = ?", (json.dumps(config),))
    db.close()
    refused = run_cli("run", "--resume", run_id, "--store", str(store), "--json", str(kept))
    said = " ".join(refused.err.split())
    assert refused.code == 2 and f"dataset.labels_file={kept} of run {run_id}" in said, said
    assert kept.read_text() == "id,subject,label\n"


def test_every_command_stores_the_dataset_folder_as_an_absolute_path(tmp_path, monkeypatch):
    """run, grid, leakage, tune and regress all store RunConfig.to_dict(): a run made with a relative --root and a grid
    cell given the same folder another way name one folder, so --stored reuses the run."""
    from merbench.config import resolve_config
    from merbench.registry import get_registry

    rt.build_casme2(tmp_path / "CASME2")
    monkeypatch.chdir(tmp_path)
    relative = resolve_config(get_registry(), model="ststnet", dataset="casme2", root=Path("CASME2"))
    absolute = resolve_config(get_registry(), model="ststnet", dataset="casme2", root=tmp_path / "x" / ".." / "CASME2")
    assert relative.to_dict()["root"] == absolute.to_dict()["root"] == str(tmp_path / "CASME2")


def test_force_on_a_run_that_is_not_running_says_it_is_not_needed(tmp_path):
    """`--resume ID --force` of an interrupted run went on without a word, as if --force had been taken."""
    import argparse

    from merbench.commands.run import _check_not_running

    with ResultStore(tmp_path / "r.sqlite") as store:
        run_id = store.begin_run({"model": "m", "dataset": "d", "protocol": "loso", "profile": "quick", "seed": 0}, 1, {})
        store.mark_stopped(run_id, "interrupted")
        row = store.run_row(run_id)
    assert _check_not_running(argparse.Namespace(force=True), row) == (
        None, [f"--force is not needed: run {run_id} is interrupted, not running"])
    assert _check_not_running(argparse.Namespace(force=False), row) == (None, [])


def test_a_resumed_runs_folds_are_counted_among_the_runs_folds(interrupted, run_cli, tmp_path):
    """After 1 of 3 folds was stored, the resume trained folds 2 and 3 and called them "Fold 2/2" and "Fold 3/2" (of the 2 left)."""
    store, run_id, data = interrupted
    copy = _copy(store, tmp_path)
    resumed = run_cli("run", "--resume", run_id, "--store", str(copy), "--root", str(data))
    assert resumed.code == 0, resumed.err
    shown = _one_line(resumed.err)
    assert "Fold 2/3 epochs" in shown, shown  # fold 3 may train in the worker process, whose epochs are not shown
    assert "/2 epochs" not in shown
