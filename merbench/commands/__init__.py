"""Sub-commands of the ``merbench`` command line, one module each.

Every module in this package defines ``ORDER`` (its place in ``--help``) and
``register(commands)``, which adds its sub-parser and sets ``handler`` to a
function ``(args, out, err) -> exit code``. The CLI finds the modules itself, so
adding a command means adding a module here.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Sequence

KINDS = ("models", "datasets", "preprocessors", "protocols")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` text for the terminal's width: prose lines of a description or epilog wrapped at word boundaries (a
    terminal would break them inside words); an example command too long for the width gets its ``# comment`` on
    a line above it and is continued with `` \\`` at a space, so that it can still be copied into a shell."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines: list[str] = []
        for line in text.splitlines():
            if not line.strip():
                lines.append(indent + line)
            elif not line.startswith((" ", "\t")):
                lines += textwrap.wrap(line, width, initial_indent=indent, subsequent_indent=indent,
                                       break_long_words=False, break_on_hyphens=False)
            else:
                lines += example_lines(indent + line, width)
        return "\n".join(lines)

    def _split_lines(self, text: str, width: int) -> list[str]:
        """An option's help, wrapped at spaces only: ``model-facts`` or ``--parallel-folds`` stays whole."""
        return textwrap.wrap(" ".join(text.split()), width, break_long_words=False, break_on_hyphens=False)


def example_lines(line: str, width: int) -> list[str]:
    """An indented example line fitted to ``width`` where it can be: its comment on a line of its own above it, and a
    command split at spaces with shell continuations (lines that are not commands are kept as written)."""
    if len(line) <= width:
        return [line]
    margin = line[:len(line) - len(line.lstrip())]
    command, hash_mark, comment = line.strip().partition("  # ")
    if not command.startswith(("merbench ", "python ", "pip ", "pytest", "-")):  # "-": a command's continuation line
        return [line]
    above = textwrap.wrap(comment.strip(), width, initial_indent=f"{margin}# ", subsequent_indent=f"{margin}# ",
                          break_long_words=False, break_on_hyphens=False) if hash_mark else []
    command = command.rstrip()
    continued = command.endswith("\\")
    words: list[str] = []
    for word in command.rstrip("\\").split():  # an option stays on one line with its value
        if words and words[-1].startswith("-") and " " not in words[-1] and not word.startswith("-"):
            words[-1] += " " + word
        else:
            words.append(word)
    rows, row = [], margin + words[0]
    indent = margin if command.startswith("-") else margin + "    "  # a continuation line is indented already
    for word in words[1:]:
        if len(row) + 1 + len(word) + 2 > width:
            rows.append(row + " \\")
            row = indent + word
        else:
            row += " " + word
    rows.append(row + (" \\" if continued else ""))
    return above + rows

EPILOG = """examples:
  merbench run --model convmixer --dataset synthetic
  merbench run --model convmixer --dataset synthetic --profile quick --json result.json
  merbench run --model convmixer --dataset synthetic --protocol sample-10fold --set model.depth=6
  merbench run --model ststnet --dataset casme2 --root /data/CASME2 --protocol loso
  merbench datasets check samm --root /data/SAMM
  merbench list models
  merbench info ststnet
  merbench plugins
  merbench runs
  merbench compare --dataset synthetic
  merbench grid --models convmixer,ststnet --datasets synthetic --protocols loso --seeds 3
  merbench audit result.json
"""


def output_file(text: str):
    """``--json FILE`` / ``--output FILE`` as a ``Path``; an empty value is refused, since ``Path("")`` would be the
    current folder, and so is a name ending in ``/``, which names a folder that ``Path`` would quietly turn into a
    file of that name (``sub/`` → ``sub``)."""
    import os
    from pathlib import Path

    if not text.strip():
        raise argparse.ArgumentTypeError("empty; give a file name, or - for standard output")
    if text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"'{text}' ends in '/', so it names a folder, not a file; give a file name "
                                         f"in it, e.g. {text}result.json")
    return Path(text)


def add_model_and_dataset(parser: argparse.ArgumentParser, usage: str) -> None:
    """``--model`` and ``--dataset``, which a command needs unless its ``--config`` names them (a YAML file's
    ``model:``/``dataset:``, or a result JSON), and the command's ``usage`` lines saying so: argparse's own would show
    both options as optional. ``usage`` is fitted to 60 columns by hand, ``%(prog)s`` for the command."""
    parser.usage = usage
    parser.add_argument("--model", help="model plugin name (see `merbench list models`); needed unless --config "
                        "names it")
    parser.add_argument("--dataset", help="dataset plugin name (see `merbench list datasets`); needed unless --config "
                        "names it")


def path_argument(what: str):
    """An argparse type for an option naming a folder or a file merbench reads (``--root``, ``--config``): the value
    as a ``Path`` (``~`` expanded); an empty value is refused, since ``Path("")`` would be the current folder.
    ``what`` ends the refusal: "give ``what``"."""
    from pathlib import Path

    def path(text: str) -> Path:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"empty; give {what}")
        return Path(text).expanduser()

    return path


dataset_folder = path_argument("the folder that holds your copy of the dataset, e.g. --root /data/CASME2")
"""``--root DIR`` as a ``Path`` (``path_argument``)."""


class GivenOnce(argparse.Action):
    """An option that takes one value and refuses a second (argparse keeps the last, dropping the first in silence:
    ``--root A --root B`` ran on B)."""

    def __call__(self, parser, namespace, values, option_string=None):
        earlier = getattr(namespace, self.dest, None)
        if earlier is not None and earlier != self.default:
            parser.error(f"{option_string} given twice ({earlier} and {values}); give it once")
        setattr(namespace, self.dest, values)

STORE_FILE = path_argument("a results store file, e.g. --store results.sqlite")
"""``--store PATH`` as a ``Path`` (``path_argument``)."""


def reusable_stored_run(store, config, registry, err):
    """The stored run ``--stored`` reuses for ``config`` (``merbench.stored_runs.reusable_result``), saying on
    ``err`` why one was not reused; ``None`` when there is none."""
    from rich.text import Text

    from merbench.escaping import printable
    from merbench.stored_runs import reusable_result

    return reusable_result(store, config, registry,
                           on_note=lambda note: err.print(Text(printable(f"Note: {note}")), highlight=False))


def flatten_sets(groups: list[list[str]]) -> list[str]:
    """Flatten the groups of ``--set KEY=VALUE ...`` (each ``--set`` may take several)."""
    return [item for group in groups for item in group]


def print_plugin_problems(err, registry, models: Sequence[str | None] = ()) -> None:
    """One ``plugin problem:`` line per problem of ``registry`` on ``err`` (a Rich console), the plugin's text shown
    literally: Rich markup as written, control characters (an ESC, a line break) as ``\\xNN``.

    ``models``: the models the command runs, in order. When no preprocessor
    makes the input of the first one that has such a problem, that problem is
    the command's error (before anything runs), said once, not here as well.
    """
    from rich.text import Text

    from merbench.escaping import printable_line

    known = set(registry.names("models"))
    said_by_the_error = next((problem for problem in (registry.input_problem(model) for model in models
                                                      if model in known) if problem), None)
    for problem in registry.problems:
        if said_by_the_error and problem.startswith(said_by_the_error):
            continue
        err.print(Text.assemble(("plugin problem:", "yellow"), " ", printable_line(problem)), highlight=False)


def ray_messages(err, quiet: bool):
    """How ``preflight`` says what Ray does before the first run starts (a local instance started, an autoscaler
    warning) for ``run``, ``regress`` and ``leakage``: progress messages on ``err`` (a Rich console); with
    ``--quiet``, warnings only."""
    from merbench.progress import is_notice, message_markup

    def say(text: str) -> None:
        if not quiet or is_notice(text) or text.startswith("Warning:"):
            err.print(message_markup(text), highlight=False)

    return say
