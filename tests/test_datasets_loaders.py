"""The real-dataset loaders on tiny fixture trees in the releases' own layouts (tests/realtrees.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import realtrees as rt
from merbench.errors import DataError, UsageError
from merbench_plugins.datasets import casme2, manifest, megc2019, samm, smic

CASME2 = {"classes": "5", "frames": "auto", "strict": False}
SAMM = {"classes": "5", "strict": False}
SMIC = {"subset": "hs", "strict": False}
MEGC = {"smic": "", "casme2": "", "samm": "", "casme2_frames": "auto", "list": "derived", "strict": False}


def counts(dataset) -> dict[str, int]:
    names = [dataset.classes[s.label] for s in dataset.samples]
    return {name: names.count(name) for name in dataset.classes}


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real")
    rt.build_casme2(root / "casme2")
    rt.build_casme2(root / "casme2-cropped", cropped=True)
    rt.build_casme2(root / "casme2-cropped-noreg", cropped=True, reg=False)
    rt.build_samm(root / "samm")
    rt.build_smic(root / "smic")
    rt.build_megc(root / "megc")
    return root


def test_casme2_five_classes_quirks_and_timing(trees, tmp_path):
    dataset = casme2.load(trees / "casme2", CASME2, tmp_path)
    assert dataset.classes == ("happiness", "disgust", "repression", "surprise", "others")
    assert counts(dataset) == rt.CASME2_5
    assert sorted(set(dataset.subjects)) == ["sub01", "sub02", "sub03"]
    ids = [s.id for s in dataset.samples]
    assert "sub01/EP02_01f" in ids and "sub02/EP02_01f" in ids  # same Filename, two subjects
    by_id = {s.id: s for s in dataset.samples}
    first = by_id["sub01/EP02_01f"]
    assert first.frames[0].name == "img40.jpg" and len(first.frames) == rt.N_FRAMES
    clip = rt.clip_frames(1, 0, "happiness")
    assert (first.onset, first.apex, first.offset) == (clip.onset, clip.apex, clip.offset)
    assert by_id["sub01/EP03_02"].apex is None and by_id["sub01/EP05_03"].apex is None  # '/' and empty
    summary = dataset.summary
    assert summary["apex_middle_fallback"] == 2 and summary["frames"] == "raw" and summary["header_row"] == 1
    assert summary["dropped_by_class_set"] == {"fear": 1, "sadness": 1}
    reasons = {row["sample"]: (row["row"], row["reason"]) for row in summary["skipped_rows"]}
    assert reasons["sub03/EP12_01f"][0] == 11 and "outside onset" in reasons["sub03/EP12_01f"][1]
    assert "no frame folder CASME2_RAW_selected/sub03/EP14_01" in reasons["sub03/EP14_01"][1]


def test_casme2_three_classes_and_all(trees, tmp_path):
    three = casme2.load(trees / "casme2", {**CASME2, "classes": "3"}, tmp_path)
    assert three.classes == ("negative", "positive", "surprise") and counts(three) == rt.CASME2_3
    assert three.summary["dropped_by_class_set"] == {"fear": 1, "others": 1, "sadness": 1}
    every = casme2.load(trees / "casme2", {**CASME2, "classes": "all"}, tmp_path)
    assert every.classes == ("happiness", "disgust", "repression", "surprise", "others", "fear", "sadness")
    assert len(every.samples) == 12
    with pytest.raises(UsageError, match="dataset.classes=7: choose one of 5, 3, all"):
        casme2.load(trees / "casme2", {**CASME2, "classes": "7"}, tmp_path)


@pytest.mark.parametrize("tree, first_frame", [("casme2-cropped", "reg_img40.jpg"), ("casme2-cropped-noreg", "img40.jpg")])
def test_casme2_cropped_tree_is_detected_with_or_without_reg(trees, tmp_path, tree, first_frame):
    dataset = casme2.load(trees / tree, CASME2, tmp_path)
    assert dataset.summary["frames"] == "cropped"
    assert dataset.samples[0].frames[0].name == first_frame and counts(dataset) == rt.CASME2_5
    with pytest.raises(DataError, match="expected the frame folder CASME2_RAW_selected/"):
        casme2.load(trees / tree, {**CASME2, "frames": "raw"}, tmp_path)


def test_samm_finds_header_fixes_offset_and_skips_bad_apex(trees, tmp_path):
    dataset = samm.load(trees / "samm", SAMM, tmp_path)
    assert dataset.summary["header_row"] == rt.SAMM_DESCRIPTION_ROWS + 1
    assert counts(dataset) == rt.SAMM_5
    assert sorted(set(dataset.subjects)) == ["006", "007", "009"]
    by_id = {s.id: s for s in dataset.samples}
    assert by_id["006/006_1_2"].frames[0].name == "006_05560.jpg"
    fixed = by_id["006/006_2_1"]
    assert fixed.offset == rt.N_FRAMES - 1 and fixed.onset <= fixed.apex <= fixed.offset
    assert [f["sample"] for f in dataset.summary["fixed_rows"]] == ["006/006_2_1"]
    assert "used the last frame" in dataset.summary["fixed_rows"][0]["note"]
    (skipped,) = dataset.summary["skipped_rows"]
    assert skipped["sample"] == "009/009_1_1" and skipped["row"] == 23
    assert skipped["reason"].startswith("apex ") and "outside onset" in skipped["reason"]
    three = samm.load(trees / "samm", {**SAMM, "classes": "3"}, tmp_path)
    assert counts(three) == rt.SAMM_3 and three.summary["dropped_by_class_set"] == {"other": 1}


def test_samm_given_the_folder_above_its_release_folder_reads_the_frames_beside_the_sheet(tmp_path):
    """A loader looks in --root and one folder below: with --root above the release folder ``SAMM`` (which holds the
    sheet and the frame folder, also called ``SAMM``), the frames are those beside the sheet (before: the release
    folder was taken for the frame folder, and every row was skipped, "no frame folder SAMM/006/006_1_2")."""
    rt.build_samm(tmp_path / "parent" / "SAMM")
    dataset = samm.load(tmp_path / "parent", SAMM, tmp_path / "cache")
    assert counts(dataset) == rt.SAMM_5
    assert dataset.samples[0].frames[0].parent.parent.parent == tmp_path / "parent" / "SAMM" / "SAMM"


def test_samm_header_is_found_whatever_the_number_of_descriptive_rows(tmp_path):
    rt.build_samm(tmp_path / "samm")
    sheet = tmp_path / "samm" / "SAMM_Micro_FACS_Codes_v2.xlsx"
    import openpyxl

    book = openpyxl.load_workbook(sheet)
    book.active.delete_rows(1, 5)
    book.save(sheet)
    dataset = samm.load(tmp_path / "samm", SAMM, tmp_path / "cache")
    assert dataset.summary["header_row"] == rt.SAMM_DESCRIPTION_ROWS + 1 - 5 and counts(dataset) == rt.SAMM_5


def test_smic_subsets_labels_from_paths_and_no_apex(trees, tmp_path):
    dataset = smic.load(trees / "smic", SMIC, tmp_path)
    assert counts(dataset) == rt.SMIC_HS and dataset.domains.tolist() == ["smic"] * 10
    assert sorted(set(dataset.subjects)) == ["s1", "s2", "s3"]
    sample = next(s for s in dataset.samples if s.id == "s2/s2_ne_02")
    assert sample.apex is None and sample.onset == 0 and sample.offset == rt.N_FRAMES - 1
    assert sample.frames[0].name.startswith("image") and sample.frames[0].suffix == ".bmp"
    assert all("non_micro" not in str(s.frames[0]) for s in dataset.samples)
    assert dataset.summary["apex_middle_fallback"] == 10
    nir = smic.load(trees / "smic", {**SMIC, "subset": "nir"}, tmp_path)
    assert len(nir.samples) == len(rt.SMIC_CLIPS["NIR"]) and set(nir.domains) == {"smic-nir"}
    assert len(smic.load(trees / "smic" / "VIS", {**SMIC, "subset": "vis"}, tmp_path).samples) == 4
    with pytest.raises(UsageError, match="dataset.subset=xx"):
        smic.load(trees / "smic", {**SMIC, "subset": "xx"}, tmp_path)


def test_megc2019_composite_mapping_domains_and_unique_subjects(trees, tmp_path):
    dataset = megc2019.load(trees / "megc", MEGC, tmp_path)
    assert dataset.classes == ("negative", "positive", "surprise")
    parts = dataset.summary["parts"]
    assert parts["smic"]["class_counts"] == rt.SMIC_HS
    assert parts["casme2"]["class_counts"] == rt.CASME2_3
    assert parts["samm"]["class_counts"] == rt.SAMM_3
    assert sorted(set(dataset.domains)) == ["casme2", "samm", "smic"]
    for sample in dataset.samples:
        assert sample.subject.startswith(sample.domain + "/") and sample.id.startswith(sample.domain + "/")
    assert len(set(dataset.subjects)) == 9
    emotions = {s.extra["emotion"]: dataset.classes[s.label] for s in dataset.samples if "emotion" in s.extra}
    assert emotions == {"happiness": "positive", "disgust": "negative", "repression": "negative", "surprise": "surprise",
                        "anger": "negative", "contempt": "negative", "fear": "negative", "sadness": "negative"}
    # explicit part roots (relative to --root) give the same composite
    explicit = megc2019.load(trees, {**MEGC, "smic": "megc/SMIC", "casme2": "megc/CASME2", "samm": "megc/SAMM"}, tmp_path)
    assert [s.id for s in explicit.samples] == [s.id for s in dataset.samples]


def test_megc2019_names_the_missing_part(trees, tmp_path):
    root = tmp_path / "two"
    shutil.copytree(trees / "megc" / "SMIC", root / "SMIC")
    shutil.copytree(trees / "megc" / "SAMM", root / "SAMM")
    with pytest.raises(DataError, match=r"contains 'casme' for casme2 \(found none\).*--set dataset.casme2=DIR"):
        megc2019.load(root, MEGC, tmp_path / "cache")
    with pytest.raises(UsageError, match="give --root DIR holding all three"):
        megc2019.load(None, MEGC, tmp_path / "cache")


# ------------------------------------------------------------------ malformed trees


def test_missing_annotation_and_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"expected CASME2-coding-\*\.xlsx .* in .*empty"):
        casme2.load(tmp_path / "empty", CASME2, tmp_path / "cache")
    with pytest.raises(DataError, match=r"expected SAMM_Micro_FACS_Codes\*\.xlsx"):
        samm.load(tmp_path / "empty", SAMM, tmp_path / "cache")
    with pytest.raises(DataError, match="expected the folder HS/"):
        smic.load(tmp_path / "empty", SMIC, tmp_path / "cache")


def test_missing_column_unknown_emotion_and_duplicates(tmp_path):
    header = [h for h in rt.CASME2_HEADER if h != "ApexFrame"]
    rt.build_casme2(tmp_path / "a", rows=rt.CASME2_ROWS[:3], header=header)
    with pytest.raises(DataError, match=r"row 1: column 'ApexFrame' not found in the header"):
        casme2.load(tmp_path / "a", CASME2, tmp_path / "cache")
    rt.build_casme2(tmp_path / "b", rows=[*rt.CASME2_ROWS[:3], (2, "EP10_01", "joy", "ok")])
    with pytest.raises(DataError, match=r"row 5 \(sub02/EP10_01\): unknown emotion 'joy'"):
        casme2.load(tmp_path / "b", CASME2, tmp_path / "cache")
    rt.build_samm(tmp_path / "c", rows=[*rt.SAMM_ROWS[:3], rt.SAMM_ROWS[1]])
    with pytest.raises(DataError, match=r"row 18: sample 006/006_1_3 duplicates row 16"):
        samm.load(tmp_path / "c", SAMM, tmp_path / "cache")


def test_a_smic_clip_left_as_a_file_is_a_skipped_row_not_dropped_unseen(tmp_path):
    root = rt.build_smic(tmp_path / "smic", subsets=("HS",))
    clip = next((root / "HS" / "s3" / "micro" / "surprise").iterdir())
    shutil.rmtree(clip)
    clip.with_suffix(".zip").write_bytes(b"PK")  # a clip still packed
    (clip.parent / "Thumbs.db").write_bytes(b"")  # what a file browser leaves: not a clip
    dataset = smic.load(root, SMIC, tmp_path / "cache")
    assert len(dataset.samples) == len(rt.SMIC_CLIPS["HS"]) - 1
    (skipped,) = dataset.summary["skipped_rows"]
    assert skipped["sample"] == f"s3/{clip.name}.zip"
    assert skipped["reason"].endswith("is a file, not a clip folder of frames; unpack it (an archive) or remove it")


@pytest.mark.parametrize("renamed", ["s02", "Sub02"])
def test_a_subject_folder_spelt_otherwise_is_named_with_the_rename(tmp_path, renamed):
    root = rt.build_casme2(tmp_path / "casme2")
    folder = next(root.rglob("sub02"))
    folder.rename(folder.with_name(renamed))
    dataset = casme2.load(root, CASME2, tmp_path / "cache")
    reasons = [row["reason"] for row in dataset.summary["skipped_rows"] if row["sample"].startswith("sub02/")]
    assert reasons and all(f"(sub02/ is not in {folder.parent.relative_to(root)}, but {renamed}/ is: rename it sub02, "
                           "as the sheet names it)" in reason for reason in reasons), reasons


def test_strict_turns_skipped_rows_into_an_error(trees, tmp_path):
    with pytest.raises(DataError, match=r"2 rows cannot be used, first row 11 \(sub03/EP12_01f\): apex"):
        casme2.load(trees / "casme2", {**CASME2, "strict": True}, tmp_path)


def test_cache_inside_a_root_is_refused(trees):
    with pytest.raises(UsageError, match="never writes inside a dataset"):
        samm.load(trees / "samm", SAMM, trees / "samm" / "cache")


def test_loaders_do_not_write_inside_the_root(trees, tmp_path):
    before = sorted((p, p.stat().st_mtime_ns) for p in (trees / "megc").rglob("*"))
    megc2019.load(trees / "megc", MEGC, tmp_path)
    assert sorted((p, p.stat().st_mtime_ns) for p in (trees / "megc").rglob("*")) == before


# ------------------------------------------------------------------ manifest


@pytest.fixture
def data(tmp_path) -> Path:
    """A manifest root beside (not above) the test's cache folder."""
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def test_manifest_images_with_named_integer_labels(data, tmp_path):
    csv_path = rt.build_manifest_images(data)
    dataset = manifest.load(data, {"manifest": str(csv_path), "classes": ["negative", "positive", "surprise"], "strict": False},
                            tmp_path / "cache")
    assert dataset.gives == "image" and dataset.classes == ("negative", "positive", "surprise")
    assert len(dataset.samples) == 12 and sorted(set(dataset.domains)) == ["a", "b"]
    assert all(len(s.frames) == 1 and s.frames[0].is_file() for s in dataset.samples)
    unnamed = manifest.load(data, {"manifest": "labels.csv", "classes": [], "strict": False}, tmp_path / "cache")
    assert unnamed.classes == ("0", "1", "2") and unnamed.labels.tolist() == dataset.labels.tolist()


def test_manifest_frames_mode_with_label_names(data, tmp_path):
    rt.build_manifest_frames(data)
    dataset = manifest.load(data, {"manifest": "frames.csv", "classes": [], "strict": False}, tmp_path / "cache")
    assert dataset.gives == "frames" and dataset.classes == ("negative", "positive", "surprise")
    sample = dataset.samples[0]
    assert (sample.onset, sample.apex, sample.offset) == (0, 1, 1) and sample.frames[1].name == "apex.png"
    assert set(dataset.domains) == {"manifest"}


@pytest.mark.parametrize("bad, message", [
    ("../outside.png", r"row 3: path \.\./outside\.png escapes the root"),
    ("images/../../x.png", r"row 3: path images/\.\./\.\./x\.png escapes the root"),
    ("/etc/passwd", r"row 3: path /etc/passwd is absolute"),
])
def test_manifest_paths_may_not_escape_the_root(data, tmp_path, bad, message):
    rt.write_csv(data / "m.csv", [{"subject": "a", "label": "x", "path": "images/a.png"},
                                      {"subject": "b", "label": "y", "path": bad}])
    with pytest.raises(DataError, match=message):
        manifest.load(data, {"manifest": "m.csv", "classes": [], "strict": False}, tmp_path / "cache")


def test_manifest_missing_file_is_skipped_and_bad_labels_are_errors(data, tmp_path):
    csv_path = rt.build_manifest_images(data)
    (data / "images" / "s0" / "img_0.png").unlink()
    dataset = manifest.load(data, {"manifest": str(csv_path), "classes": [], "strict": False}, tmp_path / "cache")
    assert len(dataset.samples) == 11 and dataset.summary["skipped_rows"][0]["row"] == 2
    rt.write_csv(data / "m.csv", [{"subject": "a", "label": "0", "path": "images/s1/img_0.png"},
                                      {"subject": "b", "label": "7", "path": "images/s1/img_1.png"}])
    with pytest.raises(DataError, match=r"row 3: label '7' is not one of dataset.classes=n,p"):
        manifest.load(data, {"manifest": "m.csv", "classes": ["n", "p"], "strict": False}, tmp_path / "cache")
    rt.write_csv(data / "m.csv", [{"subject": "a", "label": "0"}])
    with pytest.raises(DataError, match=r"row 1: missing column path \(or onset and apex\)"):
        manifest.load(data, {"manifest": "m.csv", "classes": [], "strict": False}, tmp_path / "cache")


def test_the_check_command_a_run_suggests_can_be_pasted_for_a_root_with_spaces(tmp_path):
    import shlex

    from merbench.dataset_check import loader_skip_note

    root = rt.build_casme2(tmp_path / "my copy of CASME II")
    next(root.rglob("EP02_01f")).rename(next(root.rglob("EP02_01f")).with_name("moved"))
    note = loader_skip_note(casme2.load(root, CASME2, tmp_path / "cache"), "casme2", root)
    command = note.split("`")[1]
    assert shlex.split(command) == ["merbench", "datasets", "check", "casme2", "--root", str(root)]
