"""Dataset ``4dme``: 4DME micro-expressions (Li et al. 2022), objective emotion classes, multi-label rows.

Expected under ``--root`` (or one folder below it):

* ``4DME_Labelling_Micro_release v1.xlsx`` (the ``…_extras_release`` file is not
  read): ``sub_ID``, ``fold_name`` (the clip folder), ``Emotion``, ``Onset``,
  ``Apex``, ``Offset`` (absolute frame numbers, int, float or text), ``AUs``;
  headers and values may carry a trailing apostrophe (``sub_ID'``, ``12'``);
* frames ``gray_micro/{sub_ID}/{fold_name}/…{N}.jpg`` (or ``gray_micro_crop/``;
  jpg, png or bmp; file names end with the absolute frame number). The summary's
  ``frames`` names the copy read (``raw`` or ``cropped``), so that a re-run of
  ``dataset.frames=auto`` reads that copy again.

``Emotion`` holds one or two of Positive, Negative, Surprise, Repression,
Others joined by ``+`` (``Surprise+Positive``); every sample's ``extra["emotions"]``
lists them. ``dataset.classes``: ``5`` (default; the five categories) or ``3``
(negative ← negative, repression; positive; surprise; others dropped). A row
whose labels map to two classes is skipped (``dataset.multilabel=skip``, the
default) or kept with its first label (``first``); both are reported.
``sub_ID`` values with a session suffix (``S13_1st``, ``S49_2``) are counted as
one subject (``S13``) for subject-independent protocols, and reported.
``dataset.fixes=known`` swaps the annotations of data rows 144 and 145 of the
267-row release (MEB ``Fourd``).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from merbench.contracts import Dataset
from merbench.datafiles import check_cache_outside
from merbench.errors import DataError, UsageError
from merbench_plugins.datasets.aus import parse_aus
from merbench_plugins.datasets.common import (
    cell_value,
    Entry,
    LoadLog,
    MissingColumn,
    Part,
    SkipRow,
    as_bool,
    check_root,
    choose_classes,
    find_dir,
    find_one,
    folder_cell,
    folders_in,
    norm,
    order_classes,
    place_clip,
    read_sheet,
    to_dataset,
    frame_numbers,
)
from merbench_plugins.datasets.fixes import MEB, choose_mode, empty_report

EMOTIONS = ("positive", "negative", "surprise", "repression", "others")
ALIASES = {"other": "others", "postive": "positive"}
CLASS_SETS: dict[str, dict[str, str]] = {
    "5": {e: e for e in EMOTIONS},
    "3": {"negative": "negative", "repression": "negative", "positive": "positive", "surprise": "surprise"},
}
CANONICAL = {"5": EMOTIONS, "3": ("negative", "positive", "surprise")}
SHEET_PATTERNS = ("4DME_Labelling_Micro_release*.xlsx", "4DME_Labelling_Micro_Release*.xlsx")
COLUMNS = {"subject": "sub_ID", "filename": "fold_name", "emotion": "Emotion", "onset": "Onset", "apex": "Apex",
           "offset": "Offset"}
OPTIONAL = {"aus": "AUs"}
RELEASE_ROWS = 267
SWAPPED = (144, 145)
"""0-based data rows whose annotations (AUs onwards) MEB swaps back."""
FRAME_FOLDERS = {"raw": ("gray_micro",), "cropped": ("gray_micro_crop", "gray_micro_cropped")}


def clean(value: Any) -> Any:
    """A cell without the trailing apostrophe some 4DME sheets carry (``12'``)."""
    return value.strip().rstrip("'").strip() if isinstance(value, str) else value


def read_4dme_sheet(path: Path):
    """The main sheet, with plain headers or headers ending in an apostrophe (``sub_ID'``), not a mix of both."""
    try:
        return read_sheet(path, COLUMNS, OPTIONAL, anchors=("sub_ID", "fold_name"))
    except MissingColumn as plain:
        raise mixed_headers(path, plain) from None
    except DataError as plain:
        if "no header row" not in str(plain):
            raise
        quoted = {k: f"{v}'" for k, v in COLUMNS.items()}
        try:
            return read_sheet(path, quoted, {k: f"{v}'" for k, v in OPTIONAL.items()}, anchors=("sub_ID'", "fold_name'"))
        except MissingColumn as missing:
            raise mixed_headers(path, missing) from None
        except DataError:
            raise plain from None


def mixed_headers(path: Path, missing: MissingColumn) -> DataError:
    """The error for a header row missing a column: which headers differ when some end in an apostrophe and some not."""
    known = {norm(title) for title in (*COLUMNS.values(), *OPTIONAL.values())}
    headers = [h for h in missing.header if norm(h.rstrip("'")) in known]
    quoted = [h for h in headers if h.endswith("'")]
    plain = [h for h in headers if not h.endswith("'")]
    if not quoted or not plain:
        return missing
    odd, mark = (plain, "end in '") if len(quoted) >= len(plain) else (quoted, "have no trailing '")
    return DataError(f"{path} row {missing.row}: the headers {mark} except {', '.join(odd)}; "
                     "make them all alike (all with or all without the ')")


def base_subject(raw: str) -> str:
    """``S13_1st``, ``S59_2,`` or ``S13`` → ``S13``; a bare number ``13`` → ``S13``."""
    match = re.match(r"([A-Za-z]*)(\d+)", raw)
    if not match:
        raise ValueError(raw)
    return f"{match.group(1).upper() or 'S'}{match.group(2)}"


def swap_fix(rows: list[tuple[int, dict[str, Any]]], mode: str) -> dict[str, Any]:
    """MEB's fix: the annotations of data rows 144 and 145 belong to each other's clip (release v1 only)."""
    report = empty_report(mode)
    if mode == "none":
        return report
    source = f"{MEB} Fourd: rows {SWAPPED[0]} and {SWAPPED[1]} swapped from the AU column rightwards (release v1)"
    if len(rows) != RELEASE_ROWS:
        report["not_applied"].append({"sample": f"data rows {SWAPPED[0]} and {SWAPPED[1]}", "row": None, "field": "AUs, Emotion",
                                      "old": None, "new": "swapped", "source": source,
                                      "reason": f"the sheet has {len(rows)} rows, not the {RELEASE_ROWS} of release v1"})
        return report
    (row_a, a), (row_b, b) = rows[SWAPPED[0]], rows[SWAPPED[1]]
    for (row, cells), other in (((row_a, a), b), ((row_b, b), a)):
        report["applied"].append({"sample": f"{clean(cells['subject'])}/{clean(cells['filename'])}", "row": row,
                                  "field": "AUs, Emotion", "old": f"{clean(cells.get('aus'))}, {clean(cells['emotion'])}",
                                  "new": f"{clean(other.get('aus'))}, {clean(other['emotion'])}", "source": source})
    for key in ("aus", "emotion"):
        a[key], b[key] = b[key], a[key]
    return report


class ClipFolders:
    """The clip folders of one frame folder (``gray_micro/`` or its crop), ``{sub_ID}/{fold_name}/``, matched without
    case and a stray trailing ``-`` on the folder name."""

    def __init__(self, base: Path, kind: str):
        self.base, self.kind = base, kind
        self.subjects = {c.name.lower(): c for c in folders_in(base)}
        self._clips: dict[str, dict[str, Path]] = {}

    def find(self, raw_subject: str, clip: str) -> Path | None:
        """The folder of clip ``clip`` of ``raw_subject`` (``None``: not in this frame folder)."""
        key = raw_subject.lower()
        if key not in self._clips:
            subject = self.subjects.get(key)
            self._clips[key] = {c.name.lower().rstrip("-"): c for c in folders_in(subject)} if subject else {}
        return self._clips[key].get(clip.lower())


def clip_key(cells: dict[str, Any]) -> tuple[str, str]:
    """A sheet row's ``(sub_ID, fold_name)`` as the clip folders are named (apostrophes and a trailing comma gone)."""
    return str(clean(cells["subject"]) or "").rstrip(","), str(clean(cells["filename"]) or "")


def frame_folders(root: Path, frames: str) -> dict[str, Path]:
    """The frame folders ``dataset.frames`` may read (``cropped`` and ``raw`` for ``auto``), by kind; a DataError
    when there is none."""
    kinds = ("cropped", "raw") if frames == "auto" else (frames,)
    found = {}
    for kind in kinds:
        folder = next((f for f in (find_dir(root, (n,), depth=2) for n in FRAME_FOLDERS[kind]) if f is not None), None)
        if folder is not None:
            found[kind] = folder
    if not found:
        names = [n + "/" for kind in kinds for n in FRAME_FOLDERS[kind]]
        raise DataError(f"expected the frame folder {' or '.join(names)} in {root} "
                        "(gray_micro/S01/<fold_name>/<frame>.jpg)")
    if frames == "cropped":  # named in a skipped row's reason when a clip is only in gray_micro/
        raw = find_dir(root, FRAME_FOLDERS["raw"], depth=2)
        if raw is not None:
            found["raw"] = raw
    return found


def choose_frames(root: Path, found: dict[str, Path], keys: list[tuple[str, str]],
                  frames: str = "auto") -> tuple[ClipFolders, ClipFolders | None]:
    """The clip folders read and the other copy, named when a clip is only there (``None``: none), from
    ``frame_folders``'s ``found``.

    ``dataset.frames=auto`` with both copies reads the crop when it holds every clip of the sheet that
    ``gray_micro/`` holds, and ``gray_micro/`` when the crop holds none of them (an empty or unrelated crop folder);
    a crop that holds some but not all is a DataError naming the first missing clip and the fixes, so a run never
    trains on the part cropped so far. ``dataset.frames=cropped`` reads the crop as it is.
    """
    kind = next(iter(found))
    clips = ClipFolders(found[kind], kind)
    if kind == "raw" or len(found) == 1:
        return clips, None
    raw = ClipFolders(found["raw"], "raw")
    if frames == "cropped":
        return clips, raw
    wanted = [key for key in keys if raw.find(*key) is not None]
    missing = [key for key in wanted if clips.find(*key) is None]
    if not missing:
        return clips, raw
    if len(missing) == len(wanted):
        return raw, None
    crop, full = clips.base.relative_to(root), raw.base.relative_to(root)
    raise DataError(f"{crop}/ lacks {len(missing)} of the {len(wanted)} clips of the sheet that {full}/ holds (first "
                    f"{'/'.join(missing[0])}); merbench will not train on part of the crop: finish the crop, or read "
                    f"the uncropped frames with --set dataset.frames=raw (dataset.frames=cropped reads the crop as it "
                    "is, skipping the clips it lacks)")


def read_part(root: Path, classes: str = "5", frames: str = "auto", multilabel: str = "skip", fixes: str = "known",
              domain: str = "4dme") -> Part:
    """Read 4DME under ``root`` into a ``Part`` (see the module docstring for the options)."""
    classes = choose_classes(classes, CLASS_SETS, "4dme")
    if multilabel not in ("skip", "first"):
        raise UsageError(f"dataset.multilabel={multilabel}: choose skip or first (what to do with a row of two classes)")
    if frames not in ("auto", "raw", "cropped"):
        raise UsageError(f"dataset.frames={frames}: choose auto, raw (gray_micro/) or cropped (gray_micro_crop/)")
    sheet_path = find_one(root, SHEET_PATTERNS, "4DME", depth=2)
    found = frame_folders(root, frames)
    sheet = read_4dme_sheet(sheet_path)
    clips, other = choose_frames(root, found, [clip_key(cells) for _, cells in sheet.rows], frames)
    base = clips.base
    report = swap_fix(sheet.rows, choose_mode(fixes))
    log = LoadLog(domain)
    log.rows = len(sheet.rows)
    mapping = CLASS_SETS[classes]
    entries: list[Entry] = []
    for row, cells in sheet.rows:
        cells = {k: clean(v) for k, v in cells.items()}
        raw_subject, clip = clip_key(cells)
        folder_cell(sheet_path, row, "sub_ID", raw_subject, "S01")
        folder_cell(sheet_path, row, "fold_name", clip, "S01_001_01_1")
        try:
            subject = base_subject(raw_subject)
        except ValueError:
            raise DataError(f"{sheet_path} row {row}: sub_ID {cells['subject']!r} is not a subject id like S01") from None
        sample = f"{raw_subject}/{clip}"
        log.claim(sample, row, str(sheet_path))
        emotions = [e.strip().lower() for e in re.split(r"[+,]", str(cells["emotion"] or "")) if e.strip()]
        emotions = [ALIASES.get(e, e) for e in emotions]
        unknown = [e for e in emotions if e not in EMOTIONS]
        if unknown or not emotions:
            raise DataError(f"{sheet_path} row {row} ({sample}): {cell_value('emotion', cells['emotion'], 'unknown ')}; "
                            f"expected one or two of {', '.join(e.title() for e in EMOTIONS)} joined by +")
        labels = list(dict.fromkeys(mapping[e] for e in emotions if e in mapping))
        if not labels:
            log.dropped["+".join(emotions)] += 1
            continue
        if len(labels) > 1 and multilabel == "skip":  # chosen, not a fault of the copy: dataset.strict accepts it
            log.by_option["dataset.multilabel=skip"] += 1
            continue
        folder = clips.find(raw_subject, clip)
        try:
            onset, apex, offset = frame_numbers(cells)
            placed = place_clip(folder or base / raw_subject / clip, root, onset, apex, offset)
        except SkipRow as exc:
            elsewhere = other.find(raw_subject, clip) if other is not None and folder is None else None
            hint = (f"; it is in {elsewhere.relative_to(root)}: --set dataset.frames={other.kind} reads that copy"
                    if elsewhere is not None else "")
            log.skip(row, sample, f"{exc}{hint}")
            continue
        notes = [placed.fix] if placed.fix else []
        if len(labels) > 1:
            notes.append(f"two classes ({'+'.join(labels)}); kept the first (dataset.multilabel=first)")
        if subject.lower() != raw_subject.lower():
            notes.append(f"sub_ID {raw_subject} counted as subject {subject} (a session of the same person)")
        log.placed(row, sample, dataclasses.replace(placed, fix="; ".join(notes) or None))
        extra = {"emotion": "+".join(emotions), "emotions": emotions, "sub_id": raw_subject, "row": row,
                 **parse_aus(cells.get("aus"))}
        entries.append(Entry(row, sample, subject, labels[0], placed, extra))
    info = {"root": str(root), "annotation": str(sheet_path), "header_row": sheet.header_row, "frames": clips.kind,
            "frames_folder": str(base), "class_set": classes, "class_set_names": list(CANONICAL[classes]), "multilabel": multilabel,
            "annotation_fixes": report}
    return Part(domain, order_classes((e.label for e in entries), CANONICAL[classes]), entries, log, info)


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Load 4DME from ``root`` (see the module docstring for the options)."""
    root = check_root(root, "4dme")
    check_cache_outside(root, cache_dir)
    part = read_part(root, str(options["classes"]), str(options["frames"]), str(options["multilabel"]).strip().lower(),
                     str(options.get("fixes", "known")))
    return to_dataset("4dme", part, as_bool(options["strict"]))
