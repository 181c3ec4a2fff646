"""Dataset ``smic``: SMIC (Li et al. 2013), labels read from the folder names.

Expected under ``--root``: ``HS/s1/micro/negative/s1_ne_01/image000123.bmp``
(and ``VIS/…``, ``NIR/…`` for the other subsets; the subset folder may be one
level below ``--root``, e.g. ``SMIC_all_raw/HS``, or ``--root`` itself).
``dataset.subset``: ``hs`` (default), ``vis`` or ``nir``. Classes: negative,
positive, surprise. SMIC has no apex annotation: every sample has ``apex=None``
and spans its whole folder (onset = first frame, offset = last); the
preprocessor picks the frame (the middle one by default) and the run records
the rule. A clip needs at least 3 frames (with 2, the middle one is the
onset). ``non_micro`` folders and hidden folders (``.AppleDouble``,
``@eaDir``) are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from merbench.contracts import Dataset
from merbench.datafiles import check_cache_outside
from merbench.errors import DataError, UsageError
from merbench.escaping import visible_text
from merbench_plugins.datasets.common import (
    COMPOSITE_CLASSES,
    Entry,
    LoadLog,
    Part,
    Placed,
    SkipRow,
    as_bool,
    check_root,
    find_dir,
    folders_in,
    has_odd_characters,
    list_frames,
    middle_is_onset,
    missing_frames,
    to_dataset,
    unnumbered_images,
    unreadable,
)
from merbench_plugins.datasets.fixes import choose_mode, empty_report
from merbench.wording import counted

SUBSETS = ("hs", "vis", "nir")
CLIP = re.compile(r"(s\d+)_(ne|po|sur)_\d+", re.IGNORECASE)
CODES = {"ne": "negative", "po": "positive", "sur": "surprise"}


def subset_folder(root: Path, subset: str, given: str = "--root") -> Path:
    """The folder of one subset: ``root/HS``, ``root/*/HS`` or ``root`` when it is that folder (``given``: the
    option that gives ``root``, named in the fix)."""
    if subset not in SUBSETS:
        raise UsageError(f"dataset.subset={subset}: choose one of {', '.join(SUBSETS)}")
    if root.name.lower() == subset:
        return root
    folder = find_dir(root, (subset.upper(),))
    if folder is None:
        raise DataError(
            f"expected the folder {subset.upper()}/ in {root} "
            f"(SMIC layout {subset.upper()}/s1/micro/negative/s1_ne_01/image000123.bmp); "
            f"give the folder of your SMIC copy, which holds {subset.upper()}/, with {given}"
        )
    return folder


def hidden(folder: Path) -> bool:
    """A folder of system metadata (``.AppleDouble``, Synology ``@eaDir``), not part of the release."""
    return folder.name.startswith((".", "@"))


def subfolders(folder: Path) -> list[Path]:
    """The folders in ``folder`` that are not ``hidden``, sorted by name; a DataError naming it when it cannot be read."""
    return [d for d in folders_in(folder) if not hidden(d)]


SYSTEM_FILES = {"thumbs.db", "desktop.ini"}  # written by file browsers beside any folder of images


def stray_files(folder: Path) -> list[Path]:
    """The files in a class folder, where only clip folders belong (an archive not unpacked, a clip saved as a
    video): sorted by name, without hidden and file-browser files."""
    try:
        return sorted(p for p in folder.iterdir()
                      if not p.is_dir() and not hidden(p) and p.name.lower() not in SYSTEM_FILES)
    except OSError as exc:
        raise unreadable(folder, exc) from None


def skip_other_folder(other: Path, root: Path, log: LoadLog) -> None:
    """Log a folder beside the subject folders that is not one: a subject folder whose name differs from ``s<N>``
    only in spaces or invisible characters (``s2 ``) has each of its clips skipped (they are the release's, so
    rows), its name quoted so the difference shows; any other folder has the clips it holds in the subject layout
    (``micro/<class>/<clip>``) skipped, or is one skipped entry when it holds none, so that the rows skipped count
    what is lost."""
    shown = f"{other.parent.relative_to(root).as_posix()}/{other.name!r}"
    clips = [clip for micro in subfolders(other) if micro.name.lower() == "micro"
             for class_dir in subfolders(micro) for clip in subfolders(class_dir)]
    if not re.fullmatch(r"s\d+", visible_text(other.name), re.IGNORECASE):
        name = other.relative_to(root) if not has_odd_characters(other.name) else shown
        reason = f"{name} is not a subject folder s<N> (s1, s2, …): rename it to include its clips"
        for clip in clips:
            log.rows += 1
            log.skip(None, f"{other.name}/{clip.name}", f"in {reason}")
        if not clips:
            log.skip(None, other.name, reason)
        return
    subject = visible_text(other.name).lower()
    reason = (f"in {shown}, whose name differs from {subject!r} only in spaces or invisible characters: rename the "
              f"folder {subject!r} to include its clips")
    for clip in clips:
        log.rows += 1
        log.skip(None, f"{subject}/{clip.name}", reason)
    if not clips:
        log.skip(None, other.name, f"{shown} is not a subject folder s<N>: its name differs from {subject!r} only in "
                                   f"spaces or invisible characters; rename it {subject!r}")


def read_part(root: Path, subset: str = "hs", domain: str | None = None, given: str = "--root") -> Part:
    """Read one SMIC subset under ``root``: every ``s*/micro/<class>/<clip>/`` folder is a sample (``given``: the
    option that gives ``root``, named in the fix when the subset folder is not there)."""
    subset = str(subset).strip().lower()
    folder = subset_folder(root, subset, given)
    domain = domain or ("smic" if subset == "hs" else f"smic-{subset}")
    log = LoadLog(domain)
    entries: list[Entry] = []
    subjects = sorted((d for d in subfolders(folder) if re.fullmatch(r"s\d+", d.name, re.IGNORECASE)),
                      key=lambda d: (int(d.name[1:]), d.name))
    if not subjects:
        raise DataError(f"{folder}: no subject folders s1, s2, …; expected {folder.name}/s1/micro/negative/s1_ne_01/")
    for other in (d for d in subfolders(folder) if d not in subjects):
        skip_other_folder(other, root, log)
    for subject_dir in subjects:
        subject = subject_dir.name.lower()
        micro = next((d for d in subfolders(subject_dir) if d.name.lower() == "micro"), None)
        if micro is None:
            log.skip(None, subject, f"no micro/ folder in {subject_dir.relative_to(root)}")
            continue
        for class_dir in subfolders(micro):
            label = class_dir.name.lower()
            if label not in COMPOSITE_CLASSES:
                raise DataError(
                    f"{class_dir}: unknown class folder '{class_dir.name}'; SMIC classes are {', '.join(COMPOSITE_CLASSES)}"
                )
            for stray in stray_files(class_dir):  # a clip that is not a folder is still a clip of the release
                log.rows += 1
                log.skip(None, f"{subject}/{stray.name}", f"{stray.relative_to(root)} is a file, not a clip folder of "
                                                          "frames; unpack it (an archive) or remove it")
            for clip_dir in subfolders(class_dir):
                log.rows += 1
                sample_id = f"{subject}/{clip_dir.name}"
                log.claim(sample_id, None, str(root), clip_dir.relative_to(root).as_posix())
                match = CLIP.fullmatch(clip_dir.name)
                if match and CODES[match.group(2).lower()] != label:
                    log.skip(None, sample_id, f"clip name says {CODES[match.group(2).lower()]} but it lies in {label}/")
                    continue
                if match and int(match.group(1)[1:]) != int(subject[1:]):  # s01_ne_01 in s1/ is fine
                    log.skip(None, sample_id, f"clip name says subject {match.group(1).lower()} but it lies in "
                                              f"{subject_dir.relative_to(root)}/; move it to its subject's folder")
                    continue
                try:
                    frames = list_frames(clip_dir, root)
                except SkipRow as exc:
                    log.skip(None, sample_id, str(exc))
                    continue
                if len(frames) < 2:
                    log.skip(None, sample_id,
                             f"{clip_dir.relative_to(root)} holds {counted(frames, 'image file')}; need at least 3"
                             f"{unnumbered_images(clip_dir)}")
                    continue
                if len(frames) < 3:
                    log.skip(None, sample_id, middle_is_onset(len(frames), f"in {clip_dir.relative_to(root)}",
                                                              "add the clip's other frames"))
                    continue
                numbers = list(frames)
                placed = Placed(tuple(frames.values()), 0, None, len(frames) - 1,
                                gaps=missing_frames(numbers, numbers[0], numbers[-1]))
                log.placed(None, sample_id, placed)
                entries.append(Entry(None, sample_id, subject, label, placed, {"clip": clip_dir.name}))
    info = {
        "root": str(root),
        "subset": subset,
        "frames_folder": str(folder),
        "annotation": "(folder names: SMIC has no coding sheet)",
        "apex": "not annotated in SMIC: the preprocessor chooses (middle frame by default)",
        "class_set_names": list(COMPOSITE_CLASSES),
    }
    classes = tuple(c for c in COMPOSITE_CLASSES if any(e.label == c for e in entries))
    return Part(domain, classes, entries, log, info)


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Load one SMIC subset from ``root`` (``dataset.subset``: hs, vis or nir)."""
    root = check_root(root, "smic")
    check_cache_outside(root, cache_dir)
    part = read_part(root, str(options["subset"]))
    part.info["annotation_fixes"] = empty_report(choose_mode(options.get("fixes", "known")))  # SMIC has no known fixes
    return to_dataset("smic", part, as_bool(options["strict"]))
