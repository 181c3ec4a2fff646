"""``merbench show RUN_ID``: print a stored run's tables as `merbench run` printed them."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from merbench.commands import HelpFormatter, output_file
from merbench.commands.runs import add_store_argument
from merbench.escaping import console_line, printable

if TYPE_CHECKING:
    from merbench.result import FoldRecord

ORDER = 61

EXAMPLES = """examples:
  merbench show 20250611-142233-3fa2c1
  merbench show 20250611-1422                 # a unique prefix of the id is enough
  merbench show 20250611-142233-3fa2c1 --json result.json
"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``show`` sub-command."""
    show = commands.add_parser(
        "show",
        help="print a stored run's tables (and optionally its JSON)",
        description="Print the per-fold, pooled, confusion-matrix and leakage tables of a stored run, "
        "exactly as `merbench run` printed them.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    show.add_argument("run_id", metavar="RUN_ID", help="id of the run (or a unique prefix); see `merbench runs`")
    show.add_argument("--json", type=output_file, metavar="FILE", help="also write the stored result to FILE (as `merbench run --json`; - for stdout)")
    add_store_argument(show)
    show.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench show RUN_ID``."""
    from merbench.outputs import check_output_path, result_roots, store_files, write_output
    from merbench.report import kept_warnings, print_result
    from merbench.errors import UsageError
    from merbench.store import ResultStore, status_of

    # probe=False: the folder may lie inside the run's dataset folder, known once the run is read
    target = (check_output_path(args.json, "--json", store_files(args.store), probe=False, writes="run")
              if args.json is not None else None)
    with ResultStore(args.store, create=False) as store:  # reads only: creates nothing
        row = store.run_row(args.run_id)
        if row["result_json"] is None and args.json is None:
            _print_finished_folds(out, row, store.finished_folds(row["id"]))
            status = status_of(row)
            if status in ("interrupted", "running", "failed"):  # shown as far as it got, and why: no usage error
                try:
                    store.result(args.run_id)
                except UsageError as exc:
                    failed = status == "failed"
                    out.print(Text(printable(f"{'Failed' if failed else 'Note'}: {exc}"),
                                   style="red" if failed else "yellow"), highlight=False)
                    return 0
        result = store.result(args.run_id)  # without a final result: why, and what to do, as an error
    if args.json is not None:  # again, now that the run's dataset folder and files are known: neither is written
        target = check_output_path(args.json, "--json", store_files(args.store),
                                   roots=result_roots([result]), writes="run")
    tables = err if args.json is not None and target is None else out  # `--json -`: stdout holds the JSON alone
    tables.print(f"Run {result.run_id or args.run_id}")
    print_result(tables, result)
    for warning in kept_warnings(result):  # as the run printed them
        tables.print(Text(printable(f"Warning: {warning}"), style="bold yellow"), highlight=False)
    if args.json is not None:  # a result file, as `merbench run --json` writes it (a NaN score stays NaN, which
        # audit, significance and run --config read back); keys sorted, as the store keeps them
        write_output(target, json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
        if target is not None:
            err.print(f"Result written to {console_line(str(args.json))}", soft_wrap=True, highlight=False)
    return 0


def _print_finished_folds(out: Console, row: Any, folds: list[tuple[int, FoldRecord]]) -> None:
    """What a run without a final result (running, interrupted, failed) has finished so far, when anything."""
    from merbench.commands.runs import planned_leaks
    from merbench.leaks import describe
    from merbench.report import finished_folds_table
    from merbench.store import status_of
    from merbench.tables import print_table

    if not folds:
        return
    out.print(escape(f"Run {row['id']} ({status_of(row)})"))
    title = f"{row['model']} on {row['dataset']} · {row['protocol']} · finished folds so far"
    print_table(out, finished_folds_table(title, folds))
    try:
        config = json.loads(row["config_json"] or "{}")
    except ValueError:  # a damaged configuration: the folds are still shown
        config = {}
    leaks = planned_leaks(config) if isinstance(config, dict) else []
    if leaks:  # as a finished run's tables say it: these folds' scores are inflated too
        out.print(Text(printable(f"⚠ This run leaks ({', '.join(leaks)}): {describe(leaks)}; the scores of its "
                                 "folds are inflated and must not be compared with honest results "
                                 "(docs/leakage.md)"), style="bold yellow"), highlight=False)
