"""The results store: every run, its folds and per-sample predictions in one SQLite file.

The store lives in ``--store PATH``, else ``$MERBENCH_STORE``, else
``results.sqlite`` in the user data directory (``platformdirs``). It uses WAL
journaling and a busy timeout, every write is one transaction and every
statement is parameterised, so two runs may write at once.

A run row is written when a run starts (status ``running``); each fold is
written as soon as it completes, so a run that is interrupted (Ctrl-C, a killed
process) keeps its finished folds and ``merbench run --resume RUN_ID`` trains
only the rest. The full result is written when the run finishes.

The file carries merbench's SQLite ``application_id`` and a schema version
(``user_version``). A file that is not SQLite, is damaged, or belongs to
another program is refused with a ``UsageError`` and never modified (no
``-wal``/``-shm`` files appear beside it either).

Commands that only read open the file read-only and create nothing beside it,
so a store in a read-only folder (shared, archived) can be read; an empty file
reads as a store with no runs and stays empty.

A resumed run is claimed in one transaction, so two ``--resume`` of one run
cannot both train it. A full disk stops a run with one message naming the full
file system and the ``--resume`` command that continues it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import sys
import time
from collections import Counter
from contextlib import contextmanager, suppress
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import platformdirs

from merbench.errors import DataError, RunFailed, UsageError
from merbench.result import WHOLE_ONLY_KEYS, FoldRecord, PredictionRow, RunResult, SeedScores, document_kind
from merbench.wording import counted, plural, some_of
from merbench.workers import pid_namespace, process_gone, process_started

APPLICATION_ID = 0x4D455242  # "MERB"
SCHEMA_VERSION = 1
SQLITE_HEADER = b"SQLite format 3\x00"


def is_sqlite_file(path: Path | str) -> bool:
    """Whether the file at ``path`` starts with SQLite's header (a results store, or another SQLite database);
    ``False`` for a file that cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


SQLITE_FULL = getattr(sqlite3, "SQLITE_FULL", 13)
"""SQLite's result code for a full disk (``sqlite3`` names it from Python 3.11; 3.10 has only the number)."""
BUSY_TIMEOUT_MS = 30_000
READABLE_RESULT = "CASE WHEN json_valid(result_json) THEN json_type(result_json) = 'object' ELSE 0 END"
"""SQL that is true where SQLite reads a run's result as a JSON object (not where it is damaged, or holds NaN,
which only Python's reader takes): the runs whose fields SQLite's JSON functions may pick out."""
RESULTS_READ_AT_ONCE = 200
"""How many stored results ``complete_results`` fetches per query: never more of their texts in memory at once (a
year's store holds 20,000 results of about 33 KB each). A complete run's result is written once, so reading them in
parts reads each as it was written."""

SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    dataset TEXT NOT NULL,
    protocol TEXT NOT NULL,
    profile TEXT NOT NULL,
    seed INTEGER NOT NULL,
    n_seeds INTEGER NOT NULL,
    device TEXT,
    git_commit TEXT,
    merbench_version TEXT,
    torch_version TEXT,
    timm_version TEXT,
    python_version TEXT,
    host TEXT,
    pid INTEGER,
    config_json TEXT NOT NULL,
    preprocess_json TEXT,
    inputs_key TEXT,
    environment_json TEXT,
    result_json TEXT,
    seconds REAL,
    error TEXT
);
CREATE TABLE folds (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seed INTEGER NOT NULL,
    fold INTEGER NOT NULL,
    test_ids_json TEXT NOT NULL,
    predictions_json TEXT NOT NULL,
    record_json TEXT NOT NULL,
    seconds REAL,
    created TEXT NOT NULL,
    PRIMARY KEY (run_id, seed, fold)
);
CREATE TABLE predictions (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seed INTEGER NOT NULL,
    sample_id TEXT NOT NULL,
    subject TEXT,
    domain TEXT,
    fold INTEGER NOT NULL,
    label INTEGER NOT NULL,
    prediction INTEGER NOT NULL,
    PRIMARY KEY (run_id, seed, fold, sample_id)
);
CREATE TABLE metrics (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seed INTEGER NOT NULL,
    scope TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, seed, scope, metric)
);
CREATE INDEX runs_by_cell ON runs (model, dataset, protocol, status);
"""

ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, created);
"""
"""Indexes added after stores were made without them (no new schema version: an earlier merbench reads and writes a
store that has them). Each writing open creates those a store lacks; a reading one creates nothing and reads as
fast as before. ``runs_by_created``: `merbench runs` and the other listings in the order the runs started walk it
newest first (``created``, then ``rowid``, as an index orders its rows) instead of sorting every run.
``runs_by_status``: the same for the runs of one status (`merbench runs --status`, `merbench delete --status`),
which ``runs_by_cell`` holds last and so finds only by reading a page of every run."""

FINISH_ORDER = "COALESCE(finished, created), created, rowid"
"""SQL ordering runs by when they finished, the first first (a run continued with ``--resume`` keeps the id and start
time of its first try but finishes after the runs started meanwhile); a run without a finish time (unfinished) by
its start, and runs that finished in the same second by their start."""

STORE_TABLES = tuple(re.findall(r"CREATE TABLE (\w+)", SCHEMA))
"""The tables every store of this schema holds (``runs``, ``folds``, ``predictions``, ``metrics``)."""


def default_store_path() -> Path:
    """``$MERBENCH_STORE`` or ``results.sqlite`` in the user data directory."""
    configured = os.environ.get("MERBENCH_STORE")
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("merbench")) / "results.sqlite"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


RUN_ID_LIKE = re.compile(r"\d{8}(-\d{1,6}(-[0-9a-f]{0,6})?)?")
"""A stored run's id (``20261204-225151-cc205b``) or a prefix of one, as a user may give it."""


def new_run_id() -> str:
    """A new run id: UTC time plus 6 random hex digits, e.g. ``20250611-142233-3fa2c1``."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a result")


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another connection holds the store (past the busy timeout)."""
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def _refuse_unreadable(path: Path, what: str, exc: sqlite3.DatabaseError) -> UsageError:
    """``_refuse`` for an SQLite error, unless the store is only locked by another process: then a busy store, not a
    damaged one, and the advice is to wait, never to move it away."""
    if is_locked(exc):
        return UsageError(f"results store {path}: locked by another process for more than {BUSY_TIMEOUT_MS // 1000} s "
                          f"({exc}); the store is not damaged: run the command again when the other merbench command "
                          "(or program) holding it has finished")
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    if wal.exists() and not shm.exists() and on_read_only_file_system(path.parent):
        return UsageError(f"results store {path}: {what} ({exc}): its write-ahead log {wal.name} lies beside it "
                          f"without {shm.name}, which SQLite must create to read the log, on a read-only file system "
                          "(an archive or backup that left the -shm file out); the store is not damaged: copy it with "
                          f"its {wal.name} to a writable folder and give the copy with --store PATH")
    return _refuse(path, f"{what} ({exc})")


def _refuse(path: Path, what: str) -> UsageError:
    return UsageError(
        f"results store {path}: {what}. merbench will not overwrite it; move the file away or choose another store "
        "with --store PATH or MERBENCH_STORE"
    )


def nearest_existing_parent(path: Path) -> Path | None:
    """The nearest of ``path``'s parents that exists (a folder, or a file in the way of the folders below it);
    ``OSError`` when one cannot be reached (permissions)."""
    for folder in path.absolute().parents:
        try:
            folder.stat()
        except (FileNotFoundError, NotADirectoryError):  # the latter: a file further up is in the way
            continue
        return folder
    return None


def _check_parent(path: Path) -> None:
    """Refuse a store path under a file, or under a folder that cannot be created (raises ``UsageError``)."""
    try:
        folder = nearest_existing_parent(path)
    except OSError as exc:
        raise UsageError(f"results store {path}: cannot reach its folder ({exc.strerror}); "
                         "choose another store with --store PATH or MERBENCH_STORE") from None
    if folder is not None and not folder.is_dir():
        raise UsageError(f"results store {path}: {folder} is a file, not a folder; give a path inside a folder, "
                         f"such as --store {folder.parent / 'results.sqlite'}")


def _stamp(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_ino, info.st_size, info.st_mtime_ns


QUICK_CHECK_LIMIT = 100
"""The number of findings after which ``PRAGMA quick_check`` stops (SQLite's default)."""


WHOLE_CHECK_MAX_BYTES = 256 * 2**20
"""The largest store whose every page ``PRAGMA quick_check`` reads when it is opened (about 0.2 s). A larger one (a
year's runs: 2.7 GB took 23 s from disk, for every command) is checked by SQLite page by page as a command reads it:
a damaged page a command meets is still refused with the store's name (``_refuse_unreadable``)."""


def _read_facts(path: Path, query: str) -> tuple[int, int, set[str], str]:
    """``application_id``, ``user_version``, table names and ``quick_check`` of an SQLite file, read-only (``ok``
    unchecked for a file over ``WHOLE_CHECK_MAX_BYTES``)."""
    probe = sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        app_id = probe.execute("PRAGMA application_id").fetchone()[0]
        version = probe.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        integrity = "ok" if path.stat().st_size > WHOLE_CHECK_MAX_BYTES else \
            "\n".join(str(row[0]) for row in probe.execute("PRAGMA quick_check").fetchall())
    finally:
        probe.close()
    return app_id, version, tables, integrity


def integrity_findings(report: str, shown: int = 3) -> str:
    """SQLite's integrity report on one line: its first ``shown`` findings (the ``*** in database main ***``
    heading left out) and how many more; the check stops at 100 findings, so a full report counts "at least"."""
    findings = [line.strip() for line in str(report).splitlines() if line.strip() and not line.startswith("***")]
    text = some_of(findings, shown, "; ")
    return text.replace(" (and ", " (and at least ", 1) if len(findings) >= QUICK_CHECK_LIMIT else text


def _has_wal_files(path: Path) -> bool:
    """Whether a ``-wal`` or ``-shm`` file lies beside ``path`` (a connection has it open, or left them)."""
    return any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-shm"))


def _probe(path: Path) -> tuple[int, int, set[str], str]:
    """Read an SQLite file's facts without creating ``-wal``/``-shm`` files beside it.

    A read-only connection to a WAL-mode file creates both when they are
    missing (and a refused file would keep them). Missing, they hold nothing, so
    the file alone is read as ``immutable``; if another process changed the
    file meanwhile, it is using it (the files now exist) and it is read again
    the ordinary way.
    """
    if _has_wal_files(path):
        return _read_facts(path, "mode=ro")
    before = _stamp(path)
    try:
        facts = _read_facts(path, "immutable=1")
    except sqlite3.DatabaseError:
        if _stamp(path) == before:
            raise
        return _read_facts(path, "mode=ro")
    return facts if _stamp(path) == before else _read_facts(path, "mode=ro")


NOT_STORE_SUFFIXES = (".json", ".yaml", ".yml", ".csv", ".md", ".html", ".htm", ".tex", ".latex", ".txt", ".png")
"""Suffixes of the files merbench reads or writes besides its store: an empty one given as the store is a mistake."""


def check_store_file(path: Path) -> None:
    """Refuse a file that is not merbench's store, or a path that cannot hold one, without modifying anything.

    Raises ``UsageError``.
    """
    _check_parent(path)
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            link = f" → {os.readlink(path)}" if os.path.islink(path) else ""
            raise UsageError(f"results store {path}: a symbolic link that leads back to itself (a loop{link}); point "
                             f"it at a file, or give the store's file with --store PATH or MERBENCH_STORE") from None
    if path.is_dir():
        raise UsageError(f"results store {path}: is a folder; give a file name such as {path / 'results.sqlite'}")
    if not path.exists():
        return
    if not path.is_file():
        raise UsageError(f"results store {path}: is not a regular file (a device, FIFO or socket), which cannot hold a "
                         "store; give a file name such as results.sqlite with --store PATH or MERBENCH_STORE")
    if path.stat().st_size == 0:
        if path.suffix.lower() in NOT_STORE_SUFFIXES:  # an empty file to write an output into, named by mistake
            raise UsageError(f"results store {path}: an empty {path.suffix} file, not a results store (SQLite), "
                             "which merbench would turn it into; give the store's file, e.g. --store results.sqlite")
        return
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise _refuse(path, "is not an SQLite database (damaged, or some other file)")
    try:
        app_id, version, tables, integrity = _probe(path)
    except sqlite3.DatabaseError as exc:
        raise _refuse_unreadable(path, "cannot be read as SQLite", exc) from None
    if app_id != APPLICATION_ID:
        if tables or app_id:
            raise _refuse(path, "is an SQLite database of another program (not a merbench results store)")
        return  # an empty SQLite file: ours to initialise
    if integrity != "ok":
        raise _refuse(path, f"is damaged (SQLite integrity check: {integrity_findings(integrity)})")
    if version > SCHEMA_VERSION:
        raise UsageError(
            f"results store {path}: schema version {version} is newer than this merbench understands ({SCHEMA_VERSION}); "
            "upgrade merbench or use another store"
        )
    if version < SCHEMA_VERSION and tables:
        raise too_old_error(path, version)
    missing = [table for table in STORE_TABLES if table not in tables]
    if missing:  # a write to it would fail only after a run has trained
        raise _refuse(path, f"is damaged (its {', '.join(missing)} {plural(missing, 'table is', 'tables are')} missing)")


def too_old_error(path: Path, version: int) -> UsageError:
    """The one message for a store of an older schema, for reading and writing commands alike: merbench has no
    upgrade for it, so it is left as it is."""
    return UsageError(f"results store {path}: schema version {version} is older than this merbench reads "
                      f"({SCHEMA_VERSION}) and cannot be upgraded; read it with the merbench that wrote it, or choose "
                      "another store with --store PATH or MERBENCH_STORE")


# ------------------------------------------------------------------ a full disk


def on_read_only_file_system(path: Path) -> bool:
    """Whether ``path`` (an existing file or folder) lies on a file system mounted read-only, where neither
    chmod nor another user can make it writable."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says a file system (or the user's quota on it) is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL or "disk is full" in str(exc))


def mount_point(path: Path) -> Path:
    """The mount point of the file system that holds ``path`` (or would hold it)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _fullest(candidates: Sequence[Path]) -> Path:
    """Of the places merbench writes to, the one with the least free space."""
    def free(path: Path) -> int:
        try:
            return shutil.disk_usage(mount_point(path)).free
        except OSError:
            return 2**63
    return min(candidates, key=free)


def disk_full_error(exc: BaseException, candidates: Sequence[Path], run_id: str | None = None,
                    store_option: str = "") -> RunFailed:
    """The one message for a full disk: which file system, what to do, and how to continue the run ``run_id`` where
    it is stored (``store_option``: ``ResultStore.store_option`` of its store).

    ``candidates`` are the places the run writes to (store, cache); the file
    named by ``exc``, when it names one, is used instead.
    """
    named = getattr(exc, "filename", None)
    where = Path(named) if named else _fullest(list(candidates))
    mount = mount_point(where)
    advice = (f"the run is stored: free some space there, then continue it with `merbench run --resume {run_id}"
              f"{store_option}` (completed folds are kept)" if run_id else "free some space there and run again")
    return RunFailed(f"no space left on the file system at {mount} (writing {where}): {advice}. "
                     "MERBENCH_CACHE and --store can put the cache and the results store on another disk")


@dataclass
class StoredFold:
    """A completed fold as stored: its result record and its test predictions (in ``fold.test`` order)."""

    record: FoldRecord
    test_ids: list[str]
    predictions: list[int]


@dataclass
class RunSummary:
    """One row of ``merbench runs``."""

    id: str
    created: str
    status: str
    model: str
    dataset: str
    protocol: str
    profile: str
    seed: int
    n_seeds: int
    device: str | None
    folds_done: int
    """The folds stored, of every seed."""
    pooled: dict[str, float] | None
    seconds: float | None
    folds_per_seed: int | None = None
    """The folds of one seed, as ``merbench show`` counts a run's folds: a complete run's, or an unfinished run's
    once its first seed has finished (a later seed has folds: seeds run one after another); ``None`` until then."""


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch ``db`` to write-ahead logging, waiting (up to the busy timeout) while another connection switches it.

    SQLite answers "database is locked" at once, without its busy handler, when
    two connections change the journal mode of a new file at the same moment.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_locked(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def missing_store_error(path: Path, given: bool) -> UsageError:
    """The one message for a results store that a reading command finds missing (``given``: by --store)."""
    origin = "given by --store" if given else "from MERBENCH_STORE"
    return UsageError(f"no results store at {path} ({origin}); nothing was recorded there yet: run `merbench run` "
                      "first to record runs in it, or check the path given with --store PATH or MERBENCH_STORE")


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (``BEGIN IMMEDIATE``) on ``db``: committed on success, rolled back on error.

    The error that ended the transaction is the one raised: SQLite may have rolled back already (a full disk
    does), and a failing ``ROLLBACK`` must not hide the cause a caller decides on (``is_disk_full``)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


def _initialise(db: sqlite3.Connection) -> None:
    """Create merbench's tables in a store that has none yet (``user_version`` 0), and the ``ADDED_INDEXES`` it
    lacks, in one transaction."""
    with _transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] == 0:
            _execute_all(db, SCHEMA)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        _execute_all(db, ADDED_INDEXES)


def _execute_all(db: sqlite3.Connection, statements: str) -> None:
    """Each of the SQL ``statements`` (separated by ``;``), in order."""
    for statement in statements.split(";"):
        if statement.strip():
            db.execute(statement)


def _empty_store() -> sqlite3.Connection:
    """A store with no runs, held in memory: what a reading command sees where nothing was recorded yet."""
    db = _reading_rows(sqlite3.connect(":memory:", isolation_level=None))
    _initialise(db)
    return db


def _connect_read_only(path: Path, immutable: bool = True) -> tuple[sqlite3.Connection, tuple[int, int, int] | None]:
    """A read-only connection to a store file that creates no file beside it and works in a read-only folder, and
    the file's ``_stamp`` when it is read as ``immutable`` (else ``None``).

    With ``-wal``/``-shm`` files beside it (a writer has it open, or left
    committed runs in the ``-wal``), or ``immutable=False``, it is read the
    ordinary way (``mode=ro``), which sees those runs and waits for writers.
    Without them every committed run is in the file itself, which is then read
    as ``immutable``: a ``mode=ro`` connection would create both files (and need
    a writable folder to do so). SQLite then takes no lock and never notices a
    writer that opens the file later, so ``ResultStore._reading`` checks the
    stamp after each read.
    """
    immutable = immutable and not _has_wal_files(path)
    stamp = _stamp(path) if immutable else None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?{'immutable=1' if immutable else 'mode=ro'}", uri=True,
                         timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    return _reading_rows(db), stamp


IMMUTABLE_READ_TRIES = 3
"""How often a read of a store opened as ``immutable`` is tried again, each time opened anew, when another process
changed the file meanwhile; then the file is opened the ordinary way (``mode=ro``), which waits for its writers."""


class DamagedText(str):
    """A stored text whose bytes are not UTF-8 (damaged on disk; SQLite's integrity check does not read texts),
    decoded with U+FFFD in place of the bad bytes so that a listing can still show its row."""


def _reading_rows(db: sqlite3.Connection) -> sqlite3.Connection:
    """``db``, giving rows by column name (texts through SQLite's own UTF-8 decoder: ``_fetched`` reads a row it
    cannot decode)."""
    db.row_factory = sqlite3.Row
    return db


def _undecodable(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is SQLite's decoder refusing a stored text that is not UTF-8."""
    return isinstance(exc, sqlite3.OperationalError) and "Could not decode to UTF-8" in str(exc)


def _is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (a command-line argument with bytes that are not UTF-8 holds lone
    surrogates, which SQLite cannot take)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fractions(scores: Any) -> bool:
    """Whether a result's ``pooled`` record (``None``: not recorded) holds fractions only: numbers from 0 to 1 (or
    ``null``), as merbench records every score."""
    if scores is None:
        return True
    if not isinstance(scores, dict):
        return False
    return all(value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1)
               for value in scores.values())


def _fetched(db: sqlite3.Connection, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """The rows of ``query``. A stored text that is not UTF-8 stops SQLite's decoder; then the rows are read again
    with every text as its bytes (as ``CAST(... AS BLOB)`` reads it), and a text that is not UTF-8 comes back as a
    ``DamagedText`` (``_loaded`` names it), so that the other rows and columns still read."""
    for value in params:
        if isinstance(value, str) and not _is_utf8(value):
            shown = value.encode("utf-8", "backslashreplace").decode("utf-8")  # only the bad bytes escaped
            raise UsageError(f"'{shown}' is not UTF-8 text (the bytes shown as \\udcNN; typed or pasted in another "
                             "encoding?), while every run id, model, dataset and protocol in the results store is UTF-8 "
                             "text: type it again (`merbench runs` lists the stored runs)")
    try:
        return db.execute(query, params).fetchall()
    except sqlite3.OperationalError as exc:
        if not _undecodable(exc):
            raise
    db.text_factory = bytes
    try:
        cursor = db.execute(query, params)
        rows = cursor.fetchall()
    finally:
        db.text_factory = str
    return [sqlite3.Row(cursor, tuple(_text_of(value) for value in row)) for row in rows]


def _text_of(value: Any) -> Any:
    """A value read with ``text_factory = bytes``: a text again (a ``DamagedText`` when it is not UTF-8)."""
    if not isinstance(value, bytes):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return DamagedText(value.decode("utf-8", "replace"))


class ResultStore:
    """The SQLite results store; open with ``ResultStore(path)`` and use as a context manager.

    ``create=False`` is for commands that only read (``runs``, ``show``,
    ``compare``, ``report``): they create and change nothing. The file is opened
    read-only (also in a read-only folder), and an empty file reads as a store
    with no runs. A store file that does not exist is refused with a
    ``UsageError`` when its path was chosen (``path`` or ``MERBENCH_STORE``:
    likely mistyped); at the default path it reads as a store with no runs yet
    (held in memory, nothing is written to disk).
    """

    def __init__(self, path: Path | None = None, create: bool = True, no_store_option: bool = True,
                 writes: str = "runs cannot be recorded in it"):
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self._read_stamp: tuple[int, int, int] | None = None  # the file's stamp, while it is read as immutable
        self._claimed_from: dict[str, dict[str, Any]] = {}  # run id → its row before claim_run, for unclaim_run
        check_store_file(self.path)
        if create:
            self._db = self._open_for_writing(no_store_option, writes)
            return
        if not self.path.exists() and (path is not None or os.environ.get("MERBENCH_STORE")):
            raise missing_store_error(self.path, given=path is not None)
        self._db = self._open_for_reading()

    def _open_for_writing(self, no_store_option: bool = True, writes: str = "runs cannot be recorded in it"
                          ) -> sqlite3.Connection:
        """The store file, created (with its folder) and initialised when missing, in WAL mode; ``no_store_option``:
        whether the command could run with ``--no-store`` instead (a ``--resume`` cannot); ``writes``: what a
        read-only store keeps the command from doing, in its refusal."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full_error(exc, [self.path]) from None
            raise UsageError(f"results store {self.path}: cannot create its folder {self.path.parent} ({exc.strerror}); "
                             "choose another store with --store PATH or MERBENCH_STORE") from None
        if self.path.exists() and not os.access(self.path, os.W_OK):  # SQLite would fail at the first write
            copy = "copy the store to a writable place and give the copy with --store PATH"  # a --resume's way out
            elsewhere = ("choose a store elsewhere with --store PATH or MERBENCH_STORE, or run with --no-store"
                         if no_store_option else copy)
            if on_read_only_file_system(self.path):
                raise UsageError(f"results store {self.path}: it lies on a read-only file system, so {writes}; "
                                 f"{elsewhere} (reading commands such as `merbench runs` can read it as it is)")
            writable = ("choose another store with --store PATH or MERBENCH_STORE, or run with --no-store"
                        if no_store_option else f"or {copy}")
            raise UsageError(f"results store {self.path}: the file is read-only, so {writes}; make it writable "
                             f"(chmod u+w {self.path}), {writable} (reading commands such as `merbench runs` can read "
                             "it as it is)")
        db = None
        try:
            db = _reading_rows(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None))
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _use_wal(db)
            db.execute("PRAGMA foreign_keys = ON")
            _initialise(db)
            return db
        except sqlite3.DatabaseError as exc:
            if db is not None:  # a connection left open would keep -wal/-shm files beside a refused store
                db.close()
            if is_disk_full(exc):
                raise disk_full_error(exc, [self.path]) from None
            if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
                raise UsageError(f"results store {self.path}: cannot be opened for writing ({exc}); check that its "
                                 "folder is writable, or choose another store with --store PATH or MERBENCH_STORE") from None
            raise _refuse_unreadable(self.path, "could not be opened", exc) from None

    def _open_for_reading(self) -> sqlite3.Connection:
        """The store file opened read-only, changing nothing on disk; an empty store in memory when none is there yet.

        A missing or empty file (0 bytes, or SQLite without tables) holds no
        runs yet; it is left as it is.
        """
        if not self.path.exists() or self.path.stat().st_size == 0:
            return _empty_store()
        try:
            self._db, self._read_stamp = _connect_read_only(self.path)
        except sqlite3.DatabaseError as exc:
            raise _refuse_unreadable(self.path, "cannot be read", exc) from None
        version, tables = self._reading(lambda db: (
            db.execute("PRAGMA user_version").fetchone()[0],
            {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}))
        if version == SCHEMA_VERSION:
            return self._db
        self._db.close()
        self._read_stamp = None
        if not tables:
            return _empty_store()
        raise too_old_error(self.path, version)

    def _changed(self) -> bool:
        """Whether another process opened or changed the file since it was opened as ``immutable``."""
        try:
            return _has_wal_files(self.path) or _stamp(self.path) != self._read_stamp
        except OSError:  # moved or deleted meanwhile: opening it again says so
            return True

    def _reading(self, read: Callable[[sqlite3.Connection], Any]) -> Any:
        """``read(connection)``, never torn by another merbench process writing the store meanwhile; an SQLite error
        is a ``UsageError`` naming the store.

        A file opened as ``immutable`` is read without locks: a writer that
        opens it afterwards and checkpoints (its commits go into the file
        itself) would leave this connection reading half old, half new pages,
        as "database disk image is malformed" or a torn text. So a read counts
        only when the file is unchanged after it; otherwise the file is opened
        again (``IMMUTABLE_READ_TRIES`` times, then the ordinary way, waiting
        for the writers) and read again.
        """
        try:
            for attempt in range(IMMUTABLE_READ_TRIES + 1):
                if self._read_stamp is None:
                    return read(self._db)
                if not self._changed():
                    try:
                        value = read(self._db)
                    except sqlite3.DatabaseError:
                        if not self._changed():
                            raise
                    else:
                        if not self._changed():
                            return value
                self._db.close()
                self._db, self._read_stamp = _connect_read_only(self.path, immutable=attempt < IMMUTABLE_READ_TRIES)
            return read(self._db)
        except sqlite3.DatabaseError as exc:
            raise _refuse_unreadable(self.path, "cannot be read", exc) from None
        except OSError as exc:  # opened again: the file was moved or deleted meanwhile
            raise UsageError(f"results store {self.path}: {exc.strerror or exc} while it was being read (moved or "
                             "deleted meanwhile?); run the command again, with --store PATH where it lies now") from None

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """``_fetched`` through ``_reading``."""
        return self._reading(lambda db: _fetched(db, query, params))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        with _transaction(self._db) as db:
            yield db

    # ------------------------------------------------------------------ writing

    def begin_run(self, config: dict[str, Any], n_seeds: int, environment: dict[str, Any], run_id: str | None = None) -> str:
        """Record a run that starts now (status ``running``) and return its id."""
        run_id = run_id or new_run_id()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (id, created, status, model, dataset, protocol, profile, seed, n_seeds, device, git_commit, "
                "merbench_version, torch_version, timm_version, python_version, host, pid, config_json, environment_json) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id, _now(), config["model"], config["dataset"], config["protocol"], config["profile"],
                    int(config["seed"]), int(n_seeds), environment.get("device"), environment.get("git_commit"),
                    environment.get("merbench"), environment.get("torch"), environment.get("timm"),
                    environment.get("python"), socket.gethostname(), os.getpid(), _json(config),
                    _json(_with_holder(environment)),
                ),
            )
        return run_id

    def claim_run(self, run_id: str, environment: dict[str, Any],
                  recorded: Callable[[dict[str, Any], list[tuple[int, int]]], dict[str, Any]] | None = None
                  ) -> dict[str, Any]:
        """Mark a stored run as running again in this process (for ``--resume``), atomically; returns the
        environment it was recorded with before. ``environment`` replaces it, versions included, or, with
        ``recorded``, ``recorded(the environment before, the (seed, fold) of each stored fold)``: what of the earlier
        one the run keeps is recorded in the same transaction as the claim.

        Raises ``UsageError`` when the run is complete or another live process
        holds it (two ``--resume`` of one run at once: the second one loses).
        """
        with self.transaction() as db:  # BEGIN IMMEDIATE: one claim at a time
            row = db.execute(f"SELECT {', '.join(CLAIMED_COLUMNS)} FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise UsageError(f"no run '{run_id}' in the results store {self.path}; see `merbench runs`")
            if row["status"] == "complete":
                raise UsageError(f"run {run_id} is complete; nothing to resume (see `merbench show {run_id}`)")
            holder = row["pid"]
            if row["status"] == "running" and holder and not (row["host"] == socket.gethostname()
                                                               and (holder == os.getpid() or holder_gone(row))):
                raise UsageError(f"run {run_id} is being resumed by process {holder} on {row['host']}; wait for it to "
                                 f"finish, or stop that process and run `{self.resume_command(run_id)}` again")
            before = _recorded_environment(row["environment_json"])
            stored = environment if recorded is None else recorded(before, [
                (fold["seed"], fold["fold"]) for fold in db.execute("SELECT seed, fold FROM folds WHERE run_id = ?",
                                                                    (run_id,))])
            claimed = db.execute(
                "UPDATE runs SET status = 'running', pid = ?, host = ?, error = NULL, device = ?, environment_json = ?, "
                "git_commit = ?, merbench_version = ?, torch_version = ?, timm_version = ?, python_version = ? "
                "WHERE id = ? AND status = ? AND pid IS ?",
                (os.getpid(), socket.gethostname(), environment.get("device"), _json(_with_holder(stored)),
                 environment.get("git_commit"), environment.get("merbench"), environment.get("torch"),
                 environment.get("timm"), environment.get("python"), run_id, row["status"], holder),
            ).rowcount
            if claimed != 1:
                raise UsageError(f"run {run_id} changed while it was being claimed; run `{self.resume_command(run_id)}` "
                                 "again")
        self._claimed_from[run_id] = dict(row)
        return before

    def unclaim_run(self, run_id: str) -> bool:
        """Put a run this store claimed (``claim_run``) back as it was before the claim (status, error, holder,
        device, versions and environment), for a resume refused before it stored a fold; ``False`` when there is
        nothing to put back (not claimed here, or no longer this process's)."""
        before = self._claimed_from.pop(run_id, None)
        if before is None:
            return False
        with self.transaction() as db:
            return db.execute(
                f"UPDATE runs SET {', '.join(f'{column} = ?' for column in CLAIMED_COLUMNS)} "
                "WHERE id = ? AND status = 'running' AND pid = ? AND host = ?",
                (*(before[column] for column in CLAIMED_COLUMNS), run_id, os.getpid(), socket.gethostname()),
            ).rowcount == 1

    def store_option(self) -> str:
        """`` --store PATH`` (quoted for the shell) when this store is not the one a command without ``--store`` opens
        (``default_store_path``), else ``""``: what a command merbench advises needs to find this store."""
        import shlex

        if self.path.resolve() == default_store_path().resolve():
            return ""
        return f" --store {shlex.quote(str(self.path))}"

    def resume_command(self, run_id: str) -> str:
        """The command that continues the stored run ``run_id``: ``merbench run --resume RUN_ID`` (``store_option``)."""
        return f"merbench run --resume {run_id}{self.store_option()}"

    def release_run(self, run_id: str, host: str, pid: int | None) -> bool:
        """Record a ``running`` run as ``interrupted`` on the user's word that its process (``pid`` on ``host``, as
        read before) is gone, where merbench cannot check it (``merbench run --resume ID --force``); ``False`` when
        the run changed meanwhile (another process claimed or finished it)."""
        with self.transaction() as db:
            return db.execute("UPDATE runs SET status = 'interrupted', pid = NULL WHERE id = ? AND status = 'running' "
                              "AND host IS ? AND pid IS ?", (run_id, host, pid)).rowcount == 1

    def record_inputs(self, run_id: str, seed: int, preprocess: dict[str, Any], inputs_key: str) -> None:
        """Store the preprocessing chain and the content key of the model inputs; a resumed run must match it."""
        with self.transaction() as db:
            row = db.execute("SELECT inputs_key, preprocess_json FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row["inputs_key"] and row["inputs_key"] != inputs_key:
                raise UsageError(
                    f"run {run_id}: the preprocessed inputs differ from those the run started with (seed {seed}); "
                    "the dataset, its files or the preprocessing changed, so its folds cannot be resumed. Start a new run"
                )
            before = json.loads(row["preprocess_json"] or "{}").get("labels_key")
            if before and preprocess.get("labels_key") and before != preprocess["labels_key"]:
                raise UsageError(
                    f"run {run_id}: the dataset's labels, subjects, domains or classes differ from those the run started with "
                    f"(seed {seed}): its stored folds were trained and scored with the old ones, so they cannot be "
                    "resumed. Start a new run"
                )
            db.execute(
                "UPDATE runs SET preprocess_json = ?, inputs_key = ? WHERE id = ?", (_json(preprocess), inputs_key, run_id)
            )

    def add_fold(self, run_id: str, seed: int, record: FoldRecord, test_ids: Sequence[str], predictions: Sequence[int],
                 sample_rows: Sequence[PredictionRow]) -> None:
        """Store one completed fold (its record, test predictions and per-sample rows) in one transaction."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO folds (run_id, seed, fold, test_ids_json, predictions_json, record_json, seconds, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, seed, int(record.fold), _json(list(test_ids)), _json([int(p) for p in predictions]),
                 _json(record.to_dict()), record.seconds, _now()),
            )
            db.executemany(
                "INSERT OR REPLACE INTO predictions (run_id, seed, sample_id, subject, domain, fold, label, prediction) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, seed, str(r.id), str(r.subject), None if r.domain is None else str(r.domain),
                  int(r.fold), int(r.label), int(r.prediction)) for r in sample_rows],
            )

    def finish_run(self, run_id: str, result: RunResult) -> None:
        """Store the final result (``result.to_dict()``) and its scores; the run becomes ``complete``."""
        seeds = result.seeds or [SeedScores(seed=result.seed, pooled=result.pooled, fold_mean=result.fold_mean)]
        rows = []
        for entry in seeds:
            for scope, scores in (("pooled", entry.pooled), ("fold_mean", entry.fold_mean)):
                rows += [(run_id, int(entry.seed), scope, key, float(value)) for key, value in scores.items()]
        rows += [(run_id, int(result.seed), "fold_std", key, float(v)) for key, v in result.fold_std.items()]
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = 'complete', finished = ?, result_json = ?, seconds = ?, device = ?, pid = NULL "
                "WHERE id = ?",
                (_now(), _json(result.to_dict()), result.total_seconds, result.environment.get("device"), run_id),
            )
            db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            db.executemany("INSERT INTO metrics (run_id, seed, scope, metric, value) VALUES (?, ?, ?, ?, ?)", rows)

    def mark_stopped(self, run_id: str, status: str, error: str | None = None) -> None:
        """Record that a run stopped before finishing (``interrupted`` or ``failed``)."""
        with self.transaction() as db:
            db.execute("UPDATE runs SET status = ?, error = ?, pid = NULL WHERE id = ? AND status = 'running'",
                       (status, error, run_id))

    def delete_runs(self, listed: Mapping[str, str], force: bool = False) -> None:
        """Delete the runs ``listed`` (full id → the status the user saw) with their folds, predictions and scores,
        all or none in one transaction. Nothing is deleted (``UsageError``) when a run is gone from the store or its
        status is no longer the one listed (a ``--resume`` took it meanwhile), or when one still runs (``status_of``);
        with ``force`` a run recorded as running whose process cannot be checked from here (``unchecked_holder``:
        another host or container) is taken as gone, as ``merbench run --resume ID --force`` takes it."""
        ids = list(listed)
        with self.transaction() as db:  # BEGIN IMMEDIATE: a resume cannot claim a run between the check and the delete
            rows = {row["id"]: row for some in _batches(ids, RESULTS_READ_AT_ONCE) for row in db.execute(
                f"SELECT id, status, host, pid, environment_json FROM runs WHERE id IN ({', '.join('?' for _ in some)})",
                list(some))}
            missing = [run_id for run_id in ids if run_id not in rows]
            if missing:
                raise UsageError(f"no run {some_of(missing, 5)} in the results store {self.path} any more (deleted "
                                 "meanwhile?); nothing was deleted: see `merbench runs`")
            now = {run_id: status_of(row) for run_id, row in rows.items()}
            running = still_running([row for run_id, row in rows.items() if now[run_id] == "running"], force)
            if running:
                raise UsageError(running_error(running))
            changed = [f"{run_id} is {now[run_id]} (it was {listed[run_id]})" for run_id in ids
                       if now[run_id] != listed[run_id]]
            if changed:
                raise UsageError(f"run {some_of(changed, 5)} since it was listed; nothing was deleted: run the command "
                                 "again to see what it deletes now")
            db.executemany("DELETE FROM runs WHERE id = ?", [(run_id,) for run_id in ids])

    # ------------------------------------------------------------------ reading

    def resolve_id(self, run_id: str) -> str:
        """The full id of a run given its id or a unique prefix (raises ``UsageError``)."""
        if not run_id.strip():
            raise UsageError("an empty run id; give a run's id or the start of it (`merbench runs` lists them)")
        if self._rows("SELECT 1 FROM runs WHERE id = ?", (run_id,)):  # by the key: the prefix search reads every row
            return run_id
        rows = self._rows(
            "SELECT id FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id",
            (run_id, run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"),
        )
        ids = [row["id"] for row in rows]
        if run_id in ids:
            return run_id
        if not ids:
            raise UsageError(f"no run '{run_id}' in the results store {self.path}; see `merbench runs`"
                             + merbench_file_note(run_id))
        if len(ids) > 1:
            raise UsageError(f"run id '{run_id}' is ambiguous in {self.path}: {some_of(ids, 5)}; give more characters")
        return ids[0]

    def run_row(self, run_id: str) -> sqlite3.Row:
        """The ``runs`` row of a run (id or unique prefix)."""
        return self._rows("SELECT * FROM runs WHERE id = ?", (self.resolve_id(run_id),))[0]

    def run_config(self, run_id: str) -> dict[str, Any]:
        """The resolved configuration a run was started with; ``DataError`` when it is damaged (not a JSON object)."""
        where = f"configuration of run {run_id} in {self.path}"
        config = _loaded(self._rows("SELECT config_json FROM runs WHERE id = ?", (self.resolve_id(run_id),))[0]
                         ["config_json"], where)
        if not isinstance(config, dict):
            raise DataError(f"{where}: not a JSON object; the store was changed outside merbench. "
                            "Run it again with merbench run")
        return config

    def result(self, run_id: str, predictions: bool = True) -> RunResult:
        """The result of a complete run (``to_dict()`` of it is what ``merbench run --json`` wrote);
        ``predictions=False`` leaves out its per-sample rows (``RunResult.from_dict``)."""
        row = self.run_row(run_id)
        if row["result_json"] is None:
            status = status_of(row)
            if status == "complete":
                raise _missing_result(row["id"], self.path)
            if status == "failed" and row["error"]:
                raise UsageError(f"run {row['id']} failed and has no final result: {row['error']}. Fix the cause and start "
                                 "a new run; when the cause lay outside the run's settings (data, disk, a plugin), "
                                 f"`{self.resume_command(row['id'])}` continues it and keeps its finished folds")
            done = self.folds_stored(row["id"])
            if status == "running":
                raise UsageError(f"run {row['id']} is still running (process {row['pid']} on {row['host']}, "
                                 f"{counted(done, 'fold')} done so far) and has no final result yet; `merbench runs` "
                                 f"shows its progress, and `merbench show {row['id']}{self.store_option()}` prints it "
                                 "once it has finished")
            raise UsageError(
                f"run {row['id']} is {status} ({counted(done, 'fold')} done) and has no final result; continue it with "
                f"`{self.resume_command(row['id'])}`, which keeps its finished folds"
            )
        return self._result(row["id"], row["result_json"], predictions)

    def folds_stored(self, run_id: str) -> int:
        """How many folds of a run (its full id) are stored so far, of all its seeds."""
        return self._rows("SELECT COUNT(*) FROM folds WHERE run_id = ?", (run_id,))[0][0]

    def finished_folds(self, run_id: str) -> list[tuple[int, FoldRecord]]:
        """``(seed, record)`` of every fold a run has stored so far, by seed and fold (an unfinished run's too)."""
        run_id = self.resolve_id(run_id)
        rows = self._rows("SELECT seed, fold, record_json FROM folds WHERE run_id = ? ORDER BY seed, fold", (run_id,))
        folds = []
        for row in rows:
            where = f"fold {row['fold']} (seed {row['seed']}) of run {run_id} in {self.path}"
            folds.append((row["seed"], FoldRecord.from_dict(_loaded(row["record_json"], where), where)))
        return folds

    def _result(self, run_id: str, text: str, predictions: bool = True) -> RunResult:
        """A stored result, read back (``predictions``: as ``RunResult.from_dict``), with its run's id where it
        records none; ``DataError`` naming the run and this store when it is damaged."""
        if text is None:
            raise _missing_result(run_id, self.path)
        where = f"result of run {run_id} in {self.path}"
        result = RunResult.from_dict(_loaded(text, where), where, predictions)
        return result if result.run_id else dataclasses.replace(result, run_id=run_id)  # an older merbench's: no id

    def fold_sample_labels(self, run_id: str, seed: int, fold: int) -> dict[str, tuple[int, str]]:
        """Each test sample of one stored fold, by id: the label and subject it had when the fold was stored."""
        rows = self._rows("SELECT sample_id, label, subject FROM predictions WHERE run_id = ? AND seed = ? AND fold = ?",
                          (run_id, seed, fold))
        return {row["sample_id"]: (int(row["label"]), row["subject"]) for row in rows}

    def stored_folds(self, run_id: str, seed: int) -> dict[int, StoredFold]:
        """The completed folds of one seed of a run, by fold index."""
        rows = self._rows(
            "SELECT fold, record_json, test_ids_json, predictions_json FROM folds WHERE run_id = ? AND seed = ? ORDER BY fold",
            (run_id, seed),
        )
        folds = {}
        for row in rows:
            where = f"fold {row['fold']} (seed {seed}) of run {run_id} in {self.path}"
            folds[row["fold"]] = StoredFold(FoldRecord.from_dict(_loaded(row["record_json"], where), where),
                                            _loaded(row["test_ids_json"], f"test sample ids of {where}"),
                                            _loaded(row["predictions_json"], f"predictions of {where}"))
        return folds

    def list_runs(self, model: str | Sequence[str] | None = None, dataset: str | Sequence[str] | None = None,
                  protocol: str | Sequence[str] | None = None, status: str | None = None, limit: int | None = None,
                  run_ids: Sequence[str] = (), times: bool = True) -> list[RunSummary]:
        """Stored runs, newest first, optionally filtered (a name or several for ``model``, ``dataset`` and
        ``protocol``: runs of any of them; ``run_ids``: only these full ids).

        Only the columns a summary shows are read (not each run's result, which a store of a year's runs holds by
        the gigabyte); the status, and ``limit`` with it, is applied in SQL but for ``running`` rows, whose process
        is looked at (``status_of``); the fold counts, scores and time are read for the runs returned only, and a run
        deleted meanwhile is left out. ``times=False`` leaves each run's time ``None`` and a run deleted meanwhile in:
        for a caller that reads them with the runs' results (``result_fields`` with ``times``), as reading the time
        alone reads the result's pages too (``_seconds``)."""
        if len(run_ids) > RESULTS_READ_AT_ONCE:  # SQLite's limit on the values of one statement
            runs = [run for some in _batches(run_ids, RESULTS_READ_AT_ONCE)
                    for run in self.list_runs(model, dataset, protocol, status, None, some, times)]
            return sorted(runs, key=lambda run: (run.created, run.id), reverse=True)[:limit or None]
        clauses, params = [], []
        for column, value in (("model", model), ("dataset", dataset), ("protocol", protocol)):
            names = [value] if isinstance(value, str) else list(value or [])
            if names:
                clauses.append(f"r.{column} IN ({', '.join('?' for _ in names)})")
                params.extend(names)
        if run_ids:
            clauses.append(f"r.id IN ({', '.join('?' for _ in run_ids)})")
            params.extend(run_ids)
        if status:  # a 'running' row may read 'interrupted' (its process is gone): both are looked at
            wanted = ("running", "interrupted") if status in ("running", "interrupted") else (status,)
            clauses.append(f"{_status_term(bool(clauses), 'r.')} IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        exact = status not in ("running", "interrupted")  # every row the query gives is then listed
        # Of the result only its type, in the row's header: IS NOT NULL, or a column after it, reads it whole. The
        # environment (it names a running run's process) only of a running run: SQLite reads a row's columns from its
        # first byte on, and a row with a large result keeps only its first few hundred bytes in the table's page.
        query = (
            "SELECT r.id, r.created, r.status, r.model, r.dataset, r.protocol, r.profile, r.seed, r.n_seeds, r.device, "
            "r.host, r.pid, CASE WHEN r.status = 'running' THEN r.environment_json END AS environment_json, "
            "typeof(r.result_json) <> 'null' AS has_result FROM runs r "
            f"{where} ORDER BY r.created DESC, r.rowid DESC" + (" LIMIT ?" if limit and exact else "")
        )
        listed = []
        for row in self._rows(query, params + ([limit] if limit and exact else [])):
            state = status_of(row)
            if status and state != status:
                continue
            listed.append((row, state))
            if limit and len(listed) >= limit:
                break
        folds, scores = self._folds_and_scores([row for row, _ in listed])
        summaries = [_summary(row, state, folds.get(row["id"], {}),
                              scores.get(row["id"], {}) if row["has_result"] else None) for row, state in listed]
        if not times:
            return summaries
        seconds = self._seconds([run.id for run in summaries])
        for run in summaries:
            run.seconds = seconds.get(run.id)
        return [run for run in summaries if run.id in seconds]  # the others were deleted meanwhile

    def _folds_and_scores(self, rows: Sequence[sqlite3.Row]
                          ) -> tuple[dict[str, dict[int, int]], dict[str, dict[str, float]]]:
        """The folds stored per seed (by run id, then seed) and the pooled scores of the run's own seed (by run id)
        of the listed ``rows``: two grouped queries per ``RESULTS_READ_AT_ONCE`` runs, read together (one check of
        the file per batch), instead of two queries per run."""
        seed_of = {row["id"]: row["seed"] for row in rows}
        scored = {row["id"] for row in rows if row["has_result"]}
        folds: dict[str, dict[int, int]] = {}
        scores: dict[str, dict[str, float]] = {}

        def read(db: sqlite3.Connection, some: Sequence[str]) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
            with_result = [run_id for run_id in some if run_id in scored]
            counted_folds = _fetched(db, "SELECT run_id, seed, COUNT(*) AS n FROM folds WHERE run_id IN "
                                     f"({', '.join('?' for _ in some)}) GROUP BY run_id, seed", some)
            pooled = _fetched(db, "SELECT run_id, seed, metric, value FROM metrics WHERE run_id IN "
                              f"({', '.join('?' for _ in with_result)}) AND scope = 'pooled' "
                              "ORDER BY run_id, seed, metric", with_result) if with_result else []
            return counted_folds, pooled

        for some in _batches(list(seed_of), RESULTS_READ_AT_ONCE):
            counted_folds, pooled = self._reading(lambda db: read(db, some))
            for row in counted_folds:
                folds.setdefault(row["run_id"], {})[row["seed"]] = row["n"]
            for row in pooled:
                if row["seed"] == seed_of.get(row["run_id"]):
                    scores.setdefault(row["run_id"], {})[row["metric"]] = row["value"]
        return folds, scores

    def result_fields(self, run_ids: Sequence[str], keys: Sequence[str],
                      times: dict[str, float | None] | None = None) -> dict[str, dict[str, Any] | None]:
        """Top-level ``keys`` of the results of the runs ``run_ids`` (full ids), by id: the JSON values of those the
        result has, picked out by SQLite's JSON functions without reading the rest of it into Python (a LOSO
        result is over a megabyte). ``None`` for a run without a result, or with one that SQLite does not read as a
        JSON object (damaged, or holding NaN) or whose pooled scores are no fractions: ``result`` reads it whole, and
        names what is wrong. A run not in the
        store (deleted meanwhile) is left out. ``times``, when given, gets each run's recorded time by id, read in the
        same query: the column lies after the result, and read on its own (``_seconds``) it reads the result's
        pages once more."""
        timed = "" if times is None else ", seconds"
        asked = list(keys)
        keys = [*asked, *(["pooled"] if "pooled" not in asked else [])]  # checked: its scores must be fractions
        picked = ", ".join(f"CASE WHEN {READABLE_RESULT} THEN result_json -> ? END" for _ in keys)
        fields: dict[str, dict[str, Any] | None] = {}
        for some in _batches(run_ids, RESULTS_READ_AT_ONCE):
            paths = [f"$.{key}" for key in keys]
            rows = self._rows(f"SELECT id, {READABLE_RESULT} AS readable{timed}, {picked} FROM runs "
                              f"WHERE id IN ({', '.join('?' for _ in some)})", paths + list(some))
            for row in rows:
                if times is not None:
                    times[row["id"]] = row["seconds"]
                values = list(row)[2 if times is None else 3:]  # each key's JSON text; None where the result lacks it
                damaged = not row["readable"] or any(isinstance(value, DamagedText) for value in values)
                found = None if damaged else {key: json.loads(value) for key, value in zip(keys, values)
                                              if value is not None}
                # a pooled score that is no fraction (1e300, -0.5: valid JSON) is damage too: ``result`` names it
                fields[row["id"]] = None if found is None or not _fractions(found.get("pooled")) else {
                    key: value for key, value in found.items() if key in asked}
        return fields

    def _seconds(self, run_ids: Sequence[str]) -> dict[str, float | None]:
        """The recorded time of each of the runs ``run_ids`` still in the store, by id. The column lies after the
        result in the row: SQLite reads the whole result to reach it, so only the runs shown ask for it."""
        return {row["id"]: row["seconds"] for some in _batches(run_ids, RESULTS_READ_AT_ONCE) for row in self._rows(
            f"SELECT id, seconds FROM runs WHERE id IN ({', '.join('?' for _ in some)})", some)}

    def identical_result(self, config: Any, n_seeds: int = 1) -> RunResult | None:
        """The complete run that finished last of those made with ``config`` (a ``RunConfig``, its first seed) and
        ``n_seeds`` seeds, or ``None``: the run a comparison shows for its cell. Alike as ``scoring_config`` tells:
        how the folds were spread (``--executor``, ``engine.parallel_folds``, threads) is not part of it."""
        from merbench.run_settings import scoring_config

        wanted = scoring_config(config.to_dict())
        for row in self._started_as(config, n_seeds, "status = 'complete'"):  # only such a run is read whole
            text = self._rows("SELECT result_json FROM runs WHERE id = ?", (row["id"],))
            if not text:  # deleted meanwhile
                continue
            result = self._result(row["id"], text[0]["result_json"])
            seeds = result.across_seeds.n if result.across_seeds is not None else 1
            if scoring_config(result.config or {}) == wanted and seeds == n_seeds:
                return result
        return None

    def interrupted_run(self, config: Any, n_seeds: int = 1) -> str | None:
        """The id of the newest interrupted run started with ``config`` (a ``RunConfig``; alike as ``identical_result``
        tells) and ``n_seeds`` seeds (one that ``merbench run --resume ID`` can continue), or ``None``."""
        rows = self._started_as(config, n_seeds, "status IN ('interrupted', 'running')")
        return next((str(row["id"]) for row in rows if status_of(row) == "interrupted"), None)  # a killed run too

    def _started_as(self, config: Any, n_seeds: int, status: str) -> Iterator[sqlite3.Row]:
        """The ``runs`` rows of ``status`` (an SQL condition) started with ``config`` and ``n_seeds`` seeds, alike in
        what changes scores (``run_settings.scoring_config``), the last finished first (``FINISH_ORDER``; unfinished
        runs by their start)."""
        from merbench.run_settings import scoring_config

        started_as = scoring_config(json.loads(_json(config.to_dict())))  # as a configuration is stored at its start
        rows = self._selected([f"+{status}", "n_seeds = ?"], [n_seeds],  # "+": runs_by_cell (_status_term)
                              {"model": [config.model], "dataset": [config.dataset], "protocol": [config.protocol]},
                              "id, status, host, pid, environment_json, config_json",  # not the results after them
                              FINISH_ORDER)
        for row in reversed(rows):
            if scoring_config(_loaded(row["config_json"], f"configuration of run {row['id']} in {self.path}")) \
                    == started_as:
                yield row

    def complete_results(self, run_ids: Sequence[str] = (), model: Sequence[str] = (), dataset: Sequence[str] = (),
                         protocol: Sequence[str] = (), predictions: bool = True) -> list[RunResult]:
        """Results of complete runs matching the filters, in the order they finished (``FINISH_ORDER``), each run once;
        ``predictions=False`` leaves out their per-sample rows (``RunResult.from_dict``).

        With ``run_ids`` (ids or unique prefixes) only those runs are selected;
        each must be complete, and a ``UsageError`` names the filter when the
        filters leave none of them.
        """
        filters = {"model": model, "dataset": dataset, "protocol": protocol}
        if not run_ids:
            ids = self.complete_ids(model, dataset, protocol)
            return [result for some in _batches(ids, RESULTS_READ_AT_ONCE)
                    for result in self._results(some, predictions)]
        ids = list(dict.fromkeys(self.resolve_id(run_id) for run_id in run_ids))
        picked = ["id IN (" + ", ".join("?" for _ in ids) + ")"]
        rows = self._selected(picked, ids, filters, "id", FINISH_ORDER)
        if not rows:
            raise _filtered_out(self._selected(picked, ids, {}, "id, model, dataset, protocol"), filters)
        return [self.result(row["id"], predictions) for row in rows]

    def complete_names(self, column: str) -> list[str]:
        """The distinct ``column`` values (``model``, ``dataset``, ``protocol`` or ``profile``) of the complete runs,
        sorted: what a filter that matched none of them could have named."""
        if column not in ("model", "dataset", "protocol", "profile"):
            raise ValueError(f"not a name column of runs: {column}")
        status = _status_term(column != "profile")
        return [row[0] for row in self._rows(
            f"SELECT DISTINCT {column} FROM runs WHERE {status} = 'complete' ORDER BY {column}")]

    def run_count(self) -> int:
        """How many runs the store holds (of any status)."""
        return self._rows("SELECT COUNT(*) FROM runs")[0][0]

    def run_names(self, column: str, status: str | None = None) -> list[str]:
        """The distinct ``column`` values (``model``, ``dataset``, ``protocol``, ``profile`` or ``status``, each run's
        as ``list_runs`` gives it: ``status_of``) of all the stored runs, or of those whose status (so given) is
        ``status``, sorted: what a filter that matched no run could have named. Reads no run's result:
        ``runs_by_cell`` alone where it holds the column."""
        if column not in ("model", "dataset", "protocol", "profile", "status"):
            raise ValueError(f"not a name column of runs: {column}")
        stored = "status <> 'running'" + (f" AND {_status_term(column != 'profile')} = ?" if status else "")
        names = {str(row[0]) for row in self._rows(f"SELECT DISTINCT {column} FROM runs WHERE {stored}",
                                                   [status] if status else [])}
        running = self._running_rows() if status in (None, "running", "interrupted") else []
        names.update(status_of(row) if column == "status" else str(row[column]) for row in running
                     if status in (None, status_of(row)))
        return sorted(names)

    def status_counts(self) -> dict[str, int]:
        """How many stored runs have each status (as ``list_runs`` gives it: ``status_of``), reading no run's
        result."""
        counts = Counter({row[0]: row[1] for row in self._rows(
            "SELECT status, COUNT(*) FROM runs WHERE status <> 'running' GROUP BY status")})
        counts.update(status_of(row) for row in self._running_rows())
        return dict(counts)

    def _running_rows(self) -> list[sqlite3.Row]:
        """The rows recorded as ``running`` (their names and what ``status_of`` needs); a running run has no result
        yet."""
        return self._rows("SELECT id, status, host, pid, environment_json, model, dataset, protocol, profile "
                          "FROM runs WHERE rowid IN (SELECT rowid FROM runs WHERE status = 'running')")  # found in an
        # index (in runs_by_cell, for a store opened read-only without runs_by_status: status = 'running' alone would
        # read a page of every run)

    def _results(self, run_ids: Sequence[str], predictions: bool) -> list[RunResult]:
        """The results of the complete runs ``run_ids`` (full ids), in that order; a run deleted since its id was
        read is left out."""
        texts = {row["id"]: row["result_json"] for row in self._rows(
            f"SELECT id, result_json FROM runs WHERE id IN ({', '.join('?' for _ in run_ids)})", run_ids)}
        return [self._result(run_id, texts[run_id], predictions) for run_id in run_ids if run_id in texts]

    def complete_ids(self, model: Sequence[str] = (), dataset: Sequence[str] = (),
                     protocol: Sequence[str] = ()) -> list[str]:
        """The full ids of the complete runs matching the filters (empty: any), in the order they finished
        (``FINISH_ORDER``): a comparison shows the last of a cell. Read without the runs' results."""
        filters = {"model": model, "dataset": dataset, "protocol": protocol}
        by_cell = _status_term(any(filters.values()))
        return [row["id"] for row in self._selected([f"{by_cell} = 'complete'"], [], filters, "id", FINISH_ORDER)]

    def summary_results(self, run_ids: Sequence[str]) -> Iterator[RunResult]:
        """The results of the complete runs ``run_ids`` (full ids), in that order, without their folds, predictions,
        per-domain scores and confusion matrix (``RunResult.from_dict(..., whole=False)``): SQLite leaves those out
        (most of a result's text; a LOSO run's folds alone are half a megabyte), so that thousands of results are read
        in seconds. A result SQLite does not read as a JSON object (damaged, or holding NaN) is read by ``result``,
        which names what is wrong with it; a run deleted since its id was read is left out. Each result has its run's
        id (one of an older merbench may lack it)."""
        left_out = ", ".join(f"'$.{key}'" for key in WHOLE_ONLY_KEYS)
        for some in _batches(run_ids, RESULTS_READ_AT_ONCE):
            rows = {row["id"]: row for row in self._rows(
                f"SELECT id, CASE WHEN {READABLE_RESULT} THEN json_remove(result_json, {left_out}) END AS summary FROM runs "
                f"WHERE id IN ({', '.join('?' for _ in some)})", some)}
            for run_id in some:
                row = rows.get(run_id)
                if row is None:
                    continue
                if row["summary"] is None or isinstance(row["summary"], DamagedText):
                    yield self.result(run_id, predictions=False)  # raises the error that names the damage
                    continue
                where = f"result of run {run_id} in {self.path}"
                result = RunResult.from_dict(_loaded(row["summary"], where), where, whole=False)
                yield result if result.run_id else dataclasses.replace(result, run_id=run_id)

    def held(self, run_ids: Sequence[str]) -> set[str]:
        """Which of the runs ``run_ids`` (full ids) the store holds now (another process may delete runs meanwhile)."""
        return {row["id"] for some in _batches(run_ids, RESULTS_READ_AT_ONCE) for row in self._rows(
            f"SELECT id FROM runs WHERE id IN ({', '.join('?' for _ in some)})", some)}

    def _selected(self, clauses: list[str], params: list[Any], filters: dict[str, Sequence[str]],
                  columns: str = "*", order: str = "created, rowid") -> list[sqlite3.Row]:
        """The ``columns`` of the ``runs`` rows matching ``clauses`` and the column ``filters`` (empty: any), in
        ``order`` (SQL; default: oldest start first)."""
        clauses, params = list(clauses), list(params)
        for column, values in filters.items():  # column names are constants
            if values:
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        return self._rows(f"SELECT {columns} FROM runs WHERE {' AND '.join(clauses)} ORDER BY {order}", params)


def _summary(row: sqlite3.Row, state: str, by_seed: dict[int, int], pooled: dict[str, float] | None) -> RunSummary:
    """The summary of a listed run's ``row`` (its status ``state``), from its folds stored per seed and its pooled
    scores (``None``: no result; ``{}``: a result without pooled scores); its time is left ``None``."""
    first = by_seed.get(row["seed"], 0)
    finished = state == "complete" or any(seed != row["seed"] for seed in by_seed)
    return RunSummary(row["id"], row["created"], state, row["model"], row["dataset"], row["protocol"], row["profile"],
                      row["seed"], row["n_seeds"], row["device"], sum(by_seed.values()), pooled, None,
                      first if finished and first else None)


def _status_term(by_cell: bool, table: str = "") -> str:
    """The ``status`` column (of the ``table`` alias) in a query's condition, as ``+status``, which no index looks
    up, where ``by_cell``: where ``runs_by_cell`` (or the id) finds the runs by their model, dataset or protocol, or
    alone holds the names the query reads. SQLite, which knows no counts, would otherwise take ``runs_by_status``
    for the order it gives, and read the row of every run of the status."""
    return f"+{table}status" if by_cell else f"{table}status"


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """``items`` in consecutive slices of ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _filtered_out(rows: Sequence[sqlite3.Row], filters: dict[str, Sequence[str]]) -> UsageError:
    """The error for run ids that the filters all leave out: each filter, and the given runs it leaves out."""
    reasons = []
    for column, values in filters.items():
        left_out = [row for row in rows if values and row[column] not in values]
        if left_out:
            runs = ", ".join(f"{row['id']} ({row[column]})" for row in left_out)
            reasons.append(f"--{column} {' '.join(values)} leaves out {runs}")
    return UsageError(f"none of the given runs match the filters: {'; '.join(reasons)}; drop the filter or give "
                      "other run ids")


FILE_NOTES = {
    "tune": "a `merbench tune` summary, and a tune stores no runs: the same tune command run again prints its tables "
            "(every trial and refit is reused)",
    "leakage": "a `merbench leakage` summary: `merbench report --leakage {name} --output FILE.md` renders it",
    "grid": "a `merbench grid` summary: its runs are in the results store it was recorded in (`merbench runs`)",
    "significance": "a `merbench significance` comparison: give the run ids or result files it compared instead",
    "audit": "a `merbench audit` report: give the run ids or result files it audited instead",
    "run": "a run's result file: give its run id{run_id} instead (`merbench runs` lists the stored runs), or read the "
           "file with `merbench audit` or `merbench significance`",
}
"""What to do with a merbench JSON file given where a run id was expected, by ``document_kind``."""


FILE_NOTE_LIMIT = 4 * 2**20
"""The largest file ``merbench_file_note`` reads (4 MiB): a note on a mistyped run id is not worth reading more."""


def merbench_file_note(name: str) -> str:
    """``; NAME is ...`` when a name given as a run id is a JSON file merbench wrote (a run's result, or a tune,
    leakage or grid summary), saying what to do with it; empty otherwise."""
    path = Path(name).expanduser()
    try:
        if not path.is_file() or path.stat().st_size > FILE_NOTE_LIMIT:
            return ""
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return ""
    kind = document_kind(document)
    if kind not in FILE_NOTES:
        return ""
    run_id = document.get("run_id") if kind == "run" else None
    note = FILE_NOTES[kind].format(name=name, run_id=f" ({run_id})" if isinstance(run_id, str) and run_id else "")
    return f"; {name} is {note}"


def _missing_result(run_id: str, path: Path) -> DataError:
    """The error for a run marked complete whose result is not in the store (changed outside merbench)."""
    return DataError(f"run {run_id} is marked complete, but its result is missing from {path}: the store was changed "
                     "outside merbench. Run it again with merbench run; compare and report leave it out when given "
                     "other run ids or --model/--dataset/--protocol filters")


def _loaded(text: str | bytes, where: str) -> Any:
    """Stored JSON text, parsed; ``DataError`` naming ``where`` when it cannot be read back: not JSON, not UTF-8 text
    (also a BLOB of such bytes), nested deeper than Python parses, or holding a number of more digits than it reads."""
    if isinstance(text, DamagedText):
        raise _damaged(where, "not UTF-8 text")
    try:
        return json.loads(text)
    except UnicodeDecodeError:  # bytes (a BLOB) that are not UTF-8
        raise _damaged(where, "not UTF-8 text") from None
    except (TypeError, json.JSONDecodeError) as exc:
        raise DataError(f"{where}: not valid JSON ({exc}); the store was changed outside merbench. "
                        "Run it again with merbench run") from None
    except RecursionError:
        raise _damaged(where, "JSON nested too deeply to read") from None
    except ValueError:  # a whole number longer than sys.get_int_max_str_digits()
        raise _damaged(where, f"a number of more than {sys.get_int_max_str_digits()} digits") from None


def _damaged(where: str, what: str) -> DataError:
    """The error for a stored text ``_loaded`` cannot read: ``what`` is wrong with it."""
    return DataError(f"{where}: damaged ({what}); the store was changed outside merbench or damaged on disk. "
                     "Run it again with merbench run")


def status_of(row: sqlite3.Row) -> str:
    """A run's status; a ``running`` run whose process is gone on this host (``holder_gone``: also one whose process
    number now belongs to another process; also one that names no process, which only a hand-made change gives)
    reads ``interrupted``."""
    status = row["status"]
    if status == "running" and row["host"] == socket.gethostname() and (not row["pid"] or holder_gone(row)):
        return "interrupted"
    return status


def still_running(rows: Sequence[sqlite3.Row], force: bool = False) -> list[sqlite3.Row]:
    """Of runs that read ``running`` (``status_of``), those a delete must leave: all of them, but with ``force`` the
    ones whose process merbench cannot check from here (``unchecked_holder``), which the user says are gone."""
    return [row for row in rows if not (force and unchecked_holder(row) is not None)]


def running_error(rows: Sequence[sqlite3.Row]) -> str:
    """Why runs that are still running (``rows``: their id, host and process) cannot be deleted, and what to do: a
    run whose process merbench cannot check from here (``unchecked_holder``) goes with ``--force`` once it is gone."""
    which = "; ".join(f"{row['id']} (process {row['pid']} on {row['host']})" for row in rows)
    unchecked = [row["id"] for row in rows if unchecked_holder(row) is not None]
    forced = (f" ({', '.join(unchecked)}: merbench cannot check {plural(unchecked, 'its process', 'their processes')} "
              "from here; if it is gone, killed or its machine lost, delete with --force)" if unchecked else "")
    return (f"{plural(rows, 'run')} {which} {plural(rows, 'is', 'are')} still running; nothing was deleted: wait for "
            f"{plural(rows, 'it', 'them')} to end or stop {plural(rows, 'its process', 'their processes')} "
            f"first{forced}")


HOLDER_KEY = "holder"
"""The key, in a run's stored environment (``environment_json``), of the process that holds it while it runs: its
number, ``process_started`` and ``pid_namespace`` (``{"pid": 4242, "started": "BOOT:TICKS", "namespace":
"pid:[4026531836]"}``). The ``pid`` column alone cannot tell the run's process from a later one given the same number
(after a reboot, or in a restarted container); an older merbench reads the key as one it does not know."""


def _with_holder(environment: dict[str, Any]) -> dict[str, Any]:
    """``environment`` with this process as the run's holder (``HOLDER_KEY``), where its start can be read."""
    started = process_started(os.getpid())
    if started is None:
        return dict(environment)
    return {**environment, HOLDER_KEY: {"pid": os.getpid(), "started": started, "namespace": pid_namespace()}}


CLAIMED_COLUMNS = ("status", "error", "pid", "host", "device", "environment_json", "git_commit", "merbench_version",
                   "torch_version", "timm_version", "python_version")
"""The columns of a run's row that ``claim_run`` sets, which ``unclaim_run`` puts back."""


def _recorded_environment(text: str | None) -> dict[str, Any]:
    """A run's stored environment (``environment_json``) without its holder; ``{}`` when it is not a JSON object."""
    try:
        environment = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    if not isinstance(environment, dict):
        return {}
    environment.pop(HOLDER_KEY, None)
    return environment


def _holder(row: sqlite3.Row) -> dict[str, Any] | None:
    """What was recorded of the process that holds a ``running`` run, when it was recorded for its ``pid``."""
    if "environment_json" not in row.keys() or not isinstance(row["environment_json"], str):
        return None
    try:
        holder = json.loads(row["environment_json"]).get(HOLDER_KEY)
    except (json.JSONDecodeError, AttributeError):
        return None
    if not isinstance(holder, dict) or holder.get("pid") != row["pid"] or not isinstance(holder.get("started"), str):
        return None  # recorded for another process (the row was changed by an older merbench, or by hand)
    return holder


def unchecked_holder(row: sqlite3.Row) -> str | None:
    """Why this process cannot tell whether the process recorded as holding a ``running`` run still runs it (only
    the user can: ``merbench run --resume ID --force``); ``None`` when it can."""
    here = socket.gethostname()
    if row["host"] != here:
        return f"merbench cannot check a process of another host from {here}"
    holder = _holder(row)
    if holder is not None and holder.get("namespace") != pid_namespace():
        return ("it ran in another process namespace (another container) than this command, so merbench cannot check "
                "its process from here")
    if process_gone(row["pid"]):
        return None
    if holder is None or process_started(row["pid"]) is None:
        return (f"its process's start was not recorded (by an older merbench), so merbench cannot tell it from "
                f"another process given the number {row['pid']} since")
    return None


def holder_gone(row: sqlite3.Row) -> bool:
    """Whether the process recorded as holding a run (on this host) has exited, or its number now belongs to another
    process (one that started at another time than the recorded one). A process of another PID namespace (a run in
    another container) cannot be checked: it is not taken as gone."""
    holder = _holder(row)
    if holder is not None and holder.get("namespace") != pid_namespace():
        return False
    if process_gone(row["pid"]):
        return True
    now = process_started(row["pid"]) if holder is not None else None
    return now is not None and now != holder["started"]
