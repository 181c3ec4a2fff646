"""``merbench audit FILE...``: re-check stored results for leakage."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from merbench.wording import counted, some_of

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

    failing: list[Path] = []
    unreadable: list[Path] = []
    for path in args.files:
        try:
            result = load_result(path)
        except DataError as exc:
            print_error(err, str(exc))
            unreadable.append(path)
            continue
        table = DataTable(f"Audit of {path} ({result.model} on {result.dataset}, {result.protocol})",
                          [Column("Check"), Column("Status"), Column("Finding", TEXT)])
        checks = audit_result(result)
        for check in checks:
            status = styled("pass", "green") if check.passed else styled("FAIL", "bold red")
            table.add_row(check.name, status, check.detail)
        if not all(check.passed for check in checks):
            failing.append(path)
        print_table(out, table)
    if len(args.files) > 1:  # one line to read at the end of several tables
        passed = len(args.files) - len(failing) - len(unreadable)
        parts = [f"{passed} of {counted(args.files, 'file')} passed every check"]
        if failing:
            parts.append(f"{len(failing)} failed a check ({some_of(failing, 3)})")
        if unreadable:
            parts.append(f"{len(unreadable)} could not be read as a result ({some_of(unreadable, 3)})")
        out.print(escape("Audit: " + "; ".join(parts)), highlight=False)
    return 2 if unreadable else 1 if failing else 0
