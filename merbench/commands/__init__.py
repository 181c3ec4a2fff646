"""Sub-commands of the ``merbench`` command line, one module each.

Every module in this package defines ``ORDER`` (its place in ``--help``) and
``register(commands)``, which adds its sub-parser and sets ``handler`` to a
function ``(args, out, err) -> exit code``. The CLI finds the modules itself, so
adding a command means adding a module here.
"""

from __future__ import annotations

KINDS = ("models", "datasets", "preprocessors", "protocols")

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


def flatten_sets(groups: list[list[str]]) -> list[str]:
    """Flatten the groups of ``--set KEY=VALUE ...`` (each ``--set`` may take several)."""
    return [item for group in groups for item in group]


def print_plugin_problems(err, registry) -> None:
    """One ``plugin problem:`` line per problem of ``registry`` on ``err`` (a Rich console), the plugin's text shown
    literally: Rich markup as written, control characters (an ESC, a line break) as ``\\xNN``."""
    from rich.text import Text

    from merbench.escaping import printable_line

    for problem in registry.problems:
        err.print(Text.assemble(("plugin problem:", "yellow"), " ", printable_line(problem)), highlight=False)
