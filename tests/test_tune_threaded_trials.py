"""``merbench tune --workers N`` with a model that cannot go to worker processes warns that its trials share torch's
random generator (before, they fell back to threads without a word, and the same command could select other
configurations)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("optuna")

from test_plugin_dataset_and_plan_messages import PLUGIN  # noqa: E402  (registers lambda-net, a lambda-built model)

TINY = ["--set", "dataset.subjects=8", "dataset.clips_per_subject=4", "protocol.n_splits=2", "engine.epochs=1"]


def _tune(run_cli, tmp_path, model: str, workers: str):
    space = tmp_path / "space.yaml"
    space.write_text("engine.lr: {type: float, low: 0.001, high: 0.02, log: true}\n")
    target = tmp_path / f"{model}-{workers}.json"
    result = run_cli("tune", "--model", model, "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--trials", "2", "--inner-folds", "2", "--workers", workers, "--space", str(space),
                     "--storage", str(tmp_path / f"{model}-{workers}.sqlite"), "--json", str(target), *TINY)
    assert result.code == 0, result.out + result.err
    return " ".join(result.err.split()), json.loads(target.read_text())


def test_threaded_trials_of_a_model_that_cannot_go_to_workers_are_warned_and_recorded(install_plugin, run_cli,
                                                                                      tmp_path):
    install_plugin("merbench-mycorpus", "mycorpus", "merbench_mycorpus_plugin", PLUGIN)
    err, summary = _tune(run_cli, tmp_path, "lambda-net", "2")
    assert "cannot be sent to worker processes" in err and "use --workers 1 for repeatable trials" in err
    assert "'lambda-net'" in err
    assert any("share torch's random generator" in warning for warning in summary["warnings"])


def test_no_warning_for_a_model_that_goes_to_workers(run_cli, tmp_path):
    err, summary = _tune(run_cli, tmp_path, "ststnet", "2")
    assert "cannot be sent" not in err and not any("random generator" in w for w in summary["warnings"])
