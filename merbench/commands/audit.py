"""``merbench audit FILE...``: re-check stored results for leakage."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

ORDER = 40


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``audit`` sub-command."""
    audit = commands.add_parser(
        "audit",
        help="re-check result files for leakage; exit 1 when any is found",
        description="Re-check results written by `merbench run --json` for subject overlap between training and "
        "test, selection or normalisation on test data, and scores that do not follow from the predictions. "
        "Exit 0 when every file passes, 1 when any check fails, 2 when a file is not a readable result "
        "(the other files are still audited).",
    )
    audit.add_argument("files", nargs="+", type=Path, metavar="FILE.json", help="result files to audit")

    audit.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench audit FILE...``."""
    from merbench.audit import audit_result, load_result
    from merbench.errors import DataError
    from merbench.tables import TEXT, Column, DataTable, print_error, print_table, styled

    failed = unreadable = False
    for path in args.files:
        try:
            result = load_result(path)
        except DataError as exc:
            print_error(err, str(exc))
            unreadable = True
            continue
        table = DataTable(f"Audit of {path} ({result.model} on {result.dataset}, {result.protocol})",
                          [Column("Check"), Column("Status"), Column("Finding", TEXT)])
        for check in audit_result(result):
            failed |= not check.passed
            status = styled("pass", "green") if check.passed else styled("FAIL", "bold red")
            table.add_row(check.name, status, check.detail)
        print_table(out, table)
    return 2 if unreadable else 1 if failed else 0
