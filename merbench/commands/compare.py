"""``merbench compare``: a table of stored runs, models as rows, datasets · protocols as columns."""

from __future__ import annotations

import argparse
from typing import Iterable, Iterator

from rich.console import Console
from rich.markup import escape

from merbench.argument_types import NameList
from merbench.commands import HelpFormatter
from merbench.commands.runs import add_store_argument

ORDER = 62

EXAMPLES = """examples:
  merbench compare                                  # every complete run in the store
  merbench compare --dataset synthetic --metric accuracy
  merbench compare --model convmixer ststnet --protocol loso megc2019
  merbench compare --profile default                # only runs of the default profile
  merbench compare 20250611-142233-3fa2c1 20250611-150102-9b0e44 --stat pooled
  merbench compare --json > comparison.json         # for scripts (scores as fractions 0..1)
"""


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """Which runs to compare and what to show (shared with ``merbench report``)."""
    parser.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to compare (default: all complete runs that match)")
    parser.add_argument("--model", nargs="+", action=NameList, default=[], metavar="NAME",
                        help="only these models (names separated by spaces or commas; the option may be repeated)")
    parser.add_argument("--dataset", nargs="+", action=NameList, default=[], metavar="NAME", help="only these datasets")
    parser.add_argument("--protocol", nargs="+", action=NameList, default=[], metavar="NAME", help="only these protocols")
    parser.add_argument("--profile", nargs="+", action=NameList, default=[], metavar="NAME",
                        help="only runs of these profiles (merbench run --profile); runs of several profiles are "
                        "shown in rows that name their profile, with no best marked between profiles")
    parser.add_argument("--metric", default="uf1",
                        help="metric to show: uf1 (default), uar, accuracy, macro_f1, macro_precision, macro_recall, weighted_f1")
    parser.add_argument("--stat", default="fold", choices=("fold", "pooled"),
                        help="fold: mean ± std over folds (default); pooled: all folds' predictions together (± sample std over seeds)")
    add_store_argument(parser)


FILTERS = ("model", "dataset", "protocol", "profile")
"""The name filters of ``add_selection_arguments``."""


def run_ids_given_after_filters(args: argparse.Namespace) -> None:
    """Move run ids that follow a filter (``--model convmixer 20261205-180334-d57456``), which argparse hands to
    the filter, to the run ids where they were meant (a model or dataset is never named like a run id)."""
    from merbench.store import RUN_ID_LIKE

    for name in FILTERS:
        values = getattr(args, name)
        ids = [value for value in values if RUN_ID_LIKE.fullmatch(value)]
        if ids:
            setattr(args, name, [value for value in values if value not in ids])
            args.run_ids = [*args.run_ids, *ids]


def selected_comparison(args: argparse.Namespace):
    """The comparison of the runs ``args`` select, and those runs, oldest first, without their folds
    (``merbench.compare.light``). The runs selected by filters are read without their folds, in batches; only the
    newest of each cell is then read whole."""
    from merbench.compare import Selection
    from merbench.registry import get_registry
    from merbench.run_settings import changed_settings
    from merbench.store import ResultStore

    run_ids_given_after_filters(args)
    registry = get_registry()
    with ResultStore(args.store, create=False) as store:  # reads only: creates nothing
        selection = Selection(args.metric, args.stat, lambda result: _whole(store, result))
        known: dict = {}  # the defaults resolved so far: runs alike share them
        for result, whole in _of_profiles(_complete_results(store, args), args.profile, bool(args.run_ids)):
            selection.add(result, changed_settings(result, registry, known), whole)
        if not selection.results and not args.run_ids:
            _refuse_unmatched(store, args)
        return selection.comparison(), selection.results


def _complete_results(store, args: argparse.Namespace) -> Iterator:
    """``(result, whole)`` of the complete runs ``args`` select, oldest first: the runs named by id whole, as
    ``ResultStore.complete_results`` reads them (it names a filter that leaves them all out), the others without
    their folds (``ResultStore.summary_results``: a store of thousands of runs holds them by the gigabyte)."""
    if args.run_ids:
        for result in store.complete_results(args.run_ids, args.model, args.dataset, args.protocol, predictions=False):
            yield result, True
        return
    for result in store.summary_results(store.complete_ids(args.model, args.dataset, args.protocol)):
        yield result, False


def _whole(store, result):
    """``result`` (of a run in ``store``, read without its folds) read whole, without its per-sample rows; a
    ``UsageError`` saying so when the run was deleted meanwhile (``merbench delete`` in another shell)."""
    from merbench.errors import UsageError

    try:
        return store.result(result.run_id, predictions=False)
    except UsageError:
        if result.run_id in store.held([result.run_id]):
            raise
        raise UsageError(f"run {result.run_id} was deleted while the store was read (merbench delete in another "
                         "shell?); run the command again") from None


def _refuse_unmatched(store, args: argparse.Namespace) -> None:
    """When filters match no complete run of a store that holds some: a ``UsageError`` naming the filters and, for
    each, the names the complete runs have (a mistyped or differently written name is the usual cause)."""
    from merbench.commands.runs import MATCHED_EXACTLY, names_held
    from merbench.errors import UsageError
    from merbench.wording import counted

    if not store.complete_names("model"):
        _refuse_incomplete_only(store)
        return  # an empty store: build_comparison says so
    given = [(name, getattr(args, name)) for name in FILTERS if getattr(args, name)]
    held = {name: store.complete_names(name) for name, _ in given}
    if not given:
        return
    filters = " ".join(f"--{name} {' '.join(values)}" for name, values in given)
    names = names_held(list(held), held.__getitem__)
    together = f"; the {counted(given, 'filter')} must all match one run" if len(given) > 1 else ""
    raise UsageError(f"no complete runs match {filters}; the store's complete runs have these {names} "
                     f"({MATCHED_EXACTLY}{together})")


def _refuse_incomplete_only(store) -> None:
    """A ``UsageError`` for a store whose runs are all unfinished (interrupted, failed or running): how many of each,
    and how to go on, where "no complete runs match" would leave the user thinking it empty."""
    from merbench.errors import UsageError
    from merbench.wording import counted

    statuses = store.status_counts()  # counted in the indexes: reading every run would read what results it has
    if not statuses:
        return
    kinds = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    raise UsageError(f"none of the store's {counted(sum(statuses.values()), 'run')} is complete ({kinds}); continue "
                     "an interrupted one with `merbench run --resume ID` (`merbench runs` lists them), or run one with "
                     "`merbench run`")


def _of_profiles(results: Iterable, profiles: list[str], chosen: bool) -> Iterator:
    """The ``(result, whole)`` pairs of ``results`` (``_complete_results``') of ``profiles`` (empty: all); a
    ``UsageError`` naming the runs left out when runs ``chosen`` by id are all of other profiles."""
    from merbench.compare import PROFILE_UNKNOWN, profile_of
    from merbench.errors import UsageError

    kept, left_out = 0, []
    for result, whole in results:
        if not profiles or profile_of(result) in profiles:
            kept += 1
            yield result, whole
        elif chosen:  # the runs named by id: few
            left_out.append(f"{result.run_id} ({profile_of(result) or PROFILE_UNKNOWN})")
    if left_out and not kept:
        raise UsageError(f"none of the given runs match the filters: --profile {' '.join(profiles)} leaves out "
                         f"{', '.join(left_out)}; drop the filter or give other run ids")


SHOWN_WARNINGS = 20
"""The most leakage warnings ``compare`` (and ``grid``) prints under its table (a year's store gave 1,201 lines)."""


def print_leakage_warnings(out: Console, warnings: list[str], listed_by: str = "merbench compare --json") -> None:
    """Print the first ``SHOWN_WARNINGS`` of a comparison's leakage ``warnings`` and how many more there are (the
    table marks every leaky cell; ``listed_by``, the command that lists every warning, is named for the rest)."""
    for warning in warnings[:SHOWN_WARNINGS]:
        out.print(f"[bold red]⚠ leakage:[/] {escape(warning)}")
    if len(warnings) > SHOWN_WARNINGS:
        out.print(f"[bold red]⚠ leakage:[/] and {len(warnings) - SHOWN_WARNINGS} more leaky cells (marked ⚠ in the "
                  f"table; {escape(listed_by)} lists every warning)")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``compare`` sub-command."""
    compare = commands.add_parser(
        "compare",
        help="compare stored runs: models × datasets/protocols, best per column, reported scores, leakage warnings",
        description="Compare stored runs in one table: models as rows, dataset · protocol as columns, mean ± std, "
        "the best value per column highlighted, the model's reported score beside the measured one, and leakage warnings. "
        "For each model, dataset and protocol the newest selected run is shown. Runs of different profiles are not "
        "compared silently: when the selected runs span several, each row names its profile (a model gets a row per "
        "profile) and no best is marked in a column that mixes them; --profile NAME compares alike runs only. A run "
        "made with settings other than its profile's defaults (--set, --config, --epochs) has a row naming them.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add_selection_arguments(compare)
    compare.add_argument("--json", nargs="?", const="-", default=None, metavar="-",
                         help="print the comparison as JSON to stdout (for scripts; `--json -` says the same)")
    compare.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench compare``."""
    from merbench.compare import comparison_table
    from merbench.tables import print_table

    from merbench.errors import UsageError

    if args.json not in (None, "-"):  # the word after --json is a run id or a file name, not the option's value
        args.run_ids = [args.json, *args.run_ids]
        args.json = "-"
    if args.json:
        _refuse_json_file(args)
    if "-" in args.run_ids:  # `--json -`, as `run --json -` and `show --json -` print to stdout
        if not args.json:
            raise UsageError("'-' is not a run id: give run ids (`merbench runs` lists them), or --json to print "
                             "the comparison as JSON to stdout")
        args.run_ids = [run_id for run_id in args.run_ids if run_id != "-"]
    comparison, _ = selected_comparison(args)
    if args.json:  # the same text as `report --output FILE.json`
        from merbench.export import to_json

        out.out(to_json(comparison), end="", highlight=False)
        return 0
    print_table(out, comparison_table(comparison))
    print_leakage_warnings(out, comparison.warnings())
    return 0


def _refuse_json_file(args: argparse.Namespace) -> None:
    """Refuse a file name after ``--json`` (``--json results.json``), which argparse takes for a run id: ``--json``
    prints to stdout. A name that is a run (or the start of one) in the store is left to the run ids."""
    from merbench.errors import UsageError
    from merbench.store import ResultStore

    named = [run_id for run_id in args.run_ids if run_id.lower().endswith(".json") or "/" in run_id]
    if not named:
        return
    with ResultStore(args.store, create=False) as store:
        for name in named:
            try:
                store.resolve_id(name)
            except UsageError:
                raise UsageError(f"--json prints to stdout, not to a file ('{name}'): redirect it, e.g. merbench "
                                 f"compare --json > {name}, or write it with merbench report --output {name}") from None
