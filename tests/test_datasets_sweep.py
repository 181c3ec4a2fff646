"""Bugs found by a user sweep over real-looking trees: each test fails without its fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

import realtrees as rt
from merbench.errors import DataError
from merbench_plugins.datasets import fourdme, manifest, samm, smic

FOURDME_SHEET = "4DME/4DME_Labelling_Micro_release v1.xlsx"
MMEW_SHEET = "MMEW_Final/MMEW_Micro_Exp.xlsx"


def one_line(text: str) -> str:
    """A message with its line wrapping undone."""
    return " ".join(text.split())


def rename_headers(sheet: Path, renames: dict[str, str]) -> None:
    """Rename header cells of the first row of ``sheet``."""
    book = openpyxl.load_workbook(sheet)
    for cell in book.active[1]:
        cell.value = renames.get(cell.value, cell.value)
    book.save(sheet)


# ------------------------------------------------------------------ 1. manifest labels


def test_manifest_labels_differing_in_case_are_one_class_spelled_as_first_seen(tmp_path):
    rows = [{"subject": f"p{i % 3}", "label": label, "path": f"img{i}.png"}
            for i, label in enumerate(["Negative", "negative", "NEGATIVE", "positive", "Positive", "surprise"])]
    names, index = manifest.class_names([(i + 2, r["label"]) for i, r in enumerate(rows)], [], tmp_path / "m.csv")
    assert names == ("Negative", "positive", "surprise") and index == [0, 0, 0, 1, 1, 2]


def test_manifest_labels_differing_in_spaces_are_one_class(tmp_path):
    """One row typed `posi tive` once made a fourth class of one sample, silently (the coding-sheet loaders read
    emotions without spaces)."""
    labels = [(2, "negative"), (3, "positive"), (4, "posi tive"), (5, "surprise"), (6, " Positive ")]
    names, index = manifest.class_names(labels, [], tmp_path / "m.csv")
    assert names == ("negative", "positive", "surprise") and index == [0, 1, 1, 2, 1]
    given, index = manifest.class_names([(2, "Sur prise")], ["negative", "positive", "surprise"], tmp_path / "m.csv")
    assert index == [2]


def test_manifest_given_classes_match_labels_without_case(tmp_path):
    names, index = manifest.class_names([(2, "Surprise"), (3, "NEGATIVE"), (4, "1")], ["negative", "positive", "surprise"],
                                        tmp_path / "m.csv")
    assert names == ("negative", "positive", "surprise") and index == [2, 0, 1]


def test_manifest_float_text_of_a_whole_number_is_that_integer(tmp_path):
    names, index = manifest.class_names([(2, "1.0"), (3, "0"), (4, "1"), (5, "2.00")], [], tmp_path / "m.csv")
    assert names == ("0", "1", "2") and index == [1, 0, 1, 2]
    named, index = manifest.class_names([(2, "1.0"), (3, "2")], ["a", "b", "c"], tmp_path / "m.csv")
    assert index == [1, 2]


def test_manifest_fractional_label_is_named_not_a_whole_number(tmp_path):
    with pytest.raises(DataError, match=r"m.csv row 4: label '1.5' is not a whole number but most labels are integers"):
        manifest.class_names([(2, "0"), (3, "1.0"), (4, "1.5")], [], tmp_path / "m.csv")


def test_manifest_case_variants_end_to_end(run_cli, tmp_path):
    root = tmp_path / "manifest"
    csv_path = rt.build_manifest_frames(root)
    text = csv_path.read_text().replace(",negative,", ",Negative,", 1)
    csv_path.write_text(text)
    result = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=frames.csv")
    assert result.code == 0, result.err
    header = next(line for line in result.out.splitlines() if line.startswith("domain"))
    assert header.split() == ["domain", "Negative", "positive", "surprise", "total"]


# ------------------------------------------------------------------ 2. SAMM classes=all


def test_samm_classes_all_is_accepted_by_datasets_check(run_cli, tmp_path):
    root = rt.build_samm(tmp_path / "samm")
    result = run_cli("datasets", "check", "samm", "--root", str(root), "--set", "dataset.classes=all")
    assert result.code == 0, result.err
    assert "anger, contempt, happiness, surprise, other, disgust, fear, sadness" in " ".join(result.out.split())


# ------------------------------------------------------------------ 3, 4. SMIC folders


@pytest.fixture
def smic_tree(tmp_path) -> Path:
    return rt.build_smic(tmp_path / "smic", ("HS",))


def test_smic_subject_in_two_folders_names_both_folders(smic_tree):
    shutil.copytree(smic_tree / "HS" / "s1", smic_tree / "HS" / "S1")
    with pytest.raises(DataError) as error:
        smic.read_part(smic_tree)
    message = str(error.value)
    assert "HS/s1/micro/negative/s1_ne_01" in message and "HS/S1/micro/negative/s1_ne_01" in message
    assert "keep one" in message and "row" not in message


def test_sheet_loaders_keep_their_row_message_for_a_duplicate(tmp_path):
    rows = [*rt.SAMM_ROWS, rt.SAMM_ROWS[0]]
    root = rt.build_samm(tmp_path / "samm", rows=rows)
    with pytest.raises(DataError, match=r"row \d+: sample 006/006_1_2 duplicates row \d+; remove one of the two rows"):
        samm.read_part(root, "5")


@pytest.mark.parametrize("name", [".AppleDouble", "@eaDir"])
def test_smic_ignores_hidden_metadata_folders(smic_tree, name):
    expected = len(smic.read_part(smic_tree).entries)
    (smic_tree / "HS" / "s1" / "micro" / name).mkdir()
    (smic_tree / "HS" / "s1" / "micro" / "negative" / name).mkdir()
    (smic_tree / "HS" / name).mkdir()
    part = smic.read_part(smic_tree)
    assert len(part.entries) == expected and not part.log.skipped


# ------------------------------------------------------------------ 5. header messages


def test_read_sheet_names_the_anchor_columns_as_the_loader_spells_them(tmp_path):
    root = rt.build_4dme(tmp_path / "4dme")
    rename_headers(root / FOURDME_SHEET, {"sub_ID": "subject", "fold_name": "clip"})
    with pytest.raises(DataError, match=r"no header row with 'sub_ID', 'fold_name' in the first"):
        fourdme.read_part(root)


def test_4dme_headers_quoted_but_one_names_the_odd_header(tmp_path):
    root = rt.build_4dme(tmp_path / "4dme", quoted=True)
    rename_headers(root / FOURDME_SHEET, {"Onset'": "Onset"})
    with pytest.raises(DataError, match=r"row 1: the headers end in ' except Onset; make them all alike"):
        fourdme.read_part(root)


def test_4dme_plain_headers_but_one_quoted_names_the_odd_header(tmp_path):
    root = rt.build_4dme(tmp_path / "4dme")
    rename_headers(root / FOURDME_SHEET, {"Apex": "Apex'"})
    with pytest.raises(DataError, match=r"row 1: the headers have no trailing ' except Apex'; make them all alike"):
        fourdme.read_part(root)


# ------------------------------------------------------------------ 6. sheet saved in another format


@pytest.mark.parametrize("dataset, build, sheet", [
    ("casme2", rt.build_casme2, "CASME2-coding-20140508.xlsx"),
    ("samm", rt.build_samm, "SAMM_Micro_FACS_Codes_v2.xlsx"),
    ("4dme", rt.build_4dme, FOURDME_SHEET),
    ("mmew", rt.build_mmew, MMEW_SHEET),
])
@pytest.mark.parametrize("suffix", [".xls", ".csv"])
def test_a_coding_sheet_in_another_format_is_named(run_cli, tmp_path, dataset, build, sheet, suffix):
    root = build(tmp_path / dataset)
    saved = (root / sheet).rename((root / sheet).with_suffix(suffix))
    result = run_cli("datasets", "check", dataset, "--root", str(root))
    assert result.code == 2
    message = one_line(result.err)
    assert f"found {saved.relative_to(root)}; save the sheet as .xlsx (File > Save As)" in message
    assert "give the folder of your" not in message


# ------------------------------------------------------------------ 7. 4DME sub_ID case


def test_4dme_lower_case_sub_id_is_not_a_session(tmp_path):
    rows = [("s01", "s01_001_01_1", "Positive", "int"), ("S13_1st", "S13_1st_001_01_1", "Surprise", "int")]
    root = rt.build_4dme(tmp_path / "4dme", rows=rows)
    part = fourdme.read_part(root)
    assert {e.subject for e in part.entries} == {"S01", "S13"}
    notes = {e["sample"]: e["note"] for e in part.log.fixed}
    assert "s01/s01_001_01_1" not in notes and "counted as subject S13" in notes["S13_1st/S13_1st_001_01_1"]


@pytest.mark.parametrize("label", ["tab\there", "multi\nline"])
def test_a_manifest_label_holding_a_tab_or_line_break_is_refused_naming_the_row(run_cli, tmp_path, label):
    """It became a class name that tables cut at the tab or split over two rows (an extra class, by the look of it)."""
    import csv as csv_module

    (tmp_path / "img.png").write_bytes(b"")
    with open(tmp_path / "labels.csv", "w", newline="") as handle:
        writer = csv_module.writer(handle)
        writer.writerow(["subject", "label", "path"])
        writer.writerows([["s1", "negative", "img.png"], ["s2", label, "img.png"]])
    result = run_cli("datasets", "check", "manifest", "--root", str(tmp_path), "--set", "dataset.manifest=labels.csv")
    said = " ".join(result.err.split())
    assert result.code == 2 and "Traceback" not in result.err, result.err
    shown = label.replace("\t", "\\x09").replace("\n", "\\x0a")
    assert f"labels.csv row 3: the label '{shown}' holds a control character" in said, said
