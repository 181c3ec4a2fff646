"""Tiny fixture trees in the exact layouts of the real SMIC, CASME II and SAMM releases.

Frames are drawn by the synthetic generator (32×32, a few per clip) so the whole
pipeline runs on them; coding sheets are written with openpyxl with the real
column names and quirks (see docs/datasets.md). Each ``build_*`` writes into
a given folder and returns it; the row tables below are what tests count on.
"""

from __future__ import annotations

import csv
import shutil
import zlib
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import openpyxl

from merbench_plugins.datasets import synthetic_faces as faces

SIZE = 32
N_FRAMES = 8
SEED = 11
COMPOSITE = {"negative": 0, "positive": 1, "surprise": 2}
POSITIVE = {"happiness"}
SURPRISE = {"surprise"}


def clip_frames(subject: int, clip: int, emotion: str, n_frames: int = N_FRAMES):
    """A synthetic clip whose motion follows the composite class of ``emotion``."""
    label = 1 if emotion.lower() in POSITIVE else 2 if emotion.lower() in SURPRISE else 0
    return faces.make_clip(faces.make_subject(SEED, subject), clip, SEED, size=SIZE, n_frames=n_frames, label=label)


def write_frames(folder: Path, frames: np.ndarray, names: Iterable[str]) -> None:
    """Write ``frames`` under ``folder`` with the given file names."""
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in zip(frames, names):
        assert cv2.imwrite(str(folder / name), frame)


def write_xlsx(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    """An .xlsx with ``rows`` on its first sheet."""
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


# ------------------------------------------------------------------ CASME II

CASME2_HEADER = ["Subject", "Filename ", None, " OnsetFrame", "ApexFrame", "OffsetFrame ", None, "Action Units", "Estimated Emotion"]
# (subject, filename, emotion, apex) with apex "ok", "/", "" (empty), "early" (before onset) or "nofolder".
CASME2_ROWS = [
    (1, "EP02_01f", "happiness", "ok"),
    (1, "EP03_02", "disgust", "/"),
    (1, "EP04_01", "surprise", "ok"),
    (1, "EP05_03", "repression", ""),
    (1, "EP06_01", "fear", "ok"),
    (2, "EP02_01f", "disgust", "ok"),
    (2, "EP07_01", "others", "ok"),
    (2, "EP08_01", "happiness", "ok"),
    (2, "EP09_02", "surprise", "ok"),
    (3, "EP12_01f", "disgust", "early"),
    (3, "EP13_01", "happiness", "ok"),
    (3, "EP14_01", "repression", "nofolder"),
    (3, "EP15_01", "surprise", "ok"),
    (3, "EP16_01", "sadness", "ok"),
]
CASME2_5 = {"happiness": 3, "disgust": 2, "repression": 1, "surprise": 3, "others": 1}
CASME2_3 = {"negative": 3, "positive": 3, "surprise": 3}


def build_casme2(root: Path, cropped: bool = False, reg: bool = True, rows=CASME2_ROWS, header=CASME2_HEADER,
                 sheet_name: str = "CASME2-coding-20140508.xlsx") -> Path:
    """A CASME II release: coding sheet plus the raw (or cropped) frame tree."""
    folder = root / ("Cropped" if cropped else "CASME2_RAW_selected")
    folder.mkdir(parents=True, exist_ok=True)
    table = [header]
    for i, (subject, filename, emotion, apex_mode) in enumerate(rows):
        clip = clip_frames(subject, i, emotion)
        start = 40 + 7 * i  # frame numbers as in the release: not starting at 0
        prefix = "reg_img" if cropped and reg else "img"
        if apex_mode != "nofolder":
            write_frames(folder / f"sub{subject:02d}" / filename, clip.frames,
                         (f"{prefix}{start + k}.jpg" for k in range(N_FRAMES)))
        onset, apex, offset = start + clip.onset, start + clip.apex, start + clip.offset
        apex_cell: object = {"ok": apex, "nofolder": apex, "/": "/", "": None, "early": onset - 1}[apex_mode]
        table.append([subject, filename, "x", onset, apex_cell, offset, "y", "AU12", emotion])
    write_xlsx(root / sheet_name, table)
    return root


# ------------------------------------------------------------------ SAMM

SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Micro", "Action Units", "Notes", "Estimated Emotion", "Objective Classes"]
# (subject, filename, emotion, quirk): "ok", "offset" (offset beyond the frames on disk) or "apex" (apex after offset).
SAMM_ROWS = [
    (6, "006_1_2", "Anger", "ok"),
    (6, "006_1_3", "Happiness", "ok"),
    (6, "006_2_1", "Surprise", "offset"),
    (6, "006_3_4", "Other", "ok"),
    (7, "007_1_1", "Contempt", "ok"),
    (7, "007_2_2", "Happiness", "ok"),
    (7, "007_3_1", "Surprise", "ok"),
    (7, "007_4_1", "Disgust", "ok"),
    (9, "009_1_1", "Anger", "apex"),
    (9, "009_2_1", "Happiness", "ok"),
    (9, "009_3_1", "Surprise", "ok"),
    (9, "009_4_1", "Fear", "ok"),
    (9, "009_5_1", "Sadness", "ok"),
]
SAMM_5 = {"anger": 1, "contempt": 1, "happiness": 3, "surprise": 3, "other": 1}
SAMM_3 = {"negative": 5, "positive": 3, "surprise": 3}
SAMM_DESCRIPTION_ROWS = 13


def build_samm(root: Path, rows=SAMM_ROWS, header=SAMM_HEADER) -> Path:
    """A SAMM release: the FACS coding sheet (13 descriptive rows first) and ``SAMM/006/006_1_2/006_05562.jpg``."""
    table: list[list[object]] = [["SAMM Micro-Movement Database - FACS codes"], [], ["Released under licence."]]
    table += [[f"note {i}"] if i % 3 else [] for i in range(SAMM_DESCRIPTION_ROWS - len(table))]
    table.append(header)
    for i, (subject, filename, emotion, quirk) in enumerate(rows):
        clip = clip_frames(subject, i, emotion)
        start = 5560 + 11 * i
        write_frames(root / "SAMM" / f"{subject:03d}" / filename, clip.frames,
                     (f"{subject:03d}_{start + k:05d}.jpg" for k in range(N_FRAMES)))
        onset, apex, offset = start + clip.onset, start + clip.apex, start + clip.offset
        if quirk == "offset":
            offset = start + 500
        if quirk == "apex":
            apex = start + N_FRAMES + 3
        table.append([subject, filename, "1", onset, apex, offset, offset - onset, "micro", "R12", "", emotion, "1"])
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", table)
    return root


# ------------------------------------------------------------------ SMIC

SMIC_CODES = {"negative": "ne", "positive": "po", "surprise": "sur"}
# subset → (subject number, class, clip number)
SMIC_CLIPS = {
    "HS": [(1, "negative", 1), (1, "positive", 1), (1, "surprise", 1),
           (2, "negative", 1), (2, "negative", 2), (2, "positive", 1), (2, "surprise", 1),
           (3, "negative", 1), (3, "positive", 1), (3, "surprise", 1)],
    "VIS": [(1, "negative", 1), (1, "positive", 1), (2, "surprise", 1), (2, "negative", 1)],
    "NIR": [(1, "negative", 1), (1, "surprise", 1), (2, "positive", 1)],
}
SMIC_HS = {"negative": 4, "positive": 3, "surprise": 3}


def build_smic(root: Path, subsets: Sequence[str] = ("HS", "VIS", "NIR")) -> Path:
    """A SMIC release: ``HS/s1/micro/negative/s1_ne_01/image000123.bmp`` (and VIS, NIR), plus a non_micro folder."""
    for subset in subsets:
        for i, (subject, label, number) in enumerate(SMIC_CLIPS[subset]):
            clip = clip_frames(subject, 100 + i, label)
            clip_id = f"s{subject}_{SMIC_CODES[label]}_{number:02d}"
            start = 120 + 3 * i
            write_frames(root / subset / f"s{subject}" / "micro" / label / clip_id, clip.frames,
                         (f"image{start + k:06d}.bmp" for k in range(N_FRAMES)))
        write_frames(root / subset / "s1" / "non_micro" / "s1_1", clip_frames(1, 99, "negative").frames[:2],
                     ("image000001.bmp", "image000002.bmp"))
    return root


def build_megc(root: Path) -> Path:
    """One folder holding ``SMIC/``, ``CASME2/`` and ``SAMM/``."""
    build_smic(root / "SMIC", ("HS",))
    build_casme2(root / "CASME2")
    build_samm(root / "SAMM")
    return root


# ------------------------------------------------------------------ manifests


def build_manifest_images(root: Path, subjects: int = 3, per_subject: int = 4, domains: Sequence[str] = ("a", "b")) -> Path:
    """Precomputed 3-channel 28×28 PNG 'flow images' and ``labels.csv`` (subject, label 0..2, domain, path)."""
    rows = []
    rng = np.random.default_rng(0)
    for s in range(subjects):
        for c in range(per_subject):
            label = (s + c) % 3
            image = rng.integers(0, 60, size=(28, 28, 3)).astype(np.uint8)
            image[..., label] += 150  # the class shows in one channel: learnable
            relative = f"images/s{s}/img_{c}.png"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(root / relative), image)
            rows.append({"subject": f"s{s}", "label": label, "domain": domains[s % len(domains)], "path": relative})
    write_csv(root / "labels.csv", rows)
    return root / "labels.csv"


def build_manifest_edited(root: Path, edit) -> Path:
    """The ``build_manifest_images`` tree with its ``labels.csv`` rows (header first, as lists) passed through
    ``edit``."""
    build_manifest_images(root)
    with open(root / "labels.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    with open(root / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(edit(rows))
    return root


def build_manifest_frames(root: Path, subjects: int = 3, per_subject: int = 3) -> Path:
    """Onset/apex frame files and ``frames.csv`` (subject, label names, onset, apex)."""
    rows = []
    names = list(COMPOSITE)
    for s in range(subjects):
        for c in range(per_subject):
            label = names[(s + c) % 3]
            clip = clip_frames(s, c, "happiness" if label == "positive" else label)
            folder = root / "clips" / f"p{s}" / f"c{c}"
            write_frames(folder, clip.frames[[clip.onset, clip.apex]], ("onset.png", "apex.png"))
            rows.append({"subject": f"p{s}", "label": label, "onset": f"clips/p{s}/c{c}/onset.png",
                         "apex": f"clips/p{s}/c{c}/apex.png"})
    write_csv(root / "frames.csv", rows)
    return root / "frames.csv"


def write_csv(path: Path, rows: Sequence[dict]) -> Path:
    """A CSV with the keys of the first row as header."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# ------------------------------------------------------------------ the official MEGC2019 list

OFFICIAL_LIST = Path(__file__).resolve().parents[1] / "plugins" / "datasets" / "megc2019_official.csv"
TINY = 8
# Rows present in the releases but not on the official list: (domain, subject, clip, emotion).
UNLISTED = [("casme2", 4, "EP12_01f", "disgust"), ("casme2", 1, "EP99_01", "others"), ("samm", 6, "006_9_9", "Other")]
CASME2_EMOTION = {"negative": "disgust", "positive": "happiness", "surprise": "surprise"}
SAMM_EMOTION = {"negative": "Anger", "positive": "Happiness", "surprise": "Surprise"}


def official_rows() -> list[dict[str, str]]:
    """The shipped official list (domain, subject, clip, label)."""
    with open(OFFICIAL_LIST, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def tiny_frames(folder: Path, names: Sequence[str]) -> None:
    """A few 8×8 grey frames: enough for ``datasets check`` to open them; each clip's own (its first row marks the
    folder), since merbench leaves out a clip whose files have the same bytes as another's."""
    folder.mkdir(parents=True, exist_ok=True)
    mark = np.frombuffer(zlib.crc32("/".join(folder.parts[-3:]).encode()).to_bytes(4, "big"), np.uint8)
    for k, name in enumerate(names):
        frame = np.full((TINY, TINY), 60 + 40 * k, np.uint8)
        frame[0, :4] = mark
        assert cv2.imwrite(str(folder / name), frame)


def build_official(root: Path, unlisted: bool = True) -> Path:
    """``SMIC/``, ``CASME2/`` and ``SAMM/`` holding every clip of the official MEGC2019 list, in the releases' own
    spellings (SMIC ``s1_ne_01``, SAMM subject ``006``), three tiny frames each; plus ``UNLISTED`` rows.

    SAMM ``032_3_1`` carries its known error (apex 1930 before onset 4896; frames 4896, 4945, 4950 on disk), so
    only the known fix makes it usable.
    """
    casme = [CASME2_HEADER]
    samm_table: list[list[object]] = [["SAMM Micro-Movement Database"]] + [[] for _ in range(SAMM_DESCRIPTION_ROWS - 1)]
    samm_table.append(SAMM_HEADER)
    rows = [(r["domain"], r["subject"], r["clip"], r["label"]) for r in official_rows()]
    rows += [(d, str(s), c, e) for d, s, c, e in UNLISTED] if unlisted else []
    for domain, subject, clip, label in rows:
        number = int("".join(ch for ch in subject if ch.isdigit()))
        if domain == "smic":
            name = clip.replace(f"s{number:02d}_", f"s{number}_")
            tiny_frames(root / "SMIC" / "HS" / f"s{number}" / "micro" / label / name, ["image000101.bmp", "image000102.bmp",
                                                                                         "image000103.bmp"])
        elif domain == "casme2":
            tiny_frames(root / "CASME2" / "CASME2_RAW_selected" / f"sub{number:02d}" / clip, ["img10.jpg", "img11.jpg", "img12.jpg"])
            casme.append([number, clip, None, 10, 11, 12, None, "4+L10", CASME2_EMOTION.get(label, label)])
        else:
            frames = (4896, 4945, 4950) if clip == "032_3_1" else (100, 101, 102)
            tiny_frames(root / "SAMM" / "SAMM" / f"{number:03d}" / clip, [f"{number:03d}_{n:05d}.jpg" for n in frames])
            apex = 1930 if clip == "032_3_1" else frames[1]
            samm_table.append([f"{number:03d}", clip, "1", frames[0], apex, frames[2], 3, "Micro - 1/2", "R12B+14",
                               "", SAMM_EMOTION.get(label, label), "1"])
    write_xlsx(root / "CASME2" / "CASME2-coding-20140508.xlsx", casme)
    write_xlsx(root / "SAMM" / "SAMM_Micro_FACS_Codes_v2.xlsx", samm_table)
    return root


# ------------------------------------------------------------------ CAS(ME)³ Part A

CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
# (subject, sheet letter, folder letter, emotion, frame numbers on disk or None, (onset, apex, offset) or None).
# None: eight consecutive frames from a per-row start, timing from the synthetic clip.
CASME3_ROWS = [
    ("spNO.1", "a", "a", "happy", None, None),
    ("spNO.1", "a", "a", "disgust", None, None),                      # a second ME in the same trial
    ("spNO.1", "b", "b", "surprise", "drop", None),                   # a frame missing inside the clip
    ("spNO.1", "c", "c", "Others", None, None),                       # capitalised emotion
    ("spNO.2", "e", "e", "fear", [138 + k for k in range(8)], (138, 141, 145)),  # apex occluded (error list)
    ("spNO.2", "a", "a", "anger", None, None),
    ("spNO.2", "b", "b", "sad", None, None),
    ("spNO.3", "j", "J", "happy", None, None),                        # folder J, sheet j
    ("spNO.14", "J", "j", "surprise", None, None),                    # sheet J, folder j
    ("spNO.149", "d", "d", "disgust", [112, 130, 150, 160, 200, 250, 300, 358], (112, 83, 358)),  # apex < onset
    ("spNO.216", "d", "d", "others", [2647, 2650, 2655, 2660, 2668, 2680, 2690, 2694], (3647, 2668, 2694)),
    ("spNO.216", "e", "e", "surprise", list(range(1, 9)), (0, 0, 8)),  # frame 0 does not exist
    ("spNO.40", "e", "e", "disgust", [1812, 1815, 1820, 1825, 1830, 1835, 1840, 1845], (1812, 1820, 0)),
    ("spNO.40", "e", "e", "happy", [2327, 2340, 2350, 2360, 2370, 2380, 2390, 2403], (2327, 2350, 0)),
    ("spNO.214", "c", "c", "others", list(range(5, 13)), (5, 5, 3460)),  # a 3,456-frame 'ME'
]
CASME3_7 = {"anger": 1, "disgust": 3, "fear": 1, "happy": 3, "sad": 1, "surprise": 3, "others": 3}
CASME3_4 = {"negative": 6, "positive": 3, "surprise": 3, "others": 3}
CASME3_PREFIX = Path("part_A") / "data" / "part_A_split" / "part_A"
CASME3_OPTIONS = {"classes": "7", "frames": "auto", "fixes": "known", "occluded": "keep", "strict": False}
"""The casme3 loader's options as `merbench run` gives them by default (7 classes, the known fixes applied)."""


def copied_casme3(release: Path, tmp_path: Path) -> Path:
    """A copy of the ``build_casme3`` tree ``release`` under ``tmp_path`` (links kept), for a test to change."""
    return Path(shutil.copytree(release, tmp_path / "casme3", symlinks=True))


def build_casme3(root: Path, package: bool = False) -> Path:
    """CAS(ME)³ Part A: the ME label sheet (every cell text) and trial-video frames ``…/spNO.1/a/color/N.jpg`` with
    depth PNGs, or with ``package`` the pre-cut ``Part_A_ME_clip/frame/{Subject}_{Filename}_{Onset}/N.jpg``."""
    table: list[list[object]] = [CASME3_HEADER]
    for i, (subject, letter, folder_letter, emotion, numbers, timing) in enumerate(CASME3_ROWS):
        clip = clip_frames(int(subject.split(".")[1]), i, emotion)
        start = 100 + 20 * i
        names = numbers if isinstance(numbers, list) else [start + k for k in range(N_FRAMES)]
        frames = clip.frames
        if timing is None:
            timing = (start + clip.onset, start + clip.apex, start + clip.offset)
        if numbers == "drop":
            missing = start + (clip.onset + clip.apex) // 2
            if missing in (timing[0], timing[1]):
                missing = timing[1] + 1
            kept = [k for k, n in enumerate(names) if n != missing]
            names, frames = [names[k] for k in kept], frames[kept]
        if package:
            name = f"{subject}_{letter}_{timing[0]}"
            colour, depth = root / "Part_A_ME_clip" / "frame" / name, root / "Part_A_ME_clip" / "depth" / name
        else:
            trial = root / CASME3_PREFIX / subject / folder_letter
            colour, depth = trial / "color", trial / "depth"
        write_frames(colour, frames, (f"{n}.jpg" for n in names))
        write_frames(depth, frames[:, :, :, 0] if frames.ndim == 4 else frames, (f"{n}.png" for n in names))
        objective = ["I", "II", "III", "VII"][i % 4]
        table.append([subject, letter, str(timing[0]), str(timing[1]), str(timing[2]), "L1+R12", objective, emotion])
    write_xlsx(root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", table)
    return root


# ------------------------------------------------------------------ MMEW

MMEW_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion", "remarks"]
MMEW_INDEX = {"happiness": 1, "surprise": 2, "disgust": 3, "others": 4, "fear": 5, "sadness": 6, "anger": 7}
# (Subject cell, emotion, sample number, where the clip folder lies): "flat" Micro_Expression/{emotion}/,
# "repression" / "others" the folder of the others class, "subject" Micro_Expression/S02/{emotion}/,
# "fix" S04-01-001 with MEB's known apex/offset error, "mismatch" a Filename naming another subject.
MMEW_ROWS = [
    (1, "happiness", 1, "flat"), (1, "surprise", 1, "flat"), (1, "others", 1, "repression"), (1, "disgust", 1, "flat"),
    (2, "happiness", 1, "subject"), (2, "others", 2, "others"), (2, "fear", 1, "flat"), (2, "sadness", 1, "flat"),
    (3, "anger", 1, "flat"), (3, "surprise", 1, "flat"), (3, "disgust", 1, "flat"),
    (4, "happiness", 1, "fix"), (5, "happiness", 1, "mismatch"),
]
MMEW_7 = {"happiness": 3, "surprise": 2, "disgust": 2, "fear": 1, "sadness": 1, "anger": 1, "others": 2}
MMEW_FIX_FRAMES = 75


def build_mmew(root: Path) -> Path:
    """MMEW: ``MMEW_Micro_Exp.xlsx`` (integer Subject, onset 1) and ``Micro_Expression/{emotion}/S01-01-001/{N}.jpg``."""
    table: list[list[object]] = [MMEW_HEADER]
    base = root / "MMEW_Final" / "Micro_Expression"
    for i, (subject, emotion, number, where) in enumerate(MMEW_ROWS):
        named = subject + 1 if where == "mismatch" else subject
        filename = f"S{named:02d}-{MMEW_INDEX[emotion]:02d}-{number:03d}"
        n_frames = MMEW_FIX_FRAMES if where == "fix" else N_FRAMES
        clip = clip_frames(subject, i, emotion, n_frames=n_frames)
        folder = {"repression": "repression", "others": "others", "subject": f"S{subject:02d}/{emotion}"}.get(where, emotion)
        write_frames(base / folder / filename, clip.frames, (f"{k + 1}.jpg" for k in range(n_frames)))
        apex, offset = (27, 40) if where == "fix" else (clip.apex + 1, clip.offset + 1)
        table.append([subject, filename, 1, apex, offset, ["6+12", "12L", "R4+7", "1+2+5+18"][i % 4], emotion, None])
    write_xlsx(root / "MMEW_Final" / "MMEW_Micro_Exp.xlsx", table)
    return root


# ------------------------------------------------------------------ 4DME

FOURDME_HEADER = ["fold", "sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs", "AU1", "AU2", "AU4"]
# (sub_ID, fold_name, Emotion, how the frame numbers are stored: int, float or text)
FOURDME_ROWS = [
    ("S01", "S01_001_01_1", "Positive", "int"),
    ("S01", "S01_002_01_1", "Negative", "float"),
    ("S01", "S01_003_01_1", "Surprise+Positive", "text"),      # two classes
    ("S02", "S02_001_01_1", "Repression", "int"),
    ("S02", "S02_002_01_1", "Others", "int"),
    ("S02", "S02_003_01_1", "Negative+Repression", "int"),     # one class in the 3-class set
    ("S13_1st", "S13_1st_001_01_1", "Surprise", "int"),        # two sessions of subject S13
    ("S13_2nd", "S13_2nd_001_01_1", "Positive", "text"),
    ("S13_2nd", "S13_2nd_002_01_1", "Negative", "int"),
]
FOURDME_5 = {"positive": 2, "negative": 2, "surprise": 1, "repression": 1, "others": 1}
FOURDME_3 = {"negative": 4, "positive": 2, "surprise": 1}


def build_4dme(root: Path, quoted: bool = False, rows: Sequence[tuple] = FOURDME_ROWS) -> Path:
    """4DME: ``4DME_Labelling_Micro_release v1.xlsx`` (with one-hot AU columns; ``quoted``: headers and values end in
    an apostrophe, as older sheets did) and ``gray_micro/{sub_ID}/{fold_name}/frame_{N}.jpg`` (absolute N)."""
    mark = "'" if quoted else ""
    table: list[list[object]] = [[f"{h}{mark}" for h in FOURDME_HEADER]]
    for i, (sub_id, fold_name, emotion, kind) in enumerate(rows):
        clip = clip_frames(10 + i % 3, i, emotion.split("+")[0].lower())
        start = 2400 + 37 * i
        folder = fold_name + ("-" if i == 1 else "")  # a stray '-' on a folder name
        write_frames(root / "4DME" / "gray_micro" / sub_id / folder, clip.frames,
                     (f"frame_{start + k}.jpg" for k in range(N_FRAMES)))
        timing = [start + clip.onset, start + clip.apex, start + clip.offset]
        cells = {"int": timing, "float": [float(t) for t in timing], "text": [f"{t}{mark}" for t in timing]}[kind]
        aus = ["AU4(k)+L7", "AUR2+12(k)+45", "1+2"][i % 3]
        table.append([f"{i % 10}{mark}", f"{sub_id}{mark}", f"{fold_name}{mark}", f"{emotion}{mark}", *cells, f"{aus}{mark}", 1, 0, 1])
    write_xlsx(root / "4DME" / "4DME_Labelling_Micro_release v1.xlsx", table)
    write_xlsx(root / "4DME" / "4DME_Labelling_Micro_extras_release v1.xlsx",
               [["fold", "sub_ID", "fold_name", "self-report emo'", "video emo'"]] + [[0, r[0], r[1], "happy", "happy"] for r in rows])
    return root
