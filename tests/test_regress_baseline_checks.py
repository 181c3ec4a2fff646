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
    assert "training loss became nan" in out and "FAILED: 1 of 2 metrics" in out and "ststnet uf1 failed" in out
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
    assert "unknown top-level key defualts; valid: version, defaults, entries" in refused(regress(run_cli, baseline))


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


# ------------------------------------------------------------------ what a new user ran into

def fake_runs(monkeypatch, pooled, fail=None, error=None):
    """Replace training by a result with these pooled scores (the same for every seed and layout: std 0); a run of
    model ``fail`` raises ``error``, by default a diverged-training ``RunFailed`` as the engine words it. Returns the
    configs run."""
    import merbench.recording
    from merbench.errors import RunFailed

    runs = []

    def run(store, config, *args, **kwargs):
        runs.append(config)
        if config.model == fail:
            raise error or RunFailed("fold 1, epoch 3, step 1: the training loss became inf; training diverged. Lower "
                                     "the learning rate (now --set engine.lr=1000000.0) or check the inputs for NaN")
        return minimal_result(pooled=dict(pooled)), None, 0

    monkeypatch.setattr(merbench.recording, "run_recorded", run)
    return runs


ROUNDED_AWAY = {"uf1": 0.302737, "uar": 0.30265, "accuracy": 0.48653}  # none has 4 decimals


def test_a_freshly_derived_baseline_passes_on_the_runs_it_came_from(run_cli, tmp_path, monkeypatch):
    """std 0 across seeds and --floor 0: tolerance 0, expected rounded to 4 decimals; the rounding is no failure."""
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}])
    updated = regress(run_cli, baseline, "--update", "--seeds", "2", "--threads", "auto,1", "--floor", "0")
    assert updated.code == 0, updated.out + updated.err
    metrics = yaml.safe_load(baseline.read_text())["entries"][0]["metrics"]
    assert metrics["uf1"] == {"expected": 0.3027, "tolerance": 0.0}
    checked = regress(run_cli, baseline)
    assert checked.code == 0, checked.out + checked.err
    assert "All 3 metrics within their band" in checked.out


def test_a_derivation_without_a_git_checkout_records_no_commit_as_null_not_the_text_none(run_cli, tmp_path, monkeypatch):
    import merbench.environment

    fake_runs(monkeypatch, ROUNDED_AWAY)
    monkeypatch.setattr(merbench.environment, "git_commit", lambda: None)  # merbench installed from a wheel
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}])
    assert regress(run_cli, baseline, "--update", "--seeds", "2", "--threads", "auto", "--floor", "0").code == 0
    versions = yaml.safe_load(baseline.read_text())["entries"][0]["derived"]["versions"]
    assert versions["git_commit"] is None and versions["merbench"] == merbench.__version__


def test_a_hand_written_zero_tolerance_kept_by_update_passes_on_the_same_run(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm", "tolerance": 0}])
    assert regress(run_cli, baseline, "--update").code == 0
    assert yaml.safe_load(baseline.read_text())["entries"][0]["metrics"]["uf1"] == {"expected": 0.3027, "tolerance": 0}
    checked = regress(run_cli, baseline)
    assert checked.code == 0, checked.out + checked.err
    # measured a whole rounding step away still fails: the slack is the written precision, no more
    fake_runs(monkeypatch, {**ROUNDED_AWAY, "uf1": 0.30281})
    assert "lbptop-svm uf1 high" in " ".join(regress(run_cli, baseline).out.split())


def test_a_derived_tolerance_is_written_rounded_up_and_never_above_1(tmp_path):
    from merbench.regress import Derivation, load_baseline, parse_baseline, updated_document

    baseline = load_baseline(write(tmp_path / "b.yaml", [{"model": "lbptop-svm", "metrics": ["uf1"]}]))
    entry = baseline.entries[0]

    def written(values, k, floor):
        derivation = Derivation([0, 1], ["auto"], k, floor, {"uf1": values}, 1.0, {})
        document = updated_document(baseline, [(entry, minimal_result(), derivation)])
        parse_baseline(document, baseline.path)  # a valid baseline
        return document["entries"][0]["metrics"]["uf1"]["tolerance"]

    assert written([0.5, 0.5], 3.0, 0.03004) == 0.0301  # rounded to the nearest, 0.03 would narrow the band
    assert written([0.5, 0.5], 3.0, 0.03) == 0.03
    assert written([0.2, 0.8], 1e6, 0.03) == 1.0  # a huge --k: the widest band a baseline can hold


def test_a_floor_above_1_is_refused_before_any_run_and_the_file_is_kept(run_cli, tmp_path, monkeypatch):
    runs = fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}])
    before = baseline.read_text()
    err = refused(regress(run_cli, baseline, "--update", "--seeds", "2", "--floor", "1.5"))
    assert "--floor 1.5: a tolerance is a fraction 0..1" in err
    assert runs == [] and baseline.read_text() == before


def test_an_invalid_updated_document_is_never_written(run_cli, tmp_path, monkeypatch):
    import merbench.regress

    fake_runs(monkeypatch, ROUNDED_AWAY)
    real = merbench.regress.updated_document

    def broken(*args):
        document = real(*args)
        document["entries"][0]["metrics"]["uf1"]["tolerance"] = 1.5
        return document

    monkeypatch.setattr(merbench.regress, "updated_document", broken)
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}])
    before = baseline.read_text()
    result = regress(run_cli, baseline, "--update")
    assert result.code == 2 and "uf1.tolerance is 1.5" in result.err and "the file is not updated" in result.err
    assert baseline.read_text() == before


@pytest.mark.parametrize("extra", [(), ("--seeds", "2", "--threads", "auto")], ids=["one-run", "seeds"])
def test_a_failed_run_under_update_names_the_entry_and_its_set(run_cli, tmp_path, monkeypatch, extra):
    fake_runs(monkeypatch, ROUNDED_AWAY, fail="ststnet")
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}, {"model": "ststnet", "set": {"engine.lr": 1e6}}])
    before = baseline.read_text()
    result = regress(run_cli, baseline, "--update", *extra)
    err = " ".join(result.err.split())
    assert result.code == 1, result.out + result.err
    assert f"error: {baseline}, entry 2 (ststnet · synthetic · subject-10fold)" in err
    assert "(now set: {engine.lr: 1000000.0})" in err and "--set" not in err
    assert f"the baseline {baseline} is not updated" in err and baseline.read_text() == before


@pytest.mark.parametrize("update", [False, True], ids=["check", "update"])
def test_a_model_plugins_fault_fails_its_entry_and_the_others_are_still_checked(run_cli, tmp_path, monkeypatch, update):
    """A fault `merbench run` exits 2 for (the model plugin's: sys.exit in forward, scores on another device) is this
    entry's failure, not a bad baseline: the other entries run, exit 1 (before: exit 2, the rest never ran)."""
    from merbench.errors import PluginError

    fault = PluginError("fold 1: training or predicting with model plugin 'ststnet' raised SystemExit(1)")
    runs = fake_runs(monkeypatch, ROUNDED_AWAY, fail="ststnet", error=fault)
    baseline = write(tmp_path / "b.yaml", [{"model": "ststnet", "metrics": {"uf1": {"expected": 0.3}}},
                                           {"model": "lbptop-svm", "metrics": {"uf1": {"expected": 0.3027}}}])
    result = regress(run_cli, baseline, *(["--update"] if update else []))
    said = " ".join((result.out + result.err).split())
    assert result.code == 1 and "Traceback" not in result.err, said
    assert f"{baseline}, entry 1 (ststnet · synthetic · subject-10fold): fold 1: training or predicting" in said
    if update:
        assert f"the baseline {baseline} is not updated" in said
    else:
        assert [config.model for config in runs] == ["ststnet", "lbptop-svm"] and "lbptop-svm" in result.out


@pytest.mark.parametrize("command, part", [("regress", "entry"), ("leakage", "variant"), ("grid", "cell")])
def test_a_run_stopped_around_its_folds_is_continued_with_the_commands_own_stored(tmp_path, monkeypatch, command, part):
    from merbench.errors import FoldsLost
    from merbench.recording import continue_with_stored, how_to_continue
    from merbench.store import ResultStore

    monkeypatch.setenv("MERBENCH_STORE", str(tmp_path / "default.sqlite"))
    with ResultStore(tmp_path / "default.sqlite") as store:
        stopped = how_to_continue(FoldsLost("a fold worker process died"), "RUN1", store)
        advice = str(continue_with_stored(stopped, "RUN1", store, command, part))
    assert advice == ("a fold worker process died; the completed folds are kept in the results store: run the same "
                      f"{command} command with --stored to continue the {part} from them (`merbench run --resume RUN1` "
                      f"continues this {part} alone)")


def test_a_failed_run_names_the_entrys_set_not_an_option_never_given(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, ROUNDED_AWAY, fail="ststnet")
    baseline = write(tmp_path / "b.yaml", [{"model": "ststnet", "set": {"engine.lr": 1e6}}])
    out = " ".join(regress(run_cli, baseline).out.split())
    assert f"Run failed: {baseline}, entry 1 (ststnet · synthetic · subject-10fold): fold 1" in out
    assert "(now set: {engine.lr: 1000000.0})" in out and "--set" not in out


@pytest.mark.parametrize("folder, message", [
    ("missing", "--root casme2={root}: no such folder"),
    ("empty", "expected CASME2-coding-*.xlsx or CASME2*coding*.xlsx in {root}"),
])
def test_a_bad_root_is_refused_naming_its_entry_before_any_run(run_cli, tmp_path, folder, message):
    root = tmp_path / folder
    if folder == "empty":
        root.mkdir()
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm", "set": TINY_SET},
                                           {"model": "lbptop-svm", "dataset": "casme2", "protocol": "loso"}],
                     {"profile": "quick"})
    err = refused(regress(run_cli, baseline, "--root", f"casme2={root}"))
    assert f"{baseline}, entry 2 (lbptop-svm · casme2 · loso): {message.format(root=root)}" in err


@pytest.mark.parametrize("version", ["1", 2, 1.5, True])
def test_a_version_that_is_not_the_number_1_says_so(run_cli, tmp_path, version):
    baseline = tmp_path / "b.yaml"
    baseline.write_text(yaml.safe_dump({"version": version, "entries": [{"model": "lbptop-svm"}]}))
    err = refused(regress(run_cli, baseline))
    assert f"--baseline {baseline}: version is {version!r}; it must be the number 1 (write version: 1, without quotes)" in err


@pytest.mark.parametrize("entry, defaults, message", [
    ({"model": "lbptop-svm", "metrics": []}, None, "{b}, entry 2: 'metrics' is empty; list at least one of"),
    ({"model": "lbptop-svm", "metrics": {}}, None, "{b}, entry 2: 'metrics' is empty"),
    ({"model": "lbptop-svm", "metrics": None}, None, "{b}, entry 2: 'metrics' is empty"),
    ({"model": "lbptop-svm"}, {"metrics": None}, "--baseline {b}: defaults: 'metrics' is empty"),
    ({"model": None}, None, "{b}, entry 2: 'model' is empty; give a name, e.g. model: convmixer"),
    ({"model": " "}, None, "{b}, entry 2: 'model' is empty"),
    ({"model": "lbptop-svm", "dataset": None}, None, "{b}, entry 2: 'dataset' is empty; give a name, e.g. dataset: synthetic"),
])
def test_an_empty_value_is_refused_not_replaced(run_cli, tmp_path, entry, defaults, message):
    """An empty metric list would silently check the built-in metrics instead of the file's; no model, 'None'."""
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm", "metrics": ["uar"]}, entry], defaults)
    err = refused(regress(run_cli, baseline))
    assert message.format(b=baseline) in err and "'None'" not in err


def test_the_table_shows_values_rounded_alike_and_a_delta_that_adds_up(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, {"uf1": 0.48653, "uar": 0.48649, "accuracy": 0.5})
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm", "metrics": {
        "uf1": {"expected": 0.4865, "tolerance": 0.01}, "uar": {"expected": 0.4865, "tolerance": 0.01},
        "accuracy": {"expected": 0.5, "tolerance": 0.01}}}])
    result = regress(run_cli, baseline)
    rows = {line.split()[1]: line.split()[2:7] for line in result.out.splitlines() if line.startswith("lbptop-svm")}
    assert rows["uf1"] == ["48.7", "±1.0", "48.7", "0.0", "ok"]  # 48.65 is no 48.6 beside 48.653's 48.7
    assert rows["uar"] == ["48.7", "±1.0", "48.6", "-0.1", "ok"]
    assert rows["accuracy"] == ["50.0", "±1.0", "50.0", "0.0", "ok"]
    assert "-0.0" not in result.out


def test_progress_names_the_seed_that_runs(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}])
    result = run_cli("regress", "--baseline", str(baseline), "--no-store", "--update", "--seeds", "2", "--threads", "auto")
    assert result.code == 0, result.err
    assert "lbptop-svm · synthetic · subject-10fold (quick, seed 1), threads auto (2/2)" in result.err
    assert "seed 0): seed 1" not in result.err
