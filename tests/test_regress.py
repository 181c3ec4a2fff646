"""``merbench regress``: baseline checks fail on scores too low or too high, pass within tolerance; --update."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

TINY_SET = {"dataset.subjects": 4, "dataset.clips_per_subject": 6, "dataset.size": 32, "dataset.frames": 8,
            "protocol.n_splits": 3, "engine.epochs": 1}


def write(path, entries, tolerance=0.05):
    path.write_text(yaml.safe_dump({"version": 1, "defaults": {"set": TINY_SET, "tolerance": tolerance}, "entries": entries}))


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    """A baseline for convmixer filled in by ``--update`` and the run it measured: (folder, baseline doc, result)."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("regress")
    baseline, store = folder / "baseline.yaml", folder / "results.sqlite"
    write(baseline, [{"model": "convmixer", "metrics": ["uf1", "accuracy"]}])
    assert main(["regress", "--baseline", str(baseline), "--update", "--quiet", "--store", str(store)]) == 0
    assert main(["show", "2", "--store", str(store), "--json", str(folder / "run.json")]) == 0
    return folder, yaml.safe_load(baseline.read_text()), json.loads((folder / "run.json").read_text())


def test_update_writes_the_measured_pooled_scores(updated):
    _, document, result = updated
    [entry] = document["entries"]
    assert entry["model"] == "convmixer"
    assert entry["metrics"]["uf1"]["expected"] == pytest.approx(result["pooled"]["uf1"], abs=1e-4)
    assert entry["metrics"]["accuracy"]["expected"] == pytest.approx(result["pooled"]["accuracy"], abs=1e-4)
    assert entry["metrics"]["uf1"]["tolerance"] == 0.05
    assert result["config"]["options"]["dataset"]["subjects"] == 4 and result["profile"] == "quick"


def _check(updated, run_cli, tmp_path, uf1_shift, tolerance_high=None):
    folder, document, _ = updated
    document = json.loads(json.dumps(document))
    spec = document["entries"][0]["metrics"]["uf1"]
    spec["expected"] = round(spec["expected"] + uf1_shift, 4)
    if tolerance_high is not None:
        spec["tolerance_high"] = tolerance_high
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump(document))
    return run_cli("regress", "--baseline", str(baseline), "--stored", "--quiet", "--store", str(folder / "results.sqlite"))


def test_correct_baseline_passes(updated, run_cli, tmp_path):
    result = _check(updated, run_cli, tmp_path, 0.03)  # within ±0.05
    assert result.code == 0, result.out + result.err
    assert "Reusing stored run" in result.err and "within their band" in result.out and "ok" in result.out


def test_score_too_low_fails(updated, run_cli, tmp_path):
    result = _check(updated, run_cli, tmp_path, 0.08)  # measured is 0.08 below expected
    assert result.code == 1
    assert "low" in result.out and "-8.0" in result.out and "1 of 2 metrics outside" in result.out


def test_suspiciously_high_score_fails(updated, run_cli, tmp_path):
    result = _check(updated, run_cli, tmp_path, -0.08)
    assert result.code == 1 and "high" in result.out and "+8.0" in result.out
    relaxed = _check(updated, run_cli, tmp_path, -0.08, tolerance_high=0.1)
    assert relaxed.code == 0


def test_update_is_atomic(updated, run_cli, tmp_path, monkeypatch):
    import merbench.cache

    folder, document, _ = updated
    baseline = tmp_path / "baseline.yaml"
    text = "# my notes\n" + yaml.safe_dump(document)
    baseline.write_text(text)

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(merbench.cache.os, "replace", fail)
    result = run_cli("regress", "--baseline", str(baseline), "--stored", "--update", "--quiet", "--store", str(folder / "results.sqlite"))
    assert result.code == 2 and "the file is unchanged" in " ".join(result.err.split())
    assert baseline.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.yaml"]


def test_update_keeps_the_baselines_comments(updated, run_cli, tmp_path):
    folder, document, _ = updated
    entry = document["entries"][0]
    expected = entry["metrics"]["uf1"]["expected"]
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(
        "# Lab baseline: bands agreed on 2026-11-30.\n"
        "version: 1\n"
        f"defaults:  # tiny data, so a run takes seconds\n{_indented(document['defaults'])}"
        "entries:\n"
        "# the reference model; band from three seeds\n"
        "- model: convmixer\n"
        "  metrics:\n"
        "    uf1:\n"
        "      expected: 0.1  # stale on purpose\n"
        "      tolerance: 0.05\n"
        "    accuracy: {expected: 0.2, tolerance: 0.05}\n")
    result = run_cli("regress", "--baseline", str(baseline), "--stored", "--update", "--quiet",
                     "--store", str(folder / "results.sqlite"))
    assert result.code == 0, result.err
    text = baseline.read_text()
    for comment in ("# Lab baseline: bands agreed on 2026-11-30.", "# tiny data, so a run takes seconds",
                    "# the reference model; band from three seeds", "# stale on purpose"):
        assert comment in text
    rewritten = yaml.safe_load(text)
    assert rewritten["entries"][0]["metrics"]["uf1"]["expected"] == expected
    assert rewritten["entries"] == document["entries"] and rewritten["defaults"] == document["defaults"]


def test_an_update_does_not_undo_what_another_update_or_an_edit_wrote_meanwhile(updated, run_cli, tmp_path,
                                                                                 monkeypatch):
    """Two `regress --update` of one file both said "updated", and the one that finished last won; an edit made
    while an update ran was undone."""
    import merbench.regress

    folder, document, _ = updated
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump(document))
    edited = baseline.read_text().replace("version: 1", "version: 1  # edited while the update ran")
    measure = merbench.regress.updated_document

    def edit_while_measuring(*args, **kwargs):
        baseline.write_text(edited)  # another update, or a hand edit, lands before this one writes
        return measure(*args, **kwargs)

    monkeypatch.setattr(merbench.regress, "updated_document", edit_while_measuring)
    result = run_cli("regress", "--baseline", str(baseline), "--stored", "--update", "--quiet",
                     "--store", str(folder / "results.sqlite"))
    text = " ".join(result.err.split())
    assert result.code == 2 and "changed while this update ran" in text, text
    assert baseline.read_text() == edited, "the file is left as the other writer left it"
    side = tmp_path / "baseline.updated.yaml"
    assert f"this update is in {side}" in text
    assert yaml.safe_load(side.read_text())["entries"] == document["entries"]


def _indented(mapping) -> str:
    return "".join(f"  {line}\n" for line in yaml.safe_dump(mapping, sort_keys=False).splitlines())


@pytest.mark.parametrize("entries, message", [
    ([{"model": "convmixer", "metrics": {"nonsense": {"expected": 0.5}}}], "unknown metric 'nonsense'"),
    ([{"model": "convmixer", "colour": "red"}], "unknown key colour"),
    ([{"model": "convmixer", "metrics": {"uf1": {"expected": "high"}}}], "must be a number"),
    ([{"model": "no-such-model"}], "no-such-model"),
    ([{"model": "ststnet", "metrics": {"uf1": {"expected": 0.5}}}, {"model": "convmixer"},
      {"model": "ststnet", "metrics": {"uf1": {"expected": 0.9}}}],
     "entry 3: the same run as entry 1 (ststnet · synthetic · subject-10fold (quick, seed 0))"),
])
def test_bad_baseline_is_a_usage_error_naming_the_entry(entries, message, run_cli, tmp_path):
    baseline = tmp_path / "baseline.yaml"
    write(baseline, entries)
    result = run_cli("regress", "--baseline", str(baseline), "--quiet", "--no-store")
    err = " ".join(result.err.split())
    assert result.code == 2 and message in err and "Traceback" not in err


def test_shipped_baselines_cover_every_built_in_model():
    """ci.yaml guards the fast models; synthetic-default.yaml (the README's tables) holds every CPU-sized one."""
    from pathlib import Path

    from merbench.regress import load_baseline
    from merbench.registry import get_registry
    from merbench.testing import conformance_names

    folder = Path(__file__).parent.parent / "benchmarks" / "baselines"
    gpu_sized = {"convmixer-256-8", "convmixer-768-32"}
    builtin = set(conformance_names(get_registry(), distribution="merbench"))
    for name, expected_models in (("ci.yaml", builtin - gpu_sized - {"timm:resnet18"}), ("synthetic-default.yaml", builtin - gpu_sized)):
        baseline = load_baseline(folder / name)
        assert {entry.model for entry in baseline.entries} >= expected_models, name
        assert all(e.expected is not None for entry in baseline.entries for e in entry.expectations), name
        assert all(entry.derived and entry.derived["runs"] >= 3 for entry in baseline.entries), name
        assert {entry.dataset for entry in baseline.entries} == {"synthetic"} and {entry.profile for entry in baseline.entries} == {"default"}


def test_regress_table_at_80_columns_and_in_a_log(updated, run_cli, tmp_path, monkeypatch):
    """Model, metric, expected, band, measured and verdict stay whole on an 80-column terminal and in a pipe."""
    folder, document, _ = updated
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump(document))
    args = ("regress", "--baseline", str(baseline), "--stored", "--quiet", "--store", str(folder / "results.sqlite"))
    monkeypatch.setenv("COLUMNS", "80")
    boxed = run_cli("--format", "table", *args)
    assert boxed.code == 0, boxed.err
    assert "…" not in boxed.out and max(len(line) for line in boxed.out.splitlines()) <= 80
    for word in ("convmixer", "accuracy", "Expected", "Band", "Measured", "Verdict"):
        assert word in boxed.out
    plain = run_cli("--format", "plain", *args)
    rows = [line.split() for line in plain.out.splitlines() if line.startswith("convmixer")]
    assert sorted(row[:2] for row in rows) == [["convmixer", "accuracy"], ["convmixer", "uf1"]]
    assert all(row[6] == "ok" for row in rows)


@pytest.mark.parametrize("make, message", [
    (lambda path: path.mkdir(), "is a folder"),
    (lambda path: path.write_bytes(b"\xff\xfe\x00binary"), "not a text file"),
])
def test_a_baseline_that_is_not_a_text_file_is_one_clear_error(make, message, run_cli, tmp_path):
    baseline = tmp_path / "baseline.yaml"
    make(baseline)
    result = run_cli("regress", "--baseline", str(baseline), "--quiet", "--no-store")
    assert result.code == 2 and message in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("written, value", [("1e-1", 0.1), ("4E-1", 0.4), ("0.4e0", 0.4), ("4e-01", 0.4), ("4.0e-1", 0.4)])
def test_a_band_in_e_notation_is_the_number_written(written, value, tmp_path):
    # YAML 1.1 hands 1e-1 over as text; the band was refused as "must be a number ... got '1e-1'"
    from merbench.regress import load_baseline

    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("version: 1\ndefaults: {dataset: synthetic, profile: quick}\nentries:\n  - model: ststnet\n"
                        f"    metrics: {{uf1: {{expected: {written}, tolerance: {written}}}}}\n")
    [expectation] = load_baseline(baseline).entries[0].expectations
    assert (expectation.expected, expectation.tolerance) == (pytest.approx(value), pytest.approx(value))


def test_model_filter_takes_names_with_commas_and_names_one_not_in_the_baseline(run_cli):
    baseline = str(Path(__file__).resolve().parent.parent / "benchmarks" / "baselines" / "ci.yaml")
    unknown = run_cli("regress", "--baseline", baseline, "--model", "convmixer,no-such-model", "--model", "ststnet")
    assert unknown.code == 2 and "--model no-such-model: not in" in unknown.err
