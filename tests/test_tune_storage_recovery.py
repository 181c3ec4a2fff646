"""A tune killed (kill -9, a power loss) while its trials storage was being written leaves SQLite's rollback
journal beside it; the next tune rolls that write back and goes on with the trials committed before, where it once
refused the storage for good ("attempt to write a readonly database; check ... permissions")."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

pytest.importorskip("optuna")

from merbench.errors import UsageError  # noqa: E402
from merbench.tuning_storage import check_storage  # noqa: E402

CUT_SHORT = """
import os, signal, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute('PRAGMA cache_size=1')
db.execute('BEGIN')
db.execute('CREATE TABLE half_written (x BLOB)')
for _ in range(200):
    db.execute('INSERT INTO half_written VALUES (zeroblob(10000))')
os.kill(os.getpid(), signal.SIGKILL)
"""


def cut_a_write_short(path):
    """Leave ``path`` as a process killed in the middle of a write transaction leaves it: a hot rollback journal."""
    subprocess.run([sys.executable, "-c", CUT_SHORT, str(path)], check=False)
    assert (path.parent / f"{path.name}-journal").is_file()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # what a read-only look at it says
        sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True).execute("SELECT * FROM sqlite_master")


def test_a_tune_killed_mid_write_goes_on_with_its_committed_trials(run_cli, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("engine.lr: {type: float, low: 0.001, high: 0.01}\n")
    storage = tmp_path / "trials.sqlite"
    command = ["tune", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
               "--trials", "2", "--space", str(space), "--storage", str(storage)]
    first = run_cli(*command, "--json", str(tmp_path / "first.json"))
    assert first.code == 0, first.err
    cut_a_write_short(storage)
    again = run_cli(*command, "--resume", "--json", str(tmp_path / "again.json"))
    assert again.code == 0, again.err
    assert not (tmp_path / "trials.sqlite-journal").exists()
    with sqlite3.connect(storage) as db:  # the cut-short write is rolled back, the trials are kept
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half_written" not in tables and "studies" in tables
    outer = [json.loads((tmp_path / name).read_text())["pooled"] for name in ("first.json", "again.json")]
    assert outer[0] == outer[1]


def test_a_read_only_storage_with_a_journal_is_still_a_permissions_message(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write a read-only file")
    storage = tmp_path / "trials.sqlite"
    with sqlite3.connect(storage) as db:
        db.execute("CREATE TABLE studies (id INTEGER)")
    cut_a_write_short(storage)
    storage.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(UsageError, match="permissions"):
            check_storage(storage, given=True)
    finally:
        tmp_path.chmod(0o755)
