"""Tiny fixture trees in the exact layouts of the real SMIC, CASME II and SAMM releases.

Frames are drawn by the synthetic generator (32×32, a few per clip) so the whole
pipeline runs on them; coding sheets are written with openpyxl with the real
column names and quirks (see DESIGN.md section 3). Each ``build_*`` writes into
a given folder and returns it; the row tables below are what tests count on.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import openpyxl

from merbench_plugins import synthetic_faces as faces

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
    """A few 8×8 grey frames: enough for ``datasets check`` to open them."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        assert cv2.imwrite(str(folder / name), np.full((TINY, TINY), 60 + 40 * k, np.uint8))


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
