"""The command line end to end, on the quick profile."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

METRICS = {"accuracy", "macro_precision", "macro_recall", "macro_f1", "uf1", "uar"}


def test_quick_run_json_follows_design_section_6(quick_run):
    result = quick_run()
    # docs/design.md, Result schema, minimum keys and their types.
    assert isinstance(result["model"], str) and result["model"] == "convmixer"
    assert result["dataset"] == "synthetic" and result["protocol"] == "subject-10fold"
    assert result["subject_independent"] is True
    assert result["classes"] == ["negative", "positive", "surprise"]
    assert result["n_samples"] == 60 and result["n_subjects"] == 10
    for key in ("pooled", "fold_mean", "fold_std"):
        assert set(result[key]) >= METRICS, key
        assert all(0.0 <= value <= 1.0 for value in result[key].values())
    assert set(result["per_domain"]) == {"synthetic"}
    assert set(result["per_domain"]["synthetic"]) >= {"uf1", "uar", "accuracy"}
    assert len(result["folds"]) == 10
    tested_subjects = []
    for index, fold in enumerate(result["folds"]):
        assert fold["fold"] == index
        assert isinstance(fold["n_test"], int) and fold["n_test"] > 0
        assert set(fold["metrics"]) >= METRICS
        assert fold["subject_overlap"] == []
        tested_subjects += fold["test_subjects"]
    assert sorted(tested_subjects) == sorted(set(tested_subjects)), "a subject was tested in two folds"
    matrix = result["confusion_matrix"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    assert sum(map(sum, matrix)) == 60
    assert sum(matrix[i][i] for i in range(3)) / 60 == pytest.approx(result["pooled"]["accuracy"])
    assert set(result["seconds"]) >= {"preprocess", "train_eval", "total"}
    assert result["config"]["seed"] == 0 and result["config"]["profile"] == "quick"
    assert result["config"]["options"]["engine"]["epochs"] == 3
    assert set(result["environment"]) >= {"merbench", "torch", "python", "device", "machine"}
    assert result["environment"]["device"].startswith("cpu")
    # CPUs of one model name differ in vector instructions (AVX-512, AVX2), and with them in a run's last bits
    capability = torch.backends.cpu.get_cpu_capability()
    assert f", {capability}" in result["environment"]["machine"] or capability == "DEFAULT"
    # Per-sample predictions let a result be re-scored later.
    assert len(result["predictions"]) == 60
    assert {row["label"] for row in result["predictions"]} <= {0, 1, 2}


def test_sample_level_protocol_is_flagged(run_cli, tmp_path):
    target = tmp_path / "sample.json"
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick",
                     "--protocol", "sample-10fold", "--set", "protocol.n_splits=3", "--quiet", "--json", str(target))
    assert result.code == 0, result.err
    data = json.loads(target.read_text())
    assert data["subject_independent"] is False
    assert data["leakage"]["subject_overlap_folds"] == 3
    assert data["warnings"] and "inflated" in data["warnings"][0]
    assert "NOT subject-independent" in result.out
    assert "3 of 3 folds share subjects between training and test" in result.out


def test_table_shows_folds_mean_and_pooled(run_cli):
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick",
                     "--set", "protocol.n_splits=2", "--epochs", "1")
    assert result.code == 0, result.err
    for text in ("Fold", "Acc", "UF1", "UAR", "mean", "std", "pooled", "Reported in the convmixer paper",
                 "Confusion matrix", "no subject is in both training and test", "selection on test data: never"):
        assert text in " ".join(result.out.split()), text
    assert "Device: cpu" in result.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "convmixr", "--dataset", "synthetic"], "unknown model 'convmixr'. Did you mean 'convmixer'"),
        (["--model", "convmixer", "--dataset", "smicc"], "unknown dataset 'smicc'"),
        (["--model", "convmixer", "--dataset", "synthetic", "--set", "model.depht=3"], "unknown setting 'model.depht' (did you mean model.depth?). Valid settings of model 'convmixer':"),
        (["--model", "ststnet", "--dataset", "synthetic", "--set", "model.depth=3"], "`merbench info ststnet` lists its options"),
        (["--model", "ststnet", "--dataset", "synthetic", "--set", "model.lr=3"], "'model.lr' (did you mean engine.lr?)"),
        (["--model", "timm:resnet18", "--dataset", "synthetic", "--set", "model.weights=/no/such/typo.pt"],
         "model.weights=/no/such/typo.pt: no such file (/no/such/typo.pt); give the path of an existing local file"),
        (["--model", "ststnet", "--dataset", "synthetic", "--set", "modl.dropout=3"], "(did you mean model.dropout?)"),
        (["--model", "ststnet", "--dataset", "synthetic", "--set", "model.attention=x"], "'model.attention'. Valid"),
        (["--model", "ststnet", "--dataset", "synthetic", "--set", "dataset.subject=3"], "Valid settings of dataset 'synthetic': dataset.preset"),
        (["--model", "convmixer", "--dataset", "synthetic", "--set", "model.depth=three"], "model.depth=three: must be an integer in [1, 64]"),
        (["--model", "convmixer", "--dataset", "synthetic", "--set", "depth"], "expected KEY=VALUE"),
        (["--model", "convmixer", "--dataset", "synthetic", "--set", "flow.method=lk"], "flow.method=lk: choose one of"),
        (["--model", "convmixer", "--dataset", "synthetic", "--profile", "huge"], "unknown profile 'huge'"),
        (["--model", "convmixer", "--dataset", "synthetic", "--device", "tpu"], "--device tpu"),
        (["--dataset", "synthetic"], "no model given"),
        (["--model", "ststnet"], "no dataset given"),
        ([], "no model and no dataset given: use --model NAME --dataset NAME"),  # both at once, not one per try
    ],
)
def test_bad_input_exits_2_with_one_clear_message(run_cli, args, message):
    result = run_cli("run", *args, "--profile", "quick") if "--profile" not in args else run_cli("run", *args)
    assert result.code == 2
    assert message in " ".join(result.err.split())
    assert "Traceback" not in result.err
    assert result.err.count("merbench: error:") == 1
    assert result.out == ""


def test_valid_settings_are_listed_for_a_bad_key(run_cli):
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--set", "engine.epoch=3")
    text = " ".join(result.err.split())
    assert "(did you mean engine.epochs?)" in text
    for key in ("engine.epochs", "engine.lr", "engine.channels_last"):
        assert key in text
    assert "model.depth" not in text  # the section's keys, not all ~40 (issue 15)
    assert "other sections: dataset, model, protocol, executor, flow" in text


def test_set_and_config_file_change_the_run(run_cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model:\n  dim: 8\nengine:\n  epochs: 1\nprotocol:\n  n_splits: 2\n")
    target = tmp_path / "r.json"
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--config", str(config), "--set", "model.depth=1", "flow.method=dis", "--json", str(target))
    assert result.code == 0, result.err
    options = json.loads(target.read_text())["config"]["options"]
    assert options["model"]["dim"] == 8 and options["model"]["depth"] == 1
    assert options["engine"]["epochs"] == 1 and options["protocol"]["n_splits"] == 2
    assert options["flow"]["method"] == "dis"


def test_list_models_shows_parameter_counts(run_cli):
    from merbench.config import resolve_config
    from merbench.contracts import resolve_factory
    from merbench.registry import get_registry

    config = resolve_config(get_registry(), model="convmixer", dataset="synthetic")
    spec = get_registry().get("models", "convmixer")
    flow = config.section("flow")
    model = resolve_factory(spec.build)(config.section("model"), len(flow["channels"]), 3, flow["size"])
    expected = f"{sum(p.numel() for p in model.parameters()):,}"

    result = run_cli("list", "models")
    assert result.code == 0
    assert "convmixer" in result.out and expected in result.out


def test_list_and_plugins_show_every_kind(run_cli):
    listing = run_cli("list")
    for name in ("convmixer", "synthetic", "flow", "subject-10fold", "sample-10fold"):
        assert name in listing.out
    plugins = run_cli("plugins")
    assert plugins.code == 0
    assert "merbench_plugins.models.convmixer" in plugins.out and "ok" in plugins.out


def test_console_script_help_and_bad_input():
    env = {**os.environ, "COLUMNS": "200"}
    shown = subprocess.run([sys.executable, "-m", "merbench", "run", "--help"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0
    for flag in ("--model", "--dataset", "--protocol", "--profile", "--set", "--json", "--device"):
        assert flag in shown.stdout
    bad = subprocess.run([sys.executable, "-m", "merbench", "run", "--model", "nope", "--dataset", "synthetic"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    assert "unknown model 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_loso_run_tests_each_subject_alone(quick_run):
    result = quick_run("--protocol", "loso", "--epochs", "1")
    assert result["subject_independent"] is True
    assert len(result["folds"]) == result["n_subjects"] == 10
    assert all(len(fold["test_subjects"]) == 1 for fold in result["folds"])
    assert all(fold["test_subjects"][0] not in fold["train_subjects"] for fold in result["folds"])


def test_seeds_repeat_the_run_and_report_mean_and_std(quick_run):
    import numpy as np

    result = quick_run("--seeds", "3", "--epochs", "1", "--set", "protocol.n_splits=2")
    seeds = result["seeds"]
    assert [s["seed"] for s in seeds] == [0, 1, 2]
    accuracies = [s["pooled"]["accuracy"] for s in seeds]
    assert result["across_seeds"]["n"] == 3
    assert result["across_seeds"]["mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
    assert result["across_seeds"]["std"]["accuracy"] == pytest.approx(np.std(accuracies, ddof=1)), "sample std, n - 1"
    assert result["pooled"] == seeds[0]["pooled"], "the top-level result is the first seed's"
    assert seeds[0]["fold_std"] == result["fold_std"], "each seed keeps its fold std (compare's fold statistic)"


def test_a_repeated_runs_panel_says_its_fold_table_and_time_are_the_first_seeds(run_cli):
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--seeds", "2",
                     "--no-store", "--set", "protocol.n_splits=2")
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "subjects · seed 0 (of 2 seeds)" in text and "Confusion matrix (pooled, seed 0;" in text
    assert re.search(r"Time: [0-9.]+ s for 2 seeds; seed 0: [0-9.]+ s \(preprocessing", text)


def test_megc2019_reports_per_domain_scores_that_match_the_predictions(quick_run):
    from merbench.metrics import classification_metrics

    result = quick_run("--protocol", "megc2019", "--epochs", "1", "--set", "dataset.domains=2")
    assert set(result["per_domain"]) == {"synthetic-1", "synthetic-2"}
    assert len(result["folds"]) == 10
    for domain, scores in result["per_domain"].items():
        rows = [r for r in result["predictions"] if r["domain"] == domain]
        expected = classification_metrics([r["label"] for r in rows], [r["prediction"] for r in rows], 3)
        for key in ("uf1", "uar", "accuracy"):
            assert scores[key] == pytest.approx(expected[key])


def test_cross_dataset_run_trains_only_on_the_train_domain(quick_run):
    result = quick_run("--protocol", "cross-dataset", "--epochs", "1",
                       "--set", "dataset.domains=2", "protocol.train=synthetic-1", "protocol.test=synthetic-2")
    (fold,) = result["folds"]
    domains = {r["subject"]: r["domain"] for r in result["predictions"]}
    assert {domains[s] for s in fold["test_subjects"]} == {"synthetic-2"}
    from merbench_plugins.datasets.synthetic import domain_of

    assert {domain_of(int(s[1:]) - 1, 10, 2) for s in fold["train_subjects"]} == {"synthetic-1"}
    assert fold["n_train"] + fold["n_test"] == result["n_samples"]
    assert not set(fold["train_subjects"]) & set(fold["test_subjects"])
    assert result["subject_independent"] is True


def test_megc2019_on_a_single_domain_is_a_clear_error(run_cli):
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--protocol", "megc2019")
    assert result.code == 2
    assert "--protocol loso" in " ".join(result.err.split())


@pytest.mark.parametrize("args, message", [
    (["rn"], "invalid choice: 'rn'"), (["datasets", "chek"], "invalid choice: 'chek'"),
    (["run", "--model", "ststnet", "--dataset", "synthetic", "--sed", "1"], "unrecognized arguments: --sed 1; did you mean --seed?"),
    (["datasets", "check", "casme2", "--roott", "x"], "unrecognized arguments: --roott x; did you mean --root?"),
])
def test_a_mistyped_command_or_option_gets_the_closest_one(run_cli, args, message):
    result = run_cli(*args)
    assert result.code == 2 and message in " ".join(result.err.split())
    if args[0] in ("rn", "datasets") and len(args) == 2:
        assert result.err.rstrip().endswith(f"did you mean {'run' if args[0] == 'rn' else 'check'}?")
    if "--sed" in args:
        assert "usage: merbench run" in result.err, "the sub-command's own usage, not the top-level one"


@pytest.mark.parametrize("args, said, not_said", [
    # regress has --seeds (a number of seeds): --seed 3 was taken for it, and with --update ran 3 seeds
    (["regress", "--baseline", "benchmarks/baselines/ci.yaml", "--seed", "3"], "unrecognized arguments: --seed 3",
     "--seeds"),
    (["runs", "--stat", "pooled"], "unrecognized arguments: --stat pooled", "--status"),  # compare's --stat
    (["run", "--mod", "ststnet", "--dataset", "synthetic"], "unrecognized arguments: --mod ststnet; did you mean --model?",
     None),
    (["grid", "--models", "ststnet", "--datasets", "synthetic", "--resume"],
     "unrecognized arguments: --resume; did you mean --stored?", None),
])
def test_an_option_is_never_abbreviated_nor_mistaken_for_one_that_means_something_else(run_cli, args, said, not_said):
    result = run_cli(*args)
    text = " ".join(result.err.split())
    assert result.code == 2 and said in text, text
    assert not_said is None or not_said not in text.split("error:")[-1]


def test_a_result_json_given_as_config_runs_the_same_configuration_again(run_cli, tmp_path):
    first, again, recorded = tmp_path / "first.json", tmp_path / "again.json", tmp_path / "config.yaml"
    options = ["--set", "dataset.subjects=6", "dataset.clips_per_subject=6", "protocol.n_splits=3", "lbptop.blocks=2"]
    made = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--seed", "4",
                   *options, "--no-store", "--quiet", "--json", str(first))
    assert made.code == 0, made.err
    redo = run_cli("run", "--config", str(first), "--no-store", "--quiet", "--json", str(again))
    assert redo.code == 0, redo.err
    before, after = json.loads(first.read_text()), json.loads(again.read_text())
    # engine.threads=0 (auto) is pinned to the torch threads each fold trained with, the one difference
    pinned = before["engine_plan"]["threads_per_fold"]
    assert after["config"]["options"]["engine"].pop("threads") == pinned
    assert after["engine_plan"]["threads_per_fold"] == pinned
    assert before["config"]["options"]["engine"].pop("threads") == 0
    assert after["config"].pop("pinned") == {"engine.threads": 0}  # the value the record gave, for its name
    assert after["config"] == before["config"] and after["seed"] == 4
    assert [row["prediction"] for row in after["predictions"]] == [row["prediction"] for row in before["predictions"]]
    recorded.write_text(json.dumps(json.loads(first.read_text())["config"]))  # the configuration alone (JSON is YAML)
    assert run_cli("run", "--config", str(recorded), "--no-store", "--quiet", "--json", str(again)).code == 0
    assert json.loads(again.read_text())["config"] == json.loads(first.read_text())["config"], "nothing to pin from"
    refused = run_cli("run", "--config", str(first), "--model", "ststnet", "--no-store")
    assert refused.code == 2 and "--model ststnet and model=lbptop-svm" in " ".join(refused.err.split())


def test_a_seeds_runs_result_given_as_config_runs_its_seeds_again(run_cli, tmp_path):
    first, again, one = tmp_path / "first.json", tmp_path / "again.json", tmp_path / "one.json"
    options = ["--set", "dataset.subjects=6", "dataset.clips_per_subject=6", "protocol.n_splits=3"]
    made = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--seeds", "2",
                   "--seed", "5", *options, "--no-store", "--quiet", "--json", str(first))
    assert made.code == 0, made.err
    redo = run_cli("run", "--config", str(first), "--no-store", "--quiet", "--json", str(again))
    assert redo.code == 0, redo.err
    assert f"--config {first}: a run of 2 seeds; running its 2 seeds again" in " ".join(redo.err.split())
    before, after = json.loads(first.read_text()), json.loads(again.read_text())
    assert after["across_seeds"] == before["across_seeds"] and [s["seed"] for s in after["seeds"]] == [5, 6]
    single = run_cli("run", "--config", str(first), "--seeds", "1", "--no-store", "--quiet", "--json", str(one))
    assert single.code == 0 and "across_seeds" not in json.loads(one.read_text()), "--seeds 1 still runs one"


@pytest.mark.parametrize("document, message", [
    ({"kind": "tune", "model": "ststnet"}, "a tune summary, not a configuration"),
    ({"kind": "merbench-leakage"}, "a leakage summary, not a configuration"),
    ({"model": "ststnet", "folds": [], "config": {"model": "ststnet"}},
     "a run's result without a readable recorded configuration"),
])
def test_a_summary_or_a_damaged_result_is_not_taken_for_a_configuration(run_cli, tmp_path, document, message):
    path = tmp_path / "given.json"
    path.write_text(json.dumps(document))
    result = run_cli("run", "--config", str(path), "--no-store")
    assert result.code == 2 and f"--config {path}: {message}" in " ".join(result.err.split())


def test_a_protocol_refusing_a_rare_class_names_the_class_not_its_index(run_cli):
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--protocol", "sample-10fold",
                     "--profile", "quick", "--set", "dataset.subjects=3", "--no-store")
    message = " ".join(result.err.split())
    assert result.code == 2 and "Traceback" not in result.err
    assert re.search(r"class '(negative|positive|surprise)' has \d+: use --set protocol.n_splits=\d+", message), message


def test_a_file_option_takes_an_existing_file_or_nothing(tmp_path):
    from merbench.config import resolve_config
    from merbench.registry import get_registry

    weights = tmp_path / "resnet18.pth"
    weights.write_bytes(b"")
    for value in (str(weights), ""):
        config = resolve_config(get_registry(), model="timm:resnet18", dataset="synthetic", profile="quick",
                                sets={"model.weights": value})
        assert config.section("model")["weights"] == value


def test_a_class_rarer_than_the_folds_is_one_note_in_the_users_terms(run_cli):
    # scikit-learn said "The least populated class in y has only 8 members, which is less than n_splits=10"
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store", "--quiet",
                     "--set", "dataset.clips_per_subject=3", "engine.epochs=1")
    message = " ".join(result.err.split())
    assert result.code == 0, result.err
    assert re.search(r"Note: 10 folds: class '\w+' has only \d samples, so some test folds have none of it; "
                     r"consider --set protocol.n_splits=\d", message), message
    assert "least populated" not in message and "UserWarning" not in message


def test_the_recorded_environment_touches_no_gpu(monkeypatch):
    """A CPU run records its CPU without initialising CUDA (a GPU name would claim a device the run never used)."""
    from merbench.environment import describe_environment

    def no_gpu(*args, **kwargs):
        raise AssertionError("the environment record asked for a GPU")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", no_gpu)
    machine = describe_environment("cpu")["machine"]
    assert " cores, " in machine


def test_a_resume_names_another_machine_only_when_both_sides_record_one():
    """Folds trained on another CPU kind differ in their last bits: a resume there is named; a run stored before
    machines were recorded is not called moved."""
    from merbench.environment import changed_setup

    before = {"torch": "2.14.1", "machine": "AMD EPYC, 2 cores, x86_64, AVX512"}
    assert changed_setup(before, {**before, "machine": "AMD EPYC, 2 cores, x86_64, AVX2"}) == (
        [], ["machine AMD EPYC, 2 cores, x86_64, AVX512 → AMD EPYC, 2 cores, x86_64, AVX2"])
    assert changed_setup({"torch": "2.14.1"}, before) == ([], [])
    assert changed_setup(before, {**before, "torch": "2.15"}) == (["torch 2.14.1 → 2.15"], [])


def test_a_result_given_as_config_runs_its_auto_options_as_they_resolved(tmp_path):
    """`flow.method=auto` that ran as TV-L1 re-runs as tvl1 (refused where OpenCV has no contrib module) instead of
    silently computing DIS flow on another machine; an option given explicitly stays as recorded."""
    from merbench.config import load_config_file
    from result_samples import minimal_dict

    recorded = {"model": "ststnet", "dataset": "synthetic", "protocol": "loso", "profile": "quick", "seed": 0,
                "preprocess": ["crop", "flow"],
                "options": {"flow": {"method": "auto", "size": 28}, "crop": {"detector": "auto", "margin": 0.1},
                            "engine": {"threads": 0}}}
    recorded["options"]["dataset"] = {"frames": "auto", "classes": "5"}
    chain = [{"name": "crop", "params": {"method": "haar", "margin": 0.1}},  # crop records its detector as method
             {"name": "flow", "params": {"method": "tvl1", "size": 28, "opencv": "4.14.0"}}]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(minimal_dict(config=recorded, preprocess={"chain": chain},
                                            dataset_summary={"frames": "raw", "classes": "5"})))
    settings = load_config_file(path)
    assert settings["flow.method"] == "tvl1" and settings["crop.detector"] == "haar"
    assert settings["dataset.frames"] == "raw", "CASME II's frames=auto read the raw tree: a re-run reads it again"
    assert settings["flow.size"] == 28 and settings["engine.threads"] == 0
    path.write_text(json.dumps(minimal_dict(config=recorded)))  # a result that recorded no chain: as it was
    assert load_config_file(path)["flow.method"] == "auto" and load_config_file(path)["dataset.frames"] == "auto"


def test_a_real_runs_crop_detector_is_pinned_when_its_result_is_given_as_config(quick_run, tmp_path):
    """What the crop step really records (its resolved detector) pins crop.detector=auto: without the Haar cascade
    the re-run is refused instead of silently cropping the centre of the frames."""
    import cv2

    from merbench.config import load_config_file

    result = quick_run("--set", "preprocess=crop,flow", "dataset.subjects=3", "dataset.clips_per_subject=2",
                       "engine.epochs=1", "protocol.n_splits=3")
    path = tmp_path / "recorded.json"
    path.write_text(json.dumps(result))
    expected = "haar" if cv2.data.haarcascades else "centre"
    assert load_config_file(path)["crop.detector"] == expected
