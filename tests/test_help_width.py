"""Every ``--help`` fits an 80-column terminal without breaking a word, and its examples can still be copied: a long
example keeps its comment on a line above it and continues with `` \\`` at a space (``HelpFormatter``)."""

from __future__ import annotations

import re
import textwrap

import pytest

from merbench.commands import example_lines

COMMANDS = ["", "run", "grid", "tune", "leakage", "preprocess", "list", "datasets", "datasets check", "info", "plugins",
            "audit", "significance", "runs", "show", "compare", "report", "regress", "delete", "cache", "cache info",
            "cache clear"]


def help_text(run_cli, monkeypatch, command: str, columns: int) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = run_cli(*command.split(), "--help")
    assert result.code == 0, result.err
    return result.out


def commands_in(text: str) -> list[str]:
    """The example commands of a help text, each on one line (continuations joined, comments dropped)."""
    joined = re.sub(r" \\\n\s+", " ", text.split("examples:", 1)[1]) if "examples:" in text else ""
    return [" ".join(line.split("  # ")[0].split()) for line in joined.splitlines() if line.strip().startswith("merbench")]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_80_columns_and_keeps_every_example_whole(command, run_cli, monkeypatch):
    narrow = help_text(run_cli, monkeypatch, command, 80)
    long_lines = [line for line in narrow.splitlines() if len(line) > 80]
    assert not long_lines, long_lines
    assert commands_in(narrow) == commands_in(help_text(run_cli, monkeypatch, command, 200))


def test_a_long_example_keeps_options_with_their_values_and_its_comment_above():
    line = "  merbench grid --models a,b --datasets synthetic --profile quick --stored   # after an interruption"
    assert example_lines(line, 60) == ["  # after an interruption", "  merbench grid --models a,b --datasets synthetic \\",
                                       "      --profile quick --stored"]
    assert example_lines("  some table row that is not a command " + "x" * 60, 60)[0].endswith("x"), "kept as written"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_60_columns_too_continuation_lines_and_comments_included(command, run_cli, monkeypatch):
    """At 60 columns an example's continuation line (`--inner-folds 5 ...`, written with `\\` in the source), a
    comment moved above its command and a usage line of choices were cut by the terminal inside names."""
    narrow = help_text(run_cli, monkeypatch, command, 60)
    option_group = re.compile(r"\s+\[--[\w-]+ [A-Z=_]+ \[[A-Z=_]+ \.\.\.\]\]")  # one usage group argparse keeps whole
    long_lines = [line for line in narrow.splitlines() if len(line) > 60 and not option_group.fullmatch(line)]
    assert not long_lines, long_lines
    assert commands_in(narrow) == commands_in(help_text(run_cli, monkeypatch, command, 200))


def test_a_continuation_line_and_a_long_comment_are_fitted_too():
    line = "      --space benchmarks/spaces/convmixer.yaml --inner-folds 5 --json tuned.json"
    assert example_lines(line, 60) == ["      --space benchmarks/spaces/convmixer.yaml \\",
                                       "      --inner-folds 5 --json tuned.json"]
    commented = "  merbench run --config result.json  # run a recorded run's configuration again (docs/results.md)"
    assert example_lines(commented, 50) == ["  # run a recorded run's configuration again",
                                            "  # (docs/results.md)", "  merbench run --config result.json"]


@pytest.mark.parametrize("command", COMMANDS)
def test_prose_after_the_examples_is_wrapped_as_one_paragraph(command, run_cli, monkeypatch):
    """`leakage --help` listed its variants as `sample-10fold,` / `frame-10fold,` / `select_on=test ...`: each source
    line of a paragraph was wrapped on its own, leaving ragged short lines."""
    text = help_text(run_cli, monkeypatch, command, 80)
    after = text.split("examples:", 1)[1] if "examples:" in text else ""
    prose = "\n".join(line for line in after.splitlines() if not line.startswith(" "))
    for paragraph in (part for part in prose.split("\n\n") if part.strip()):
        lines = paragraph.strip("\n").splitlines()
        wrapped = textwrap.wrap(" ".join(lines), 78, break_long_words=False, break_on_hyphens=False)  # argparse: 80 - 2
        assert lines == wrapped, lines


@pytest.mark.parametrize("columns", [60, 80])
@pytest.mark.parametrize("command", COMMANDS)
def test_an_options_help_is_wrapped_at_spaces_never_inside_a_hyphenated_name(command, columns, run_cli, monkeypatch):
    """argparse wrapped an option's help at hyphens too: `cache clear --help` broke "model-facts" into "model-" and
    "facts" (and option names such as --parallel-folds could split the same way)."""
    lines = help_text(run_cli, monkeypatch, command, columns).splitlines()
    broken = [f"{line.strip()} / {after.strip()}" for line, after in zip(lines, lines[1:])
              if re.search(r"[A-Za-z]-$", line) and re.match(r"\s*[A-Za-z]", after)]
    assert not broken, broken
