"""What merbench asks of the files of a user's dataset: its root is a folder, the cache lies elsewhere, images decode.

The core and the dataset plugins share these checks, so each refusal reads the same wherever it is made.
"""

from __future__ import annotations

import os
import shlex
import warnings
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from merbench.cache import CACHE_PARTS
from merbench.errors import DataError, UsageError


def check_root_folder(root: Path | None, name: str) -> None:
    """Refuse a ``--root`` that is not a folder, saying whether it is a file or missing."""
    if root is None or root.is_dir():
        return
    if root.exists():
        raise DataError(f"--root {root}: is a file, not a folder; give the folder that holds your copy of '{name}'")
    raise DataError(f"--root {root}: no such folder; "
                    f"{root_form_hint(root) or f'give the folder that holds your copy of {name!r}'}")


def root_form_hint(root: Path) -> str:
    """How this command takes a ``--root`` written ``NAME=DIR`` (grid's and regress's form) whose DIR is a folder;
    ``""`` for any other missing folder."""
    _, equals, folder = str(root).partition("=")
    if not (equals and folder and Path(folder).expanduser().is_dir()):
        return ""
    return (f"this command takes --root DIR (the NAME=DIR form is grid's and regress's, which run several datasets): "
            f"--root {shlex.quote(folder)}")


SKIP_CLIP = ", or set dataset.strict=false to skip its clip"
"""The end of a frame's read error that says how to skip its clip; cut from the reason of a clip that was skipped."""


def check_cache_outside(root: Path | None, cache_dir: Path | None, given: str = "") -> None:
    """Refuse a cache inside a dataset root (merbench never writes inside a dataset); ``given`` names the dataset
    option that names the folder when it is not ``--root`` (``dataset.smic=DIR``, from ``--set`` or ``--config``).
    Each folder merbench writes in the cache (``CACHE_PARTS``) is checked too: one may be a link to another disk."""
    if root is None or cache_dir is None:
        return
    named = f"the dataset folder {root}{f' (named by the option {given})' if given else ''}"
    through = _inside_through(Path(cache_dir), Path(root))
    if through is not None:
        raise UsageError(f"the cache {cache_dir} lies inside {named}{through}; merbench never writes inside a "
                         "dataset: set MERBENCH_CACHE to a folder elsewhere")
    for part in (Path(cache_dir) / name for name in CACHE_PARTS):
        through = _inside_through(part, Path(root))
        if through is None:
            continue
        leads = sorted(_forms(part) - {Path(os.path.abspath(part))})
        raise UsageError(f"the cache folder {part}{f' (→ {leads[0]})' if leads else ''} lies inside {named}{through}; "
                         f"merbench never writes inside a dataset: point the link {part} at a folder outside the "
                         "dataset (or remove it), or set MERBENCH_CACHE to a folder elsewhere")


def _inside_through(place: Path, root: Path) -> str | None:
    """``None`` when ``place`` lies outside ``root``; else how it lies inside: ``""``, or through a link of ``root``."""
    if lies_inside(place, root, itself=True):
        return ""
    held = link_holding(place, root)
    return None if held is None else f", through its link {held[0]} (→ {held[1]})"


def option_folders(root: Path | None, options: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Path]:
    """The folders a dataset's options name, by option: the parts of a composite (megc2019's ``dataset.smic=DIR``),
    a chosen frame folder. Such an option is free text, empty by default (``defaults``, the plugin's), and its value
    names an existing folder, under ``root`` when relative and ``root`` is given (as the loaders read it), else from
    the working folder. merbench writes inside none of them, as for ``--root``."""
    found: dict[str, Path] = {}
    for key, value in options.items():
        if defaults.get(key, None) != "" or not isinstance(value, (str, Path)) or not str(value).strip():
            continue
        path = Path(str(value).strip()).expanduser()
        if not path.is_absolute() and root is not None:
            path = Path(root) / path
        try:
            if path.is_dir():
                found[key] = path
        except OSError:
            continue
    return found


def check_cache_outside_dataset(root: Path | None, options: Mapping[str, Any], defaults: Mapping[str, Any],
                                cache_dir: Path | None) -> None:
    """``check_cache_outside`` for ``root`` and every folder the dataset's ``options`` name (``option_folders``);
    called before the cache folder is created, so a refused cache leaves nothing behind."""
    check_cache_outside(root, cache_dir)
    for key, folder in option_folders(root, options, defaults).items():
        check_cache_outside(folder, cache_dir, f"dataset.{key}={options[key]}")


def decode_image(blob: bytes, flag: int) -> np.ndarray | None:
    """An image file's bytes decoded with OpenCV ``flag``, or ``None`` when they are empty or not an image."""
    import cv2  # OpenCV loads when the first image is decoded, not when a command starts

    if not blob:
        return None
    try:
        with opencv_errors_only(cv2):
            return cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), flag)
    except cv2.error:
        return None


@contextmanager
def opencv_errors_only(cv2: Any) -> Iterator[None]:
    """OpenCV's own log at errors only meanwhile, then as it was: a damaged file gets merbench's message alone, not
    also OpenCV's warning (``[ WARN:0@0.1] global grfmt_png.cpp:793 ... PNG input buffer is incomplete``). Set
    where OpenCV decodes, so worker processes, which import OpenCV themselves, are quiet too."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None or not hasattr(logging, "getLogLevel"):  # an OpenCV without its logging API
        yield
        return
    before = logging.getLogLevel()
    logging.setLogLevel(min(before, logging.LOG_LEVEL_ERROR))  # lower is quieter: SILENT 0, ERROR 2, WARNING 3
    try:
        yield
    finally:
        logging.setLogLevel(before)


def bit_depth_problem(frame: np.ndarray) -> str | None:
    """Why a decoded frame cannot be used as it is (``is a 16-bit image (values 7..4091); ...``), or ``None`` for an
    8-bit one. ``BIT_DEPTH_FIX`` says what to do; ``merbench datasets check`` reports the same words.

    A frame of more than 8 bits (a 16-bit PNG or TIFF) is refused rather than reduced: OpenCV would keep its high
    byte only, which leaves 12-bit camera data stored in 16 bits (0..4095) with a sixteenth of its contrast, and
    how the frames should be scaled (by the camera's bit depth) only their owner knows.
    """
    if frame.dtype == np.uint8:
        return None
    bits = f"{frame.dtype.itemsize * 8}-bit{' floating-point' if frame.dtype.kind == 'f' else ''}"
    low, high = (float(v) for v in (frame.min(), frame.max()))
    reads = "8-bit images (0..255 per channel)" if frame.ndim == 3 else "8-bit grey frames"
    return (f"is a {bits} image (values {low:g}..{high:g}); merbench reads {reads}, and keeping the high "
            "byte of each value would leave data of fewer bits (12-bit: 0..4095) with a fraction of its contrast")


IMAGE_DECODING = 1 | 2  # cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH, without importing OpenCV here
"""How a precomputed image is decoded: in colour, at its own bit depth (``bit_depth_problem`` then refuses more
than 8 bits; OpenCV's plain colour decoding would keep a 16-bit image's high byte)."""

IMAGE_BIT_DEPTH_FIX = ("store it with 8 bits per channel (0..255), as the precomputed flow images of MER repositories "
                       "are, scaled as its maker scaled it")
"""What to do with a precomputed image of more than 8 bits (``bit_depth_problem``)."""


STRAIN_MIN_SIDE = 2
"""The fewest pixels each way a frame needs for optical strain (``numpy.gradient`` of the flow, the ``strain`` channel
of the default chain, ``flow``). The flow itself is no bound: TV-L1 and Farneback take frames from 1×1 up, and so do
the other channels (checked with OpenCV 4.14); DIS needs more, and says so itself."""

STRAIN_SIZE_FIX = "leave strain out of a run (--set flow.channels={channels}), or use larger frames"
"""What to do with frames too thin for optical strain (``strain_size_problem``); ``{channels}``: the other channels
(``u,v`` by default)."""


def strain_size_problem(height: int, width: int) -> str | None:
    """Why frames of ``width``×``height`` pixels give no optical strain (``W×H pixels, and optical strain ... needs at
    least 2 pixels each way``), or ``None`` when they do; a run and ``merbench datasets check`` say the same words."""
    if min(height, width) >= STRAIN_MIN_SIDE:
        return None
    return (f"{width}×{height} pixels, and optical strain (flow.channels holds strain, as by default) needs at least "
            f"{STRAIN_MIN_SIDE} pixels each way")


def undecodable(blob: bytes) -> str:
    """Why an image file with bytes ``blob`` cannot be decoded, in words."""
    return "is empty (0 bytes)" if not blob else "is not a readable image"


def folder_stamps(root: Path | None) -> dict[str, int]:
    """Every folder under ``root`` (relative path → modification time in ns); empty without a root. Creating,
    removing or renaming a file changes its folder's time, so two snapshots tell whether anything was written
    there (merbench never writes inside a dataset root; a plugin or another program may)."""
    if root is None or not Path(root).is_dir():
        return {}
    import os

    stamps: dict[str, int] = {}
    for folder, _, _ in os.walk(root, onerror=lambda error: None):
        try:
            stamps[os.path.relpath(folder, root)] = os.stat(folder).st_mtime_ns
        except OSError:
            continue
    return stamps


def written_inside(root: Path | None, before: dict[str, int]) -> str | None:
    """A warning when folders under ``root`` changed since ``before`` (``folder_stamps``), naming the first; else None."""
    if not before:
        return None
    after = folder_stamps(root)
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    if not changed:
        return None
    first = Path(root) / changed[0] if changed[0] != "." else Path(root)
    more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
    return (f"something wrote inside the dataset root {root} while merbench read it ({first}{more} changed): merbench "
            "never writes there, so a dataset or preprocessor plugin did (report it to its author), or another program")


def lies_inside(path: Path | str, folder: Path | str, itself: bool = False) -> bool:
    """Whether ``path`` lies inside ``folder`` (or, with ``itself``, is it), as written (absolute, ``..`` folded, links
    not followed) or with links resolved, either against either form of ``folder``: a file under a dataset folder
    reached through a link in it (a clip folder kept on another disk) is inside that dataset too, and so is one
    reached through a link leading into it."""
    roots = _forms(folder)
    return any(root in place.parents or (itself and place == root) for place in _forms(path) for root in roots)


def _forms(place: Path | str) -> set[Path]:
    """``place`` as written (absolute, ``..`` folded) and with links resolved; as written only for a link loop or an
    unreadable folder."""
    written = Path(os.path.abspath(Path(place).expanduser()))
    try:
        return {written, resolved_path(place)}
    except (OSError, RuntimeError):
        return {written}


_SCANS: dict[tuple[str, str, str], tuple[dict[str, int], list[tuple[Path, Path]]]] = {}
"""``dataset_links``' answers in this process, by folder (as given, absolute, resolved), each with the modification
times of the folders it listed: a command checks several outputs against one dataset, and resolving every link of
a large tree of links each time cost seconds."""


LINK_SCAN_ENTRIES = 200_000
"""How many entries of a dataset folder ``dataset_links`` lists at most (a few tenths of a second): enough for every
entry of a CASME II or SAMM release. Listed breadth first, so that in a larger tree only the deepest entries past the
bound (frame files of the last clips listed) go unscanned, never a part, subject or clip folder above them."""


def dataset_links(folder: Path | str) -> list[tuple[Path, Path]]:
    """The symbolic links inside the dataset folder ``folder``, at any depth (a part, subject or clip folder, or a
    single frame file, kept on another disk), each with its target resolved; what a link in a dataset leads to is
    read as part of that dataset. A linked folder's own entries are listed too, each folder once (a loop of links
    ends); a link that cannot be resolved (a loop), or that leads to ``folder`` or a folder above it (it adds nothing
    to the dataset), is left out and not entered. At most ``LINK_SCAN_ENTRIES`` entries are listed, breadth first.
    Kept for the process while none of the listed folders changes."""
    try:
        home = resolved_path(folder)
    except (OSError, RuntimeError):
        return []
    key = (str(folder), os.path.abspath(folder), str(home))
    known = _SCANS.get(key)
    if known is not None and _stamps(known[0]) == known[0]:
        return list(known[1])
    listed: dict[str, int] = {}
    found = []
    for link in _links_below(str(folder), listed):
        try:
            target = resolved_path(link)
        except (OSError, RuntimeError):
            continue
        if target != home and target not in home.parents:
            found.append((link, target))
    _SCANS[key] = (listed, found)
    return list(found)


def _links_below(folder: str, listed: dict[str, int]) -> Iterator[Path]:
    """The symbolic links under ``folder``, breadth first, entering linked folders too (but none that leads to
    ``folder`` or above it), each folder once, up to ``LINK_SCAN_ENTRIES`` entries; ``listed`` gets the modification
    time of each folder listed."""
    home = os.path.realpath(folder)
    waiting, entered, entries = deque([folder]), set(), 0
    while waiting:
        place = waiting.popleft()
        try:
            stat = os.stat(place)
            if (stat.st_dev, stat.st_ino) in entered:
                continue
            entered.add((stat.st_dev, stat.st_ino))
            listed[os.path.abspath(place)] = stat.st_mtime_ns  # before listing: a change then shows next time
            listing = os.scandir(place)
        except OSError:
            continue
        with listing:
            for entry in listing:
                entries += 1
                if entries > LINK_SCAN_ENTRIES:
                    warnings.warn(f"the scan of the dataset folder {folder} for links (and of the folders they lead "
                                  f"to) stopped after {LINK_SCAN_ENTRIES:,} entries, breadth first: a link among the "
                                  "entries past them was not found, so an output written through one would not be "
                                  "refused; keep outputs away from the folders the dataset's links lead to",
                                  stacklevel=2)
                    return
                try:
                    link, inner = entry.is_symlink(), entry.is_dir()
                except OSError:
                    continue
                if link:
                    yield Path(entry.path)
                    inner = inner and not os.path.join(home, "").startswith(os.path.join(os.path.realpath(entry), ""))
                if inner:
                    waiting.append(entry.path)


def _stamps(folders: Mapping[str, int]) -> dict[str, int]:
    """The modification times of ``folders`` now (-1 for one that cannot be read)."""
    stamps = {}
    for folder in folders:
        try:
            stamps[folder] = os.stat(folder).st_mtime_ns
        except OSError:
            stamps[folder] = -1
    return stamps


def link_holding(path: Path | str, folder: Path | str) -> tuple[Path, Path] | None:
    """The link of the dataset folder ``folder`` (``dataset_links``) whose target ``path`` is or lies inside (the
    nearest such target), with that target, or None."""
    links = dataset_links(folder)
    if not links:
        return None
    by_target: dict[Path, Path] = {}
    for link, target in links:
        by_target.setdefault(target, link)
    for place in _forms(path):
        if place in by_target:
            return by_target[place], place
        for above in place.parents:  # only a folder holds anything: a file link's target is matched by equality
            if above in by_target and above.is_dir():
                return by_target[above], above
    return None


def resolved_path(path: Path | str) -> Path:
    """``Path(path).expanduser().resolve()``, raising ``RuntimeError`` for a symbolic link loop on every Python:
    before 3.13 ``resolve`` raised it, since 3.13 it returns the path it stopped at, which is still a link (a file
    written there would replace the user's link)."""
    target = Path(path).expanduser().resolve()
    if target.is_symlink():
        raise RuntimeError(f"Symlink loop from {str(path)!r}")
    return target
