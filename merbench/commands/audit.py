"""``merbench audit FILE...``: re-check stored results for leakage."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

ORDER = 40


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``audit`` sub-command."""
    audit = commands.add_parser(
        "audit",
        help="re-check result files for leakage; exit 1 when any is found",
        description="Re-check results written by `merbench run --json` for subject overlap between training and "
        "test, selection or normalisation on test data, and scores that do not follow from the predictions. "
        "Exit 0 when every file passes, 1 when any check fails.",
    )
    audit.add_argument("files", nargs="+", type=Path, metavar="FILE.json", help="result files to audit")

    audit.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench audit FILE...``."""
    from merbench.audit import audit_result, load_result

    failed = False
    for path in args.files:
        result = load_result(path)
        table = Table(title=f"Audit of {path} ({result['model']} on {result['dataset']}, {result['protocol']})")
        for header in ("Check", "Status", "Finding"):
            table.add_column(header)
        for check in audit_result(result):
            failed |= not check.passed
            status = "[green]pass[/]" if check.passed else "[bold red]FAIL[/]"
            table.add_row(check.name, status, escape(check.detail))
        out.print(table)
    return 1 if failed else 0
