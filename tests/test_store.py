"""The results store: runs recorded with everything needed to trust them, resume, refusal of foreign files."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from merbench.errors import UsageError
from merbench.result import FoldRecord, PredictionRow
from merbench.store import ResultStore

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "engine.epochs=2"]
RUN = ["run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY]


def run_id_of(err: str) -> str:
    return err.split("Stored as run ")[1].split()[0]


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    """One tiny run recorded in its own store: (store path, run JSON, run stdout)."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("store")
    store, target = folder / "results.sqlite", folder / "run.json"
    assert main([*RUN, "--store", str(store), "--json", str(target)]) == 0
    return store, json.loads(target.read_text())


def test_run_records_config_versions_folds_and_predictions(stored_run):
    store, result = stored_run
    db = sqlite3.connect(store)
    row = db.execute("SELECT id, status, model, seed, config_json, torch_version, python_version, timm_version, device, "
                     "git_commit, preprocess_json, inputs_key FROM runs").fetchone()
    assert row[0] == result["run_id"] and row[1] == "complete" and row[2] == "convmixer" and row[3] == 0
    assert json.loads(row[4]) == result["config"]
    env = result["environment"]
    assert (row[5], row[6], row[7], row[8], row[9]) == (env["torch"], env["python"], env["timm"], env["device"], env["git_commit"])
    assert json.loads(row[10])["chain"] == result["preprocess"]["chain"] and len(row[11]) == 64
    assert result["preprocess"]["inputs_key"] == row[11], "the result JSON names its exact inputs too"
    folds = db.execute("SELECT fold, record_json, seconds FROM folds ORDER BY fold").fetchall()
    assert [json.loads(f[1]) for f in folds] == result["folds"]
    assert all(f[2] > 0 for f in folds)
    predictions = db.execute("SELECT sample_id, fold, label, prediction FROM predictions ORDER BY sample_id").fetchall()
    expected = sorted((p["id"], p["fold"], p["label"], p["prediction"]) for p in result["predictions"])
    assert predictions == expected and len(predictions) == result["n_samples"]
    pooled = dict(db.execute("SELECT metric, value FROM metrics WHERE scope = 'pooled'").fetchall())
    assert pooled == pytest.approx(result["pooled"])
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_show_prints_the_runs_tables_and_writes_the_same_json(stored_run, run_cli, tmp_path):
    store, result = stored_run
    copy = tmp_path / "shown.json"
    shown = run_cli("show", result["run_id"][:17], "--store", str(store), "--json", str(copy))
    assert shown.code == 0, shown.err
    assert json.loads(copy.read_text()) == result
    for fold in result["folds"]:
        assert ", ".join(fold["test_subjects"]) in shown.out  # every test subject, whole
    assert f"{100 * result['pooled']['uf1']:.1f}" in shown.out and "Confusion matrix" in shown.out
    listed = run_cli("runs", "--store", str(store))
    assert listed.code == 0 and result["run_id"] in listed.out and "complete" in listed.out


def test_unknown_or_ambiguous_run_id_is_a_clear_error(stored_run, run_cli):
    store, _ = stored_run
    missing = run_cli("show", "nope", "--store", str(store))
    assert missing.code == 2 and "no run 'nope'" in missing.err and "merbench runs" in missing.err


def test_resume_after_a_killed_run_gives_identical_metrics(stored_run, run_cli, tmp_path):
    _, reference = stored_run
    store = tmp_path / "resume.sqlite"
    env = {**os.environ, "MERBENCH_STORE": str(store)}
    killed = subprocess.run([sys.executable, str(Path(__file__).parent / "stop_after_folds.py"), "1", *RUN], env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == 99, killed.stderr  # died right after committing fold 1 of 3
    with ResultStore(store) as opened:
        [summary] = opened.list_runs()
        assert summary.status == "interrupted" and summary.folds_done == 1
        first_fold = opened.stored_folds(summary.id, 0)[0].record
    interrupted = run_cli("runs", "--store", str(store), "--status", "interrupted")
    assert summary.id in interrupted.out
    shown = run_cli("show", summary.id, "--store", str(store))  # a run on its way is shown, not an error
    assert shown.code == 0 and f"Note: run {summary.id} is interrupted (1 fold done)" in " ".join(shown.out.split())
    assert "--resume" in shown.out and "merbench: error" not in shown.err
    as_json = run_cli("show", summary.id, "--store", str(store), "--json", str(tmp_path / "r.json"))
    assert as_json.code == 2 and not (tmp_path / "r.json").exists()  # no result to write: that is an error
    assert f"Run {summary.id} (interrupted)" in shown.out and "finished folds so far" in shown.out
    fold_row = next(line.split() for line in shown.out.splitlines() if line.split()[:1] == ["1"])
    assert fold_row[1] == str(first_fold.n_test) and fold_row[7] == f"{100 * first_fold.metrics['uf1']:.1f}"
    assert not any(line.split()[:1] in (["pooled"], ["mean"]) for line in shown.out.splitlines())
    running = tmp_path / "running.sqlite"
    running.write_bytes(store.read_bytes())
    with sqlite3.connect(running) as db:  # as while its process still trains (this test's process is alive)
        db.execute("UPDATE runs SET status = 'running', pid = ?", (os.getpid(),))
    db.close()
    busy = " ".join(run_cli("show", summary.id, "--store", str(running)).out.split())
    assert f"is still running (process {os.getpid()}" in busy and "1 fold done so far" in busy
    assert "--resume" not in busy, "a running run cannot be resumed: the advice is to wait"

    with sqlite3.connect(store) as db:  # as if torch had been upgraded and the run moved to another CPU kind
        stored_environment = json.loads(db.execute("SELECT environment_json FROM runs").fetchone()[0])
        db.execute("UPDATE runs SET environment_json = ?, torch_version = '0.0.1'",
                   (json.dumps({**stored_environment, "torch": "0.0.1", "machine": "Other CPU, 64 cores, AVX512"}),))
    target = tmp_path / "resumed.json"
    resumed = run_cli("run", "--resume", summary.id, "--store", str(store), "--quiet", "--json", str(target))
    assert resumed.code == 0, resumed.err
    assert "1 completed fold reused" in resumed.err
    result = json.loads(target.read_text())
    mixed = [w for w in result["warnings"] if w.startswith("resumed under other software and on another machine")]
    assert mixed and f"torch 0.0.1 → {result['environment']['torch']}" in mixed[0], result["warnings"]
    assert f"machine Other CPU, 64 cores, AVX512 → {result['environment']['machine']}" in mixed[0]
    assert "resumed under other software" in " ".join(resumed.err.split()), "--quiet keeps warnings"
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT torch_version FROM runs").fetchone()[0] == result["environment"]["torch"]
    assert result["folds"][0] == first_fold.to_dict()  # reused, not retrained (same recorded training time)
    assert result["seconds"]["earlier_folds"] == 1, "the Time counts this process; the result says what it leaves out"
    assert result["seconds"]["earlier_train"] == pytest.approx(first_fold.seconds, abs=1e-3)
    said = " ".join(run_cli("show", summary.id, "--store", str(store)).out.split())
    earlier = result["seconds"]["earlier_train"]  # within 1e-3 of the fold's seconds: formatted from the same number
    assert f"not counted: 1 fold trained before the run was resumed ({earlier:.1f} s of training, its own)" in said
    unresumed = run_cli("show", reference["run_id"], "--store", str(stored_run[0])).out
    assert "earlier_folds" not in reference["seconds"] and "not counted" not in unresumed
    for key in ("pooled", "fold_mean", "fold_std", "confusion_matrix", "predictions", "config"):
        assert result[key] == reference[key], key
    assert [f["metrics"] for f in result["folds"]] == [f["metrics"] for f in reference["folds"]]
    again = run_cli("run", "--resume", summary.id, "--store", str(store))
    assert again.code == 2 and "complete" in again.err


def test_resume_takes_the_stored_configuration_only(stored_run, run_cli):
    store, result = stored_run
    conflict = run_cli("run", "--resume", result["run_id"], "--store", str(store), "--model", "convmixer", "--epochs", "3")
    assert conflict.code == 2 and "--model" in conflict.err and "--epochs" in conflict.err
    profile = run_cli("run", "--resume", result["run_id"], "--store", str(store), "--profile", "default")
    assert profile.code == 2 and "drop --profile" in profile.err, "an explicit --profile, even 'default', is refused"
    said = " ".join(profile.err.split())
    assert "(only --root, --device and --executor, which belong to this machine, may be given)" in said
    helped = " ".join(run_cli("run", "--help").out.split())
    assert "give no other run options but --root, --device and --executor, which belong to this machine" in helped


@pytest.mark.parametrize("config", ['{"model": "convmixer"}', '[1, 2]', '{not json'], ids=["partial", "list", "text"])
def test_resume_of_a_run_whose_stored_configuration_is_damaged_is_one_message(stored_run, run_cli, tmp_path, config):
    copy = tmp_path / "damaged.sqlite"
    copy.write_bytes(stored_run[0].read_bytes())
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE runs SET status = 'interrupted', config_json = ?", (config,))
    db.close()
    result = run_cli("run", "--resume", stored_run[1]["run_id"], "--store", str(copy))
    said = " ".join(result.err.split())
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert f"configuration of run {stored_run[1]['run_id']} in {copy}" in said and "changed outside merbench" in said


def test_show_flags_a_leaky_run_that_has_not_finished(stored_run, run_cli, tmp_path):
    """`runs` marked it, but `show` printed the finished folds' inflated scores with no warning."""
    copy = tmp_path / "leaky.sqlite"
    copy.write_bytes(stored_run[0].read_bytes())
    config = {**stored_run[1]["config"], "protocol": "sample-10fold"}
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE runs SET status = 'interrupted', result_json = NULL, config_json = ?", (json.dumps(config),))
    db.close()
    shown = run_cli("show", stored_run[1]["run_id"], "--store", str(copy))
    said = " ".join(shown.out.split())
    assert shown.code == 0 and "finished folds so far" in said, shown.err
    assert "⚠ This run leaks (subjects):" in said and "inflated" in said, said
    honest = tmp_path / "honest.sqlite"  # the same unfinished run under its own, subject-independent protocol
    honest.write_bytes(stored_run[0].read_bytes())
    with sqlite3.connect(honest) as db:
        db.execute("UPDATE runs SET status = 'interrupted', result_json = NULL")
    db.close()
    unflagged = run_cli("show", stored_run[1]["run_id"], "--store", str(honest))
    assert "finished folds so far" in unflagged.out and "This run leaks" not in unflagged.out


GARBAGE = b"this is a results file? no: just text\n" * 40


def damaged_copy(store: Path, path: Path) -> Path:
    """A copy of ``store`` at ``path`` with a byte of every 7 changed past its first page: damaged page by page."""
    damaged = bytearray(store.read_bytes())
    for offset in range(4096, len(damaged), 7):
        damaged[offset] = 0xAB
    path.write_bytes(bytes(damaged))
    return path


def test_a_store_damaged_page_by_page_is_one_line_with_a_count_of_the_rest(stored_run, run_cli, tmp_path):
    """SQLite's integrity check lists every damaged page: 100 lines once came before the advice on what to do."""
    path = damaged_copy(stored_run[0], tmp_path / "damaged.sqlite")
    result = run_cli("runs", "--store", str(path))
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert re.search(r"is damaged \(SQLite integrity check: Page .*\(and (at least )?\d+ more\)\)\. merbench will "
                     r"not overwrite it", result.err), result.err


def _foreign_sqlite(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    db.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    db.commit()
    db.close()


@pytest.mark.parametrize("kind", ["text", "damaged-sqlite", "foreign-sqlite"])
def test_corrupt_or_foreign_store_is_refused_and_left_untouched(kind, run_cli, tmp_path):
    path = tmp_path / "results.sqlite"
    if kind == "text":
        path.write_bytes(GARBAGE)
    elif kind == "damaged-sqlite":
        path.write_bytes(b"SQLite format 3\x00" + GARBAGE)
    else:
        _foreign_sqlite(path)
    before = path.read_bytes()
    for args in (("runs",), RUN):
        result = run_cli(*args, "--store", str(path))
        assert result.code == 2, result.err
        message = " ".join(result.err.split())
        assert str(path) in message and "will not overwrite" in message
        assert "Traceback" not in result.err
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite"]
    with pytest.raises(UsageError):
        ResultStore(path)


def test_two_writers_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite"
    config = {"model": "m", "dataset": "d", "protocol": "p", "profile": "quick", "seed": 0}
    errors = []

    def writer(name: str) -> None:
        try:
            with ResultStore(path) as store:
                run_id = store.begin_run(config, 1, {"device": "cpu"}, run_id=name)
                for fold in range(25):
                    record = FoldRecord(fold=fold, test_subjects=["1"], n_train=1, n_test=1, subject_overlap=[],
                                        final_train_loss=0.0, seconds=0.1, metrics={"uf1": fold / 25})
                    row = PredictionRow(id=f"s{fold}", subject="1", domain=None, fold=fold, label=0, prediction=1)
                    store.add_fold(run_id, 0, record, [f"s{fold}"], [1], [row])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"run-{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    db = sqlite3.connect(path)
    assert db.execute("SELECT run_id, COUNT(*) FROM folds GROUP BY run_id ORDER BY run_id").fetchall() == [
        ("run-0", 25), ("run-1", 25), ("run-2", 25)
    ]
    assert db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 75
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_recorded_git_commit_says_when_tracked_files_were_changed(tmp_path, monkeypatch):
    import shutil
    import subprocess

    import merbench
    from merbench import environment
    from merbench.environment import git_commit

    if shutil.which("git") is None:
        pytest.skip("needs git")
    package = tmp_path / "checkout" / "merbench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    git = ["git", "-C", str(package.parent), "-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "one"]):
        subprocess.run(git + command, check=True, capture_output=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    monkeypatch.setattr(merbench, "__file__", str(package / "__init__.py"))

    def read_afresh() -> str | None:  # as a new process reads it (each process reads it once)
        environment._commit_of.cache_clear()
        return git_commit()

    assert read_afresh() == head
    (package.parent / "notes.txt").write_text("untracked files do not count\n")
    assert read_afresh() == head
    (package / "__init__.py").write_text("x = 2\n")
    assert git_commit() == head, "edits made while a process runs are not the code it runs"
    first_edit = read_afresh()
    assert first_edit.startswith(f"{head}-dirty.") and len(first_edit) == len(head) + len("-dirty.") + 12
    assert read_afresh() == first_edit, "the same edits, the same mark"
    (package / "__init__.py").write_text("x = 3\n")  # other uncommitted code: before, both read '-dirty'
    assert read_afresh().startswith(f"{head}-dirty.") and git_commit() != first_edit
    (package / "__init__.py").write_text("x = 2\n")
    assert read_afresh() == first_edit
    environment._commit_of.cache_clear()


def test_a_resumed_run_of_several_seeds_counts_every_seeds_earlier_folds(run_cli, tmp_path):
    """It said "Resumed: 4 completed folds" and then "not counted: 3 folds", the first seed's alone."""
    store = tmp_path / "resume.sqlite"
    env = {**os.environ, "MERBENCH_STORE": str(store)}
    killed = subprocess.run([sys.executable, str(Path(__file__).parent / "stop_after_folds.py"), "4", *RUN,
                             "--seeds", "2"], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 99, killed.stderr  # the first seed's folds and one of the second's are stored
    with ResultStore(store) as opened:
        [summary] = opened.list_runs()
    target = tmp_path / "resumed.json"
    resumed = run_cli("run", "--resume", summary.id, "--store", str(store), "--quiet", "--json", str(target))
    assert resumed.code == 0, resumed.err
    seconds = json.loads(target.read_text())["seconds"]
    assert seconds["earlier_folds"] == 4
    said = " ".join(run_cli("show", summary.id, "--store", str(store)).out.split())
    assert "not counted: 4 folds trained before the run was resumed" in said
    assert "s of training, summed over them: folds trained side by side count each)" in said


def test_a_large_store_is_not_read_whole_when_opened_and_a_damaged_page_read_is_still_refused(stored_run, run_cli,
                                                                                             tmp_path, monkeypatch):
    """A year's store (2.7 GB) was read page by page by `PRAGMA quick_check` at every open: `show` of one run took
    23 s from disk. Above the size limit SQLite checks the pages a command reads, and refuses a damaged one."""
    import merbench.store as store_module

    monkeypatch.setattr(store_module, "WHOLE_CHECK_MAX_BYTES", 0, raising=False)
    statements: list[str] = []
    real_connect = sqlite3.connect

    def traced(*args, **kwargs):
        connection = real_connect(*args, **kwargs)
        connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(sqlite3, "connect", traced)
    shown = run_cli("show", stored_run[1]["run_id"], "--store", str(stored_run[0]))
    assert shown.code == 0, shown.err
    assert statements and not any("quick_check" in statement for statement in statements)
    statements.clear()
    listed = run_cli("runs", "--store", str(stored_run[0]), "--limit", "1")  # reads no run's whole result to list it
    assert listed.code == 0 and stored_run[1]["run_id"] in listed.out
    listing = [statement for statement in statements if "FROM runs" in statement and "ORDER BY" in statement]
    assert listing and not any("r.*" in statement or "result_json," in statement for statement in listing)
    path = damaged_copy(stored_run[0], tmp_path / "damaged.sqlite")
    refused = run_cli("runs", "--store", str(path))
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert f"results store {path}" in refused.err and "Traceback" not in refused.err
