"""``merbench runs``: list the runs in the results store."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

ORDER = 60

EXAMPLES = """examples:
  merbench runs
  merbench runs --model convmixer --dataset synthetic
  merbench runs --status interrupted          # runs to continue with merbench run --resume ID
  merbench runs --store results.sqlite --limit 5
"""


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--store PATH`` option shared by the commands that read the results store."""
    parser.add_argument("--store", type=Path, metavar="PATH",
                        help="results store (default: $MERBENCH_STORE or results.sqlite in the user data dir)")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``runs`` sub-command."""
    runs = commands.add_parser(
        "runs",
        help="list runs in the results store",
        description="List the runs recorded in the results store, newest first, with their status and pooled scores.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    runs.add_argument("--model", help="only runs of this model")
    runs.add_argument("--dataset", help="only runs on this dataset")
    runs.add_argument("--protocol", help="only runs under this protocol")
    runs.add_argument("--status", choices=("complete", "running", "interrupted", "failed"), help="only runs with this status")
    runs.add_argument("--limit", type=int, default=50, metavar="N", help="show at most N runs (default 50; 0: all)")
    add_store_argument(runs)
    runs.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench runs``."""
    from merbench.compare import pct
    from merbench.store import ResultStore

    with ResultStore(args.store) as store:
        summaries = store.list_runs(args.model, args.dataset, args.protocol, args.status, args.limit or None)
        path = store.path
    if not summaries:
        out.print(f"No runs in {path} match. Record one with `merbench run` (see `merbench run --help`).")
        return 0
    table = Table(title=f"Runs in {path}", caption="UF1, Acc: pooled, in % (first seed). Continue an interrupted run with "
                  "`merbench run --resume ID`; see one with `merbench show ID`.")
    for header in ("ID", "Started (UTC)", "Status", "Model", "Dataset", "Protocol", "Profile", "Seed", "Folds", "UF1", "Acc", "Time"):
        table.add_column(header, justify="right" if header in ("Seed", "Folds", "UF1", "Acc", "Time") else "left")
    colours = {"complete": "green", "running": "cyan", "interrupted": "yellow", "failed": "red"}
    for run in summaries:
        seeds = str(run.seed) if run.n_seeds == 1 else f"{run.seed}..{run.seed + run.n_seeds - 1}"
        pooled = run.pooled or {}
        table.add_row(
            run.id, run.created.replace("T", " ")[:19], f"[{colours.get(run.status, 'white')}]{run.status}[/]", run.model,
            run.dataset, run.protocol, run.profile, seeds, str(run.folds_done),
            pct(pooled.get("uf1")), pct(pooled.get("accuracy")), "" if run.seconds is None else f"{run.seconds:.0f} s",
        )
    out.print(table)
    return 0
