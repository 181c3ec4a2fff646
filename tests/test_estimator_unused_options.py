"""Training options a model fitted in one go ignores (lbptop-svm: no epochs, batches, learning rate or loss) are said
to have no effect, while it runs and in its result, instead of passing for settings that changed something."""

from __future__ import annotations

import json

TINY = ["dataset.subjects=4", "dataset.clips_per_subject=3", "protocol.n_splits=2"]
SAID = "have no effect on lbptop-svm: it is fitted in one go"


def _run(run_cli, tmp_path, model, *sets):
    target = tmp_path / f"{model}.json"
    result = run_cli("run", "--model", model, "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--json", str(target), "--set", *TINY, *sets)
    assert result.code == 0, result.out + result.err
    return " ".join(result.err.split()), json.loads(target.read_text())


def test_ignored_training_options_are_named_while_it_runs_and_in_the_result(run_cli, tmp_path):
    said, result = _run(run_cli, tmp_path, "lbptop-svm", "engine.epochs=1", "engine.lr=5",
                        "engine.class_weighting=balanced")
    expected = f"engine.epochs=1, engine.lr=5, engine.class_weighting=balanced {SAID}"
    assert expected in said
    assert any(expected in warning for warning in result["warnings"])


def test_nothing_is_said_without_them_or_for_a_network(run_cli, tmp_path):
    said, _ = _run(run_cli, tmp_path, "lbptop-svm")
    assert "no effect on" not in said
    said, _ = _run(run_cli, tmp_path, "ststnet", "engine.epochs=1", "engine.lr=0.01")
    assert "no effect on" not in said
