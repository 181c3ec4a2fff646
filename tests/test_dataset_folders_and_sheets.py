"""Dataset loaders and dataset-root protection: megc2019 parts given with ``--set dataset.NAME=DIR`` are
dataset folders; CAS(ME)³ with only the full ``.xls`` annotation; two frame trees (casme3) and a partial crop (4DME)
never read silently; a damaged early casme3 trial skips only its rows; the casme3 frame-tree search stays cheap; a
cache inside a casme3 frames_folder is refused; 4DME rows and frame folders share one clip key; a duplicated casme3 row
is refused; two header cells of one column are read as one when equal, else refused; counted nouns."""

from __future__ import annotations

import os
import shutil
from collections import Counter
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
    with pytest.raises(UsageError, match=r"the cache .*SAMM/cache lies inside the dataset folder .*SAMM \(named by "
                                         r"the option dataset.samm=.*SAMM\)"):
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


def test_casme3_reads_a_frames_folder_given_as_an_absolute_path_or_outside_the_root(trees, tmp_path, monkeypatch):
    """An absolute dataset.frames_folder beside a relative --root, or one outside --root, raised ValueError from
    Path.relative_to (reported as the plugin's crash)."""
    root = copy_of(trees, "casme3", tmp_path)
    monkeypatch.chdir(tmp_path)
    inside = casme3.load(Path("casme3"), {**CASME3, "frames_folder": str(root / FULL_TRIALS)}, tmp_path / "cache")
    assert len(inside.samples) == 15
    outside = shutil.move(str(root / FULL_TRIALS), str(tmp_path / "frames"))
    moved = casme3.load(root, {**CASME3, "frames_folder": outside}, tmp_path / "cache")
    assert len(moved.samples) == 15 and moved.samples[0].frames[0].is_relative_to(outside)


def test_casme3_reads_the_colour_tree_beside_a_depth_only_tree(trees, tmp_path):
    root = copy_of(trees, "casme3", tmp_path)
    (root / FULL_TRIALS).rename(root / "RGB")
    for depth in sorted((root / "RGB").glob("spNO.*/*/depth")):
        target = root / "Depth" / depth.parent.relative_to(root / "RGB")
        shutil.move(str(depth), str(target))  # Depth/spNO.1/a/N.png, sorted before RGB/
    dataset = casme3.load(root, CASME3, tmp_path / "cache")
    assert len(dataset.samples) == 15 and dataset.summary["frames_folder"] == str(root / "RGB")


@pytest.mark.parametrize("damage", ["duplicate frame", "unreadable"])
def test_casme3_a_damaged_trial_of_the_first_subject_skips_only_its_clips(trees, tmp_path, monkeypatch, damage):
    # Finding the frame tree looks into the first subjects' trials; a damaged one (the release has some) must not stop
    # the dataset there, blamed on the plugin: its rows are skipped with the reason, the rest is read.
    root = copy_of(trees, "casme3", tmp_path)
    colour = root / FULL_TRIALS / "spNO.1" / "a" / "color"
    if damage == "duplicate frame":
        shutil.copy(colour / "100.jpg", colour / "0100.jpg")
        reason = f"folder {colour} has two files for frame 100: 0100.jpg and 100.jpg"
    else:  # chmod does not keep root out: the folder's listing fails as it would for another user
        scandir = os.scandir

        def refused(path=".", *args):
            if Path(path) == colour:
                raise PermissionError(13, "Permission denied", str(path))
            return scandir(path, *args)

        monkeypatch.setattr(os, "scandir", refused)
        reason = f"folder {colour} not readable (Permission denied)"
    dataset = casme3.load(root, CASME3, tmp_path / "cache")
    skipped = {e["sample"]: e["reason"] for e in dataset.summary["skipped_rows"]}
    trial_a = {s for s in skipped if s.startswith("spNO.1/a/")}
    assert len(trial_a) == 2 and all(skipped[s].startswith(reason) for s in trial_a), skipped
    assert len(dataset.samples) == 13 and not any(s.id.startswith("spNO.1/a/") for s in dataset.samples)
    assert dataset.summary["frames_folder"] == str(root / FULL_TRIALS)


def test_casme3_frame_tree_search_neither_stats_files_nor_reads_frame_folders_through(trees, tmp_path, monkeypatch):
    # Part_A_ME_clip/frame/<clip>/ beside the trial videos (read with dataset.frames=full): the search for the spNO.*
    # folders must not cost a stat per frame file, nor list every frame of every clip (network storage).
    root = copy_of(trees, "casme3", tmp_path)
    package = root / "Part_A_ME_clip" / "frame"
    for clip in ("spNO.1_a_116", "spNO.2_e_138", "spNO.3_j_40"):
        (package / clip).mkdir(parents=True)
        for n in range(100, 160):
            (package / clip / f"{n}.jpg").touch()
    stats, read = [], Counter()
    stat, scandir, listdir = os.stat, os.scandir, os.listdir

    def counted_stat(path, *args, **kwargs):
        stats.append(str(path))
        return stat(path, *args, **kwargs)

    class Counted:
        def __init__(self, path):
            self.path, self.entries = Path(path), scandir(path)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.entries.close()

        def __iter__(self):
            for entry in self.entries:
                read[self.path] += 1
                yield entry

    def counted_listdir(path="."):
        names = listdir(path)
        read[Path(path)] += len(names)
        return names

    monkeypatch.setattr(os, "stat", counted_stat)
    monkeypatch.setattr(os, "scandir", Counted)
    monkeypatch.setattr(os, "listdir", counted_listdir)
    assert casme3.subjects_folder(root) == root / FULL_TRIALS
    monkeypatch.undo()
    assert not [path for path in stats if path.endswith(".jpg")], "a stat per frame file"
    assert max(read[package / clip] for clip in os.listdir(package)) < 60, "a clip's 60 frames listed through"
    full = casme3.load(root, {**CASME3, "frames": "full"}, tmp_path / "cache")
    assert len(full.samples) == 15 and full.summary["frames_folder"] == str(root / FULL_TRIALS)


@pytest.mark.parametrize(("command", "given"), [(["preprocess", "--dataset", "casme3"], "--set"),
                                               (["preprocess", "--dataset", "casme3"], "--config"),
                                               (["datasets", "check", "casme3"], "--set")])  # check has no --config
def test_a_cache_inside_a_casme3_frames_folder_outside_the_root_is_refused_and_not_created(run_cli, trees, tmp_path,
                                                                                            monkeypatch, command, given):
    root = copy_of(trees, "casme3", tmp_path)
    frames = tmp_path / "frames"
    shutil.move(str(root / FULL_TRIALS), str(frames))  # the trial videos on another drive, named absolutely
    monkeypatch.setenv("MERBENCH_CACHE", str(frames / "cache"))
    if given == "--set":
        option = ["--set", f"dataset.frames_folder={frames}"]
    else:
        config = tmp_path / "frames.yaml"
        config.write_text(f"dataset:\n  frames_folder: {frames}\n")
        option = ["--config", str(config)]
    result = run_cli(*command, "--root", str(root), *option, *(["--quiet"] if command[0] == "preprocess" else []))
    assert result.code == 2, result.err
    assert (f"the cache {frames / 'cache'} lies inside the dataset folder {frames} (named by the option "
            f"dataset.frames_folder={frames})") in flat(result.err)
    assert not (frames / "cache").exists(), "the refused cache folder is not created"


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


def test_4dme_rows_are_looked_up_by_the_same_clip_key_that_chooses_the_frame_folder(trees, tmp_path, monkeypatch):
    # One function says how a row names its clip folder, for choosing gray_micro/ or its crop and for reading the
    # row: a change to it (here: sub_ID in lower case) reaches both, so the two cannot drift apart.
    root = copy_of(trees, "4dme", tmp_path)
    plain = fourdme.clip_key
    monkeypatch.setattr(fourdme, "clip_key", lambda cells: (plain(cells)[0].lower(), plain(cells)[1]))
    dataset = fourdme.load(root, FOURDME, tmp_path / "cache")
    assert len(dataset.samples) == 7 and all(s.id.startswith(("s01/", "s02/", "s13_")) for s in dataset.samples)


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


def with_second_onset(rows: list[list], where: str, value) -> tuple[list[list], str, str]:
    """``rows`` with a second ``Onset`` column (``value(data_index, real_onset)`` per data row), before the real one
    (column B: taking the first would read it) or after it (the real one would be read, and nothing said); the
    letters of the extra and the real column."""
    onset = rows[0].index("Onset")
    if where == "before":
        return [[r[0], "Onset" if i == 0 else value(i - 1, r[onset]), *r[1:]] for i, r in enumerate(rows)], "B", "F"
    return [[*r, "Onset" if i == 0 else value(i - 1, r[onset])] for i, r in enumerate(rows)], "L", "E"


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_sheet_with_two_onset_columns_that_differ_is_refused_naming_both_and_the_row(trees, tmp_path, where):
    root = copy_of(trees, "4dme", tmp_path)
    rows = sheet_rows(root / FOURDME_SHEET)
    rows, extra, real = with_second_onset(rows, where, lambda i, onset: 5 if i == 2 else onset)
    save_rows(root / FOURDME_SHEET, rows)
    onset = rows[3][rows[0].index("Onset", 2 if where == "before" else 0)]
    first, second = sorted([(extra, "5"), (real, str(onset))])
    with pytest.raises(DataError) as caught:
        fourdme.load(root, FOURDME, tmp_path / "cache")
    assert flat(str(caught.value)) == (
        f"{root / FOURDME_SHEET} sheet 'Sheet': 2 columns headed 'Onset' in row 1 ({first[0]} and {second[0]}) differ "
        f"from row 4 on ({first[0]}: {first[1]}, {second[0]}: {second[1]}); merbench cannot tell which one holds the "
        "data: keep one and rename or delete the other")


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_second_onset_column_holding_the_same_values_is_read_as_one(trees, tmp_path, where):
    root = copy_of(trees, "4dme", tmp_path)
    plain = fourdme.load(root, FOURDME, tmp_path / "cache")
    rows = sheet_rows(root / FOURDME_SHEET)  # the copy as text, the way another export may store it
    save_rows(root / FOURDME_SHEET, with_second_onset(rows, where, lambda i, onset: f" {onset} ")[0])
    doubled = fourdme.load(root, FOURDME, tmp_path / "cache")
    assert doubled.samples == plain.samples and doubled.labels.tolist() == plain.labels.tolist()
    assert doubled.summary["skipped_rows"] == plain.summary["skipped_rows"]


# ------------------------------------------------------------------ 14. counted nouns in the closing line


def test_datasets_check_counts_one_subject_in_the_singular(trees, tmp_path, run_cli):
    root = copy_of(trees, "4dme", tmp_path)
    for subject in ("S02", "S13_1st", "S13_2nd"):
        shutil.rmtree(root / "4DME" / "gray_micro" / subject)
    result = run_cli("datasets", "check", "4dme", "--root", str(root))
    assert result.code == 0, result.err
    assert "usable: 2 samples, 1 subject, 5 rows skipped" in flat(result.out)
