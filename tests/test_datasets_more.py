"""The official MEGC2019 list, known annotation fixes, AU parsing and the CAS(ME)³, MMEW and 4DME loaders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import realtrees as rt
from merbench.errors import UsageError
from merbench_plugins.datasets import megc2019, samm
from merbench_plugins.datasets.aus import parse_aus
from merbench_plugins.datasets.fixes import KNOWN

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
    import shutil

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
    assert "action units: 133 samples with AU codes" in text and "│ AU12 │ 133 │" in text
