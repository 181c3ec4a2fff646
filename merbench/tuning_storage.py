"""Where ``merbench tune`` keeps its trials: an Optuna SQLite storage beside the results store.

``check_storage`` refuses a file that is not Optuna's (the results store, another
program's SQLite file, a folder) before anything is written; ``storage_lock``
lets one tune of the same options at a time use a storage file (tunes of other
options share it); ``counted_trials`` and
``fail_stale`` decide which stored trials used the budget and which an
interrupted tune left half done (they are redone).
"""

from __future__ import annotations

import contextlib
import glob
import os
import sqlite3
import warnings
from pathlib import Path
from typing import Any, Iterator

from merbench.datafiles import resolved_path
from merbench.errors import UsageError
from merbench.outputs import store_files
from merbench.store import default_store_path, nearest_existing_parent
from merbench.wording import plural

OPTUNA_MISSING = ('merbench tune needs Optuna, which is not installed: pip install "merbench[tune]" '
                  '(in a checkout: pip install -e ".[tune]")')
STORAGE_NAME = "tuning.sqlite"


def import_optuna() -> Any:
    """The ``optuna`` module, quiet (merbench reports trials itself), or a ``UsageError`` saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise UsageError(OPTUNA_MISSING) from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def default_storage() -> Path:
    """``tuning.sqlite`` beside the results store (``$MERBENCH_STORE``'s folder or the user data dir)."""
    return default_store_path().parent / STORAGE_NAME


def storage_files(path: Path) -> dict[str, Path]:
    """The trials storage ``path`` and the files SQLite and the tune's lock keep beside it, described (no output of
    the tune may replace one of them)."""
    path = Path(path).expanduser()
    beside = lock_target(path)  # SQLite's side files and the tune's locks: beside the file a link leads to
    files = {f"the trials storage {path}": path,
             f"the trials storage's lock file {beside}.lock": Path(f"{beside}.lock")}
    files.update({f"a tune's lock file {lock}": lock
                  for lock in beside.parent.glob(f"{glob.escape(beside.name)}.*.lock")})
    files.update({f"the trials storage's {side} file {beside}{side}": Path(f"{beside}{side}")
                  for side in ("-wal", "-shm", "-journal")})
    return files


def _tables(path: Path) -> set[str] | None:
    """The table names of an SQLite file (none for an empty file, which SQLite takes as a new database), or ``None``
    when it is not one; ``sqlite3.DatabaseError`` when it is an SQLite file that cannot be read (damaged).

    Read without writing, but for a write that was cut short (``_left_mid_write``): that file is opened read-write
    once, which rolls the write back as any SQLite program opening it would."""
    with open(path, "rb") as handle:
        header = handle.read(16)
    if not header:
        return set()
    if header != b"SQLite format 3\x00":
        return None
    try:
        return _table_names(f"{Path(path).resolve().as_uri()}?mode=ro")
    except sqlite3.OperationalError as exc:
        if not _left_mid_write(path, exc):
            raise
    return _table_names(Path(path).resolve().as_uri())  # read-write once: SQLite rolls the write back


def _table_names(uri: str) -> set[str]:
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _left_mid_write(path: Path, exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` from a read-only open means a write to ``path`` was cut short (a tune killed with kill -9 or
    a power loss mid-transaction): its rollback journal is left beside it, which only a read-write open rolls back
    (SQLITE_READONLY_ROLLBACK), as the next writer would. The trials committed before are kept."""
    code = getattr(exc, "sqlite_errorname", None)
    cut_short = code == "SQLITE_READONLY_ROLLBACK" if code else "readonly database" in str(exc)  # Python < 3.11
    return cut_short and Path(f"{path}-journal").is_file()


def _unreadable_storage(shown: str, exc: sqlite3.DatabaseError) -> str:
    """Why an SQLite trials storage cannot be read: damaged (malformed), in use (locked), or SQLite's own reason."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (f"{shown}: is in use by another program (SQLite: {text}); wait until it finishes (perhaps another "
                "merbench tune), or give another file")
    if isinstance(exc, sqlite3.OperationalError) and "malformed" not in text:
        return f"{shown}: cannot be read (SQLite: {text}); check the file and its folder's permissions, or give another file"
    return (f"{shown}: is an SQLite file that cannot be read ({text}); it may be damaged (a copy cut short, a full "
            "disk): restore it from a backup, or give another file to start again")


OPTUNA_TABLES = frozenset({"studies", "trials", "trial_params", "trial_values", "trial_intermediate_values"})
"""Tables every Optuna (3.4 and later) trials storage holds from its creation on."""


def check_storage(path: Path | None, given: bool) -> Path:
    """The trials storage file to use; ``UsageError`` when it is the results store, a folder or another program's file."""
    target = (path or default_storage()).expanduser()
    shown = f"--storage {target}" if given else f"the trials storage {target}"
    try:
        resolved = resolved_path(target)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        raise UsageError(f"{shown}: cannot be used ({exc}); give another file") from None
    if resolved in {p.expanduser().resolve() for p in store_files(None)}:
        raise UsageError(f"{shown}: is the results store; trials are kept in a file of their own: give another "
                         f"name, e.g. {target.with_name(STORAGE_NAME)}")
    if target.is_dir():
        raise UsageError(f"{shown}: is a folder; give a file such as {target / STORAGE_NAME}")
    if target.exists():
        try:
            tables = _tables(target)
        except OSError as exc:
            raise UsageError(f"{shown}: cannot be read ({exc.strerror or exc}); give another file") from None
        except sqlite3.DatabaseError as exc:
            raise UsageError(_unreadable_storage(shown, exc)) from None
        if tables is None:
            raise UsageError(f"{shown}: is not an SQLite file; it will not be overwritten: give another file")
        if tables and "studies" not in tables:
            raise UsageError(f"{shown}: is an SQLite file of another program (perhaps a results store); "
                             "it will not be changed: give another file")
        missing = sorted(OPTUNA_TABLES - tables) if tables else []
        if missing:  # Optuna would go on with it, warning at every trial, and keep no trial
            raise UsageError(f"{shown}: is damaged (its {', '.join(missing)} {plural(missing, 'table is', 'tables are')} "
                             "missing); it will not be changed: move it away or give another file")
    elif not given:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{shown}: its folder cannot be created ({exc.strerror or exc}); give a file with "
                             "--storage") from None
    elif not target.parent.is_dir():
        above = _nearest_parent(target, shown)
        if above is not None and not above.is_dir():
            raise UsageError(f"{shown}: {above} is a file, not a folder; give a file in a folder with --storage")
        raise UsageError(f"{shown}: the folder {target.parent} does not exist; create it first")
    check_writable(target, shown)
    return target


def _nearest_parent(target: Path, shown: str) -> Path | None:
    try:
        return nearest_existing_parent(target)
    except OSError as exc:
        raise UsageError(f"{shown}: cannot reach its folder ({exc.strerror or exc}); give another file") from None


def check_writable(target: Path, shown: str) -> None:
    """``UsageError`` when the storage file, or its folder (SQLite's journal, the tune's lock file), is not writable.

    A tune writes to its storage on every call, even one whose trials and refits are all stored, so a read-only
    (or immutable) file is refused up front rather than by Optuna's misleading commit error in the middle.
    """
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"{shown}: is not writable (a read-only or immutable file); a tune writes its trials "
                         f"there: make it writable (chmod u+w, or chattr -i) or copy it to a writable place and "
                         "give the copy with --storage")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise UsageError(f"{shown}: its folder {target.parent} is not writable (SQLite and the tune's lock file "
                         "write beside it); make the folder writable or give a file elsewhere with --storage")


def lock_target(path: Path) -> Path:
    """The file the trials storage ``path`` names once links are followed (``path`` itself when that cannot be
    told): every name of one file shares its lock files, so a linked name does not let a second tune in."""
    try:
        return resolved_path(path)
    except (OSError, RuntimeError):
        return Path(path).expanduser()


def lock_file(path: Path, study: str | None = None) -> Path:
    """The lock file beside the file the trials storage ``path`` names (``lock_target``): ``FILE.lock`` for opening
    it, ``FILE.STUDY.lock`` for one tune (``study``: its key, of which 16 characters name the file)."""
    path = lock_target(path)
    return path.with_name(f"{path.name}.{study[:16]}.lock" if study else f"{path.name}.lock")


@contextlib.contextmanager
def storage_lock(path: Path, study: str | None = None, wait: bool = False) -> Iterator[None]:
    """Hold a lock file beside the trials storage ``path`` (``lock_file``): with ``study`` (a tune's key), a second
    tune of the same options, dataset and space is refused, not interleaved, while tunes of other studies share the
    file; without it, the whole file, for opening it (SQLite tables made once). ``wait``: wait for the lock rather
    than refuse.

    The lock file is removed when the lock is let go. A tune that opened it just before it was removed would
    hold a lock on a file no longer there, so after locking, the file is checked to be the one at the path.
    Where ``fcntl`` is missing (Windows) the tune runs unlocked, with a warning.
    """
    try:
        import fcntl
    except ImportError:
        if not wait:
            warnings.warn(f"this system has no POSIX file locks (fcntl), so a second merbench tune of the same "
                          f"options on {path} at the same time would not be refused: run one such tune at a time",
                          UserWarning, stacklevel=3)
        yield
        return

    lock_path = lock_file(path, study)
    while True:
        try:
            handle = open(lock_path, "a+")
        except OSError as exc:
            raise UsageError(f"the tune's lock file {lock_path} (beside the trials storage) cannot be written "
                             f"({exc.strerror or exc}); remove what is there or give the trials another file with "
                             "--storage") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            handle.close()
            raise UsageError(f"another merbench tune of the same options, dataset and space is using {path} right "
                             "now; wait for it to finish, or give this one its own file with --storage "
                             "(tunes of other options may share the file)") from None
        if _same_file(handle, lock_path):
            break
        handle.close()  # the tune before this one removed it after this one opened it: take a new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()  # before unlocking: whoever locks the old file next sees it is gone
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _same_file(handle: Any, path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (opened.st_dev, opened.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def sqlite_url(path: Path) -> str:
    """SQLAlchemy's URL of the SQLite file ``path``, escaped: a ``?``, ``#`` or ``%`` in a file name is the name's,
    not the start of URL options (``sqlite:///t?x.sqlite`` would open ``t``). SQLAlchemy before 2.1 (the newest on
    Python 3.10) cannot write such a name in a URL: ``UsageError`` then, rather than trials kept in another file."""
    import sqlalchemy
    from sqlalchemy.engine import URL, make_url

    url = URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)
    if make_url(url).database != str(path):
        raise UsageError(f"--storage {path}: SQLAlchemy {sqlalchemy.__version__} cannot name a file whose name has "
                         "?, # or % in a URL (SQLAlchemy 2.1 can), so Optuna would keep the trials in another file; "
                         "give a file name without them, or upgrade SQLAlchemy")
    return url


ENGINE_KWARGS = {"connect_args": {"timeout": 30}}


def open_storage(optuna: Any, path: Path) -> Any:
    """Optuna's RDB storage on the SQLite file ``path``; ``UsageError`` when Optuna cannot use it.

    A new (missing or empty) file is made whole or not at all (``_create_storage``). Call it holding
    ``storage_lock(path, wait=True)``: the file is made under a fixed name beside it."""
    url = sqlite_url(path)
    try:
        if _is_new(path):
            _create_storage(optuna, path)
        storage = optuna.storages.RDBStorage(url, engine_kwargs=ENGINE_KWARGS)
        optuna.get_all_study_names(storage=storage)  # reads the studies table: a foreign one fails here
        return storage
    except UsageError:
        raise
    except Exception as exc:  # SQLAlchemy and Optuna raise their own types for a damaged or newer file
        raise UsageError(f"--storage {path}: Optuna cannot use this file ({type(exc).__name__}: {error_text(exc)}); "
                         "give another file with --storage") from None


def _is_new(path: Path) -> bool:
    target = lock_target(path)
    return not target.exists() or target.stat().st_size == 0


def _create_storage(optuna: Any, path: Path) -> None:
    """Make Optuna's tables in a file beside ``path`` and rename it into place: Optuna makes its tables one at a time,
    so a tune interrupted (Ctrl-C, kill) while making them in ``path`` itself would leave a file every later tune
    refuses as damaged. Interrupted here, nothing is left at ``path`` (nor beside it)."""
    target = lock_target(path)  # a link keeps leading to the new file
    partial = target.with_name(f".{target.name}.new")
    _remove_sqlite_file(partial)  # left by a tune killed (kill -9) while making it
    try:
        storage = optuna.storages.RDBStorage(sqlite_url(partial), engine_kwargs=ENGINE_KWARGS)
        storage.engine.dispose()  # closes the file: SQLite removes its journal
        os.replace(partial, target)
    finally:
        _remove_sqlite_file(partial)


def _remove_sqlite_file(path: Path) -> None:
    for name in (path, *(Path(f"{path}{side}") for side in ("-journal", "-wal", "-shm"))):
        with contextlib.suppress(FileNotFoundError):
            name.unlink()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (SQLAlchemy's go on with the SQL statement and a link)."""
    return (str(exc).strip().splitlines() or [""])[0].strip()


def error_text(exc: BaseException) -> str:
    """An Optuna storage error's text and the cause under it: Optuna's own text is generic ("... e.g. exceeding max
    length"), the cause says what happened (``sqlite3.OperationalError: attempt to write a readonly database``)."""
    text = first_line(exc)
    cause = exc.__cause__ or exc.__context__
    if cause is not None and first_line(cause) and first_line(cause) not in text:
        text = f"{text.rstrip('. ')}; cause: {first_line(cause)}" if text else first_line(cause)
    return text




def counted_trials(optuna: Any, study: Any) -> list[Any]:
    """Trials that used the budget: complete, pruned, or failed by themselves (not interrupted), by number."""
    states = optuna.trial.TrialState
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (states.COMPLETE, states.PRUNED) or (t.state == states.FAIL and "error" in t.user_attrs)]


def fail_stale(optuna: Any, storage: Any, study: Any) -> int:
    """Mark trials left running by an interrupted tune as failed (interrupted, so they are redone); their count."""
    stale = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in stale:
        storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    return len(stale)


