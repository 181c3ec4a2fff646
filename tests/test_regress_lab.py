"""A lab pins its own reproduced scores on its licensed copies and guards them (docs/results.md, step by step).

The real-layout fixture trees stand in for the lab's copies of CASME II and the
MEGC2019 composite.
"""

from __future__ import annotations

import json

import pytest
import yaml

import realtrees as rt

LAB = {
    "version": 1,
    "defaults": {"protocol": "loso", "profile": "quick", "set": {"engine.epochs": 1}},
    "entries": [
        {"model": "ststnet", "dataset": "casme2"},
        {"model": "ststnet", "dataset": "megc2019", "protocol": "megc2019", "set": {"dataset.list": "derived"}},
    ],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lab's trees and a baseline written by ``--update --seeds 2``: (folder, roots arguments, baseline path)."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("lab")
    rt.build_megc(folder / "data")
    baseline = folder / "lab.yaml"
    baseline.write_text(yaml.safe_dump(LAB, sort_keys=False), encoding="utf-8")
    roots = ["--root", f"casme2={folder / 'data' / 'CASME2'}", "--root", f"megc2019={folder / 'data'}"]
    code = main(["--format", "plain", "regress", "--baseline", str(baseline), "--update", "--seeds", "2", "--threads",
                 "auto", *roots, "--quiet", "--no-store"])
    assert code == 0
    return folder, roots, baseline


def test_update_writes_bands_derived_from_the_seeds(lab):
    _, _, baseline = lab
    entries = yaml.safe_load(baseline.read_text())["entries"]
    assert [(e["model"], e.get("dataset"), e.get("protocol")) for e in entries] == [
        ("ststnet", "casme2", None), ("ststnet", "megc2019", "megc2019")]
    for entry in entries:
        derived = entry["derived"]
        assert derived["seeds"] == [0, 1] and derived["threads"] == ["auto"] and derived["runs"] == 2
        for metric in ("uf1", "uar", "accuracy"):
            values = derived["values"][metric]
            assert entry["metrics"][metric]["expected"] == pytest.approx(sum(values) / 2, abs=1e-4)
            assert entry["metrics"][metric]["tolerance"] >= 0.03


def test_later_runs_are_checked_against_the_lab_baseline(lab, run_cli):
    _, roots, baseline = lab
    result = run_cli("--format", "plain", "regress", "--baseline", str(baseline), *roots, "--quiet", "--no-store")
    assert result.code == 0, result.out + result.err
    assert "All 6 metrics within their band." in result.out
    # The paper's MEGC2019 score is shown beside the composite entry, with the protocol named; the lab's entry runs on
    # a derived sample list, so it is not comparable, as run, compare and report say too.
    text = " ".join(result.out.split())
    assert "ststnet uf1: measured" in text
    assert ("paper 73.53 % (megc2019 · megc2019; same data and protocol, not comparable: measured with "
            "dataset.list=derived)") in text, text


def test_a_lab_regression_fails_naming_the_entry(lab, run_cli, tmp_path):
    _, roots, baseline = lab
    document = yaml.safe_load(baseline.read_text())
    document["entries"][0]["metrics"]["uar"]["expected"] = 0.99
    document["entries"][0]["metrics"]["uar"]["tolerance"] = 0.03
    del document["entries"][0]["derived"]  # a band set by hand: its derived: block would contradict it (exit 2)
    broken = tmp_path / "lab.yaml"
    broken.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = run_cli("--format", "plain", "regress", "--baseline", str(broken), *roots, "--quiet", "--no-store")
    assert result.code == 1
    assert "ststnet uar low" in " ".join(result.out.split())


def test_the_lab_baseline_needs_the_lab_copies(lab, run_cli):
    _, _, baseline = lab
    result = run_cli("regress", "--baseline", str(baseline), "--quiet", "--no-store")
    assert result.code == 2 and "Traceback" not in result.err
    assert "--root casme2=DIR" in " ".join(result.err.split())
    unused = run_cli("regress", "--baseline", str(baseline), "--root", "samm=/data/SAMM", "--quiet", "--no-store")
    assert unused.code == 2 and "no entry" in unused.err


def test_regress_json_for_machines(lab, run_cli, tmp_path):
    _, roots, baseline = lab
    target = tmp_path / "checks.json"
    result = run_cli("regress", "--baseline", str(baseline), *roots, "--quiet", "--no-store", "--json", str(target))
    assert result.code == 0
    document = json.loads(target.read_text())
    assert document["passed"] is True
    assert [e["dataset"] for e in document["entries"]] == ["casme2", "megc2019"]
    assert {c["metric"] for c in document["entries"][0]["checks"]} == {"uf1", "uar", "accuracy"}
    assert all(c["status"] == "ok" for e in document["entries"] for c in e["checks"])
