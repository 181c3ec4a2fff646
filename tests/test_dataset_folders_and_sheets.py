"""Dataset loaders and dataset-root protection: megc2019 parts given with ``--set dataset.NAME=DIR`` are
dataset folders; CAS(ME)³ with only the full ``.xls`` annotation; two frame trees (casme3) and a partial crop (4DME)
never read silently; a duplicated casme3 row is refused; two header cells of one column are refused; counted nouns."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

import realtrees as rt
from merbench.datafiles import check_cache_outside_dataset, option_folders
from merbench.errors import DataError, UsageError
from merbench_plugins.datasets import casme3, fourdme

CASME3 = {"classes": "7", "frames": "auto", "frames_folder": "", "fixes": "known", "occluded": "keep", "strict": False}
FOURDME = {"classes": "5", "frames": "auto", "multilabel": "skip", "fixes": "known", "strict": False}
FULL_TRIALS = rt.CASME3_PREFIX
LABELS = Path("annotation") / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
FOURDME_SHEET = Path("4DME") / "4DME_Labelling_Micro_release v1.xlsx"


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweepi")
    rt.build_casme3(root / "casme3")
    rt.build_4dme(root / "4dme")
    rt.build_megc(root / "megc")
    return root


def copy_of(trees: Path, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trees / name, tmp_path / name))


def sheet_rows(path: Path) -> list[list]:
    return [list(r) for r in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]


def save_rows(path: Path, rows: list[list]) -> None:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)


# ------------------------------------------------------------------ 1. megc2019 parts are dataset folders


def test_a_part_folder_option_is_a_dataset_folder_and_other_options_are_not(trees, tmp_path, monkeypatch):
    megc = trees / "megc"
    defaults = {"smic": "", "casme2": "", "samm": "", "list": "official", "casme2_frames": "auto"}
    monkeypatch.chdir(megc)
    (megc / "raw").mkdir(exist_ok=True)  # a folder named like a choice's value is not a dataset folder
    found = option_folders(None, {"smic": str(megc / "SMIC"), "casme2": "CASME2", "casme2_frames": "raw",
                                  "samm": "no-such-folder"}, defaults)
    assert found == {"smic": megc / "SMIC", "casme2": Path("CASME2")}
    assert option_folders(megc, {"samm": "SAMM"}, defaults) == {"samm": megc / "SAMM"}  # under --root when given
    with pytest.raises(UsageError, match=r"the cache .*SAMM/cache lies inside the dataset folder .*SAMM \(given with "
                                         r"--set dataset.samm=.*SAMM\)"):
        check_cache_outside_dataset(None, {"samm": str(megc / "SAMM")}, defaults, megc / "SAMM" / "cache")
    check_cache_outside_dataset(None, {"samm": str(megc / "SAMM")}, defaults, tmp_path / "cache")


def megc_parts(megc: Path) -> list[str]:
    return ["--set", f"dataset.smic={megc / 'SMIC'}", f"dataset.casme2={megc / 'CASME2'}", f"dataset.samm={megc / 'SAMM'}",
            "dataset.list=derived"]


def test_json_inside_a_megc2019_part_given_with_set_is_refused_before_any_work(run_cli, trees, tmp_path):
    megc = copy_of(trees, "megc", tmp_path)
    before = set(megc.rglob("*"))
    target = megc / "CASME2" / "run.json"
    result = run_cli("run", "--model", "ststnet", "--dataset", "megc2019", "--protocol", "megc2019", *megc_parts(megc),
                     "--profile", "quick", "--epochs", "1", "--quiet", "--no-store", "--json", str(target))
    assert result.code == 2, result.err
    assert (f"--json {target}: lies inside the dataset folder given with --set dataset.casme2={megc / 'CASME2'}"
            in flat(result.err))
    assert set(megc.rglob("*")) == before, "nothing is written inside the parts"


def test_a_results_store_inside_a_megc2019_part_is_refused(run_cli, trees, tmp_path, monkeypatch):
    megc = copy_of(trees, "megc", tmp_path)
    before = set(megc.rglob("*"))
    monkeypatch.setenv("MERBENCH_STORE", str(megc / "SMIC" / "store.sqlite"))
    result = run_cli("run", "--model", "ststnet", "--dataset", "megc2019", "--protocol", "megc2019", *megc_parts(megc),
                     "--profile", "quick", "--epochs", "1", "--quiet")
    assert result.code == 2, result.err
    assert (f"$MERBENCH_STORE {megc / 'SMIC' / 'store.sqlite'}: lies inside the dataset folder given with --set "
            f"dataset.smic={megc / 'SMIC'}") in flat(result.err)
    assert set(megc.rglob("*")) == before


def test_a_cache_inside_a_megc2019_part_is_refused_and_not_created(run_cli, trees, tmp_path, monkeypatch):
    megc = copy_of(trees, "megc", tmp_path)
    monkeypatch.setenv("MERBENCH_CACHE", str(megc / "SAMM" / "cache"))
    result = run_cli("preprocess", "--dataset", "megc2019", *megc_parts(megc), "--quiet")
    assert result.code == 2 and "lies inside the dataset folder" in flat(result.err)
    assert not (megc / "SAMM" / "cache").exists(), "the refused cache folder is not created"


# ------------------------------------------------------------------ 2. CAS(ME)³ with only the full annotation


def test_casme3_with_only_the_full_annotation_points_at_the_me_label_file(trees, tmp_path):
    root = copy_of(trees, "casme3", tmp_path)
    labels = (root / LABELS).read_bytes()
    (root / LABELS).unlink()
    (root / "annotation" / "CAS(ME)3_part_A_v2.xls").write_bytes(b"\xd0\xcf\x11\xe0 not opened")
    for step in ("xls", "saved as xlsx", "xlsx only"):
        if step == "saved as xlsx":  # what the old advice led to: the same file as .xlsx
            save_rows(root / "annotation" / "CAS(ME)3_part_A_v2.xlsx", [["Subject", "Filename", "Onset", "Apex", "Offset",
                                                                        "AU", "Expression type", "Objective class"]])
        if step == "xlsx only":
            (root / "annotation" / "CAS(ME)3_part_A_v2.xls").unlink()
        with pytest.raises(DataError) as caught:
            casme3.load(root, CASME3, tmp_path / "cache")
        message = str(caught.value)
        assert "the full CAS(ME)3 Part A annotation" in message and "which merbench does not read" in message, step
        assert "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx" in message and "annotation/partA/" in message, step
        assert "save the sheet as .xlsx" not in message, step
    (root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xls").write_bytes(b"\xd0\xcf\x11\xe0 an .xls copy")
    with pytest.raises(DataError, match=r"but found annotation/cas\(me\)3_part_A_ME_label_JpgIndex_v2.xls; save the "
                                        r"sheet as .xlsx"):
        casme3.load(root, CASME3, tmp_path / "cache")
    (root / LABELS).write_bytes(labels)  # the advice followed: the label sheet saved as .xlsx is read
    assert len(casme3.load(root, CASME3, tmp_path / "cache").samples) == 15


# ------------------------------------------------------------------ 6. casme3: two frame trees


def test_casme3_refuses_two_frame_trees_and_reads_the_one_named(trees, tmp_path, run_cli):
    root = copy_of(trees, "casme3", tmp_path)
    shutil.copytree(root / FULL_TRIALS / "spNO.1", root / "A_cropped" / "spNO.1")  # a partial copy, sorted first
    with pytest.raises(DataError) as caught:
        casme3.load(root, CASME3, tmp_path / "cache")
    message = str(caught.value)
    assert "several frame folders with spNO.* trial folders" in message
    assert "A_cropped/ (1 subject)" in message and f"{FULL_TRIALS}/ (8 subjects)" in message
    assert f"--set dataset.frames_folder={FULL_TRIALS}" in message
    chosen = casme3.load(root, {**CASME3, "frames_folder": str(FULL_TRIALS)}, tmp_path / "cache")
    assert len(chosen.samples) == 15 and chosen.summary["frames_folder"] == str(root / FULL_TRIALS)
    result = run_cli("datasets", "check", "casme3", "--root", str(root), "--set", "dataset.frames_folder=A_cropped")
    assert "frames folder" in result.out and str(root / "A_cropped") in result.out


def test_casme3_reads_the_colour_tree_beside_a_depth_only_tree(trees, tmp_path):
    root = copy_of(trees, "casme3", tmp_path)
    (root / FULL_TRIALS).rename(root / "RGB")
    for depth in sorted((root / "RGB").glob("spNO.*/*/depth")):
        target = root / "Depth" / depth.parent.relative_to(root / "RGB")
        shutil.move(str(depth), str(target))  # Depth/spNO.1/a/N.png, sorted before RGB/
    dataset = casme3.load(root, CASME3, tmp_path / "cache")
    assert len(dataset.samples) == 15 and dataset.summary["frames_folder"] == str(root / "RGB")


# ------------------------------------------------------------------ 7. 4DME: an empty or partial crop


def test_4dme_an_empty_crop_does_not_win_and_a_partial_one_is_refused_naming_frames_raw(trees, tmp_path):
    root = copy_of(trees, "4dme", tmp_path)
    (root / "4DME" / "gray_micro_crop").mkdir()
    full = fourdme.load(root, FOURDME, tmp_path / "cache")
    assert len(full.samples) == 7 and full.summary["frames_folder"] == str(root / "4DME" / "gray_micro")
    shutil.copytree(root / "4DME" / "gray_micro" / "S01", root / "4DME" / "gray_micro_crop" / "S01")
    with pytest.raises(DataError) as caught:
        fourdme.load(root, FOURDME, tmp_path / "cache")
    message = str(caught.value)
    assert "4DME/gray_micro_crop/ lacks 6 of the 9 clips of the sheet that 4DME/gray_micro/ holds" in message
    assert "S02/S02_001_01_1" in message and "--set dataset.frames=raw" in message
    raw = fourdme.load(root, {**FOURDME, "frames": "raw"}, tmp_path / "cache")
    assert len(raw.samples) == 7
    cropped = fourdme.load(root, {**FOURDME, "frames": "cropped"}, tmp_path / "cache")
    reasons = {e["sample"]: e["reason"] for e in cropped.summary["skipped_rows"]}
    assert reasons["S02/S02_001_01_1"] == ("no frame folder 4DME/gray_micro_crop/S02/S02_001_01_1; it is in "
                                           "4DME/gray_micro/S02/S02_001_01_1: --set dataset.frames=raw reads that copy")
    shutil.copytree(root / "4DME" / "gray_micro", root / "4DME" / "gray_micro_crop", dirs_exist_ok=True)
    complete = fourdme.load(root, FOURDME, tmp_path / "cache")  # a finished crop is read, as documented
    assert complete.summary["frames_folder"] == str(root / "4DME" / "gray_micro_crop") and len(complete.samples) == 7


# ------------------------------------------------------------------ 11. casme3: a duplicated row


def test_casme3_a_duplicated_row_that_disagrees_is_refused_naming_both_rows(trees, tmp_path):
    root = copy_of(trees, "casme3", tmp_path)
    rows = sheet_rows(root / LABELS)
    copy = list(rows[1])
    copy[-1] = "disgust" if rows[1][-1] != "disgust" else "happy"
    save_rows(root / LABELS, [rows[0], rows[1], copy, *rows[2:]])
    sample = f"{rows[1][0]}/{rows[1][1]}/{rows[1][2]}"
    with pytest.raises(DataError, match=rf"JpgIndex_v2.xlsx row 3: sample {sample} duplicates row 2; remove one of "
                                        r"the two rows"):
        casme3.load(root, CASME3, tmp_path / "cache")


# ------------------------------------------------------------------ 13. two header cells of one column


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_sheet_with_two_onset_columns_is_refused_naming_both(trees, tmp_path, where):
    root = copy_of(trees, "4dme", tmp_path)
    rows = sheet_rows(root / FOURDME_SHEET)
    if where == "before":  # an extra Onset as column B: the first one would be read
        rows = [[r[0], "Onset" if i == 0 else 5, *r[1:]] for i, r in enumerate(rows)]
        letters = "B and F"
    else:  # after the real one: that one would be read, and nothing said
        rows = [[*r, "Onset" if i == 0 else 5] for i, r in enumerate(rows)]
        letters = "E and L"
    save_rows(root / FOURDME_SHEET, rows)
    with pytest.raises(DataError, match=rf"release v1.xlsx row 1: 2 'Onset' columns \({letters}\); merbench cannot "
                                        r"tell which one holds the data: keep one and rename or delete the other"):
        fourdme.load(root, FOURDME, tmp_path / "cache")


# ------------------------------------------------------------------ 14. counted nouns in the closing line


def test_datasets_check_counts_one_subject_in_the_singular(trees, tmp_path, run_cli):
    root = copy_of(trees, "4dme", tmp_path)
    for subject in ("S02", "S13_1st", "S13_2nd"):
        shutil.rmtree(root / "4DME" / "gray_micro" / subject)
    result = run_cli("datasets", "check", "4dme", "--root", str(root))
    assert result.code == 0, result.err
    assert "usable: 2 samples, 1 subject, 7 rows skipped" in flat(result.out)
