"""Dataset ``samm``: SAMM (Davison et al. 2018) from its FACS coding sheet and frame tree.

Expected under ``--root`` (or one folder below it):

* ``SAMM_Micro_FACS_Codes_v2.xlsx``: descriptive rows, then the header row
  (found by its ``Subject`` and ``Filename`` cells, not by position) with
  ``Subject`` (6 → folder ``006``), ``Filename``, ``Onset Frame``, ``Apex Frame``,
  ``Offset Frame``, ``Action Units``, ``Estimated Emotion``, ``Objective Classes``;
* frames ``SAMM/006/006_1_2/006_05562.jpg`` (the ``SAMM`` folder may also be
  ``--root`` itself).

``dataset.classes``: ``5`` (anger, contempt, happiness, surprise, other), ``3``
(MEGC2019: negative ← anger, contempt, disgust, fear, sadness; positive ←
happiness; surprise ← surprise; other dropped) or ``all`` (every estimated emotion,
disgust, fear and sadness included). Onset ≤ apex ≤ offset is checked
against the frames on disk: an offset not on disk or before the apex becomes the
clip's last frame (reported as fixed); other broken rows are skipped with the reason.
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
    COMPOSITE_CLASSES,
    SheetRules,
    Part,
    as_bool,
    check_root,
    choose_classes,
    coded_part,
    find_dir,
    find_one,
    folders_in,
    read_sheet,
    to_dataset,
)
from merbench_plugins.datasets.fixes import fix_coded_sheet

EMOTIONS = ("anger", "contempt", "happiness", "surprise", "other", "disgust", "fear", "sadness")
ALIASES = {"others": "other", "happy": "happiness", "angry": "anger", "sad": "sadness"}
CLASS_SETS: dict[str, dict[str, str]] = {
    "5": {e: e for e in EMOTIONS[:5]},
    "3": {
        "anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative", "sadness": "negative",
        "happiness": "positive", "surprise": "surprise",
    },
    "all": {e: e for e in EMOTIONS},
}
CANONICAL = {"5": EMOTIONS[:5], "3": COMPOSITE_CLASSES, "all": EMOTIONS}
SHEET_PATTERNS = ("SAMM_Micro_FACS_Codes*.xlsx", "SAMM*Codes*.xlsx")
COLUMNS = {
    "subject": "Subject",
    "filename": "Filename",
    "onset": "Onset Frame",
    "apex": "Apex Frame",
    "offset": "Offset Frame",
    "emotion": "Estimated Emotion",
}
OPTIONAL = {"aus": "Action Units", "objective": "Objective Classes"}


def subject_folder(value: Any) -> str:
    """``6`` or ``"006"`` → ``006``; ValueError otherwise."""
    match = re.fullmatch(r"0*(\d+)", str(value).strip().removesuffix(".0"))
    if not match:
        raise ValueError(value)
    return f"{int(match.group(1)):03d}"


RULES = SheetRules(
    subject_folder=subject_folder,
    subject_hint="a subject number",
    filename_example="006_1_2",
    emotions=EMOTIONS,
    aliases=ALIASES,
    emotion_names=", ".join(e.title() for e in EMOTIONS),
    extra_columns={"action_units": "aus", "objective_class": "objective"},
)


def frames_base(root: Path, sheet: Path | None = None) -> Path:
    """The folder holding the subject folders (``SAMM/`` or the folder itself), looked for first beside ``sheet``:
    with ``--root`` one folder above the release (``root/SAMM/SAMM/006``), the first ``SAMM`` met is the release's
    own folder, not its frame folder."""
    for folder in dict.fromkeys([*([sheet.parent] if sheet is not None else []), root]):
        if any(_is_subject(child) for child in folders_in(folder)):
            return folder
        found = find_dir(folder, ("SAMM",))
        if found is not None:
            return found
    raise DataError(f"expected the frame folder SAMM/ (SAMM/006/006_1_2/006_05562.jpg) in {root}")


def _is_subject(folder: Path) -> bool:
    return re.fullmatch(r"\d{3}", folder.name) is not None


def read_part(root: Path, classes: str, domain: str = "samm", fixes: str = "known", given: str = "--root") -> Part:
    """Read the SAMM tree under ``root`` into a ``Part`` with labels of the ``classes`` set (``given``: the option
    that gives ``root``, named in the fix when the coding sheet is not there).

    ``fixes`` (``known`` or ``none``) says whether the known annotation fixes
    (``fixes.py``) are applied first; each sample's ``extra`` carries its parsed AUs.
    """
    classes = choose_classes(classes, CLASS_SETS, "samm")
    sheet_path = find_one(root, SHEET_PATTERNS, "SAMM", given=given)
    base = frames_base(root, sheet_path)
    sheet = read_sheet(sheet_path, COLUMNS, OPTIONAL)
    report = fix_coded_sheet(sheet.rows, "samm", fixes, subject_folder, {**COLUMNS, **OPTIONAL})
    part = coded_part(domain, root, sheet_path, sheet, RULES, base, classes, CLASS_SETS, CANONICAL)
    for entry in part.entries:
        entry.extra.update(parse_aus(entry.extra.get("action_units")))
    part.info["annotation_fixes"] = report
    return part


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Load SAMM from ``root`` (see the module docstring for the options)."""
    root = check_root(root, "samm")
    check_cache_outside(root, cache_dir)
    part = read_part(root, str(options["classes"]), fixes=str(options.get("fixes", "known")))
    return to_dataset("samm", part, as_bool(options["strict"]))
