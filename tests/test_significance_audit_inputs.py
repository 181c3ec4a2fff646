"""``merbench significance`` and ``merbench audit`` on odd inputs, and outputs that would replace a merbench result:
an empty argument, runs on other folds, a run with itself, a results store given as a file, and ``report --output``
over a run's result file."""

from __future__ import annotations

import json

import pytest

TINY = ("--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--set",
        "dataset.subjects=4", "protocol.n_splits=2")
"""The smallest run that makes folds: 4 subjects in 2 folds (6 clips each, or ``dataset.clips_per_subject``)."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Result files of two tiny runs with 3 clips per subject (``a`` and ``b``: a model option apart) and one with
    6 (``six``), all stored in ``store``."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("significance-audit-inputs")
    made = {"store": folder / "store.sqlite"}
    for name, extra in {"a": ("dataset.clips_per_subject=3",),
                        "b": ("dataset.clips_per_subject=3", "model.C=0.01"),
                        "six": ()}.items():
        made[name] = folder / f"{name}.json"
        assert main(["run", *TINY, *extra, "--store", str(made["store"]), "--json", str(made[name])]) == 0
    return made


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", [["significance", "", "{a}"], ["significance", "{a}", " "], ["audit", ""],
                                     ["audit", "{a}", ""]])
def test_an_empty_argument_is_refused_not_read_as_the_current_folder(command, runs, run_cli):
    """Before: `Path('')` became `.`, and the refusal said ".: cannot be read (Is a directory)"."""
    result = run_cli(*[part.format(a=runs["a"]) for part in command])
    assert result.code == 2 and "Is a directory" not in result.err and "Traceback" not in result.err
    assert "an empty" in result.err and ".:" not in result.err
