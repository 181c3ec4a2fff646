"""Dataset ``casme3``: CAS(ME)³ Part A micro-expressions (Li et al. 2022), colour frames, depth optional.

Expected under ``--root`` (or one folder below it):

* the ME label sheet ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` (first sheet
  ``label``): ``Subject`` (``spNO.1``), ``Filename`` (trial letter ``a``–``m``),
  ``Onset``, ``Apex``, ``Offset`` (frame numbers of the whole trial video, stored
  as text), ``AU``, ``Objective class``, ``emotion``;
* frames, either the full trial videos
  ``…/{Subject}/{Filename}/color/{N}.jpg`` (depth ``…/depth/{N}.png`` or
  ``…/{Filename}/{N}.png``), found wherever the ``spNO.*`` folders are below
  ``--root``; or the pre-cut package
  ``Part_A_ME_clip/frame/{Subject}_{Filename}_{Onset}/{N}.jpg`` (depth
  ``Part_A_ME_clip/depth/…``). Colour frames in ``color/`` or a clip of the
  package may be ``.jpg``, ``.png`` or ``.bmp``; in a trial folder without
  ``color/`` only ``.jpg`` (a ``.png`` there is a depth map). ``dataset.frames=auto`` takes the package when
  present. Two folders holding ``spNO.*`` trial folders whose trials hold colour
  frames (a full copy beside a partial or cropped one) are an error naming both:
  ``dataset.frames_folder=DIR`` (relative to ``--root``) names the one to read.

A sample is one row, ``spNO.1/e/116`` (subject, lower-case trial letter, onset as
released): several MEs share a trial. Trial folders match the sheet's letter in
any case (``J`` and ``j``). Frames missing inside a clip (the release drops
frames) are tolerated and reported; a clip is its frames on disk between onset
and offset. ``dataset.classes``: ``7`` (default; the seven emotions), ``4``
(negative, positive, surprise, others) or ``3`` (others dropped).
``dataset.occluded=drop`` leaves out the 15 MEs whose apex face is hidden by a
hand (official error list). ``dataset.fixes=known`` applies ``fixes.py``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from pathlib import Path
from typing import Any

from merbench.contracts import Dataset
from merbench.datafiles import check_cache_outside
from merbench.errors import DataError, UsageError
from merbench.wording import counted
from merbench_plugins.datasets.aus import parse_aus
from merbench_plugins.datasets.common import (
    cell_value,
    Entry,
    LoadLog,
    Part,
    Placed,
    SkipRow,
    as_bool,
    check_root,
    choose_classes,
    find_dir,
    find_one,
    folders_in,
    norm,
    order_classes,
    named_like,
    other_formats,
    read_sheet,
    to_dataset,
    frame_numbers,
    list_frames,
    middle_is_onset,
    missing_frames,
    to_int,
    searched_folders,
    shown_folder,
)
from merbench_plugins.datasets.fixes import apply_fixes

EMOTIONS = ("anger", "disgust", "fear", "happy", "sad", "surprise", "others")
ALIASES = {"happiness": "happy", "sadness": "sad", "other": "others", "angry": "anger", "surprised": "surprise"}
NEGATIVE = ("anger", "disgust", "fear", "sad")
CLASS_SETS: dict[str, dict[str, str]] = {
    "7": {e: e for e in EMOTIONS},
    "4": {**{e: "negative" for e in NEGATIVE}, "happy": "positive", "surprise": "surprise", "others": "others"},
    "3": {**{e: "negative" for e in NEGATIVE}, "happy": "positive", "surprise": "surprise"},
}
CANONICAL = {"7": EMOTIONS, "4": ("negative", "positive", "surprise", "others"), "3": ("negative", "positive", "surprise")}
SHEET_PATTERNS = ("*part_A_ME_label_JpgIndex*.xlsx", "*part_A_ME_label*.xlsx")
SHEET_DEPTH = 2
"""How many folders below ``--root`` the sheet is looked for (``annotation/partA/`` of the official repository)."""
LABEL_SHEET = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
SUPERSEDED_SHEET = "*part_A_ME_label*_v1.xls*"
"""``cas(me)3_part_A_ME_label_JpgIndex_v1.xls``, still in the official repository: superseded by v2, refused."""
FULL_ANNOTATION = "*part_A_v[0-9]*.xls*"
"""``CAS(ME)3_part_A_v2.xls``: every Part A expression, macro and micro, without the ``emotion`` column; not read."""
OFFICIAL_REPOSITORY = "github.com/jingtingEmmaLi/CAS-ME-3"
COLUMNS = {"subject": "Subject", "filename": "Filename", "onset": "Onset", "apex": "Apex", "offset": "Offset",
           "emotion": "emotion"}
OPTIONAL = {"aus": "AU", "objective": "Objective class"}
FRAME_MODES = ("auto", "full", "clips")
SUBJECT = re.compile(r"spno\.?0*(\d+)", re.IGNORECASE)
COLOUR = (".jpg", ".jpeg", ".png", ".bmp")
"""Colour frame formats of a folder holding colour frames only: ``color/`` of a trial, a clip of
``Part_A_ME_clip/frame/`` (depth maps are in ``depth/`` beside them)."""
JPEG = (".jpg", ".jpeg")
"""Colour frame formats of a trial folder without ``color/``: its ``{N}.png`` files may be depth maps."""
SEARCH_STOP = 16
"""Image files after which a folder met by the frame-tree search (below ``--root``) is taken for a clip's or trial's
frames and read no further: subject trees never sit among frames."""
# (subject, trial letter, onset) of the MEs whose apex face is occluded by a hand
# (exception/casme3_partA_error_list_ZhouJu.xlsx of the official repository).
OCCLUDED = {
    ("spNO.2", "e", 138), ("spNO.145", "g", 150), ("spNO.146", "a", 530), ("spNO.147", "d", 1146),
    ("spNO.147", "e", 1058), ("spNO.155", "d", 5), ("spNO.179", "b", 7), ("spNO.200", "b", 518),
    ("spNO.204", "a", 606), ("spNO.206", "a", 10), ("spNO.206", "c", 69), ("spNO.214", "b", 5),
    ("spNO.214", "k", 4), ("spNO.215", "f", 5), ("spNO.215", "f", 2183),
}


def subject_id(value: Any) -> str:
    """``spNO.1``, ``spno1`` or ``1`` → ``spNO.1``; ValueError otherwise."""
    text = str(value or "").strip()
    match = SUBJECT.fullmatch(text) or re.fullmatch(r"0*(\d+)", text.removesuffix(".0"))
    if not match:
        raise ValueError(value)
    return f"spNO.{int(match.group(1))}"


def numbered(folder: Path | None, suffixes: tuple[str, ...]) -> dict[int, Path]:
    """Files of ``folder`` named ``{N}.ext`` (``ext`` in ``suffixes``), by N (``common.list_frames``: hidden files
    left out, ``SkipRow`` when the folder cannot be read or two files carry one number)."""
    return list_frames(folder, suffixes=suffixes) if folder is not None else {}


def children(folder: Path) -> dict[str, Path]:
    """Sub-folders of ``folder`` by lower-case name (folder letter case differs from the sheet's); none when it
    cannot be read (a search passes over a root-owned ``lost+found``)."""
    return {c.name.lower(): c for c in searched_folders(folder)}


def subjects_folders(root: Path, depth: int = 5) -> list[Path]:
    """Every folder (breadth first, to ``depth`` levels below ``root``) holding ``spNO.<n>`` sub-folders; the search
    does not go down into the subject folders themselves, nor read through a folder of frames (``SEARCH_STOP``
    images: a clip of ``Part_A_ME_clip/frame/``), and looks at entry types only, never a ``stat`` per file."""
    found: list[Path] = []
    level = [root]
    for below_root in range(depth + 1):
        below = []
        for folder in level:
            named = {c.name.lower(): c for c in searched_folders(folder, SEARCH_STOP if below_root else 0)}
            if any(SUBJECT.fullmatch(name) for name in named):
                found.append(folder)
            below += [child for name, child in named.items() if not SUBJECT.fullmatch(name)]
        level = below
    return found


def holds_colour(base: Path, subjects: int = 3) -> bool:
    """Whether the trial folders of the first ``subjects`` subjects of ``base`` hold colour frames (``colour_folder``:
    any image in ``color/``, a ``.jpg`` in the trial folder itself); a depth-only tree (``Depth/spNO.1/a/N.png``)
    does not. Only the file names are looked at: a damaged trial (two files for one frame, unreadable) is its own
    rows' business, skipped with the reason when they are read, never the whole tree's."""
    named = sorted((name, folder) for name, folder in children(base).items() if SUBJECT.fullmatch(name))
    for _, subject in named[:subjects]:
        for trial in list(children(subject).values())[:2]:
            if count_files(*colour_folder(trial)):
                return True
    return False


def colour_folder(trial: Path) -> tuple[Path, tuple[str, ...]]:
    """A trial's colour frames: its ``color/`` folder and any image format there, else the trial folder itself and
    ``.jpg`` only (``{N}.png`` beside them is the depth layout of the official RGB-D code)."""
    parts = children(trial)
    folder = parts.get("color") or parts.get("colour")
    return (folder, COLOUR) if folder is not None else (trial, JPEG)


def count_files(folder: Path, suffixes: tuple[str, ...]) -> int:
    """How many files of ``folder`` end in one of ``suffixes`` (hidden ones left out); 0 when it cannot be read."""
    try:
        with os.scandir(folder) as entries:
            return sum(1 for entry in entries if not entry.name.startswith(".")
                       and os.path.splitext(entry.name)[1].lower() in suffixes and entry.is_file())
    except OSError:
        return 0


def subjects_folder(root: Path, chosen: str = "") -> Path | None:
    """The folder holding the ``spNO.<n>`` trial folders: ``chosen`` (``dataset.frames_folder``, under ``root``
    when relative), else the only one below ``root`` whose trials hold colour frames (``None``: there is none).

    Two such folders (a full copy beside a partial or cropped one) are a DataError naming both and the fix, so a run
    never reads a partial copy because its name sorts first.
    """
    if chosen:
        return chosen_folder(root, chosen)
    candidates = subjects_folders(root)
    usable = [folder for folder in candidates if holds_colour(folder)] or candidates
    if len(usable) > 1:
        listed = ", ".join(f"{folder.relative_to(root)}/ ({counted(subject_count(folder), 'subject')})"
                           for folder in usable)
        fullest = max(usable, key=subject_count)
        raise DataError(f"several frame folders with spNO.* trial folders below {root}: {listed}; merbench reads one: "
                        f"give it with --set dataset.frames_folder={fullest.relative_to(root)} (or another of them), "
                        "or move the others out of the dataset root")
    return usable[0] if usable else None


def subject_count(base: Path) -> int:
    """How many ``spNO.<n>`` folders ``base`` holds."""
    return sum(1 for name in children(base) if SUBJECT.fullmatch(name))


def chosen_folder(root: Path, chosen: str) -> Path:
    """``dataset.frames_folder``: a folder holding ``spNO.<n>`` folders (relative to ``root``), or a DataError."""
    folder = Path(chosen).expanduser()
    folder = folder if folder.is_absolute() else root / folder
    if not folder.is_dir():
        raise DataError(f"dataset.frames_folder={chosen}: no such folder {folder}; give the folder holding spNO.1, "
                        f"spNO.2, … (relative to --root {root})")
    if not any(SUBJECT.fullmatch(name) for name in children(folder)):
        raise DataError(f"dataset.frames_folder={chosen}: {folder} holds no spNO.* folders; give the folder holding "
                        "spNO.1/a/color/1.jpg")
    return folder


class Frames:
    """Where a row's frames are: the full trial videos or the pre-cut clip package."""

    def __init__(self, root: Path, mode: str, chosen: str = ""):
        if mode not in FRAME_MODES:
            raise UsageError(f"dataset.frames={mode}: choose auto, full (trial videos) or clips (Part_A_ME_clip)")
        if chosen and mode == "clips":
            raise UsageError(f"dataset.frames_folder={chosen} names a folder of trial videos, dataset.frames=clips the "
                             "Part_A_ME_clip package: drop one of the two")
        package = find_dir(root, ("Part_A_ME_clip",), depth=3) if mode in ("auto", "clips") and not chosen else None
        self.root, self.kind = root, "clips" if package is not None else "full"
        self._listed: dict[Path, dict[int, Path]] = {}
        if package is not None:
            self.base = find_dir(package, ("frame", "frames"), depth=0) or package
            self.depth_base = find_dir(package, ("depth",), depth=0)
            folders_in(self.base)  # a DataError when the package's frame folder cannot be read
            self.clips, self.depth_clips = children(self.base), children(self.depth_base) if self.depth_base else {}
            return
        if mode == "clips":
            raise DataError(f"dataset.frames=clips: no Part_A_ME_clip/ folder in {root} "
                            "(expected Part_A_ME_clip/frame/spNO.1_a_116/120.jpg)")
        base = subjects_folder(root, chosen)
        if base is None:
            raise DataError(f"no frame folders spNO.1, spNO.2, … below {root}; expected "
                            "part_A/spNO.1/a/color/1.jpg (trial videos) or Part_A_ME_clip/frame/spNO.1_a_116/120.jpg")
        self.base, self.subjects = base, children(base)

    def _list(self, folder: Path | None, suffixes: tuple[str, ...]) -> dict[int, Path]:
        if folder is None:
            return {}
        if folder not in self._listed:
            self._listed[folder] = numbered(folder, suffixes)
        return self._listed[folder]

    def find(self, subject: str, trial: str, onset_cell: Any) -> tuple[dict[int, Path], dict[int, Path], Path]:
        """Colour frames, depth frames (may be empty) and the clip or trial folder of one row."""
        if self.kind == "clips":
            name = f"{subject}_{trial}_{str(onset_cell).strip().removesuffix('.0')}".lower()
            folder = self.clips.get(name)
            if folder is None:
                raise SkipRow(f"no clip folder {self.base.name}/{subject}_{trial}_{onset_cell} in Part_A_ME_clip")
            return self._list(folder, COLOUR), self._list(self.depth_clips.get(name), (".png",)), folder
        subject_dir = self.subjects.get(subject.lower())
        trial_dir = {c.name.lower(): c for c in folders_in(subject_dir)}.get(trial) if subject_dir else None
        if trial_dir is None:
            raise SkipRow(f"no trial folder {subject}/{trial} in {self.base}")
        colour, suffixes = colour_folder(trial_dir)
        depth = children(trial_dir).get("depth") or (trial_dir if colour != trial_dir else None)
        return self._list(colour, suffixes), self._list(depth, (".png",)), colour


def png_hint(folder: Path) -> str:
    """Why a trial folder read for colour frames (it has no ``color/``) gave none though it holds ``.png`` images,
    for a skip reason; ``""`` when it holds none, or is a ``color/`` folder (where a ``.png`` is a colour frame)."""
    pngs = 0 if folder.name.lower() in ("color", "colour") else count_files(folder, (".png",))
    if not pngs:
        return ""
    return (f"; the folder holds {counted(pngs, '.png image')} and CAS(ME)3 colour frames in a trial folder are read as "
            ".jpg (a .png there is a depth map): move colour frames saved as .png into a color/ folder in it")


def find_label_sheet(root: Path) -> Path:
    """The ME label sheet under ``root`` (``find_one``'s errors: none, several, saved as .xls or .csv); where only
    the full Part A annotation is there, a DataError saying that it is not the file merbench reads, and which is."""
    try:
        sheet = find_one(root, SHEET_PATTERNS, "CAS(ME)3 Part A", depth=SHEET_DEPTH)
    except DataError:
        superseded = nearby(root, SUPERSEDED_SHEET)
        if superseded:
            raise DataError(superseded_message(superseded[0], root)) from None
        labelled = any(nearby(root, pattern) for pattern in SHEET_PATTERNS)
        full = [] if labelled or other_formats(root, SHEET_PATTERNS, SHEET_DEPTH) else nearby(root, FULL_ANNOTATION)
        if not full:
            raise
        raise DataError(f"{full[0]}: the full CAS(ME)3 Part A annotation (macro- and micro-expressions, no emotion "
                        f"column), which merbench does not read, in any format; merbench reads the ME label sheet "
                        f"{LABEL_SHEET}: copy it from annotation/partA/ of the official CAS(ME)3 repository "
                        f"({OFFICIAL_REPOSITORY}) into {root} or a folder below it") from None
    if fnmatch.fnmatch(sheet.name.lower(), SUPERSEDED_SHEET.lower()):
        raise DataError(superseded_message(sheet, root))
    return sheet


def superseded_message(sheet: Path, root: Path) -> str:
    """Why the v1 ME label sheet is refused, and where the release's v2 sheet is."""
    return (f"{sheet}: version 1 of the CAS(ME)3 Part A ME labels (921 rows), superseded by version 2 (860 rows; "
            "the official repository lists v1's wrongly labelled MEs in CAS(ME)3_part_A_wrongly_labeled_me_in_V1.xlsx);"
            f" merbench reads {LABEL_SHEET}: copy it from annotation/partA/ of {OFFICIAL_REPOSITORY} into {root} or a "
            "folder below it, in place of the v1 sheet")


def nearby(root: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` in any letter case in ``root`` or up to ``SHEET_DEPTH`` folders below (never the
    whole frame tree), by name; Excel's lock files and macOS's ``._`` copies left out."""
    found = {path for level in range(SHEET_DEPTH + 1) for path in named_like(root, level, pattern)}
    return sorted(path for path in found if path.is_file() and not path.name.startswith(("~$", ".")))


def place_span(frames: dict[int, Path], onset: int | None, apex: int | None, offset: int | None,
               where: str) -> tuple[Placed, list[str]]:
    """The frames on disk from onset to offset, tolerating dropped frames; notes say what was missing.

    Raises ``SkipRow`` for a missing onset or offset, an offset before the onset,
    an apex outside onset..offset, fewer than two frames on disk in the span, or
    no apex and fewer than three (``middle_is_onset``: the middle frame would be the onset).
    """
    if onset is None or offset is None:
        raise SkipRow(f"no {'onset' if onset is None else 'offset'} frame in the sheet")
    if offset < onset:
        raise SkipRow(f"offset {offset} before onset {onset}")
    if apex is not None and not onset <= apex <= offset:
        raise SkipRow(f"apex {apex} outside onset {onset}..offset {offset}")
    span = [n for n in frames if onset <= n <= offset]
    wanted = offset - onset + 1
    if len(span) < 2:
        raise SkipRow(f"{len(span)} of the {wanted} frames {onset}..{offset} on disk in {where}; need at least 2")
    if apex is None and len(span) < 3:
        dropped = f", {wanted - len(span)} not on disk" if len(span) < wanted else ""
        raise SkipRow(middle_is_onset(len(span), f"onset {onset}..offset {offset} in {where}{dropped}",
                                      "add the apex to the sheet"))
    notes = []
    if len(span) < wanted:
        notes.append(f"{wanted - len(span)} of {wanted} frames missing on disk (frame drops); the clip uses the {len(span)} present")
    if onset not in frames:
        notes.append(f"onset frame {onset} not on disk, used {span[0]}")
    if offset not in frames:
        notes.append(f"offset frame {offset} not on disk, used {span[-1]}")
    apex_position = None
    if apex is not None:
        if onset < apex <= span[0]:
            where_apex = "the apex" if apex == span[0] else "after the apex"
            raise SkipRow(f"onset frame {onset}{'' if apex == span[0] else f' and apex frame {apex}'} not on disk: "
                          f"the frames on disk start at {span[0]} (frame drops), {where_apex}, so the clip shows no "
                          "onset-to-apex motion")
        # an apex after the onset in the sheet is never placed on the onset frame (a zero onset-to-apex flow)
        nearest = min(span[1:] if apex > onset else span, key=lambda n: (abs(n - apex), n))
        if nearest != apex:
            notes.append(f"apex frame {apex} not on disk, used {nearest}")
        apex_position = span.index(nearest)
    placed = Placed(tuple(frames[n] for n in span), 0, apex_position, len(span) - 1,
                    gaps=missing_frames(span, span[0], span[-1]))
    return placed, notes


def read_part(root: Path, classes: str = "7", frames: str = "auto", fixes: str = "known", occluded: str = "keep",
              domain: str = "casme3", frames_folder: str = "") -> Part:
    """Read CAS(ME)³ Part A under ``root`` into a ``Part`` (see the module docstring for the options)."""
    classes = choose_classes(classes, CLASS_SETS, "casme3")
    if occluded not in ("keep", "drop"):
        raise UsageError(f"dataset.occluded={occluded}: choose keep or drop (the 15 MEs whose apex face is occluded)")
    sheet_path = find_label_sheet(root)
    sheet = read_sheet(sheet_path, COLUMNS, OPTIONAL)
    tree = Frames(root, frames, frames_folder)
    log = LoadLog(domain)
    log.rows = len(sheet.rows)

    def sample_of(cells: dict[str, Any]) -> str | None:
        try:
            onset = to_int(cells["onset"])
            trial = str(cells["filename"]).strip().lower()
            return None if onset is None else f"{subject_id(cells['subject'])}/{trial}/{onset}"
        except ValueError:
            return None

    released = {row: dict(cells) for row, cells in sheet.rows}
    report = apply_fixes(sheet.rows, "casme3", fixes, sample_of, {**COLUMNS, **OPTIONAL})
    mapping = CLASS_SETS[classes]
    entries: list[Entry] = []
    depth_clips = 0
    for row, cells in sheet.rows:
        try:
            subject = subject_id(cells["subject"])
        except ValueError:
            raise DataError(f"{sheet_path} row {row}: {cell_value('Subject', cells['subject'])} is not spNO.<number>; fix the cell") from None
        trial = str(cells["filename"] or "").strip().lower()
        if not trial:
            raise DataError(f"{sheet_path} row {row} ({subject}): {cell_value('Filename', cells['filename'])}; fix "
                            "the cell (the trial letter a-m of the clip's folder)")
        if not re.fullmatch(r"[a-z]", trial):
            log.skip(row, f"{subject}/{trial or '?'}", f"Filename {cells['filename']!r} is not a trial letter a-m")
            continue
        original = released[row]
        try:
            (first,) = frame_numbers(original, ("onset",))
            onset, apex, offset = frame_numbers(cells)
        except SkipRow as exc:
            log.skip(row, f"{subject}/{trial}", str(exc))
            continue
        if first is None:  # the onset is part of a sample's id: a row without one has none, and no fix
            log.skip(row, f"{subject}/{trial}", f"no onset frame in the sheet: {cell_value('Onset', original['onset'])}; "
                     "fill in the onset frame number")
            continue
        sample = f"{subject}/{trial}/{first}"
        log.claim(sample, row, str(sheet_path))  # one ME per subject, trial and onset: a second row is refused
        emotion = norm(cells["emotion"])
        emotion = ALIASES.get(emotion, emotion)
        if emotion not in EMOTIONS:
            raise DataError(f"{sheet_path} row {row} ({sample}): {cell_value('emotion', cells['emotion'], 'unknown ')}; "
                            f"expected one of {', '.join(EMOTIONS)}")
        if emotion not in mapping:
            log.dropped[emotion] += 1
            continue
        if occluded == "drop" and (subject, trial, first) in OCCLUDED:  # asked for: not a skipped (broken) row
            log.by_option["dataset.occluded=drop"] += 1
            continue
        try:
            colour, depth, folder = tree.find(subject, trial, original["onset"])
        except SkipRow as exc:
            log.skip(row, sample, str(exc))
            continue
        try:
            placed, notes = place_span(colour, onset, apex, offset, str(shown_folder(folder, root)))
        except SkipRow as exc:
            log.skip(row, sample, f"{exc}{png_hint(folder) if not colour and tree.kind == 'full' else ''}")
            continue
        placed = dataclasses.replace(placed, fix="; ".join(notes) or None)
        log.placed(row, sample, placed)  # fixed rows, unknown apex, frames missing inside the clip
        extra: dict[str, Any] = {"emotion": emotion, "objective_class": str(cells.get("objective") or "").strip(),
                                 "trial": trial, "onset_frame": onset, "apex_frame": apex, "offset_frame": offset, "row": row}
        if depth:
            stems = [int(re.search(r"(\d+)$", p.stem).group(1)) for p in placed.frames]
            extra["depth_frames"] = tuple(depth[n] for n in stems if n in depth)
            depth_clips += 1
        extra.update(parse_aus(cells.get("aus")))
        entries.append(Entry(row, sample, subject, mapping[emotion], placed, extra))
    info = {"root": str(root), "annotation": str(sheet_path), "header_row": sheet.header_row, "frames": tree.kind,
            "frames_folder": str(tree.base), "clips_with_depth": depth_clips, "class_set": classes,
            "class_set_names": list(CANONICAL[classes]), "occluded": occluded, "annotation_fixes": report}
    return Part(domain, order_classes((e.label for e in entries), CANONICAL[classes]), entries, log, info)


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Load CAS(ME)³ Part A from ``root`` (see the module docstring for the options)."""
    root = check_root(root, "casme3")
    check_cache_outside(root, cache_dir)
    # A frame folder outside --root is the dataset's too: merbench.runner.load_dataset refuses a cache inside it
    # (check_cache_outside_dataset, before the cache folder is made), as for every folder a dataset option names.
    chosen = str(options.get("frames_folder") or "").strip()
    part = read_part(root, str(options["classes"]), str(options["frames"]), str(options.get("fixes", "known")),
                     str(options.get("occluded", "keep")).strip().lower(),
                     frames_folder=chosen)
    return to_dataset("casme3", part, as_bool(options["strict"]))
