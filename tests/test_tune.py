"""``merbench tune``: the end-to-end command, space-file validation, storage and resuming after an interruption."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from merbench import tuning  # noqa: E402
from merbench.errors import UsageError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TINY = ["--set", "dataset.subjects=8", "dataset.clips_per_subject=4", "protocol.n_splits=2", "engine.epochs=1"]
"""32 clips of 8 subjects; 2 outer folds of 4 training subjects each, so 3 inner folds by subject fit."""
SPACE = "engine.lr: {type: float, low: 0.001, high: 0.02, log: true}\nmodel.dropout: {type: float, low: 0.0, high: 0.5}\n"


def space_file(tmp_path: Path, text: str = SPACE, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def tune(run_cli, tmp_path: Path, *extra: str, space: Path | None = None, trials: int = 2, model: str = "ststnet",
         quiet: bool = True):
    """Run ``merbench tune`` on the tiny synthetic data with its own trials storage; (result, summary or None)."""
    target = tmp_path / "tune.json"
    target.unlink(missing_ok=True)
    result = run_cli("tune", "--model", model, "--dataset", "synthetic", "--profile", "quick", *(["--quiet"] * quiet),
                     "--trials", str(trials), "--space", str(space or space_file(tmp_path)),
                     "--storage", str(tmp_path / "trials.sqlite"), "--json", str(target), *TINY, *extra)
    return result, (json.loads(target.read_text()) if target.exists() else None)


def test_tune_end_to_end_prints_and_writes_the_nested_result(run_cli, tmp_path):
    result, summary = tune(run_cli, tmp_path)
    assert result.code == 0, result.err
    assert summary["kind"] == "tune" and summary["model"] == "ststnet"
    assert summary["search"]["trials_per_fold"] == 2 and summary["search"]["inner_folds"] == 3
    assert len(summary["folds"]) == 2
    seen = []
    for fold in summary["folds"]:
        assert sum(fold["trial_counts"].values()) == 2
        assert set(fold["selected"]) == {"engine.lr", "model.dropout"}
        assert 0.001 <= fold["selected"]["engine.lr"] <= 0.02
        best = max((t for t in fold["trials"] if t["state"] == "complete"), key=lambda t: t["value"])
        assert fold["selected"] == best["params"] and fold["inner_uf1"] == best["value"]
        seen += [row["id"] for row in summary["predictions"] if row["fold"] == fold["fold"]]
    # Every sample is scored once, by the outer fold that held it out.
    assert len(seen) == len(set(seen)) == summary["n_samples"] == 32
    rows = summary["predictions"]
    truth, predicted = [r["label"] for r in rows], [r["prediction"] for r in rows]
    from merbench.metrics import classification_metrics

    assert summary["pooled"] == classification_metrics(truth, predicted, 3)
    assert [s["key"] for s in summary["stability"]] == ["engine.lr", "model.dropout"]
    assert summary["compute"]["inner_fits"] == 2 * 2 * 3 and summary["compute"]["outer_refits"] == 2
    assert summary["leakage"]["selection_uses_test_data"] is False
    assert "Tuned result (outer folds; quote the pooled row)" in result.out
    assert "Stability of the choice over 2 outer folds" in result.out
    assert "Compute: 4 trials" in result.out
    # On an 80-column terminal every table fits, with each option name and score whole.
    from rich.console import Console

    from merbench.tuning_report import print_summary

    console = Console(width=80, force_terminal=True, color_system=None, record=True)
    print_summary(console, summary)
    drawn = console.export_text()
    assert max(len(line) for line in drawn.splitlines()) <= 80
    assert "engine.lr" in drawn and "model.dropout" in drawn and "pooled" in drawn


def test_the_same_tune_again_reuses_every_trial_and_refit(run_cli, tmp_path, monkeypatch):
    first, before = tune(run_cli, tmp_path)
    assert first.code == 0, first.err
    calls = []
    monkeypatch.setattr(tuning, "refit_fold", lambda *args: calls.append("refit"))
    monkeypatch.setattr(tuning, "make_objective", lambda *args: calls.append("objective"))
    again, after = tune(run_cli, tmp_path, "--resume")
    assert again.code == 0, again.err
    assert calls == []
    assert after["pooled"] == before["pooled"]
    assert [f["trials"] for f in after["folds"]] == [f["trials"] for f in before["folds"]]


def test_an_interrupted_tune_resumes_without_redoing_finished_trials(run_cli, tmp_path, monkeypatch):
    made = tuning.make_objective
    calls: list[tuple[int, int]] = []
    stop_at = [2]  # the second objective call of the first outer fold is interrupted

    def counting(ctx, optuna, outer, positions, inner):
        objective = made(ctx, optuna, outer, positions, inner)

        def wrapped(trial):
            calls.append((outer.index, trial.number))
            if len(calls) == stop_at[0]:
                raise KeyboardInterrupt
            return objective(trial)

        return wrapped

    monkeypatch.setattr(tuning, "make_objective", counting)
    stopped, _ = tune(run_cli, tmp_path, trials=3)
    assert stopped.code == 130
    assert "run the same command again" in stopped.err
    assert calls == [(0, 0), (0, 1)]
    names = json.loads(json.dumps(sqlite3.connect(tmp_path / "trials.sqlite").execute(
        "SELECT study_name FROM studies").fetchall()))
    assert len(names) == 1  # the first outer fold's study holds trial 0 (complete) and trial 1 (interrupted)

    calls.clear()
    stop_at[0] = 0
    resumed, summary = tune(run_cli, tmp_path, "--resume", trials=3)
    assert resumed.code == 0, resumed.err
    # Outer fold 0 made 2 more trials (the interrupted one is redone, trial 0 is not); fold 1 made 3.
    assert [c for c in calls if c[0] == 0] == [(0, 2), (0, 3)]
    assert sorted(i for i, _ in calls) == [0, 0, 1, 1, 1]
    fold0 = summary["folds"][0]
    assert [t["number"] for t in fold0["trials"]] == [0, 1, 2], "numbered as an uninterrupted tune numbers them"
    assert [t["optuna_number"] for t in fold0["trials"]] == [0, 2, 3]
    assert sum(fold0["trial_counts"].values()) == 3


def test_resume_without_stored_trials_is_refused(run_cli, tmp_path):
    result, _ = tune(run_cli, tmp_path, "--resume")
    assert result.code == 2
    assert "--resume: no stored trials of this tune" in result.err
    assert not (tmp_path / "trials.sqlite").exists()  # a refused command writes nothing


def test_fresh_deletes_the_stored_trials(run_cli, tmp_path, monkeypatch):
    assert tune(run_cli, tmp_path)[0].code == 0
    made = tuning.make_objective
    calls = []
    monkeypatch.setattr(tuning, "make_objective",
                        lambda *args: calls.append(args[2].index) or made(*args))
    result, _ = tune(run_cli, tmp_path, "--fresh", quiet=False)
    assert result.code == 0, result.err
    assert calls == [0, 1]
    assert "--fresh: deleted the 2 stored stud" in result.err


def test_trials_of_a_stored_tune_with_other_options_are_not_reused(run_cli, tmp_path):
    assert tune(run_cli, tmp_path)[0].code == 0
    result, _ = tune(run_cli, tmp_path, "--seed", "1")
    assert result.code == 0, result.err
    assert "reused" not in result.err
    assert len(sqlite3.connect(tmp_path / "trials.sqlite").execute("SELECT study_name FROM studies").fetchall()) == 4


def test_the_runtime_guard_refuses_an_objective_that_would_see_outer_test_samples(run_cli, tmp_path, monkeypatch):
    honest = tuning.nested_split

    def leaky(labels, subjects, outer, n_inner, seed):
        positions, inner = honest(labels, subjects, outer, n_inner, seed)
        import numpy as np

        return np.concatenate([positions, outer.test]), inner

    monkeypatch.setattr(tuning, "nested_split", leaky)
    result, _ = tune(run_cli, tmp_path)
    assert result.code == 1
    assert "outer test sample" in result.err and "would reach the tuning objective" in result.err


def test_failed_trials_are_left_out_and_all_failing_is_one_clear_error(run_cli, tmp_path, monkeypatch):
    from merbench.errors import RunFailed

    def diverges(*args, **kwargs):
        raise RunFailed("fold 0, epoch 1, step 1: the training loss became nan; training diverged")

    monkeypatch.setattr("merbench.folds.job.train_fold", diverges)
    result, _ = tune(run_cli, tmp_path)
    assert result.code == 1
    assert "outer fold 1: no trial completed; the first failure: inner fold 0, epoch 1" in result.err
    assert "Traceback" not in result.err


def test_missing_optuna_is_one_message(run_cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    result, _ = tune(run_cli, tmp_path)
    assert result.code == 2
    assert 'pip install "merbench[tune]"' in result.err


@pytest.mark.parametrize("text, expected", [
    ("engine.lr: [1, 2", "not valid YAML"),
    ("- engine.lr", "expected a mapping of options to search"),
    ("mode.dropout: {type: float, low: 0, high: 0.5}", "mode.dropout: unknown section 'mode'"),
    ("model.droput: {type: float, low: 0, high: 0.5}", "model.droput: 'droput' is not an option of model"),
    ("dropout: {type: float, low: 0, high: 0.5}", "dropout: keys are SECTION.OPTION"),
    ("model: {}", "section 'model:' holds no option to search ({})"),  # before: ran 8 trials of nothing, exit 0
    ("model:", "section 'model:' holds no option to search (None)"),
    ("lr: 0.01", "lr: keys are SECTION.OPTION"),
    ('model.dropout: {type: categorical, choices: [0.1, "0.1"]}', "choices 0.1 and '0.1' are one setting of the "
                                                                   "option; list each once"),
    ('model.batchnorm: {type: categorical, choices: [true, "true", false]}', "choices True and 'true' are one setting"),
    ("dataset.subjects: {type: int, low: 4, high: 8}", "the dataset section cannot be tuned"),
    ("protocol.n_splits: {type: int, low: 2, high: 4}", "the protocol section cannot be tuned"),
    ("engine.threads: {type: int, low: 1, high: 2}", "engine.threads: changes how trials run"),
    ("lbptop.size: {type: int, low: 16, high: 32}", "unknown section 'lbptop'"),
    ("model.dropout: {type: uniform, low: 0, high: 0.5}", "type 'uniform' is not one of float, int, categorical"),
    ("model.dropout: {low: 0, high: 0.5}", "model.dropout: no type given; every entry needs type: float, int or "
                                           "categorical"),
    ("model.dropout: {TYPE: float, low: 0, high: 0.5}", "model.dropout: 'TYPE' is not a field (fields are lower "
                                                        "case): write type"),
    ("model.dropout: {type: float, low: 0.5, high: 0.1}", "low (0.5) must be below high (0.1); swap them"),
    ("model.dropout: {type: float, low: 0.2, high: 0.2}", "to fix an option at one value, use --set instead"),
    ("model.dropout: {type: float, low: 0, high: 1.5}", "model.dropout=1.5: must be a finite number in [0, 1)"),
    ("model.dropout: {type: float, low: 0, high: 0.5, log: true}", "log: true needs low above 0"),
    ("model.dropout: {type: float, lo: 0, high: 0.5}", "unknown field lo"),
    ("model.dropout: {type: float, low: zero, high: 0.5}", "low='zero' is not a finite number"),
    ("model.kernel: {type: float, low: 1, high: 5}", "the option takes whole numbers (default 3); use type: int"),
    ("model.kernel: {type: int, low: 0, high: 5}", "model.kernel=0: must be an integer in [1, 64]"),
    ("flow.size: {type: int, low: 0, high: 3}", "space.yaml: flow.size=0: must be an integer in [4, 1024]"),
    ("model.kernel: {type: int, low: 1.5, high: 5}", "low=1.5 must be a whole number"),
    ("model.batchnorm: {type: int, low: 0, high: 1}", "takes true/false (default True); use type: categorical"),
    ("model.filters: {type: categorical, choices: [[3, 5, 8], [3, x, 8]]}", "model.filters=3,x,8"),
    ("model.filters: {type: categorical, choices: []}", "categorical needs 'choices', a non-empty list"),
    ("model.kernel: {type: categorical, choices: [3, 3]}", "choices repeat a value"),
    ("engine.class_weighting: {type: categorical, choices: [none, balnced]}", "did you mean balanced?"),
    ("engine.lr: 0.01", "expected a mapping such as {type: float"),
    ("engine.lr: {type: float, low: 0.001, high: 0.02, log: true, step: 0.001}", "step and log: true cannot"),
    ("model.kernel: {type: int, low: 2, high: 7, step: 2}", "step 2 does not divide high - low (7 - 2)"),
    ("model.kernel: {type: int, low: 2, high: 7, step: 2}", "use high: 6 or high: 8"),
    ("model.dropout: {type: float, low: 0, high: 0.45, step: 0.1}", "use high: 0.4 or high: 0.5"),
    ("model.kernel: {type: categorical, choices: [3]}", "model.kernel: one choice (3) leaves nothing to search; to fix an "
                                                        "option, use --set instead"),
    ("engine.select_on: {type: categorical, choices: [validation, test]}", "engine.select_on: cannot be searched"),
    ("engine.normalise_on: {type: categorical, choices: [train, all]}", "engine.normalise_on: cannot be searched"),
])
def test_space_file_errors_name_the_file_and_key(run_cli, tmp_path, text, expected):
    path = space_file(tmp_path, text)
    result, _ = tune(run_cli, tmp_path, space=path)
    assert result.code == 2, result.err
    message = " ".join(result.err.split())
    assert f"--space {path}" in message
    assert expected in message
    assert "Traceback" not in result.err
    assert not (tmp_path / "trials.sqlite").exists()  # refused before any trial was stored


def test_a_choice_the_preprocessor_refuses_is_found_before_any_data_is_read(run_cli, tmp_path, monkeypatch):
    import merbench.tuning as tuning

    def no_loading(*args, **kwargs):
        raise AssertionError("the dataset was loaded before the space was checked")

    monkeypatch.setattr(tuning, "load_dataset", no_loading)
    path = space_file(tmp_path, "crop.cascade: {type: categorical, choices: ['', missing.xml]}")
    result, _ = tune(run_cli, tmp_path, "--set", "preprocess=crop,flow", space=path)
    message = " ".join(result.err.split())
    assert result.code == 2 and f"--space {path}: crop.cascade=missing.xml: no such file" in message
    assert not (tmp_path / "trials.sqlite").exists()


def _no_loading(monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("the dataset was loaded before the configuration was checked")

    monkeypatch.setattr(tuning, "load_dataset", no_loading)


@pytest.mark.parametrize("setting, option", [
    ("engine.select_on=test", "engine.select_on=test"),
    ("engine.normalise_on=all", "engine.normalise_on=all"),
])
def test_leaky_engine_settings_are_refused_before_anything_runs(run_cli, tmp_path, monkeypatch, setting, option):
    """Each outer refit would keep the epoch that scored best on its own outer test fold (or standardise with it),
    while the summary said the selection used no test data."""
    _no_loading(monkeypatch)
    result, summary = tune(run_cli, tmp_path, "--set", setting)
    message = " ".join(result.err.split())
    assert result.code == 2 and summary is None, result.err
    assert f"{option}: merbench tune refuses it" in message
    assert "Traceback" not in result.err and not (tmp_path / "trials.sqlite").exists()


def test_a_leaky_engine_setting_in_a_config_file_is_refused(run_cli, tmp_path, monkeypatch):
    _no_loading(monkeypatch)
    config = tmp_path / "leaky.yaml"
    config.write_text("engine:\n  select_on: test\n")
    result, _ = tune(run_cli, tmp_path, "--config", str(config))
    assert result.code == 2 and "engine.select_on=test: merbench tune refuses it" in " ".join(result.err.split())


def test_the_summary_records_the_leakage_of_the_configuration_that_ran():
    """Derived from the resolved configuration and the refits, never written as a constant."""
    from merbench.config import resolve_config
    from merbench.registry import get_registry
    from merbench.tuning_summary import leakage_record

    registry = get_registry()

    def record(protocol="subject-10fold", folds=(), **sets):
        base = resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick", protocol=protocol,
                              sets=sets)
        return leakage_record(base, registry.get("protocols", protocol), [[]], list(folds))

    honest = record()
    assert honest["selection_uses_test_data"] is False and honest["leaks"] == []
    assert record(**{"engine.select_on": "test"})["selection_uses_test_data"] is True
    assert record(folds=[{"selected_on": "test"}])["selection_uses_test_data"] is True
    both = record(**{"engine.select_on": "test", "engine.normalise_on": "all"})
    assert both["leaks"] == ["selection", "normalisation"] and both["normalisation_uses_test_data"] is True
    assert record("sample-10fold")["leaks"] == ["subjects"]


@pytest.mark.parametrize("protocol, leaks", [("sample-10fold", ["subjects"]), ("frame-10fold", ["subjects", "clips"])])
def test_a_sample_level_outer_protocol_is_allowed_but_flagged(run_cli, tmp_path, protocol, leaks):
    result, summary = tune(run_cli, tmp_path, "--protocol", protocol, trials=1)
    assert result.code == 0, result.err
    assert summary["subject_independent"] is False
    assert summary["warnings"] and summary["warnings"][0].startswith(protocol)
    assert summary["leakage"]["leaks"] == leaks
    assert summary["leakage"]["selection_uses_test_data"] is False
    # The protocol's samples, as merbench run splits them: frame-10fold makes several frame pairs of each clip.
    assert (summary["n_samples"] > 32) == (protocol == "frame-10fold")


CONVMIXER_PATCH = "model.patch: {type: categorical, choices: [2, 64]}\n"
"""convmixer's option range takes any patch >= 1; its factory refuses one above the 28×28 input."""


def _assert_patch_refused_naming_the_space(run_cli, tmp_path) -> None:
    path = space_file(tmp_path, CONVMIXER_PATCH)
    result, _ = tune(run_cli, tmp_path, model="convmixer", space=path)
    message = " ".join(result.err.split())
    assert result.code == 2, result.err
    assert f"--space {path}: model.patch=64: must be between 1 and the input size 28" in message
    assert not (tmp_path / "trials.sqlite").exists()


def test_a_value_the_model_refuses_is_found_before_any_data_is_read(run_cli, tmp_path, monkeypatch):
    _no_loading(monkeypatch)
    _assert_patch_refused_naming_the_space(run_cli, tmp_path)


def test_a_model_set_value_the_model_refuses_is_found_before_any_data_is_read(run_cli, tmp_path, monkeypatch):
    _no_loading(monkeypatch)
    result, _ = tune(run_cli, tmp_path, "--set", "model.patch=64", model="convmixer")
    assert result.code == 2 and "model.patch=64: must be between 1 and the input size 28" in result.err


def test_a_value_the_model_refuses_is_found_after_preprocessing_when_the_input_is_known_only_then(
        run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "chain_output_shape", lambda chain: None)

    def no_trials(*args, **kwargs):
        raise AssertionError("a trial ran before the space was checked against the model")

    monkeypatch.setattr(tuning, "tune_fold", no_trials)
    _assert_patch_refused_naming_the_space(run_cli, tmp_path)


def test_a_space_may_not_search_an_option_fixed_with_set(run_cli, tmp_path):
    result, _ = tune(run_cli, tmp_path, "--set", "model.dropout=0.3")
    assert result.code == 2
    assert "model.dropout: also set with --set/--config" in result.err


def test_a_space_may_not_search_the_epochs_fixed_with_the_epochs_flag(run_cli, tmp_path):
    """--epochs N would override every trial's engine.epochs while the summary reported the searched value."""
    space = space_file(tmp_path, "engine.epochs: {type: categorical, choices: [2, 3]}\n", "epochs.yaml")
    result, _ = tune(run_cli, tmp_path, "--epochs", "1", space=space)
    assert result.code == 2 and "engine.epochs: also set with --set/--config/--epochs" in result.err


@pytest.mark.parametrize("problem", ["missing", "folder", "empty"])
def test_space_file_that_cannot_be_read_is_one_error(run_cli, tmp_path, problem):
    path = {"missing": tmp_path / "nope.yaml", "folder": tmp_path, "empty": space_file(tmp_path, "")}[problem]
    result, _ = tune(run_cli, tmp_path, space=path)
    assert result.code == 2
    assert f"--space {path}" in result.err


def test_a_missing_space_names_the_built_in_spaces_from_any_folder(run_cli, tmp_path, monkeypatch):
    """From another working folder, `benchmarks/spaces/` names nothing: the hint gives the checkout's folder."""
    from merbench.tuning_space import BUILT_IN_SPACES

    monkeypatch.chdir(tmp_path)
    result, _ = tune(run_cli, tmp_path, space=Path("benchmarks/spaces/ststnet.yaml"))
    said = " ".join(result.err.split())
    assert result.code == 2 and f"the built-in spaces are in {BUILT_IN_SPACES} (" in said
    assert BUILT_IN_SPACES.is_absolute() and (BUILT_IN_SPACES / "ststnet.yaml").is_file() and "ststnet.yaml" in said


def test_storage_that_is_the_results_store_or_a_foreign_file_is_refused(run_cli, tmp_path, session_store):
    result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--trials", "1",
                     "--space", str(space_file(tmp_path)), "--storage", str(session_store), *TINY)
    assert result.code == 2 and "is the results store" in result.err
    foreign = tmp_path / "other.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE runs (id TEXT)")
    text = tmp_path / "notes.txt"
    text.write_text("my notes")
    for path, message in ((foreign, "SQLite file of another program"), (text, "is not an SQLite file")):
        result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--trials", "1",
                         "--space", str(space_file(tmp_path)), "--storage", str(path), *TINY)
        assert result.code == 2 and message in result.err, result.err
    assert text.read_text() == "my notes"


def test_a_second_tune_of_the_same_options_is_refused_while_one_runs_and_others_share_the_file(run_cli, tmp_path):
    storage = tmp_path / "trials.sqlite"
    first, summary = tune(run_cli, tmp_path, trials=1)
    assert first.code == 0, first.err
    key = summary["search"]["key"]
    with tuning.storage_lock(storage, study=key):  # as the first tune holds it while it runs
        same, _ = tune(run_cli, tmp_path, trials=1)
        other, other_summary = tune(run_cli, tmp_path, trials=1, model="offapexnet")
    assert same.code == 2
    assert "another merbench tune of the same options, dataset and space is using" in " ".join(same.err.split())
    assert other.code == 0, other.err  # a tune of another study runs beside it, on the same file
    assert other_summary["search"]["storage"] == str(storage) and other_summary["search"]["key"] != key
    assert not list(tmp_path.glob("trials.sqlite*.lock")), "each lock file goes with the tune that held it"


def test_a_lock_file_removed_under_a_waiting_tune_is_not_trusted(tmp_path, monkeypatch):
    """A tune that opened the lock file just before the previous tune removed it locks a file no longer at the path:
    it must take the new file, so that a third tune cannot lock beside it."""
    storage = tmp_path / "trials.sqlite"
    lock_path = tmp_path / "trials.sqlite.lock"
    opened = []
    real_open = open

    def open_then_lose_the_race(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        if path == lock_path and not opened:
            opened.append(handle)
            lock_path.unlink()  # the previous tune finished between this open and the lock
        return handle

    monkeypatch.setattr("builtins.open", open_then_lose_the_race)
    with tuning.storage_lock(storage):
        assert lock_path.exists() and opened, "the tune re-opened the lock file at its path"
        monkeypatch.setattr("builtins.open", real_open)
        with pytest.raises(UsageError, match="another merbench tune of the same options"):
            with tuning.storage_lock(storage):
                pass
    assert not lock_path.exists()


@pytest.mark.parametrize("flag, value, expected", [
    ("--trials", "0", "--trials 0: must be 1 to 100000"),
    ("--inner-folds", "1", "--inner-folds 1: must be at least 2"),
    ("--inner-folds", "5", "--inner-folds 5: outer fold 1 has 4 training subjects"),
    ("--workers", "0", "--workers 0: must be at least 1"),
])
def test_impossible_counts_are_refused(run_cli, tmp_path, flag, value, expected):
    result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--trials", "1", "--space", str(space_file(tmp_path)), "--storage", str(tmp_path / "t.sqlite"),
                     *TINY, flag, value)
    assert result.code == 2
    assert expected in result.err


def test_parallel_trial_threads_complete_every_trial(run_cli, tmp_path):
    result, summary = tune(run_cli, tmp_path, "--workers", "2", trials=3)
    assert result.code == 0, result.err
    assert [sum(f["trial_counts"].values()) for f in summary["folds"]] == [3, 3]
    assert summary["search"]["workers"] == 2


def test_parallel_trials_score_one_configuration_the_same_every_time(run_cli, tmp_path):
    """Trial threads shared torch's random generator (model initialisation, dropout), so with --workers 2 one
    configuration scored differently from trial to trial, and the selection could follow a lucky race."""
    space = space_file(tmp_path, "model.batchnorm: {type: categorical, choices: [true, false]}\n")
    result, summary = tune(run_cli, tmp_path, "--workers", "2", "--set", "engine.epochs=4", "model.dropout=0.5",
                           space=space, trials=8)
    assert result.code == 0, result.err
    for fold in summary["folds"]:
        scores: dict[str, set] = {}
        for trial in fold["trials"]:
            if trial["state"] == "complete":
                scores.setdefault(json.dumps(trial["params"]), set()).add(tuple(trial["inner_uf1"]))
        assert scores and all(len(seen) == 1 for seen in scores.values()), (fold["fold"], scores)


def test_every_built_in_model_has_a_valid_search_space():
    from merbench.registry import get_registry
    from merbench.tuning import TuneRequest, prepare

    registry = get_registry()
    spaces = {path.stem: path for path in (REPO / "benchmarks" / "spaces").glob("*.yaml")}
    for model in ("convmixer", "ststnet", "offapexnet", "dual-inception", "lbptop-svm", "timm:resnet18"):
        name = model.partition(":")[0]
        assert name in spaces, f"no benchmarks/spaces/{name}.yaml"
        for profile in ("quick", "default"):
            _, space = prepare(TuneRequest(model=model, dataset="synthetic", space=spaces[name], trials=1,
                                           profile=profile), registry)
            assert space.params


def test_the_runtime_guard_refuses_inner_folds_that_share_a_subject(run_cli, tmp_path, monkeypatch):
    honest = tuning.nested_split

    def overlapping(labels, subjects, outer, n_inner, seed):
        positions, inner = honest(labels, subjects, outer, n_inner, seed)
        first = inner[0]
        return positions, [tuning.Fold(0, first.train, np.concatenate([first.test, first.train[:1]])), *inner[1:]]

    import numpy as np

    monkeypatch.setattr(tuning, "nested_split", overlapping)
    result, _ = tune(run_cli, tmp_path)
    assert result.code == 1
    assert "inner fold 1: a sample or subject is in both its training and test parts" in result.err


def test_trials_whose_preprocessing_keeps_other_clips_are_refused(run_cli, tmp_path, monkeypatch):
    import dataclasses

    import merbench.preprocess as preprocess

    real = preprocess.preprocess_dataset
    calls = []

    def drops_a_clip_the_second_time(dataset, chain, **kwargs):
        result = real(dataset, chain, **kwargs)
        calls.append(chain.names)
        if len(calls) == 1:
            return result
        kept = dataclasses.replace(dataset, samples=dataset.samples[1:])
        return dataclasses.replace(result, inputs=result.inputs[1:], dataset=kept)

    monkeypatch.setattr(preprocess, "preprocess_dataset", drops_a_clip_the_second_time)
    space = space_file(tmp_path, "flow.size: {type: categorical, choices: [20, 24]}")  # both other than the base's 28
    result, _ = tune(run_cli, tmp_path, space=space)
    assert result.code == 2
    assert "kept other clips than the first preprocessing did" in result.err


def test_storage_optuna_cannot_use_is_one_error(run_cli, tmp_path):
    from merbench.tuning_storage import OPTUNA_TABLES

    broken = tmp_path / "broken.sqlite"
    with contextlib.closing(sqlite3.connect(broken)) as db:  # Optuna's table names, not its tables
        for table in OPTUNA_TABLES:
            db.execute(f"CREATE TABLE {table} (note TEXT)")
    result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--trials", "1", "--space", str(space_file(tmp_path)), "--storage", str(broken), *TINY)
    assert result.code == 2
    assert f"--storage {broken}: Optuna cannot use this file" in " ".join(result.err.split())
    assert "Traceback" not in result.err


def test_storage_in_a_missing_folder_or_a_folder_is_refused(run_cli, tmp_path):
    for path, message in ((tmp_path / "no" / "t.sqlite", "does not exist"), (tmp_path, "is a folder")):
        result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                         "--trials", "1", "--space", str(space_file(tmp_path)), "--storage", str(path), *TINY)
        assert result.code == 2 and message in result.err, result.err


def test_a_storage_failure_during_the_search_is_one_error(run_cli, tmp_path, monkeypatch):
    import optuna

    def fails(*args):
        raise optuna.exceptions.StorageInternalError("database or disk is full")

    monkeypatch.setattr(tuning, "tune_fold", fails)
    result, _ = tune(run_cli, tmp_path)
    assert result.code == 1
    assert "failed (database or disk is full); the trials finished before are kept" in " ".join(result.err.split())


def test_a_killed_tune_whose_first_trial_never_finished_says_it_will_be_redone(run_cli, tmp_path, monkeypatch):
    """Before, the note that interrupted trials will be redone was only said beside reused ones."""
    made = tuning.make_objective
    kill = [True]

    def killed_first(ctx, optuna, outer, positions, inner):
        objective = made(ctx, optuna, outer, positions, inner)

        def wrapped(trial):
            if kill[0]:
                raise SystemExit(9)  # leaves the trial RUNNING in the storage, as kill -9 does
            return objective(trial)

        return wrapped

    monkeypatch.setattr(tuning, "make_objective", killed_first)
    assert tune(run_cli, tmp_path, trials=1)[0].code == 9
    kill[0] = False
    resumed, _ = tune(run_cli, tmp_path, trials=1, quiet=False)
    assert resumed.code == 0, resumed.err
    assert ("Outer fold 1: no trial of the stored study had finished; its 1 interrupted trial will be redone"
            in " ".join(resumed.err.split()))


def test_a_trial_left_running_by_a_killed_tune_is_redone(run_cli, tmp_path, monkeypatch):
    made = tuning.make_objective
    calls: list[tuple[int, int]] = []
    kill = [True]

    def counting(ctx, optuna, outer, positions, inner):
        objective = made(ctx, optuna, outer, positions, inner)

        def wrapped(trial):
            calls.append((outer.index, trial.number))
            if kill[0] and len(calls) == 2:
                raise SystemExit(9)  # leaves the trial RUNNING in the storage, as kill -9 does
            return objective(trial)

        return wrapped

    monkeypatch.setattr(tuning, "make_objective", counting)
    assert tune(run_cli, tmp_path, trials=3)[0].code == 9
    states = sqlite3.connect(tmp_path / "trials.sqlite").execute("SELECT number, state FROM trials").fetchall()
    assert sorted(states) == [(0, "COMPLETE"), (1, "RUNNING")]
    kill[0] = False
    calls.clear()
    resumed, summary = tune(run_cli, tmp_path, trials=3, quiet=False)
    assert resumed.code == 0, resumed.err
    assert [c for c in calls if c[0] == 0] == [(0, 2), (0, 3)]
    assert "1 interrupted trial will be redone" in resumed.err
    assert re.search(r"outer UF1 \d+\.\d %", resumed.err), "progress shows UF1 in % as every table does"
    assert [t["optuna_number"] for t in summary["folds"][0]["trials"]] == [0, 2, 3]
    # With --workers 1 the resumed tune is the uninterrupted one: the same trials, the same scores, the same choice.
    uninterrupted = tmp_path / "uninterrupted"
    uninterrupted.mkdir()
    whole, expected = tune(run_cli, uninterrupted, trials=3)
    assert whole.code == 0, whole.err
    for got, want in zip(summary["folds"], expected["folds"]):
        assert [t["params"] for t in got["trials"]] == [t["params"] for t in want["trials"]]
        assert [t["value"] for t in got["trials"]] == [t["value"] for t in want["trials"]]
        assert ([t["number"] for t in got["trials"]], got["selected_trial"]) == (
            [t["number"] for t in want["trials"]], want["selected_trial"]), "the same trial numbers and choice"
        assert got["selected"] == want["selected"]
    assert summary["pooled"] == expected["pooled"]


def test_values_refused_only_in_combination_fail_their_trial_and_the_search_goes_on(run_cli, tmp_path, monkeypatch):
    """Each bound is checked before the search; values the model refuses only together (a model.patch larger than a
    small flow.size) are a UsageError inside a trial: that trial fails, named, and the tune completes."""
    import merbench.folds.job as job
    from merbench.errors import UsageError

    original, calls = job.train_fold, []

    def refuses_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise UsageError("model.patch=8: must be in [1, 4] for flow.size=4")
        return original(*args, **kwargs)

    monkeypatch.setattr(job, "train_fold", refuses_first)
    result, summary = tune(run_cli, tmp_path, trials=2)
    assert result.code == 0, result.err
    said = " ".join(result.err.split())
    assert "trial 0 failed and is left out of the selection: model.patch=8: must be in [1, 4] for flow.size=4" in said
    assert summary["folds"][0]["trial_counts"]["failed"] == 1


def test_ctrl_c_during_a_trial_storage_write_waits_for_the_write_then_interrupts(run_cli, tmp_path, monkeypatch):
    """Optuna writes the interrupted trial's state through another connection: a Ctrl-C that cut a storage write
    short (SQLite's lock still held) made that write wait 30 s and end in Optuna's own error, exit 1. The signal
    is held until the write ends, then stops the tune as any Ctrl-C does, and the tune resumes."""
    import os
    import signal

    import optuna

    reported = optuna.trial.Trial.report
    written: list[int] = []

    def interrupted_while_writing(self, value, step):
        if not written:
            os.kill(os.getpid(), signal.SIGINT)  # arrives while the value is being written
        reported(self, value, step)
        written.append(step)

    monkeypatch.setattr(optuna.trial.Trial, "report", interrupted_while_writing)
    stopped, _ = tune(run_cli, tmp_path, trials=2)
    assert stopped.code == 130, stopped.err
    assert "run the same command again" in stopped.err and "Traceback" not in stopped.err
    assert written == [0], "the write in progress finished, and nothing after the interruption ran"
    with sqlite3.connect(tmp_path / "trials.sqlite") as db:
        assert db.execute("SELECT count(*) FROM trial_intermediate_values").fetchone()[0] == 1
    monkeypatch.setattr(optuna.trial.Trial, "report", reported)
    resumed, summary = tune(run_cli, tmp_path, "--resume", trials=2)
    assert resumed.code == 0, resumed.err
    assert all(sum(fold["trial_counts"].values()) == 2 for fold in summary["folds"])


def test_a_damaged_trials_storage_is_named_as_damaged_and_an_empty_file_is_a_new_one(tmp_path):
    """A copy cut short keeps the SQLite header: it holds the user's trials and is called damaged, not "not an SQLite
    file"; an empty file (``touch tuning.sqlite``) is what SQLite takes as a new database."""
    import os

    from merbench.tuning_storage import check_storage

    damaged = tmp_path / "trials.sqlite"
    with contextlib.closing(sqlite3.connect(damaged)) as db:
        db.execute("CREATE TABLE studies (note TEXT)")
        db.execute("CREATE TABLE filler (text TEXT)")
        db.executemany("INSERT INTO filler VALUES (?)", [("x" * 200,)] * 2000)
        db.commit()
    os.truncate(damaged, 50_000)
    with pytest.raises(UsageError) as refused:
        check_storage(damaged, given=True)
    assert "is an SQLite file that cannot be read (database disk image is malformed); it may be damaged" in str(
        refused.value)
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    assert check_storage(empty, given=True) == empty


def test_a_trials_storage_missing_one_of_optunas_tables_is_refused_before_a_trial(run_cli, tmp_path):
    """With its `trials` table dropped a storage was used: the tune printed Optuna's warning at every step, exit 0."""
    import optuna

    from merbench.tuning_storage import sqlite_url

    path = tmp_path / "trials.sqlite"
    optuna.create_study(storage=sqlite_url(path), study_name="kept")
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("DROP TABLE trials")
        db.commit()
    before = path.read_bytes()
    result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--trials", "1",
                     "--space", str(space_file(tmp_path)), "--storage", str(path), *TINY)
    assert result.code == 2, result.err
    assert f"--storage {path}: is damaged (its trials table is missing)" in " ".join(result.err.split())
    assert path.read_bytes() == before and "Trial" not in result.out


def test_a_trials_storage_another_program_holds_locked_is_named_as_in_use_not_damaged(tmp_path):
    from merbench.tuning_storage import check_storage

    storage = tmp_path / "trials.sqlite"
    holder = sqlite3.connect(storage, isolation_level=None)
    holder.execute("CREATE TABLE studies (note TEXT)")
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write
    try:
        with pytest.raises(UsageError) as refused:
            check_storage(storage, given=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert f"--storage {storage}: is in use by another program (SQLite: database is locked)" in str(refused.value)
    assert "damaged" not in str(refused.value)


def test_two_tunes_of_different_models_at_once_share_a_new_storage(tmp_path):
    """Started together on a file that does not exist yet: both make it through Optuna's tables and finish, each
    with its own trials (before, the second was refused: one tune per storage file)."""
    import os
    import subprocess

    storage = tmp_path / "trials.sqlite"
    env = {**os.environ, "MERBENCH_STORE": str(tmp_path / "results.sqlite"), "MERBENCH_CACHE": str(tmp_path / "cache")}
    space = space_file(tmp_path)
    commands = [[sys.executable, "-m", "merbench", "tune", "--model", model, "--dataset", "synthetic", "--profile",
                 "quick", "--quiet", "--trials", "1", "--space", str(space), "--storage", str(storage), "--json",
                 str(tmp_path / f"{model}.json"), *TINY] for model in ("ststnet", "offapexnet")]
    running = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for command in commands]
    for process in running:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    keys = {json.loads((tmp_path / f"{model}.json").read_text())["search"]["key"] for model in ("ststnet", "offapexnet")}
    assert len(keys) == 2
    with sqlite3.connect(storage) as db:
        names = [row[0] for row in db.execute("SELECT study_name FROM studies")]
    assert {name.split()[0] for name in names} == {"ststnet", "offapexnet"}


def test_the_summary_names_the_data_it_tuned_on_as_a_run_does(run_cli, tmp_path):
    """A tune stores no run, so its summary is the only record of its inputs: the resolved flow method (not
    'auto'), the SHA-256 of the inputs, the dataset's summary and the plugins' versions, as a run of the same data."""
    result, summary = tune(run_cli, tmp_path, trials=1)
    assert result.code == 0, result.err
    target = tmp_path / "run.json"
    run = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--no-store",
                  "--json", str(target), *TINY)
    assert run.code == 0, run.err
    recorded = json.loads(target.read_text())
    assert summary["preprocess"]["inputs_key"] == recorded["preprocess"]["inputs_key"]
    assert summary["preprocess"]["flow_method"] == recorded["preprocess"]["flow_method"] != "auto"
    generated = lambda summary: {key: value for key, value in summary.items() if key != "generated_now"}  # noqa: E731
    assert generated(summary["dataset_summary"]) == generated(recorded["dataset_summary"])
    assert summary["environment"]["plugins"] == recorded["environment"]["plugins"]
    assert {fold["inputs_key"] for fold in summary["folds"]} == {recorded["preprocess"]["inputs_key"]}


def test_each_fold_names_the_inputs_its_refit_trained_on_when_the_space_searches_preprocessing(run_cli, tmp_path):
    """The summary named the base configuration's inputs only, while folds refit on `flow.subtract_median=false`."""
    space = space_file(tmp_path, "flow.subtract_median: {type: categorical, choices: [true, false]}\n")
    result, summary = tune(run_cli, tmp_path, space=space, trials=4)
    assert result.code == 0, result.err
    keys = {}
    for fold in summary["folds"]:
        keys.setdefault(fold["selected"]["flow.subtract_median"], set()).add(fold["inputs_key"])
    assert all(len(found) == 1 for found in keys.values()), keys
    if len(keys) == 2:  # both settings selected somewhere: two inputs
        assert keys[True] != keys[False]
    base = summary["preprocess"]["inputs_key"]
    assert keys.get(True, {base}) == {base}, "the default (subtract_median: true) is the base configuration's inputs"


def test_the_advice_to_narrow_the_space_follows_what_the_failures_were():
    """A lower learning rate only where training diverged: a model plugin's fault is not the learning rate's."""
    from merbench.tuning import narrowing_example

    diverged = "inner fold 1, epoch 2, step 1: the training loss became nan; training diverged. Lower the learning rate"
    plugin = "inner fold 1: training or predicting with model plugin 'rev7' raised SystemExit(1)"
    assert narrowing_example([diverged, diverged]) == "e.g. a lower engine.lr bound"
    assert "engine.lr" not in narrowing_example([plugin]) and "engine.lr" not in narrowing_example([diverged, plugin])
    assert narrowing_example([plugin]) == "leave out the values the failures name, or fix what the first one says"
