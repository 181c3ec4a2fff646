"""Every ``merbench`` command shown as an example, in the README, in docs/ code blocks and in each
``--help``, is accepted by the command-line parser as it stands: an option renamed or removed
breaks the test until its examples are brought up to date."""

from __future__ import annotations

import contextlib
import functools
import io
import re
import shlex
from pathlib import Path

import pytest

from merbench.cli import build_parser, parse_args, _sub_parsers

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_ENDS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", "&>"}


def joined_lines(lines: list[str]) -> list[tuple[int, str]]:
    """``(first line number, text)`` of each shell line, continuation backslashes joined."""
    joined, number = [], 0
    while number < len(lines):
        first, text = number + 1, lines[number].rstrip()
        while text.endswith("\\") and number + 1 < len(lines):
            number += 1
            text = text[:-1].rstrip() + " " + lines[number].strip()
        joined.append((first, text))
        number += 1
    return joined


def synopsis_as_example(text: str) -> str:
    """A usage synopsis (``[--profile quick|default]``, ``[models|datasets]``) as one command it allows: the
    optional parts kept, each with its first alternative."""
    while re.search(r"\[[^\[\]]*\]", text):
        text = re.sub(r"\[([^\[\]]*)\]", r"\1", text)
    return re.sub(r"(\S+?)\|\S+", r"\1", text)


def merbench_commands(lines: list[str]) -> list[tuple[int, list[str]]]:
    """``(line number, arguments after 'merbench')`` of every merbench command on the shell ``lines``: several
    per line where ``&&``, ``;`` or a pipe join them, environment assignments and ``$`` prompts dropped,
    redirections and what a pipe feeds cut off. Commands elided with ``...`` are skipped."""
    found = []
    for number, text in joined_lines(lines):
        if "merbench " not in text or " ... " in f"{text} ":
            continue
        words = shlex.split(synopsis_as_example(text.lstrip("$ ")), comments=True)
        command: list[str] | None = None
        for word in [*words, ";"]:
            if word in SHELL_ENDS or word.startswith((">", "2>")):
                if command:
                    found.append((number, command))
                command = None
            elif command is not None:
                command.append(word)
            elif word == "merbench":
                command = []
    return found


def document_examples() -> list[tuple[str, list[str]]]:
    """Every merbench command in a fenced code block of the README and docs/, named ``FILE:LINE``."""
    examples = []
    for document in DOCUMENTS:
        lines = document.read_text(encoding="utf-8").splitlines()
        fences = [number for number, line in enumerate(lines) if line.lstrip().startswith("```")]
        for start, end in zip(fences[::2], fences[1::2]):
            for number, command in merbench_commands(lines[start + 1:end]):
                examples.append((f"{document.name}:{start + 1 + number}", command))
    return examples


def help_examples() -> list[tuple[str, list[str]]]:
    """Every merbench command in the examples of ``merbench --help`` and each sub-command's ``--help``."""
    return [(f"{child.prog} --help", command) for child in [parser(), *_sub_parsers(parser())]
            for _, command in merbench_commands((child.epilog or "").splitlines())]


@functools.cache
def parser():
    """One parser for every example (building it imports each command module)."""
    return build_parser()


def parse_error(arguments: list[str]) -> str | None:
    """What the parser says against ``arguments``, or None when it takes them."""
    messages = io.StringIO()
    try:
        with contextlib.redirect_stderr(messages), contextlib.redirect_stdout(io.StringIO()):
            parse_args(parser(), arguments)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            return messages.getvalue().strip().splitlines()[-1]
    return None


DOCUMENTED = document_examples()
IN_HELP = help_examples()


def test_the_examples_are_found():
    assert len(DOCUMENTED) > 80 and len(IN_HELP) > 80
    assert ("README.md", ["run", "--model", "convmixer", "--dataset", "synthetic"]) in \
        [(where.split(":")[0], command) for where, command in DOCUMENTED]


@pytest.mark.parametrize("where, command", DOCUMENTED + IN_HELP, ids=[where for where, _ in DOCUMENTED + IN_HELP])
def test_every_example_is_accepted_by_the_parser(where, command):
    assert parse_error(command) is None, f"{where}: merbench {shlex.join(command)}: {parse_error(command)}"


def test_a_renamed_option_in_an_example_is_caught():
    lines = ["```bash", "merbench run --model convmixer --dataset synthetic --epoch 3 | tail -3", "```"]
    (number, command), = merbench_commands(lines)
    assert number == 2 and command[-1] == "3"
    assert "--epoch" in parse_error(command)


def test_shell_around_the_commands_is_taken_apart():
    lines = ["MERBENCH_STORE=s.sqlite merbench runs --limit 3 > out.txt && \\",
             "  merbench show RUN_ID --json r.json  # a comment",
             "$ merbench list [models|datasets] | head",
             "merbench tune ... --resume",
             "merbench run --resume RUN_ID [--force [--debug]]"]
    assert merbench_commands(lines) == [(1, ["runs", "--limit", "3"]), (1, ["show", "RUN_ID", "--json", "r.json"]),
                                        (3, ["list", "models"]), (5, ["run", "--resume", "RUN_ID", "--force", "--debug"])]
