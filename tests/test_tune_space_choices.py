"""Search-space choices that the run resolves to one setting are refused before anything runs: the search would
weigh that setting twice and split its stability figure between two names of it."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

from merbench.errors import UsageError  # noqa: E402
from merbench.registry import get_registry  # noqa: E402
from merbench.tuning import TuneRequest, prepare  # noqa: E402


@pytest.mark.parametrize("model, text, expected", [
    ("lbptop-svm", "model.kernel: {type: categorical, choices: [rbf, linear, RBF]}",
     "model.kernel: choices 'rbf' and 'RBF' are one setting of the option; list each once"),
    ("ststnet", "engine.class_weighting: {type: categorical, choices: [Balanced, none, balanced]}",
     "engine.class_weighting: choices 'Balanced' and 'balanced' are one setting of the option; list each once"),
])
def test_choices_that_differ_only_in_letter_case_are_one_setting(tmp_path, model, text, expected):
    space = tmp_path / "space.yaml"
    space.write_text(text + "\n")
    with pytest.raises(UsageError) as refused:
        prepare(TuneRequest(model=model, dataset="synthetic", space=space, trials=1, profile="quick"), get_registry())
    assert str(refused.value) == f"--space {space}: {expected}"


def test_choices_the_run_keeps_apart_are_searched(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("model.kernel: {type: categorical, choices: [rbf, linear]}\n")
    _, searched = prepare(TuneRequest(model="lbptop-svm", dataset="synthetic", space=space, trials=1, profile="quick"),
                          get_registry())
    assert searched.params[0].choices == ("rbf", "linear")
