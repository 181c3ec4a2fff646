"""merbench's cache directory, content keys and atomic writes.

The cache lives in ``$MERBENCH_CACHE`` or the user cache directory. Entries are
written to a temporary file in the same folder and renamed into place, so a
reader never sees a half-written entry and two runs at once are safe.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import platformdirs

from merbench.errors import UsageError


CACHE_PARTS = ("preprocess", "synthetic", "model-facts")
"""The folders merbench makes and owns in its cache: only merbench writes in them (``cache clear`` empties them, and refuses
one that holds anything else)."""


def cache_root(create: bool = True) -> Path:
    """The cache directory (``MERBENCH_CACHE`` overrides the user cache dir), created unless ``create`` is false.

    Raises ``UsageError`` when the path is a file or lies under one, or when its
    folder cannot be created.
    """
    configured = os.environ.get("MERBENCH_CACHE")
    # absolute, as every path a result records is; links kept, as _check_cache_path names them
    root = Path(configured).expanduser().absolute() if configured else Path(platformdirs.user_cache_dir("merbench"))
    _check_cache_path(root, bool(configured))
    if create:
        make_cache_folder(root)
    return root


def make_cache_folder(root: Path) -> None:
    """Create the cache folder ``root`` (``cache_root``'s), or raise ``UsageError`` saying why it cannot be created."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # the run's one disk-full message names the file system
        raise UsageError(f"{_cache_named(root, bool(os.environ.get('MERBENCH_CACHE')))}: cannot create the folder "
                         f"({exc.strerror}); {CACHE_FIX}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise UsageError(f"{_cache_named(root, bool(os.environ.get('MERBENCH_CACHE')))}: the folder cannot be written "
                         f"(read-only); {CACHE_FIX}")


CACHE_FIX = "point MERBENCH_CACHE at a folder merbench can write to (it is created when missing)"


def _cache_named(root: Path, configured: bool) -> str:
    return f"the cache MERBENCH_CACHE={root}" if configured else f"the cache folder {root}"


def _check_cache_path(root: Path, configured: bool) -> None:
    """Refuse a cache path that is a file, a broken symbolic link, or lies under one (raises ``UsageError``); a
    missing path is fine."""
    for path in (root.absolute(), *root.absolute().parents):
        try:
            if path.is_dir():
                return
            if path.is_symlink():
                _refuse_broken_link(root, path, configured)
            if not path.exists():
                continue
        except OSError:
            return  # unreachable: creating the folder reports it
        where = "is a file" if path == root.absolute() else f"lies under {path}, which is a file"
        raise UsageError(f"{_cache_named(root, configured)} {where}, not a folder; {CACHE_FIX}")


def _refuse_broken_link(root: Path, link: Path, configured: bool) -> None:
    """Raise ``UsageError`` for the cache path ``root`` that is, or lies under, the symbolic link ``link`` whose
    target does not exist (e.g. a cache on an external drive that is not mounted): no folder can be created
    through it, and "File exists" would be all ``mkdir`` says."""
    if link.exists():
        return  # a link to a file: reported as a file
    target = os.path.realpath(link)  # through a chain of links: the folder to create
    where = "is" if link == root.absolute() else f"lies under {link}, which is"
    raise UsageError(f"{_cache_named(root, configured)} {where} a broken symbolic link (to {target}, which does not "
                     f"exist): create that folder (is its drive mounted?), or point MERBENCH_CACHE elsewhere")


def content_key(*parts: Any) -> str:
    """A stable SHA-256 hex key of JSON-serialisable parts and raw bytes."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, (bytes, bytearray, memoryview)):
            digest.update(b"b")
            digest.update(bytes(part))
        else:
            digest.update(b"j")
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it: set it back at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


STALE_SECONDS = 3600
"""How old a temporary file or folder beside what it was written for must be (its last change) to be taken for the
leftover of a killed process rather than the work of one running now."""


def remove_stale_leftovers(folder: Path, prefix: str, suffix: str = "") -> int:
    """Remove what killed writers left in ``folder``: the files or folders named ``PREFIX…SUFFIX`` unchanged for
    ``STALE_SECONDS`` (a process killed with kill -9 between making one and renaming it into place); how many."""
    removed = 0
    now = time.time()
    for leftover in folder.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
        try:
            if now - leftover.lstat().st_mtime < STALE_SECONDS:
                continue
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
            removed += 1
        except OSError:  # gone meanwhile, or not ours to remove: left as it is
            continue
    return removed


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None, durable: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    The file gets ``mode``, by default ``0o666`` less the umask, as ``open()`` would give it
    (``mkstemp`` alone creates it ``0o600``). ``durable``: the data reaches the disk before the rename, so that
    after a power loss the path holds the old file or the new one, never an empty one (for what cannot be
    recomputed: results, reports, baselines; the cache is not synced, each entry can be computed again); and the
    temporary files of earlier writes of ``path`` that a killed process left beside it go (``remove_stale_leftovers``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), (0o666 & ~current_umask()) if mode is None else mode)
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if durable:
        remove_stale_leftovers(path.parent, f".{path.name}.", ".tmp")


def write_cache_file(path: Path, data: bytes | str) -> None:
    """Write one cache file atomically; a cache that cannot take it (read-only, or a folder where the file belongs)
    is one ``UsageError`` naming the file and the fix. A full disk is left to the run's disk-full message."""
    try:
        atomic_write_bytes(path, data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise UsageError(f"cannot write the cache file {path} ({exc.strerror}); if something else sits at that path, "
                         "clear the cache with `merbench cache clear --only preprocess --yes`; if the cache is "
                         f"read-only, {CACHE_FIX}") from None


def atomic_write_text(path: Path, text: str) -> None:
    """Write text atomically (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def publish_directory(tmp_dir: Path, final_dir: Path) -> None:
    """Move a fully written temporary directory into place (first writer wins)."""
    try:
        os.replace(tmp_dir, final_dir)
    except OSError:
        if not final_dir.exists():
            raise
        shutil.rmtree(tmp_dir, ignore_errors=True)


def inputs_key(inputs: Any) -> str:
    """SHA-256 of preprocessed model inputs (a numpy array: shape, dtype and bytes), their content's identity."""
    import numpy as np

    digest = hashlib.sha256(f"{inputs.shape}|{inputs.dtype}".encode())
    digest.update(np.ascontiguousarray(inputs).tobytes())
    return digest.hexdigest()


def labels_key(dataset: Any) -> str:
    """SHA-256 of what a run splits and scores a dataset by: its class names and each sample's id, label, subject and
    domain, in order. The model inputs' key (``inputs_key``) leaves labels out, since preprocessing never sees them."""
    digest = hashlib.sha256(json.dumps(list(dataset.classes)).encode())
    for sample in dataset.samples:
        digest.update(json.dumps([str(sample.id), int(sample.label), str(sample.subject), str(sample.domain)]).encode())
    return digest.hexdigest()
