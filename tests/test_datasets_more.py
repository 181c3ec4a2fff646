"""The official MEGC2019 list, known annotation fixes, AU parsing and the CAS(ME)³, MMEW and 4DME loaders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import realtrees as rt
from merbench.errors import DataError, UsageError
from merbench_plugins.datasets import casme3, fourdme, megc2019, mmew, samm
from merbench_plugins.datasets.aus import parse_aus
from merbench_plugins.datasets.fixes import KNOWN, Fix, apply_fixes

MEGC = {"smic": "", "casme2": "", "samm": "", "casme2_frames": "auto", "list": "official", "fixes": "known",
        "strict": False}


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> Path:
    return rt.build_official(tmp_path_factory.mktemp("official"))


# ------------------------------------------------------------------ the official MEGC2019 list


def test_official_list_is_shipped_with_its_442_rows():
    rows = rt.official_rows()
    assert len(rows) == 442 and len({(r["domain"], r["subject"], r["clip"]) for r in rows}) == 442
    counts = {d: sum(r["domain"] == d for r in rows) for d in ("smic", "casme2", "samm")}
    assert counts == {"smic": 164, "casme2": 145, "samm": 133}
    assert megc2019.OFFICIAL.is_file() and len(megc2019.read_list()) == 442


def test_list_keys_match_across_spellings():
    assert megc2019.list_key("smic", "s01", "s01_ne_01") == megc2019.list_key("smic", "s1", "s1_ne_01")
    assert megc2019.list_key("samm", "6", "006_1_2") == megc2019.list_key("samm", "006", "006_1_2")
    assert megc2019.list_key("casme2", "sub01", "EP02_01f") == megc2019.list_key("casme2", "sub1", "ep02_01F")
    assert megc2019.list_key("smic", "s01", "s01_ne_01") != megc2019.list_key("smic", "s01", "s01_ne_10")


def test_official_list_selects_exactly_the_listed_samples_and_labels(official, tmp_path):
    dataset = megc2019.load(official, MEGC, tmp_path)
    coverage = dataset.summary["official_list"]
    assert len(dataset.samples) == 442 and coverage["found"] == coverage["listed"] == 442 and not coverage["missing"]
    assert dataset.summary["class_counts"] == {"negative": 250, "positive": 109, "surprise": 83}
    assert len(set(dataset.subjects)) == 68
    listed = {(r["domain"], megc2019.list_key(r["domain"], r["subject"], r["clip"])): r["label"] for r in rt.official_rows()}
    for sample in dataset.samples:
        domain, subject, clip = sample.id.split("/")
        assert listed[(domain, megc2019.list_key(domain, subject, clip))] == dataset.classes[sample.label]
    assert {u["sample"] for u in coverage["unlisted"]} == {"sub04/EP12_01f", "sub01/EP99_01", "006/006_9_9"}
    assert dataset.summary["list"] == "official"


def test_derived_list_keeps_the_mapping_and_counts_unlisted_in_class_rows(official, tmp_path):
    derived = megc2019.load(official, {**MEGC, "list": "derived"}, tmp_path)
    assert len(derived.samples) == 443 and "official_list" not in derived.summary  # + sub04/EP12_01f (disgust)
    with pytest.raises(UsageError, match="dataset.list=mine: choose official"):
        megc2019.load(official, {**MEGC, "list": "mine"}, tmp_path)


def test_official_list_reports_a_listed_sample_missing_and_one_skipped(official, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(official, copy)
    shutil.rmtree(copy / "SMIC" / "HS" / "s3" / "micro" / "surprise" / "s3_sur_05")
    dataset = megc2019.load(copy, {**MEGC, "fixes": "none"}, tmp_path / "cache")
    coverage = dataset.summary["official_list"]
    assert coverage["found"] == 440 and len(dataset.samples) == 440
    reasons = {m["clip"]: m["reason"] for m in coverage["missing"]}
    assert reasons["s03_sur_05"] == "not in your copy"
    assert reasons["032_3_1"].startswith("in your copy but skipped: apex 1930 outside onset 4896")
    assert coverage["per_domain"]["smic"] == {"listed": 164, "found": 163}


def test_check_megc2019_reports_442_of_442(run_cli, official):
    result = run_cli("datasets", "check", "megc2019", "--root", str(official))
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "official MEGC2019 list: 442/442 listed samples found (smic 164/164, casme2 145/145, samm 133/133)" in text
    assert "Present in your copies but not listed (3)" in text and "sub04/EP12_01f" in text
    assert "usable: 442 samples, 68 subjects" in text


def test_check_megc2019_without_fixes_names_the_listed_sample_it_lost(run_cli, official):
    result = run_cli("datasets", "check", "megc2019", "--root", str(official), "--set", "dataset.fixes=none")
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "441/442 listed samples found" in text and "Listed samples missing from your copies (1)" in text
    assert "032_3_1" in text and "annotation fixes: none (0 applied" in text


# ------------------------------------------------------------------ known annotation fixes


def test_known_fix_repairs_samm_apex_and_is_recorded(official, tmp_path):
    root = official / "SAMM"
    fixed = samm.load(root, {"classes": "3", "fixes": "known", "strict": False}, tmp_path)
    applied = {(e["sample"], e["field"]): e for e in fixed.summary["annotation_fixes"]["applied"]}
    entry = applied[("032/032_3_1", "Apex Frame")]
    assert (entry["old"], entry["new"]) == (1930, 4945) and "meb/datasets/datasets.py" in entry["source"]
    sample = next(s for s in fixed.samples if s.id == "032/032_3_1")
    assert sample.frames[sample.apex].name == "032_04945.jpg"
    raw = samm.load(root, {"classes": "3", "fixes": "none", "strict": False}, tmp_path)
    assert "032/032_3_1" not in {s.id for s in raw.samples}
    assert raw.summary["annotation_fixes"] == {"mode": "none", "applied": [], "not_applied": []}
    with pytest.raises(UsageError, match="dataset.fixes=some: choose known"):
        samm.load(root, {"classes": "3", "fixes": "some", "strict": False}, tmp_path)


def test_a_fix_whose_old_value_differs_is_not_applied(tmp_path):
    rows = rt.SAMM_ROWS[:2] + [(28, "028_4_1", "Anger", "ok")]
    rt.build_samm(tmp_path / "samm", rows=rows)
    dataset = samm.load(tmp_path / "samm", {"classes": "5", "fixes": "known", "strict": False}, tmp_path / "cache")
    (entry,) = [e for e in dataset.summary["annotation_fixes"]["not_applied"] if e["sample"] == "028/028_4_1"]
    assert entry["reason"].startswith("the sheet holds") and "the fix expects 1143" in entry["reason"]
    assert not dataset.summary["annotation_fixes"]["applied"]


def test_every_known_fix_names_sample_field_values_and_source():
    for domain, fixes in KNOWN.items():
        assert fixes, domain
        for fix in fixes:
            assert fix.sample and fix.field in ("onset", "apex", "offset", "aus", "emotion") and fix.source
            assert fix.new is not None and fix.old != fix.new


def test_run_result_records_the_annotations_it_used(run_cli, official, tmp_path):
    target = tmp_path / "r.json"
    result = run_cli("run", "--model", "convmixer", "--profile", "quick", "--epochs", "1", "--quiet", "--dataset", "samm",
                     "--root", str(official / "SAMM"), "--protocol", "subject-10fold", "--set", "dataset.classes=3",
                     "protocol.n_splits=2", "--json", str(target))
    assert result.code == 0, result.err
    fixes = json.loads(target.read_text())["dataset_summary"]["annotation_fixes"]
    assert fixes["mode"] == "known" and ("032/032_3_1", "Apex Frame") in {(e["sample"], e["field"]) for e in fixes["applied"]}


# ------------------------------------------------------------------ AU parsing


@pytest.mark.parametrize("text, aus, codes", [
    ("1+2+R12", [1, 2, 12], [(1, None, None, None, False), (2, None, None, None, False), (12, "R", None, None, False)]),
    ("R12B+14C", [12, 14], [(12, "R", None, "B", False), (14, None, None, "C", False)]),
    ("L1+L2", [1, 2], [(1, "L", None, None, False), (2, "L", None, None, False)]),
    ("T28+14", [14, 28], [(28, None, "T", None, False), (14, None, None, None, False)]),
    ("B23", [23], [(23, None, "B", None, False)]),
    ("12L", [12], [(12, "L", None, None, False)]),
    ("AU4(k)+L7", [4, 7], [(4, None, None, None, True), (7, "L", None, None, False)]),
    ("AUR2+12(k)+45", [2, 12, 45], [(2, "R", None, None, False), (12, None, None, None, True), (45, None, None, None, False)]),
    ("1,2，4", [1, 2, 4], [(1, None, None, None, False), (2, None, None, None, False), (4, None, None, None, False)]),
    ("/", [], []),
])
def test_au_strings_of_every_release_are_normalised(text, aus, codes):
    parsed = parse_aus(text)
    assert parsed["aus"] == aus and parsed["au_raw"] == text
    assert [(c["au"], c["side"], c["region"], c["intensity"], c["static"]) for c in parsed["au_codes"]] == codes


def test_or_alternatives_are_ambiguous_not_guessed():
    parsed = parse_aus("(R6 or R12)+R15")
    assert parsed["aus"] == [15] and parsed["au_ambiguous"] == [[6, 12]]
    assert parse_aus("M57 + 4")["au_unparsed"] == ["M57"]


def test_samples_carry_aus_and_check_prints_au_counts(run_cli, official, tmp_path):
    dataset = samm.load(official / "SAMM", {"classes": "3", "fixes": "known", "strict": False}, tmp_path)
    sample = next(s for s in dataset.samples if s.id == "006/006_1_2")
    assert sample.extra["aus"] == [12, 14] and sample.extra["au_codes"][0]["intensity"] == "B"
    result = run_cli("datasets", "check", "samm", "--root", str(official / "SAMM"), "--set", "dataset.classes=3")
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "action units: 133 samples with AU codes" in text and "AU12 133" in text


# ------------------------------------------------------------------ CAS(ME)³ Part A, MMEW, 4DME


CASME3 = rt.CASME3_OPTIONS
MMEW = {"classes": "7", "fixes": "known", "strict": False}
FOURDME = {"classes": "5", "frames": "auto", "multilabel": "skip", "fixes": "known", "strict": False}


def counts(dataset) -> dict[str, int]:
    names = [dataset.classes[s.label] for s in dataset.samples]
    return {name: names.count(name) for name in dataset.classes}


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("releases")
    rt.build_casme3(root / "casme3")
    rt.build_casme3(root / "casme3-clips", package=True)
    rt.build_mmew(root / "mmew")
    rt.build_4dme(root / "4dme")
    rt.build_4dme(root / "4dme-quoted", quoted=True)
    return root


def by_id(dataset) -> dict:
    return {s.id: s for s in dataset.samples}


@pytest.mark.parametrize("tree, kind", [("casme3", "full"), ("casme3-clips", "clips")])
def test_casme3_reads_text_cells_both_frame_layouts_and_class_sets(releases, tmp_path, tree, kind):
    dataset = casme3.load(releases / tree, CASME3, tmp_path)
    assert dataset.summary["frames"] == kind and counts(dataset) == rt.CASME3_7
    assert counts(casme3.load(releases / tree, {**CASME3, "classes": "4"}, tmp_path)) == rt.CASME3_4
    three = casme3.load(releases / tree, {**CASME3, "classes": "3"}, tmp_path)
    assert three.classes == ("negative", "positive", "surprise") and three.summary["dropped_by_class_set"] == {"others": 3}
    sample = by_id(dataset)["spNO.2/e/138"]  # onset/apex/offset stored as text 138/141/145
    assert [sample.frames[i].name for i in (sample.onset, sample.apex, sample.offset)] == ["138.jpg", "141.jpg", "145.jpg"]
    assert dataset.summary["clips_with_depth"] == len(dataset.samples)
    assert sample.extra["depth_frames"][0].name == "138.png" and sample.extra["objective_class"] == "I"
    assert sample.extra["aus"] == [1, 12] and [c["side"] for c in sample.extra["au_codes"]] == ["L", "R"]


def test_casme3_letter_case_duplicate_trials_and_capitalised_others(releases, tmp_path):
    dataset = casme3.load(releases / "casme3", CASME3, tmp_path)
    ids = by_id(dataset)
    assert "spNO.3/j/" in " ".join(ids) and any(i.startswith("spNO.14/j/") for i in ids)  # folder J / sheet J
    same_trial = [i for i in ids if i.startswith("spNO.1/a/")]
    assert len(same_trial) == 2 and len({ids[i].label for i in same_trial}) == 2
    assert ids[next(i for i in ids if i.startswith("spNO.1/c/"))].extra["emotion"] == "others"  # sheet says 'Others'


def test_casme3_frame_drops_are_tolerated_and_reported(releases, tmp_path):
    dataset = casme3.load(releases / "casme3", CASME3, tmp_path)
    sample = next(s for s in dataset.samples if s.id.startswith("spNO.1/b/"))
    assert len(sample.frames) == rt.N_FRAMES - 2  # one of the seven annotated frames is missing on disk
    notes = {f["sample"]: f["note"] for f in dataset.summary["fixed_rows"]}
    assert notes[sample.id].startswith("1 of 7 frames missing on disk (frame drops)")


@pytest.mark.parametrize("sample, reason", [
    ("spNO.149/d/112", "apex 83 outside onset 112..offset 358"),
    ("spNO.216/d/3647", "offset 2694 before onset 3647"),
    ("spNO.40/e/1812", "offset 0 before onset 1812"),
    ("spNO.40/e/2327", "offset 0 before onset 2327"),
])
def test_casme3_timing_errors_are_skipped_as_released_and_fixed_by_known_fixes(releases, tmp_path, sample, reason):
    released = casme3.load(releases / "casme3", {**CASME3, "fixes": "none"}, tmp_path)
    skipped = {e["sample"]: e["reason"] for e in released.summary["skipped_rows"]}
    assert skipped[sample] == reason and sample not in by_id(released)
    fixed = casme3.load(releases / "casme3", CASME3, tmp_path)
    assert sample in by_id(fixed) and sample in {e["sample"] for e in fixed.summary["annotation_fixes"]["applied"]}


def test_casme3_onset_zero_and_long_offset_fixes(releases, tmp_path):
    fixed = by_id(casme3.load(releases / "casme3", CASME3, tmp_path))
    zero = fixed["spNO.216/e/0"]
    assert zero.frames[zero.onset].name == "1.jpg" and zero.frames[zero.apex].name == "1.jpg"
    assert fixed["spNO.214/c/5"].extra["offset_frame"] == 34
    released = by_id(casme3.load(releases / "casme3", {**CASME3, "fixes": "none"}, tmp_path))
    assert released["spNO.214/c/5"].extra["offset_frame"] == 3460


def test_casme3_occluded_apex_can_be_dropped_and_strict_takes_that_as_asked(releases, tmp_path, run_cli):
    dataset = casme3.load(releases / "casme3", {**CASME3, "occluded": "drop"}, tmp_path)
    assert "spNO.2/e/138" not in by_id(dataset) and len(dataset.samples) == 14
    assert dataset.summary["left_out_by_option"] == {"dataset.occluded=drop": 1}
    assert not [e for e in dataset.summary["skipped_rows"] if e["sample"] == "spNO.2/e/138"], "chosen, not broken"
    strict = casme3.load(releases / "casme3", {**CASME3, "occluded": "drop", "strict": True}, tmp_path)
    assert len(strict.samples) == 14  # before: a DataError, "1 row cannot be used ... drop --strict"
    checked = run_cli("datasets", "check", "casme3", "--root", str(releases / "casme3"), "--set",
                      "dataset.occluded=drop")
    assert checked.code == 0 and "left out as asked 1 by dataset.occluded=drop" in " ".join(checked.out.split())
    with pytest.raises(UsageError, match="dataset.occluded=maybe"):
        casme3.load(releases / "casme3", {**CASME3, "occluded": "maybe"}, tmp_path)


def test_casme3_missing_package_and_sheet_are_clear_errors(releases, tmp_path):
    with pytest.raises(DataError, match="dataset.frames=clips: no Part_A_ME_clip/"):
        casme3.load(releases / "casme3", {**CASME3, "frames": "clips"}, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"expected \*part_A_ME_label_JpgIndex\*\.xlsx"):
        casme3.load(tmp_path / "empty", CASME3, tmp_path / "cache")


def test_mmew_layouts_others_folder_and_class_sets(releases, tmp_path):
    dataset = mmew.load(releases / "mmew", MMEW, tmp_path)
    assert counts(dataset) == rt.MMEW_7 and sorted(set(dataset.subjects)) == ["S01", "S02", "S03", "S04"]
    ids = by_id(dataset)
    assert ids["S01/S01-04-001"].extra["emotion_folder"] == "repression"
    assert ids["S02/S02-04-002"].extra["emotion_folder"] == "others"
    assert ids["S02/S02-01-001"].frames[0].parent.parent.parent.name == "S02"  # subject-level layout
    assert ids["S01/S01-01-001"].frames[0].name == "1.jpg" and ids["S01/S01-01-001"].extra["aus"] == [6, 12]
    assert ids["S01/S01-02-001"].extra["au_codes"][0]["side"] == "L"  # '12L'
    (skipped,) = dataset.summary["skipped_rows"]
    assert skipped["sample"] == "S05/S06-01-001" and "names subject 6" in skipped["reason"]
    six = mmew.load(releases / "mmew", {**MMEW, "classes": "6"}, tmp_path)
    assert "others" not in six.classes and six.summary["dropped_by_class_set"] == {"others": 2}
    assert counts(mmew.load(releases / "mmew", {**MMEW, "classes": "4"}, tmp_path)) == {
        "happiness": 3, "surprise": 2, "disgust": 2, "others": 2}
    assert counts(mmew.load(releases / "mmew", {**MMEW, "classes": "3"}, tmp_path)) == {
        "negative": 5, "positive": 3, "surprise": 2}


def test_mmew_known_fix_moves_apex_and_offset(releases, tmp_path):
    fixed = by_id(mmew.load(releases / "mmew", MMEW, tmp_path))["S04/S04-01-001"]
    assert fixed.frames[fixed.apex].name == "40.jpg" and fixed.frames[fixed.offset].name == "75.jpg"
    released = by_id(mmew.load(releases / "mmew", {**MMEW, "fixes": "none"}, tmp_path))["S04/S04-01-001"]
    assert released.frames[released.apex].name == "27.jpg" and released.frames[released.offset].name == "40.jpg"


@pytest.mark.parametrize("tree", ["4dme", "4dme-quoted"])
def test_4dme_cells_headers_multilabel_and_sessions(releases, tmp_path, tree):
    dataset = fourdme.load(releases / tree, FOURDME, tmp_path)
    assert counts(dataset) == rt.FOURDME_5 and sorted(set(dataset.subjects)) == ["S01", "S02", "S13"]
    # Rows of two classes are left out as the default option asks, not skipped: dataset.strict accepts them.
    assert dataset.summary["skipped_rows"] == []
    assert dataset.summary["left_out_by_option"] == {"dataset.multilabel=skip": 2}
    fourdme.load(releases / tree, {**FOURDME, "strict": True}, tmp_path)
    notes = {e["sample"]: e["note"] for e in dataset.summary["fixed_rows"]}
    assert "counted as subject S13" in notes["S13_1st/S13_1st_001_01_1"]
    ids = by_id(dataset)
    assert ids["S01/S01_002_01_1"].frames[0].parent.name == "S01_002_01_1-"  # float cells, folder with a stray '-'
    first = ids["S01/S01_001_01_1"]
    assert first.extra["aus"] == [4, 7] and first.extra["au_codes"][0]["static"] is True
    three = fourdme.load(releases / tree, {**FOURDME, "classes": "3"}, tmp_path)
    assert counts(three) == rt.FOURDME_3  # negative+repression is one class here
    kept = fourdme.load(releases / tree, {**FOURDME, "multilabel": "first"}, tmp_path)
    assert by_id(kept)["S01/S01_003_01_1"].extra["emotions"] == ["surprise", "positive"]
    noted = {e["sample"]: e["note"] for e in kept.summary["fixed_rows"]}
    assert "two classes (surprise+positive); kept the first" in noted["S01/S01_003_01_1"]
    assert "two classes (negative+repression); kept the first" in noted["S02/S02_003_01_1"]
    assert kept.classes[by_id(kept)["S01/S01_003_01_1"].label] == "surprise"


def test_4dme_row_swap_fix_only_on_the_release_sheet():
    rows = [(i + 2, {"subject": "S01", "filename": f"c{i}", "aus": f"AU{i}", "emotion": "Positive" if i % 2 else "Negative"})
            for i in range(fourdme.RELEASE_ROWS)]
    report = fourdme.swap_fix(rows, "known")
    assert rows[144][1]["aus"] == "AU145" and rows[145][1]["aus"] == "AU144"
    assert rows[144][1]["emotion"] == "Positive" and [e["sample"] for e in report["applied"]] == ["S01/c144", "S01/c145"]
    short = rows[:10]
    report = fourdme.swap_fix(short, "known")
    assert not report["applied"] and "not the 267 of release v1" in report["not_applied"][0]["reason"]
    assert fourdme.swap_fix(rows, "none") == {"mode": "none", "applied": [], "not_applied": []}


@pytest.mark.parametrize("name, tree, sets, usable", [
    ("casme3", "casme3", [], "usable: 15 samples, 8 subjects"),
    ("casme3", "casme3-clips", ["dataset.fixes=none"], "usable: 11 samples, 6 subjects, 4 rows skipped"),
    ("mmew", "mmew", [], "usable: 12 samples, 4 subjects, 1 row skipped"),
    ("4dme", "4dme", [], "left out as asked 2 by dataset.multilabel=skip"),
])
def test_datasets_check_reads_each_new_tree(run_cli, releases, name, tree, sets, usable):
    result = run_cli("datasets", "check", name, "--root", str(releases / tree), *(["--set", *sets] if sets else []))
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert usable in text and "action units:" in text and "annotation fixes:" in text


@pytest.mark.parametrize("name, tree, sets", [
    ("casme3", "casme3", ["dataset.classes=3"]),
    ("mmew", "mmew", ["dataset.classes=4"]),
    ("4dme", "4dme", ["dataset.classes=3", "dataset.multilabel=first"]),
])
def test_quick_run_on_each_new_tree(run_cli, releases, tmp_path, name, tree, sets):
    target = tmp_path / "r.json"
    result = run_cli("run", "--model", "convmixer", "--profile", "quick", "--epochs", "1", "--quiet", "--dataset", name,
                     "--root", str(releases / tree), "--protocol", "subject-10fold", "--set", *sets, "protocol.n_splits=2",
                     "--json", str(target))
    assert result.code == 0, result.err
    output = json.loads(target.read_text())
    assert output["dataset"] == name and output["dataset_summary"]["annotation_fixes"]["mode"] == "known"
    assert len(output["predictions"]) == output["n_samples"]


# ------------------------------------------------------------------ bad input: one message, exit 2


@pytest.mark.parametrize("name, tree, setting, message", [
    ("casme3", "casme3", "dataset.classes=5", "dataset.classes=5: choose one of 7, 4, 3 for casme3"),
    ("casme3", "casme3", "dataset.frames=video", "dataset.frames=video: choose auto, full (trial videos) or clips"),
    ("mmew", "mmew", "dataset.fixes=all", "dataset.fixes=all: choose known"),
    ("4dme", "4dme", "dataset.multilabel=both", "dataset.multilabel=both: choose skip or first"),
    ("4dme", "4dme", "dataset.frames=colour", "dataset.frames=colour: choose auto, raw"),
])
def test_bad_options_of_the_new_datasets_are_exit_2(run_cli, releases, name, tree, setting, message):
    result = run_cli("datasets", "check", name, "--root", str(releases / tree), "--set", setting)
    assert result.code == 2 and message in " ".join(result.err.split()) and "Traceback" not in result.err


def test_bad_trees_of_the_new_datasets_are_exit_2_naming_file_and_fix(run_cli, tmp_path):
    (tmp_path / "c3" / "annotation").mkdir(parents=True)
    (tmp_path / "c3" / "annotation" / "CAS(ME)3_part_A_v2.xls").write_bytes(b"old")
    result = run_cli("datasets", "check", "casme3", "--root", str(tmp_path / "c3"))
    assert result.code == 2 and ("the full CAS(ME)3 Part A annotation (macro- and micro-expressions, no emotion column), "
                                 "which merbench does not read, in any format; merbench reads the ME label sheet "
                                 "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx") in " ".join(result.err.split())
    rows = [*rt.FOURDME_ROWS[:2], ("S02", "S02_009_01_1", "Happy", "int")]
    rt.build_4dme(tmp_path / "d", rows=rows)
    result = run_cli("datasets", "check", "4dme", "--root", str(tmp_path / "d"))
    message = " ".join(result.err.split())
    assert result.code == 2 and "row 4 (S02/S02_009_01_1): unknown emotion 'Happy'" in message
    (tmp_path / "m" / "Micro_Expression").mkdir(parents=True)
    rt.write_xlsx(tmp_path / "m" / "MMEW_Micro_Exp.xlsx", [rt.MMEW_HEADER])
    result = run_cli("datasets", "check", "mmew", "--root", str(tmp_path / "m"))
    assert result.code == 2 and "no clip folders like S01-01-001 below" in " ".join(result.err.split())


@pytest.mark.parametrize("old, cell, applied", [
    ("(missing)", "/", True), ("(missing)", None, True), ("(missing)", 57, False),
    ("(… or …)", "R12 or R14", True), ("(… or …)", "R12", False), (1143, "1143", True), (1143, 1144, False),
])
def test_a_fix_applies_only_to_the_value_it_was_written_for(old, cell, applied):
    rows = [(5, {"subject": "x", "apex": cell})]
    report = apply_fixes(rows, "samm", "known", lambda cells: "x/1", {"apex": "Apex Frame"}, [Fix("x/1", "apex", old, 99, "test")])
    assert bool(report["applied"]) is applied and (rows[0][1]["apex"] == 99) is applied
    assert len(report["applied"]) + len(report["not_applied"]) == 1


def test_datasets_check_names_clips_whose_apex_is_their_onset(releases, run_cli, tmp_path):
    target = tmp_path / "check.json"
    checked = run_cli("datasets", "check", "casme3", "--root", str(releases / "casme3"), "--json", str(target))
    said = " ".join(checked.out.split())
    assert checked.code == 0 and "apex annotated at the onset 2 (" in said, said  # before: kept without a word
    assert "their onset-to-apex flow is zero" in said
    import json

    assert sorted(json.loads(target.read_text())["apex_at_onset"]) == ["spNO.214/c/5", "spNO.216/e/0"]


def test_datasets_check_of_precomputed_images_names_no_apex_at_onset(run_cli, tmp_path):
    """Image rows have no onset or apex frame (both 0 in the sample): no flow is computed from them."""
    root = rt.build_manifest_images(tmp_path / "images").parent
    target = tmp_path / "check.json"
    checked = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=labels.csv",
                      "--json", str(target))
    said = " ".join(checked.out.split())
    assert checked.code == 0, checked.err
    assert "apex annotated at the onset - (its samples are precomputed images, not clips)" in said, said
    assert "flow is zero" not in said
    assert json.loads(target.read_text())["apex_at_onset"] is None  # not applicable
