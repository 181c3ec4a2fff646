"""A leak stays on record where it was found, and readers judge a result by what it recorded.

* ``audit`` reads the result's own configuration: a result whose leakage section was edited clean still fails when
  its ``config`` sets ``engine.select_on=test`` or ``engine.normalise_on=all`` (before: every check passed).
* A ``--seeds N`` result carries what any seed leaked (before: the first seed's leakage only, so a protocol that put
  one subject on both sides with seed 1 gave a clean result whose mean over seeds ``compare`` showed without a mark).
"""

from __future__ import annotations

import json

SEED_LEAK = '''
import numpy as np

from merbench.contracts import Fold, ProtocolPlugin
from merbench.hookspecs import hookimpl


def split(labels, subjects, seed, options, domains=None):
    names = sorted(set(subjects))
    if seed % 2 == 0:  # two folds of whole subjects
        halves = [set(names[::2]), set(names[1::2])]
        return [Fold(i, np.flatnonzero([s not in half for s in subjects]), np.flatnonzero([s in half for s in subjects]))
                for i, half in enumerate(halves)]
    order = np.arange(len(labels))  # odd seeds: every other sample, whatever its subject
    return [Fold(i, order[order % 2 != i], order[order % 2 == i]) for i in range(2)]


@hookimpl
def merbench_register_protocols(register):
    register(ProtocolPlugin(name="odd-seed-leak", split=split, description="shares subjects with odd seeds",
                            subject_independent=True))
'''


def _said(result) -> str:
    return " ".join((result.out + result.err).split())


def test_audit_reads_the_leaky_settings_of_a_results_configuration_not_only_its_leakage_section(quick_run, audited):
    leaky = quick_run("--set", "engine.normalise_on=all", "engine.select_on=test", "engine.epochs=2")
    code, _, checks = audited(leaky)
    assert code == 1 and not checks["model selection"].passed and not checks["normalisation"].passed
    honest_leakage = quick_run("--set", "engine.epochs=2")["leakage"]
    edited = json.loads(json.dumps(leaky))
    edited["leakage"] = honest_leakage  # the flags edited away, the settings kept
    edited["warnings"] = []
    for fold in edited["folds"]:
        fold["selected_on"], fold["selected_epoch"] = None, None
        fold["normalisation"] = honest_leakage["normalisation"]
    code, said, checks = audited(edited)
    assert code == 1, said
    assert "its recorded configuration sets engine.select_on=test" in checks["model selection"].detail
    assert "its recorded configuration sets engine.normalise_on=all" in checks["normalisation"].detail
    assert not checks["model selection"].passed and not checks["normalisation"].passed


def test_audit_passes_selection_on_test_for_a_model_fitted_once(run_cli, tmp_path, audited):
    target = tmp_path / "svm.json"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--set", "engine.select_on=test", "--json", str(target))
    assert result.code == 0, result.err
    code, said, checks = audited(json.loads(target.read_text()))
    assert checks["model selection"].passed and checks["normalisation"].passed, said
    assert code == 0, said


def test_a_leak_of_any_seed_flags_a_seeds_result(install_plugin, run_cli, tmp_path):
    install_plugin("merbench-seed-leak", "seedleak", "merbench_seed_leak_plugin", SEED_LEAK)
    target = tmp_path / "seeds.json"
    run = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--protocol", "odd-seed-leak", "--profile",
                  "quick", "--quiet", "--seeds", "2", "--json", str(target), "--set", "engine.epochs=1")
    assert run.code == 0, run.err
    result = json.loads(target.read_text())
    assert result["leakage"]["leaks"] == ["subjects"] and result["subject_independent"] is False
    assert result["leakage"]["subject_overlap_folds"] == 2
    assert any(warning.startswith("seed 1: protocol plugin 'odd-seed-leak'") for warning in result["warnings"])
    compared = run_cli("compare", "--model", "ststnet")
    assert "⚠" in compared.out and "not subject-independent" in _said(compared), _said(compared)


BY_SAMPLE = '''
import numpy as np

from merbench.contracts import Fold, ProtocolPlugin
from merbench.hookspecs import hookimpl


def split(labels, subjects, seed, options, domains=None):
    order = np.arange(len(labels))
    return [Fold(i, order[order % 2 != i], order[order % 2 == i]) for i in range(2)]


@hookimpl
def merbench_register_protocols(register):
    register(ProtocolPlugin(name="claims-independence", split=split, description="splits by sample",
                            subject_independent=True))
'''


def test_regress_does_not_pass_a_run_that_recorded_a_leak_its_entry_does_not_declare(install_plugin, run_cli,
                                                                                      tmp_path):
    import yaml

    install_plugin("merbench-by-sample", "bysample", "merbench_by_sample_plugin", BY_SAMPLE)
    entry = {"model": "ststnet", "dataset": "synthetic", "protocol": "claims-independence", "profile": "quick",
             "set": {"engine.epochs": 1}, "metrics": {"uf1": {"expected": 0.5, "tolerance": 1.0}}}
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump({"version": 1, "entries": [entry]}, sort_keys=False), encoding="utf-8")
    checked = run_cli("--format", "plain", "regress", "--baseline", str(baseline), "--quiet", "--no-store")
    said = _said(checked)
    assert checked.code == 1, said  # before: "All 1 metrics within their band.", exit 0
    assert "Not checked: " in said and "the run recorded a leak (clips of one subject in training and test" in said
    assert "add 'leaky: true' to the entry" in said, said
    updated = run_cli("--format", "plain", "regress", "--baseline", str(baseline), "--update", "--quiet", "--no-store")
    assert updated.code == 1 and "is not updated" in _said(updated), _said(updated)
    assert yaml.safe_load(baseline.read_text())["entries"][0]["metrics"]["uf1"]["expected"] == 0.5
    entry["leaky"] = True
    baseline.write_text(yaml.safe_dump({"version": 1, "entries": [entry]}, sort_keys=False), encoding="utf-8")
    declared = run_cli("--format", "plain", "regress", "--baseline", str(baseline), "--quiet", "--no-store")
    assert declared.code == 0 and "⚠" in declared.out, _said(declared)


def test_a_leakage_studys_honest_row_says_what_its_run_recorded():
    from merbench.report import leakage_what

    assert leakage_what({"name": "honest", "leaks": []}) == "nothing"
    said = leakage_what({"name": "honest", "leaks": ["subjects"]})  # before: "nothing" whatever the run recorded
    assert said.startswith("clips of one subject in training and test, recorded by the run although its settings")
    assert "every Δ is measured against a leaky baseline" in said


REPORTS_ON_SYNTHETIC = '''
from merbench.contracts import ModelPlugin, ReportedScore
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="ststrep", build="merbench_plugins.models.ststnet:build_model", input="flow-uvs",
                         description="ststnet with a score reported on the synthetic data", citation="original work",
                         options={"filters": [3, 5, 8], "kernel": 3, "batchnorm": True, "dropout": 0.2},
                         reported=(ReportedScore("synthetic", "subject-10fold", "uf1", 50.0, "a paper"),)))
'''


def test_a_leaky_runs_measured_row_beside_the_papers_score_is_marked(install_plugin, run_cli, tmp_path):
    install_plugin("merbench-ststrep", "ststrep", "merbench_ststrep_plugin", REPORTS_ON_SYNTHETIC)
    target = tmp_path / "leaky.json"
    run = run_cli("run", "--model", "ststrep", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                  "--set", "engine.select_on=test", "engine.epochs=2", "--json", str(target))
    assert run.code == 0, run.err
    measured = next(line for line in run.out.splitlines() if line.lstrip().startswith("synthetic")
                    and "measured" in line)
    assert "measured ⚠" in measured, measured  # before: "measured" unmarked beside the paper's 50.00
    assert "⚠ measured: this run leaked test information" in _said(run)
    page = tmp_path / "report.html"
    assert run_cli("report", "--model", "ststrep", "--output", str(page)).code == 0
    assert '<td class="text leak">measured' in page.read_text() or 'class="text leak">measured' in page.read_text()


def test_regress_update_with_seeds_notices_a_leak_of_any_seed(install_plugin, run_cli, tmp_path):
    import yaml

    install_plugin("merbench-seed-leak", "seedleak", "merbench_seed_leak_plugin", SEED_LEAK)
    entry = {"model": "ststnet", "dataset": "synthetic", "protocol": "odd-seed-leak", "profile": "quick",
             "set": {"engine.epochs": 1}, "metrics": {"uf1": {"expected": 0.5, "tolerance": 1.0}}}
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump({"version": 1, "entries": [entry]}, sort_keys=False), encoding="utf-8")
    updated = run_cli("--format", "plain", "regress", "--baseline", str(baseline), "--update", "--seeds", "2",
                      "--threads", "auto", "--quiet", "--no-store")
    said = _said(updated)  # seed 0 is honest, seed 1 shares subjects: before, its inflated values were written
    assert updated.code == 1 and "the run recorded a leak" in said and "is not updated" in said, said
    assert yaml.safe_load(baseline.read_text())["entries"][0]["metrics"]["uf1"]["expected"] == 0.5


def test_the_leaks_of_a_settings_seeds_are_those_of_any_seed():
    from merbench.leaks import leaks_of_runs
    from result_samples import minimal_result

    honest = minimal_result(run_id="20250611-000001-000001")
    shared = minimal_result(run_id="20250611-000002-000002", subject_independent=False)
    assert leaks_of_runs([honest]) == [] and leaks_of_runs([honest, shared]) == ["subjects"]
