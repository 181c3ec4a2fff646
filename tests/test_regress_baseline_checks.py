"""``merbench regress`` cannot be switched off by its baseline: bad values, shapes and entries are one clear error
(exit 2) naming the file and entry; a failed run or a score that is not a number fails, never passes."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from result_samples import minimal_result

TINY_SET = {"dataset.subjects": 4, "dataset.clips_per_subject": 6, "dataset.size": 32, "dataset.frames": 8,
            "protocol.n_splits": 3, "engine.epochs": 1}
NAN, INF = float("nan"), float("inf")


def write(path, entries, defaults=None):
    document = {"version": 1, "defaults": {"profile": "quick", "set": TINY_SET} if defaults is None else defaults,
                "entries": entries}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def regress(run_cli, baseline, *extra):
    return run_cli("--format", "plain", "regress", "--baseline", str(baseline), "--quiet", "--no-store", *extra)


def refused(result) -> str:
    """The one-line error of a refused command (exit 2, no traceback, nothing run), whitespace joined."""
    err = " ".join(result.err.split())
    assert result.code == 2, result.out + result.err
    assert "Traceback" not in err and "Running" not in err and err.count("error:") == 1, err
    return err


def uf1(**spec):
    return {"model": "ststnet", "metrics": {"uf1": spec}}


@pytest.mark.parametrize("entry, message", [
    (uf1(expected=NAN, tolerance=0.1), "entry 2: uf1.expected is nan; give a finite fraction 0..1"),
    (uf1(expected=0.5, tolerance=NAN), "entry 2: uf1.tolerance is nan; give a finite fraction 0..1 (0.06 allows ±6 points)"),
    (uf1(expected=0.5, tolerance=INF), "entry 2: uf1.tolerance is inf; give a finite fraction 0..1 (0.06 allows ±6 points)"),
    (uf1(expected=0.5, tolerance=-1), "entry 2: uf1.tolerance is -1; give a finite fraction 0..1 (0.06 allows ±6 points)"),
    (uf1(expected=0.5, tolerance_high=NAN), "entry 2: uf1.tolerance_high is nan"),
    (uf1(expected=0.5, tolerance=5), "entry 2: uf1.tolerance is 5; give a finite fraction 0..1 (0.06 allows ±6 points)"),
    (uf1(expected=5, tolerance=0.1), "entry 2: uf1.expected is 5; give a finite fraction 0..1 (a score of 43.2 % is 0.432)"),
    (uf1(expected=-0.1), "entry 2: uf1.expected is -0.1; give a finite fraction 0..1"),
    ({"model": "ststnet", "tolerance": NAN, "metrics": {"uf1": {"expected": 0.4}}}, "entry 2: tolerance is nan"),
    ({"model": "ststnet", "metrics": {"uf1": NAN}}, "entry 2: uf1.expected is nan"),
    ({"model": "ststnet", "set": ["a"]}, "entry 2: 'set' must be a mapping of KEY: VALUE"),
    ({"model": "ststnet", "seed": -3}, "entry 2: seed is -3; give a whole number ≥ 0"),
    ({"model": "ststnet", "seed": 1.5}, "entry 2: seed is 1.5; give a whole number ≥ 0"),
])
def test_a_bad_value_in_an_entry_is_refused_naming_file_entry_and_metric(entry, message, run_cli, tmp_path):
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}, entry])
    assert f"{baseline}, {message}" in refused(regress(run_cli, baseline))


@pytest.mark.parametrize("defaults, message", [
    (3, "'defaults' must be a mapping of entry keys"),
    ({"set": ["a"]}, "defaults 'set' must be a mapping of KEY: VALUE"),
    ({"tolerance": NAN}, "defaults: tolerance is nan; give a finite fraction 0..1 (0.06 allows ±6 points)"),
])
def test_bad_defaults_are_refused_naming_the_file(defaults, message, run_cli, tmp_path):
    baseline = write(tmp_path / "b.yaml", [{"model": "ststnet"}], defaults=defaults)
    assert f"--baseline {baseline}: {message}" in refused(regress(run_cli, baseline))


@pytest.mark.parametrize("entry, message", [
    ({"model": "nope"}, "entry 2 (nope · synthetic · subject-10fold): unknown model 'nope'"),
    ({"model": "ststnet", "set": {"model.nope": 3}}, "entry 2 (ststnet · synthetic · subject-10fold): unknown setting 'model.nope'"),
    ({"model": "ststnet", "profile": "bogus"}, "entry 2 (ststnet · synthetic · subject-10fold): unknown profile 'bogus'"),
    ({"model": "ststnet", "device": "tpu"}, "entry 2 (ststnet · synthetic · subject-10fold): device tpu: choose auto, cpu, cuda or cuda:N"),
    ({"model": "ststnet", "dataset": "nope"}, "entry 2 (ststnet · nope · subject-10fold): unknown dataset 'nope'"),
    ({"model": "ststnet", "protocol": "sample-10fold"}, "entry 2 (ststnet · synthetic · sample-10fold): the entry is leaky"),
])
def test_a_bad_configuration_names_file_and_entry_before_any_run(entry, message, run_cli, tmp_path):
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}, entry])
    err = refused(regress(run_cli, baseline))  # entry 1 is fine, and was not run either
    assert f"error: {baseline}, {message}" in err and "--device" not in err


def test_json_over_the_baseline_names_the_baseline_file(run_cli, tmp_path):
    baseline = write(tmp_path / "b.yaml", [{"model": "ststnet"}])
    text = baseline.read_text()
    err = refused(regress(run_cli, baseline, "--json", str(baseline)))
    assert f"--json {baseline}: is the baseline file (--baseline {baseline})" in err and "results store" not in err
    assert baseline.read_text() == text


def test_a_score_that_is_not_a_number_fails_the_check(tmp_path):
    from merbench.regress import check_entry, load_baseline

    metrics = {"uf1": {"expected": 0.5}, "uar": {}, "accuracy": {"expected": 0.5}}
    [entry] = load_baseline(write(tmp_path / "b.yaml", [{"model": "ststnet", "metrics": metrics}])).entries
    checks = check_entry(entry, minimal_result(pooled={"uf1": NAN, "uar": NAN, "accuracy": 0.5}))
    assert [(c.metric, c.status, c.passed) for c in checks] == [
        ("uf1", "failed", False), ("uar", "failed", False), ("accuracy", "ok", True)]


def test_a_nan_score_is_reported_failed_and_written_as_null(run_cli, tmp_path, monkeypatch):
    import merbench.recording

    monkeypatch.setattr(merbench.recording, "run_recorded", lambda *args, **kwargs: (
        minimal_result(pooled={"uf1": NAN, "uar": 0.5, "accuracy": 0.5}), None, 0))
    baseline = write(tmp_path / "b.yaml", [{"model": "ststnet", "metrics": {"uf1": {"expected": 0.5}}}])
    result = regress(run_cli, baseline, "--json", str(tmp_path / "checks.json"))
    assert result.code == 1 and "ststnet uf1 failed" in " ".join(result.out.split()), result.out + result.err
    [check] = json.loads((tmp_path / "checks.json").read_text())["entries"][0]["checks"]  # strict JSON: no NaN
    assert check["status"] == "failed" and check["measured"] is None and check["delta"] is None


def test_update_never_writes_a_score_that_is_not_a_number(tmp_path):
    from merbench.errors import RunFailed
    from merbench.regress import load_baseline, updated_document

    baseline = load_baseline(write(tmp_path / "b.yaml", [{"model": "ststnet"}]))
    with pytest.raises(RunFailed, match=r"entry 1 \(ststnet · synthetic · subject-10fold\): measured uf1 is nan"):
        updated_document(baseline, [(baseline.entries[0], minimal_result(pooled={"uf1": NAN, "uar": 0.5, "accuracy": 0.5}),
                                     None)])


def test_a_failed_run_fails_its_entry_and_the_others_are_still_checked(run_cli, tmp_path):
    """Training diverges in entry 1 (RunFailed); entry 2 still runs; table, reason and JSON name both; exit 1."""
    baseline = write(tmp_path / "b.yaml", [
        {"model": "ststnet", "set": {"engine.lr": 1.0e30, "engine.epochs": 2}, "metrics": {"uf1": {"expected": 0.5}}},
        {"model": "lbptop-svm", "metrics": {"uf1": {"expected": 0.5, "tolerance": 0.5}}},
    ])
    target = tmp_path / "checks.json"
    result = regress(run_cli, baseline, "--json", str(target))
    out = " ".join(result.out.split())
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err
    assert f"Run failed: {baseline}, entry 1 (ststnet · synthetic · subject-10fold): fold" in out
    assert "training loss became nan" in out and "FAILED: 1 of 2 metric(s)" in out and "ststnet uf1 failed" in out
    rows = {line.split()[0]: line.split() for line in result.out.splitlines() if line.startswith(("ststnet ", "lbptop-svm "))}
    assert rows["ststnet"][4:7] == ["—", "—", "failed"] and rows["lbptop-svm"][6] == "ok"
    document = json.loads(target.read_text())
    failed, passed = document["entries"]
    assert document["passed"] is False
    assert "training loss became nan" in failed["error"] and failed["run_id"] is None
    assert [c["status"] for c in failed["checks"]] == ["failed"] and failed["checks"][0]["measured"] is None
    assert passed["error"] is None and [c["status"] for c in passed["checks"]] == ["ok"]
    assert math.isfinite(passed["checks"][0]["measured"])


def test_a_misspelt_top_level_key_is_refused_not_ignored(run_cli, tmp_path):
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("version: 1\ndefualts: {tolerance: 0.01, profile: default}\nentries:\n  - model: lbptop-svm\n")
    assert "unknown top-level key(s) defualts; valid: version, defaults, entries" in refused(regress(run_cli, baseline))


@pytest.mark.parametrize("document, kind", [
    (lambda: minimal_result().to_dict(), "is a run's result (merbench run --json), not a baseline"),
    (lambda: {"kind": "merbench-leakage", "version": 1, "variants": []}, "is a leakage summary"),
])
def test_a_result_file_is_not_taken_for_a_baseline_nor_overwritten_by_update(run_cli, tmp_path, document, kind):
    given = tmp_path / "result.json"
    given.write_text(json.dumps(document()))
    before = given.read_text()
    assert kind in refused(regress(run_cli, given))
    assert kind in refused(regress(run_cli, given, "--update", "--add-missing"))
    assert given.read_text() == before
