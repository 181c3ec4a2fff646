"""The ``merbench`` command line (contract: DESIGN.md section 2).

Sub-commands live in ``merbench.commands``, one module each. Errors a user can
act on (``MerbenchError``) become one line on stderr and exit code 2 (1 for a
run that failed) here, and only here; ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from typing import Sequence

from rich.console import Console
from rich.markup import escape

from merbench import __version__, commands as command_package
from merbench.commands import EPILOG
from merbench.errors import MerbenchError


def _command_modules() -> list:
    modules = [
        importlib.import_module(f"{command_package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(command_package.__path__)
    ]
    return sorted(modules, key=lambda module: (module.ORDER, module.__name__))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command of ``merbench.commands``."""
    parser = argparse.ArgumentParser(
        prog="merbench",
        description="Benchmark facial micro-expression recognition models under honest protocols.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"merbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``merbench`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    out = Console()
    err = Console(stderr=True)
    try:
        return args.handler(args, out, err)
    except MerbenchError as exc:
        if args.debug:
            traceback.print_exc()
        err.print(f"[bold red]merbench: error:[/] {escape(str(exc))}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("merbench: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
