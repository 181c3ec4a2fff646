"""A positional argument written as an option (``datasets check --dataset casme2``, ``info --model convmixer``): the
error suggested the closest option (``--set``, ``--help``), which led to another error; it now shows the command
with the name as its first argument."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("given, fixed", [
    (("datasets", "check", "--dataset", "casme2", "--root", "DIR"), "merbench datasets check casme2 --root DIR"),
    (("datasets", "check", "--root", "DIR", "--dataset", "casme2"), "merbench datasets check casme2 --root DIR"),
    (("--quiet", "datasets", "check", "--dataset", "casme2", "--root", "DIR"),
     "merbench --quiet datasets check casme2 --root DIR"),
    (("info", "--model", "convmixer"), "merbench info convmixer"),
])
def test_a_positional_given_as_an_option_is_shown_as_the_first_argument(run_cli, given, fixed):
    result = run_cli(*given)
    said = " ".join(result.err.split())
    word = "model" if "--model" in given else "dataset"
    assert result.code == 2 and f"unrecognized arguments: --{word}; give the {word} as the first argument: {fixed}" \
        in said, said
    assert "did you mean" not in said


@pytest.mark.parametrize("given", [("info", "--dataset", "casme2"), ("datasets", "check", "casme2", "--model", "x")])
def test_an_option_the_command_lacks_is_not_matched_to_an_unrelated_one(run_cli, given):
    result = run_cli(*given)
    assert result.code == 2 and "unrecognized arguments" in result.err
    assert "did you mean --help" not in result.err and "did you mean --set" not in result.err, result.err


def test_the_shown_command_is_quoted_for_the_shell(run_cli):
    result = run_cli("datasets", "check", "--dataset", "casme2", "--root", "my data")
    assert "give the dataset as the first argument: merbench datasets check casme2 --root 'my data'" in \
        " ".join(result.err.split())


@pytest.mark.parametrize("given, fixed", [
    (("datasets", "check", "--dataset=casme2", "--root", "DIR"), "merbench datasets check casme2 --root DIR"),
    (("info", "--model=convmixer"), "merbench info convmixer"),
])
def test_a_positional_given_as_option_equals_value_is_shown_as_the_first_argument(run_cli, given, fixed):
    """``--dataset=casme2`` leaves the positional missing (argparse's "required" error, before any unknown option):
    the error still shows the command that gives it."""
    result = run_cli(*given)
    said = " ".join(result.err.split())
    word = "model" if "info" in given else "dataset"
    assert result.code == 2, said
    assert f"the following arguments are required: {word.upper()}; give the {word} as the first argument: {fixed}" \
        in said, said


def test_a_missing_positional_without_such_an_option_keeps_argparses_message(run_cli):
    result = run_cli("datasets", "check", "--root", "DIR")
    assert result.code == 2
    assert result.err.rstrip().endswith("the following arguments are required: DATASET")


@pytest.mark.parametrize("given, fixed", [
    (("info", "convmixer", "--model=ststnet"), "give one model, as the first argument: merbench info convmixer"),
    (("datasets", "check", "manifest", "--dataset=samm"),
     "give one dataset, as the first argument: merbench datasets check manifest"),
    (("datasets", "check", "--dataset", "manifest", "--dataset", "samm"),
     "give one dataset, as the first argument: merbench datasets check manifest"),
])
def test_a_positional_given_twice_is_answered_with_one(run_cli, given, fixed):
    """The flag beside the positional (or given twice) is dropped from the shown command, which then parses."""
    result = run_cli(*given)
    said = " ".join(result.err.split())
    assert result.code == 2 and fixed in said, said
    shown = said.split("first argument: ", 1)[1].split(";")[0].split()
    from merbench.cli import build_parser

    parsed, left = build_parser().parse_known_args(shown[1:])
    assert left == [] and shown[-1] in vars(parsed).values(), (shown, left)


def test_a_mistyped_option_beside_the_positional_flag_keeps_its_hint_and_is_corrected(run_cli):
    result = run_cli("datasets", "check", "--dataset", "manifest", "--rot", "ds")
    said = " ".join(result.err.split())
    assert result.code == 2
    assert "give the dataset as the first argument: merbench datasets check manifest --root ds" in said, said
    assert "did you mean --root (for --rot)?" in said, said
