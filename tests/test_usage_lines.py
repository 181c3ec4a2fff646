"""The usage lines of ``run``, ``leakage`` and ``tune`` say that ``--model`` and ``--dataset`` are needed unless
``--config`` names them (argparse's own showed both as optional), and fit 60 columns."""

from __future__ import annotations

import re

import pytest

FORMS = {
    "run": ["merbench run --model MODEL --dataset DATASET [options]", "merbench run --config FILE [options]",
            "merbench run --resume RUN_ID [--force]"],
    "leakage": ["merbench leakage --model MODEL --dataset DATASET [options]",
                "merbench leakage --config FILE [options]"],
    "tune": ["merbench tune --model MODEL --dataset DATASET --space FILE.yaml --trials N [options]",
             "merbench tune --config FILE --space FILE.yaml --trials N [options]"],
}


def usage_forms(text: str) -> list[str]:
    """The usage block of ``--help`` or of an error, one entry per form, its wrapped lines joined."""
    block = text[text.index("usage:"):].split("\n\n")[0]
    forms: list[str] = []
    for line in block.removeprefix("usage:").splitlines():
        if ": error: " in line:
            break
        if re.match(r"\s*merbench ", line):
            forms.append(line.strip())
        elif line.strip():
            forms[-1] += " " + line.strip()
    return forms


@pytest.mark.parametrize("command", sorted(FORMS))
def test_the_usage_names_model_and_dataset_as_needed_and_the_config_alternative(run_cli, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", "60")
    result = run_cli(command, "--help")
    assert result.code == 0
    assert usage_forms(result.out) == FORMS[command]
    assert max(len(line) for line in result.out.split("\n\n")[0].splitlines()) <= 60
    assert "needed unless --config names it" in " ".join(result.out.split())


def test_a_usage_error_shows_the_same_forms(run_cli):
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--epoch", "3")
    assert result.code == 2 and "--epoch" in result.err
    assert usage_forms(result.err) == FORMS["run"]
