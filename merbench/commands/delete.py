"""``merbench delete``: remove runs from the results store (needs ``--yes``)."""

from __future__ import annotations

import argparse

from rich.console import Console

from merbench.argument_types import NameList
from merbench.commands import HelpFormatter
from merbench.commands.runs import add_store_argument

ORDER = 65

PRUNABLE = ("interrupted", "failed")
"""The statuses ``--status`` selects by: runs that never gave a result. A complete run is deleted by its id only."""

EXAMPLES = """examples:
  merbench delete 20250611-142233-3fa2c1            # says what would go; nothing is deleted
  merbench delete 20250611-142233-3fa2c1 --yes
  merbench delete --status failed --yes              # every failed run
  merbench delete --status interrupted --model convmixer --yes
"""


def prunable_status(text: str) -> str:
    """``--status``: interrupted or failed; a complete or running run is named by its id (argparse: exit code 2)."""
    if text in PRUNABLE:
        return text
    if text in ("complete", "running"):
        raise argparse.ArgumentTypeError(f"'{text}': --status selects interrupted or failed runs only; delete a {text} "
                                         f"run by its id (`merbench runs --status {text}` lists them)")
    raise argparse.ArgumentTypeError(f"'{text}': choose interrupted or failed")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``delete`` sub-command."""
    delete = commands.add_parser(
        "delete",
        help="remove runs from the results store (needs --yes)",
        description="Remove runs from the results store with their folds, predictions and scores: the runs given by "
        "id (a unique prefix is enough; any status but a run still running), or with --status every interrupted or "
        "failed run, narrowed by --model, --dataset and --protocol. Without --yes nothing is deleted: it lists what "
        "would go and exits with code 2. `compare` and `report` show the run of each model, dataset and protocol "
        "that finished last: deleting a mistaken run shows the one before it again.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    delete.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to delete (see `merbench runs`)")
    delete.add_argument("--status", type=prunable_status, metavar="STATUS",
                        help="every run with this status: interrupted or failed (complete runs go by id only)")
    # One value each (names separated by commas): a list of values would take the run ids given after it.
    delete.add_argument("--model", action=NameList, default=[], metavar="NAME",
                        help="with --status: only runs of these models (names separated by commas; the option may be "
                        "repeated)")
    delete.add_argument("--dataset", action=NameList, default=[], metavar="NAME",
                        help="with --status: only runs on these datasets")
    delete.add_argument("--protocol", action=NameList, default=[], metavar="NAME",
                        help="with --status: only runs under these protocols")
    delete.add_argument("--yes", action="store_true", help="really delete (there is no prompt)")
    delete.add_argument("--force", action="store_true",
                        help="also delete a run recorded as still running whose process merbench cannot check (on "
                        "another host or in another container), on your word that it is gone")
    add_store_argument(delete)
    delete.set_defaults(handler=execute)


NARROWING = ("model", "dataset", "protocol")


def _check_selection(args: argparse.Namespace) -> None:
    """Refuse a command line that selects nothing, or narrows a selection it does not make."""
    from merbench.errors import UsageError
    from merbench.wording import plural

    narrowing = [f"--{name}" for name in NARROWING if getattr(args, name)]
    if narrowing and not args.status:
        them = plural(narrowing, "it", "them")
        other = f"or drop {them}" if args.run_ids else "or give the runs' ids instead"
        raise UsageError(f"{' and '.join(narrowing)} {plural(narrowing, 'narrows', 'narrow')} the runs --status "
                         f"selects; give --status interrupted or failed with {them}, {other}")
    if not args.run_ids and not args.status:
        raise UsageError("no runs given: name them by id (`merbench runs` lists them), or give --status interrupted "
                         "or --status failed")


def selected_runs(store, args: argparse.Namespace) -> list:
    """The summaries (``RunSummary``) of the runs the command line names, newest first, each once; a run id that the
    store does not hold, or that is ambiguous, is a ``UsageError`` (``resolve_id``)."""
    ids = list(dict.fromkeys(store.resolve_id(run_id) for run_id in args.run_ids))
    runs = store.list_runs(run_ids=ids) if ids else []
    if args.status:
        runs += [run for run in store.list_runs(args.model, args.dataset, args.protocol, args.status)
                 if run.id not in ids]
    return sorted(runs, key=lambda run: (run.created, run.id), reverse=True)


def _nothing_matched(store, args: argparse.Namespace) -> str:
    """What ``--status`` with its filters found nothing among, and, for a filter, the names such runs have."""
    from merbench.commands.runs import MATCHED_EXACTLY, names_held

    given = [name for name in NARROWING if getattr(args, name)]
    names = {name: store.run_names(name, args.status) for name in given}  # the runs' names only, not the runs
    if not given or not names[given[0]]:
        return f"No {args.status} runs in {store.path}; nothing to delete."
    filters = " ".join(f"--{name} {' '.join(getattr(args, name))}" for name in given)
    held = names_held(given, names.__getitem__)
    return (f"No {args.status} runs in {store.path} match {filters}; nothing to delete. The {args.status} runs have "
            f"these {held} ({MATCHED_EXACTLY}).")


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench delete``."""
    from rich.markup import escape

    from merbench.commands.runs import runs_table
    from merbench.errors import UsageError
    from merbench.store import ResultStore, running_error, still_running
    from merbench.tables import print_table
    from merbench.wording import counted, plural

    _check_selection(args)
    with ResultStore(args.store, create=False) as store:  # reads only: a mistyped --store creates nothing
        runs = selected_runs(store, args)
        path = store.path
        running = [store.run_row(run.id) for run in runs if run.status == "running"]
        empty = _nothing_matched(store, args) if not runs else ""
    if not runs:
        out.print(escape(empty), highlight=False)
        return 0
    refused = still_running(running, args.force)
    if refused:
        raise UsageError(running_error(refused))
    table = runs_table(path, runs, advice=False)
    gone = plural(runs, "Its", "Their") + " folds, predictions and scores"
    if not args.yes:
        table.title = f"Would delete {counted(runs, 'run')} from {path}"
        table.caption = f"{table.caption}{gone} would go with {plural(runs, 'it', 'them')}."
        print_table(out, table)
        err.print(escape(f"Nothing was deleted: add --yes to delete {plural(runs, 'this run', 'these runs')}."),
                  highlight=False)
        return 2
    with ResultStore(args.store, no_store_option=False, writes="runs cannot be deleted from it") as store:
        store.delete_runs({run.id: run.status for run in runs}, force=args.force)
    table.title = f"Deleted {counted(runs, 'run')} from {path}"
    table.caption = (f"{table.caption}{gone} went with {plural(runs, 'it', 'them')}; the store's file keeps its "
                     "size (SQLite reuses the space).")
    print_table(out, table)
    return 0
