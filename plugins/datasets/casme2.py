"""Dataset ``casme2``: CASME II (Yan et al. 2014) from the release's coding sheet and frame tree.

Expected under ``--root`` (or one folder below it):

* ``CASME2-coding-*.xlsx`` (e.g. ``CASME2-coding-20140508.xlsx``): ``Subject``
  (1 → folder ``sub01``), ``Filename``, ``OnsetFrame``, ``ApexFrame``,
  ``OffsetFrame``, ``Action Units``, ``Estimated Emotion``; header cells may
  carry stray spaces, unnamed columns are ignored;
* the raw tree ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` and/or the
  cropped one ``Cropped/sub01/EP02_01f/reg_img46.jpg`` (with or without ``reg_``).
  ``dataset.frames=auto`` takes the cropped tree when both are present.

``dataset.classes``: ``5`` (happiness, disgust, repression, surprise, others),
``3`` (the MEGC2019 composite: negative, positive, surprise) or ``all``. A row
whose apex is ``/`` or empty keeps ``apex=None`` (the preprocessor uses the
middle frame) and is counted in the summary; it needs 3 frames from onset to
offset, else it is skipped (its middle frame would be the onset).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from merbench.contracts import Dataset
from merbench.datafiles import check_cache_outside
from merbench.errors import DataError, UsageError
from merbench_plugins.datasets.aus import parse_aus
from merbench_plugins.datasets.common import (
    COMPOSITE_CLASSES,
    SheetRules,
    Part,
    as_bool,
    check_root,
    choose_classes,
    coded_part,
    find_dir,
    find_one,
    read_sheet,
    to_dataset,
)
from merbench_plugins.datasets.fixes import fix_coded_sheet

EMOTIONS = ("happiness", "disgust", "repression", "surprise", "others", "fear", "sadness")
ALIASES = {"other": "others", "happy": "happiness", "surprised": "surprise", "sad": "sadness"}
CLASS_SETS: dict[str, dict[str, str]] = {
    "5": {e: e for e in EMOTIONS[:5]},
    "3": {"disgust": "negative", "repression": "negative", "happiness": "positive", "surprise": "surprise"},
    "all": {e: e for e in EMOTIONS},
}
CANONICAL = {"5": EMOTIONS[:5], "3": COMPOSITE_CLASSES, "all": EMOTIONS}
SHEET_PATTERNS = ("CASME2-coding-*.xlsx", "CASME2*coding*.xlsx")
RAW_NAMES = ("CASME2_RAW_selected", "CASME2_RAW", "CASME2-RAW", "RAW_selected")
CROPPED_NAMES = ("Cropped", "CASME2_Cropped", "CASME2-Cropped", "Cropped-updated")
COLUMNS = {
    "subject": "Subject",
    "filename": "Filename",
    "onset": "OnsetFrame",
    "apex": "ApexFrame",
    "offset": "OffsetFrame",
    "emotion": "Estimated Emotion",
}
OPTIONAL = {"aus": "Action Units"}


def frames_folder(root: Path, choice: str) -> tuple[Path, str]:
    """The frame tree to read and whether it is ``raw`` or ``cropped``."""
    if choice not in ("auto", "raw", "cropped"):
        raise UsageError(f"dataset.frames={choice}: choose auto, raw or cropped")
    raw = find_dir(root, RAW_NAMES) if choice in ("auto", "raw") else None
    cropped = find_dir(root, CROPPED_NAMES) if choice in ("auto", "cropped") else None
    if cropped is not None:
        return cropped, "cropped"
    if raw is not None:
        return raw, "raw"
    wanted = {"auto": RAW_NAMES[:1] + CROPPED_NAMES[:1], "raw": RAW_NAMES[:1], "cropped": CROPPED_NAMES[:1]}[choice]
    raise DataError(
        f"expected the frame folder {' or '.join(n + '/' for n in wanted)} in {root} "
        "(CASME2_RAW_selected/sub01/EP02_01f/img46.jpg or Cropped/sub01/EP02_01f/reg_img46.jpg)"
    )


def subject_folder(value: Any) -> str:
    """``1`` or ``"sub01"`` → ``sub01``; ValueError otherwise."""
    match = re.fullmatch(r"(?:sub)?0*(\d+)", str(value).strip().lower().removesuffix(".0"))
    if not match:
        raise ValueError(value)
    return f"sub{int(match.group(1)):02d}"


RULES = SheetRules(
    subject_folder=subject_folder,
    subject_hint="a subject number (1..26)",
    filename_example="EP02_01f",
    emotions=EMOTIONS,
    aliases=ALIASES,
    emotion_names=", ".join(EMOTIONS),
    extra_columns={"action_units": "aus"},
)


def name_raw_copies(part: Part, root: Path) -> None:
    """Add to each row skipped for a clip missing from the cropped tree (read by ``frames=auto``) the raw copy that
    holds it, and how to read that tree instead."""
    raw = find_dir(root, RAW_NAMES)
    if raw is None:
        return
    for entry in part.log.skipped:
        copy = raw / entry["sample"]
        if entry["reason"].startswith("no frame folder") and copy.is_dir():
            entry["reason"] += (f"; {copy.relative_to(root)} holds it: --set dataset.frames=raw reads the raw "
                                "tree (dataset.frames=auto reads the cropped one when both are there)")


def read_part(root: Path, classes: str, frames: str = "auto", domain: str = "casme2", fixes: str = "known",
              given: str = "--root") -> Part:
    """Read the CASME II tree under ``root`` into a ``Part`` with labels of the ``classes`` set (``given``: the
    option that gives ``root``, named in the fix when the coding sheet is not there).

    ``fixes`` (``known`` or ``none``) says whether the known annotation fixes
    (``fixes.py``) are applied first; each sample's ``extra`` carries its parsed AUs.
    """
    classes = choose_classes(classes, CLASS_SETS, "casme2")
    sheet_path = find_one(root, SHEET_PATTERNS, "CASME II", given=given)
    folder, kind = frames_folder(root, frames)
    sheet = read_sheet(sheet_path, COLUMNS, OPTIONAL)
    report = fix_coded_sheet(sheet.rows, "casme2", fixes, subject_folder, {**COLUMNS, **OPTIONAL})
    part = coded_part(domain, root, sheet_path, sheet, RULES, folder, classes, CLASS_SETS, CANONICAL, frames=kind)
    if kind == "cropped" and frames == "auto":
        name_raw_copies(part, root)
    for entry in part.entries:
        entry.extra.update(parse_aus(entry.extra.get("action_units")))
    part.info["annotation_fixes"] = report
    return part


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Load CASME II from ``root`` (see the module docstring for the options)."""
    root = check_root(root, "casme2")
    check_cache_outside(root, cache_dir)
    part = read_part(root, str(options["classes"]), str(options["frames"]), fixes=str(options.get("fixes", "known")))
    return to_dataset("casme2", part, as_bool(options["strict"]))
