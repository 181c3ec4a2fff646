"""``merbench audit FILE...``: re-check stored results for leakage."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from merbench.commands import HelpFormatter, output_file
from merbench.wording import counted, some_of

ORDER = 40

EXAMPLES = """examples:
  merbench audit result.json                       # written by merbench run --json
  merbench audit results/*.json --json audit.json  # several files, and every check as JSON
  merbench show RUN_ID --json r.json && merbench audit r.json   # a stored run
"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``audit`` sub-command."""
    audit = commands.add_parser(
        "audit",
        help="re-check result files for leakage; exit 1 when any is found",
        description="Re-check results written by `merbench run --json` for subject overlap between training and "
        "test, selection or normalisation on test data, and scores that do not follow from the predictions. "
        "Exit 0 when every file passes, 1 when any check fails, 2 when a file is not a readable result "
        "(the other files are still audited).",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    audit.add_argument("files", nargs="+", type=Path, metavar="FILE.json", help="result files to audit")
    audit.add_argument("--json", type=output_file, metavar="FILE",
                       help="also write every file's checks as JSON to FILE (- for stdout; the tables then go to stderr)")

    audit.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench audit FILE...``."""
    from merbench.audit import audit_result, load_result
    from merbench.errors import DataError
    from merbench.export import strict_json
    from merbench.outputs import check_command_output, result_roots, write_output
    from merbench.tables import TEXT, Column, DataTable, print_error, print_table, styled

    loaded: dict[Path, object] = {}  # each file's result, or the DataError that says why it is not one
    for path in args.files:
        try:
            loaded[path] = load_result(path)
        except DataError as exc:
            loaded[path] = exc
    target = check_command_output(args.json, "--json", args, also_read={f"the audited file {path}": path
                                                                        for path in args.files},
                                  also_roots=result_roots(result for result in loaded.values()
                                                          if not isinstance(result, DataError))) \
        if args.json is not None else None
    if args.json is not None and target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    failing: list[Path] = []
    unreadable: list[Path] = []
    records: list[dict] = []
    for path in args.files:
        result = loaded[path]
        if isinstance(result, DataError):
            print_error(err, str(result))
            unreadable.append(path)
            records.append({"file": str(path), "readable": False, "error": str(result)})
            continue
        table = DataTable(f"Audit of {path} ({result.model} on {result.dataset}, {result.protocol})",
                          [Column("Check"), Column("Status"), Column("Finding", TEXT, keep=True)])
        checks = audit_result(result)
        for check in checks:
            status = styled("pass", "green") if check.passed else styled("FAIL", "bold red")
            table.add_row(check.name, status, check.detail)
        passed = all(check.passed for check in checks)
        if not passed:
            failing.append(path)
        records.append({"file": str(path), "readable": True, "run_id": result.run_id, "model": result.model,
                        "dataset": result.dataset, "protocol": result.protocol, "passed": passed,
                        "checks": [{"name": c.name, "passed": c.passed, "finding": c.detail} for c in checks]})
        print_table(out, table)
    passed_files = len(args.files) - len(failing) - len(unreadable)
    if len(args.files) > 1:  # one line to read at the end of several tables
        parts = [f"{passed_files} of {counted(args.files, 'file')} passed every check"]
        if failing:
            parts.append(f"{len(failing)} failed a check ({some_of(failing, 3)})")
        if unreadable:
            parts.append(f"{len(unreadable)} could not be read as a result ({some_of(unreadable, 3)})")
        out.print(escape("Audit: " + "; ".join(parts)), highlight=False)
    if args.json is not None:
        write_output(target, strict_json({"kind": "merbench-audit", "version": 1, "passed": passed_files,
                                          "failed": len(failing), "unreadable": len(unreadable), "files": records}))
    return 2 if unreadable else 1 if failing else 0
