"""Dataset ``mmew``: the micro-expression part of MMEW (Ben et al. 2021).

Expected under ``--root`` (or one folder below it):

* ``MMEW_Micro_Exp.xlsx`` (also a re-downloaded ``MMEW_Micro_Exp (20).xlsx``):
  ``Subject`` (1–30), ``Filename`` (``S01-01-001``: subject, emotion index,
  sample), ``OnsetFrame`` (1: clips are pre-trimmed), ``ApexFrame``,
  ``OffsetFrame``, ``Action Units``, ``Estimated Emotion``, ``remarks`` (ignored);
* frames ``Micro_Expression/{emotion}/{Filename}/{N}.jpg`` (N = 1…, no padding),
  also with a subject level (``Micro_Expression/S03/happiness/S03-01-002/``).
  The sheet's ``others`` clips lie in a folder ``repression`` or ``others``;
  clip folders are found by name wherever they are below ``Micro_Expression/``.

``dataset.classes``: ``7`` (default: happiness, surprise, disgust, fear,
sadness, anger, others), ``6`` (others dropped), ``4`` (happiness, surprise,
disgust, others) or ``3`` (negative ← disgust, fear, sadness, anger; positive ←
happiness; surprise; others dropped; this mapping is an assumption). ``dataset.fixes=known``
applies MEB's apex/offset corrections of 16 S04 and S13 clips (``fixes.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from merbench.contracts import Dataset
from merbench.datafiles import check_cache_outside
from merbench.errors import DataError
from merbench_plugins.datasets.aus import parse_aus
from merbench_plugins.datasets.common import (
    cell_value,
    Entry,
    LoadLog,
    Part,
    SkipRow,
    as_bool,
    check_root,
    choose_classes,
    find_dir,
    find_one,
    folders_in,
    norm,
    order_classes,
    place_clip,
    read_sheet,
    to_dataset,
    frame_numbers,
    searched_folders,
)
from merbench_plugins.datasets.fixes import apply_fixes

EMOTIONS = ("happiness", "surprise", "disgust", "fear", "sadness", "anger", "others")
ALIASES = {"repression": "others", "other": "others", "happy": "happiness", "sad": "sadness", "angry": "anger"}
CLASS_SETS: dict[str, dict[str, str]] = {
    "7": {e: e for e in EMOTIONS},
    "6": {e: e for e in EMOTIONS[:6]},
    "4": {e: e for e in ("happiness", "surprise", "disgust", "others")},
    "3": {"disgust": "negative", "fear": "negative", "sadness": "negative", "anger": "negative",
          "happiness": "positive", "surprise": "surprise"},
}
CANONICAL = {"7": EMOTIONS, "6": EMOTIONS[:6], "4": ("happiness", "surprise", "disgust", "others"),
             "3": ("negative", "positive", "surprise")}
SHEET_PATTERNS = ("MMEW_Micro_Exp*.xlsx",)
COLUMNS = {"subject": "Subject", "filename": "Filename", "onset": "OnsetFrame", "apex": "ApexFrame",
           "offset": "OffsetFrame", "emotion": "Estimated Emotion"}
OPTIONAL = {"aus": "Action Units"}
CLIP = re.compile(r"s(\d+)-(\d+)-(\d+)", re.IGNORECASE)


def subject_id(value: Any) -> str:
    """``1``, ``"01"`` or ``"S01"`` → ``S01``; ValueError otherwise."""
    match = re.fullmatch(r"s?0*(\d+)", str(value or "").strip().lower().removesuffix(".0"))
    if not match:
        raise ValueError(value)
    return f"S{int(match.group(1)):02d}"


def clip_folders(base: Path, depth: int = 3) -> dict[str, list[Path]]:
    """Folders named like ``S01-01-001`` up to ``depth`` levels below ``base``, by lower-case name.

    ``base`` must be readable (a DataError naming it); folders below it that cannot be read are passed over.
    """
    found: dict[str, list[Path]] = {}
    level = [base]
    folders_in(base)
    for _ in range(depth):
        level = [c for folder in level for c in searched_folders(folder)]
        for folder in level:
            if CLIP.fullmatch(folder.name):
                found.setdefault(folder.name.lower(), []).append(folder)
        level = [f for f in level if not CLIP.fullmatch(f.name)]
    return found


def read_part(root: Path, classes: str = "7", fixes: str = "known", domain: str = "mmew") -> Part:
    """Read MMEW's micro-expressions under ``root`` into a ``Part`` (see the module docstring)."""
    classes = choose_classes(classes, CLASS_SETS, "mmew")
    sheet_path = find_one(root, SHEET_PATTERNS, "MMEW", depth=2)
    base = find_dir(root, ("Micro_Expression", "Micro-Expression", "MicroExpression"), depth=2) or root
    folders = clip_folders(base)
    if not folders:
        raise DataError(f"no clip folders like S01-01-001 below {base}; expected Micro_Expression/happiness/S01-01-001/1.jpg")
    sheet = read_sheet(sheet_path, COLUMNS, OPTIONAL)

    def sample_of(cells: dict[str, Any]) -> str | None:
        try:
            return f"{subject_id(cells['subject'])}/{str(cells['filename'] or '').strip()}"
        except ValueError:
            return None

    report = apply_fixes(sheet.rows, "mmew", fixes, sample_of, {**COLUMNS, **OPTIONAL})
    log = LoadLog(domain)
    log.rows = len(sheet.rows)
    mapping = CLASS_SETS[classes]
    entries: list[Entry] = []
    for row, cells in sheet.rows:
        try:
            subject = subject_id(cells["subject"])
        except ValueError:
            raise DataError(f"{sheet_path} row {row}: {cell_value('Subject', cells['subject'])} is not a subject number (1..30)") from None
        filename = str(cells["filename"] or "").strip()
        sample = f"{subject}/{filename}"
        log.claim(sample, row, str(sheet_path))
        emotion = norm(cells["emotion"])
        emotion = ALIASES.get(emotion, emotion)
        if emotion not in EMOTIONS:
            raise DataError(f"{sheet_path} row {row} ({sample}): {cell_value('emotion', cells['emotion'], 'unknown ')}; "
                            f"expected one of {', '.join(EMOTIONS)}")
        match = CLIP.fullmatch(filename)
        if not match:
            log.skip(row, sample, f"Filename {filename!r} is not S<subject>-<emotion>-<sample> (e.g. S01-01-001)")
            continue
        if f"S{int(match.group(1)):02d}" != subject:
            log.skip(row, sample, f"Filename {filename} names subject {int(match.group(1))}, the Subject cell says {subject}")
            continue
        if emotion not in mapping:
            log.dropped[emotion] += 1
            continue
        places = folders.get(filename.lower(), [])
        if len(places) != 1:
            where = ", ".join(str(p.relative_to(base)) for p in places)
            log.skip(row, sample, f"clip folder {filename} found {len(places)} times below {base.name}/" + (f" ({where})" if where else ""))
            continue
        folder = places[0]
        try:
            onset, apex, offset = frame_numbers(cells)
            placed = place_clip(folder, root, onset, apex, offset)
        except SkipRow as exc:
            log.skip(row, sample, str(exc))
            continue
        log.placed(row, sample, placed)
        folder_emotion = ALIASES.get(folder.parent.name.lower(), folder.parent.name.lower())
        if folder_emotion in EMOTIONS and folder_emotion != emotion:
            log.fix(row, sample, f"the clip lies in {folder.parent.name}/ but the sheet says {emotion}; the sheet's label is used")
        extra = {"emotion": emotion, "emotion_folder": folder.parent.name, "row": row, **parse_aus(cells.get("aus"))}
        entries.append(Entry(row, sample, subject, mapping[emotion], placed, extra))
    info = {"root": str(root), "annotation": str(sheet_path), "header_row": sheet.header_row, "frames_folder": str(base),
            "class_set": classes, "class_set_names": list(CANONICAL[classes]), "annotation_fixes": report}
    return Part(domain, order_classes((e.label for e in entries), CANONICAL[classes]), entries, log, info)


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Load MMEW's micro-expressions from ``root`` (see the module docstring for the options)."""
    root = check_root(root, "mmew")
    check_cache_outside(root, cache_dir)
    part = read_part(root, str(options["classes"]), str(options.get("fixes", "known")))
    return to_dataset("mmew", part, as_bool(options["strict"]))
