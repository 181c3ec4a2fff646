"""``merbench runs``: list the runs in the results store."""

from __future__ import annotations

import argparse
from typing import Callable, Sequence

from rich.console import Console

from merbench.argument_types import NameList
from merbench.commands import STORE_FILE, HelpFormatter
from merbench.escaping import console_line

ORDER = 60

EXAMPLES = """examples:
  merbench runs
  merbench runs --model convmixer --dataset synthetic
  merbench runs --status interrupted          # runs to continue with merbench run --resume ID
  merbench runs --store results.sqlite --limit 5
  merbench runs --json | jq -r '.[].id'       # for scripts
"""


TABLE_LIMIT = 50
"""The runs the table shows without ``--limit``: the newest, for a person; ``--json`` (for scripts) lists them all."""


def add_store_argument(parser: argparse.ArgumentParser, what: str = "results store") -> None:
    """The ``--store PATH`` option shared by the commands that read the results store (``what``: the help's words
    for it)."""
    parser.add_argument("--store", type=STORE_FILE, metavar="PATH",
                        help=f"{what} (default: $MERBENCH_STORE or results.sqlite in the user data dir)")


ALL_RUNS_ABOVE = 2**62
"""A ``--limit`` this large lists every run (SQLite's LIMIT takes numbers below 2**63; no store holds this many)."""


def run_limit(text: str) -> int:
    """``--limit N``: a whole number, at least 1, or 0 for all runs (argparse turns the error into exit code 2); a
    number beyond any store's size (``ALL_RUNS_ABOVE``), as a script may give to mean all, is taken as 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of runs: give N >= 1 (e.g. --limit 5), or 0 for all")
    return 0 if value > ALL_RUNS_ABOVE else value


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``runs`` sub-command."""
    runs = commands.add_parser(
        "runs",
        help="list runs in the results store",
        description="List the runs recorded in the results store, newest first, with their status and pooled scores.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    runs.add_argument("--model", nargs="+", action=NameList, default=[], metavar="NAME",
                      help="only runs of these models (names separated by spaces or commas; the option may be "
                      "repeated)")
    runs.add_argument("--dataset", nargs="+", action=NameList, default=[], metavar="NAME",
                      help="only runs on these datasets")
    runs.add_argument("--protocol", nargs="+", action=NameList, default=[], metavar="NAME",
                      help="only runs under these protocols")
    runs.add_argument("--status", choices=("complete", "running", "interrupted", "failed"), metavar="STATUS",
                      help="only runs with this status: complete, running, interrupted or failed")
    runs.add_argument("--limit", type=run_limit, default=None, metavar="N",
                      help=f"show at most N runs (default {TABLE_LIMIT} in the table, all with --json; 0: all)")
    runs.add_argument("--json", nargs="?", const="-", default=None, type=stdout_only, metavar="-",
                      help="print the runs as JSON to stdout (for scripts; `--json -` says the same)")
    add_store_argument(runs)
    runs.set_defaults(handler=execute)


def stdout_only(value: str) -> str:
    """The value of a ``--json`` that prints to stdout: ``-``, as ``run --json -`` writes to stdout too."""
    if value != "-":
        raise argparse.ArgumentTypeError(f"--json prints to stdout, not to a file ('{value}'): "
                                         "redirect it, e.g. merbench runs --json > runs.json")
    return value


def planned_leaks(config: dict) -> list[str]:
    """The leak kinds a stored configuration asks for (a run with no result yet); its protocol's only when the
    protocol is still registered; none for a damaged configuration (not an object)."""
    from merbench.errors import MerbenchError
    from merbench.leaks import protocol_leaks, stored_engine_leaks
    from merbench.registry import get_registry

    if not isinstance(config, dict):
        return []
    try:
        found = protocol_leaks(get_registry().get("protocols", str(config.get("protocol"))))
    except MerbenchError:
        found = []
    return found + stored_engine_leaks(config)


LEAK_FIELDS = ("schema_version", "leakage", "subject_independent")
"""The keys of a stored result that say what its run leaked (``recorded_leaks``): all ``runs`` reads of a result."""


def recorded_leaks(fields: dict, where: str) -> list[str]:
    """``result_leaks`` of a result's ``LEAK_FIELDS`` alone (``ResultStore.result_fields``); ``DataError`` naming
    ``where`` when they are not what a result holds, as ``RunResult.from_dict`` says it."""
    from types import SimpleNamespace

    from merbench.leaks import result_leaks
    from merbench.result import BOOLEAN, Fields, LeakageRecord, check_schema_version

    check_schema_version(fields, where)
    read = Fields(fields, where)
    return result_leaks(SimpleNamespace(leakage=read.record("leakage", LeakageRecord.read, optional=True),
                                        subject_independent=read.need("subject_independent", BOOLEAN)))


def run_leaks(store, run_id: str, damaged: dict[str, str] | None = None,
              fields: dict | None = None) -> list[str] | None:
    """The leak kinds of a stored run: what its result records (from ``fields``, its ``LEAK_FIELDS`` as
    ``store.result_fields`` reads them; without them, from the whole result), else what its configuration asks for
    (none when that is damaged too); ``None`` when the run is no longer in the store (deleted meanwhile). A damaged
    result's or configuration's message goes into ``damaged``, by run id."""
    from merbench.errors import DataError, MerbenchError, UsageError
    from merbench.leaks import result_leaks

    try:
        if fields is not None:
            return recorded_leaks(fields, f"result of run {run_id} in {store.path}")
        return result_leaks(store.result(run_id, predictions=False))
    except MerbenchError as exc:  # no final result yet (a UsageError saying so), or a damaged one
        if isinstance(exc, DataError) and damaged is not None:
            damaged[run_id] = str(exc)
    try:
        return planned_leaks(store.run_config(run_id))
    except DataError as exc:
        if damaged is not None:
            damaged.setdefault(run_id, str(exc))
        return []
    except UsageError:  # no such run
        if run_id in store.held([run_id]):
            raise
        return None


def damaged_note(damaged: dict[str, str]) -> str | None:
    """One line under the table naming the first ``NAMED_RUNS`` runs whose stored result or configuration is damaged,
    and why, then how many more (``runs --json`` gives each run's reason)."""
    from merbench.wording import some_of

    if not damaged:
        return None
    return "⚠ damaged in the store: " + some_of(list(damaged.values()), NAMED_RUNS, "; ")


def run_record(run, leaks: list[str], damaged: str | None) -> dict:
    """One stored run summary as a JSON-ready dict (scores as stored, fractions 0..1) with its leak kinds and
    ``damaged``: why its stored result or configuration cannot be read (the table's note says the same), else null."""
    from dataclasses import asdict

    return {**asdict(run), "leaks": leaks, "damaged": damaged}


NAMED_RUNS = 12
"""The most runs the leakage note names per combination of leak kinds, then ``(and N more)``: the table marks each
leaky run with ⚠ and ``--json`` gives every run's leaks (the note of a 2,004-run store named 501 runs, in one line of
12,122 characters)."""


def leak_note(summaries, leaks: dict[str, list[str]]) -> str | None:
    """One line under the table: for each combination of leak kinds, what leaks and the runs that leak it (the first
    ``NAMED_RUNS``)."""
    from merbench.leaks import describe
    from merbench.wording import some_of

    groups: dict[tuple[str, ...], list[str]] = {}
    for run in summaries:
        if leaks.get(run.id):
            groups.setdefault(tuple(leaks[run.id]), []).append(run.id)
    if not groups:
        return None
    parts = [f"{', '.join(kinds)} ({describe(list(kinds))}): {some_of(ids, NAMED_RUNS)}"
             for kinds, ids in groups.items()]
    return "⚠ leakage, scores inflated (docs/leakage.md): " + "; ".join(parts)


def runs_table(path, summaries, leaks: dict[str, list[str]] | None = None, advice: bool = True):
    """The ``merbench runs`` table: run ids, names and scores whole at any width; a leaky run's UF1 in red with ⚠;
    ``advice``: a caption saying how to continue or show a run."""
    from merbench.tables import TEXT, Column, DataTable, styled
    from merbench.wording import pct

    leaks = leaks or {}
    marked = any(leaks.get(run.id) for run in summaries)
    table = DataTable(
        f"Runs in {path}",
        [Column("ID"), Column("Status", stack=True), Column("Model"), Column("Dataset", stack=True),
         Column("Protocol", stack=True), Column("Profile", stack=True), Column("Seed", justify="right"),
         Column("Folds", justify="right", stack=True), Column("UF1", justify="right"), Column("Acc", justify="right"),
         Column("Time", TEXT, justify="right", priority=1)],
        caption="An id starts with the run's start time (UTC, YYYYMMDD-HHMMSS). UF1, Acc: pooled, in % (first seed). "
        + folds_caption(summaries)
        + ("⚠: leakage warning (listed below). " if marked else "")
        + ("Continue an interrupted run with `merbench run --resume ID`; see one with `merbench show ID`." if advice
           else ""),
    )
    colours = {"complete": "green", "running": "cyan", "interrupted": "yellow", "failed": "red"}
    for run in summaries:
        seeds = str(run.seed) if run.n_seeds == 1 else f"{run.seed}..{run.seed + run.n_seeds - 1}"
        pooled = run.pooled or {}
        uf1 = pct(pooled.get("uf1"))
        table.add_row(
            run.id, styled(run.status, colours.get(run.status, "white")), run.model, run.dataset, run.protocol,
            run.profile, seeds, folds_text(run), styled(f"{uf1} ⚠", "red") if leaks.get(run.id) else uf1,
            pct(pooled.get("accuracy")), "" if run.seconds is None else f"{run.seconds:.0f} s",
        )
    return table


def folds_text(run) -> str:
    """A run's Folds cell: the folds of one seed, as ``merbench show`` counts them; an unfinished run of several
    seeds whose first seed has finished: ``13/20``, the folds finished of all its seeds' folds."""
    if run.folds_per_seed is None:
        return str(run.folds_done)
    if run.status == "complete":
        return str(run.folds_per_seed)
    return f"{run.folds_done}/{run.folds_per_seed * run.n_seeds}"


def folds_caption(summaries) -> str:
    """The caption's words on the Folds column, when a run of several seeds is listed; ``""`` otherwise."""
    several = [run for run in summaries if run.n_seeds > 1]
    if not several:
        return ""
    partial = next((run for run in several if "/" in folds_text(run)), None)
    return ("Folds: of one seed, as `merbench show` counts them"
            + ("" if partial is None else
               f"; {folds_text(partial)}: an unfinished run has finished {partial.folds_done} of the "
               f"{partial.folds_per_seed * partial.n_seeds} folds of its {partial.n_seeds} seeds "
               f"({partial.folds_per_seed} each)") + ". ")


MATCHED_EXACTLY = "names are matched exactly, as `merbench runs` lists them"
"""Said where filters matched no run: a name differently written (``ConvMixer``) matches nothing."""


def names_held(names: Sequence[str], values_of: Callable[[str], Sequence[str]]) -> str:
    """What a store holds for each filter ``names`` that matched nothing: ``models: a, b; datasets: c`` (at most 8
    names each), from ``values_of(name)``, the sorted names the runs in question have."""
    from merbench.wording import plural, some_of

    return "; ".join(f"{plural(2, name)}: {some_of(list(values_of(name)), 8)}" for name in names)


def _what_is_there(store, args: argparse.Namespace) -> str:
    """For filters that match no run: the filters given and what the store holds instead (names match exactly), or
    ``""`` when the store holds no run at all."""
    from merbench.wording import counted

    held_runs = store.run_count()
    if not held_runs:
        return ""
    given = [(name, value) for name, value in (("model", args.model), ("dataset", args.dataset),
                                               ("protocol", args.protocol), ("status", args.status)) if value]
    held = names_held([name for name, _ in given], store.run_names)
    filters = " ".join(f"--{name} {' '.join(value) if isinstance(value, list) else value}" for name, value in given)
    return f" {filters}; it holds {counted(held_runs, 'run')} ({held}); {MATCHED_EXACTLY}."


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench runs``."""
    import json

    from rich.markup import escape

    from merbench.outputs import write_output
    from merbench.store import ResultStore
    from merbench.tables import print_table

    if args.limit is None:
        args.limit = 0 if args.json else TABLE_LIMIT
    with ResultStore(args.store, create=False) as store:  # reads only: creates nothing
        summaries = store.list_runs(args.model, args.dataset, args.protocol, args.status,
                                    args.limit + 1 if args.limit else None, times=False)  # one more: are there more?
        more = bool(args.limit) and len(summaries) > args.limit
        summaries = summaries[:args.limit] if more else summaries
        damaged: dict[str, str] = {}
        times: dict[str, float | None] = {}  # read with the results: alone, the time reads each result again
        fields = store.result_fields([run.id for run in summaries], LEAK_FIELDS, times)
        for run in summaries:
            run.seconds = times.get(run.id)
        leaks = {run.id: run_leaks(store, run.id, damaged, fields[run.id]) for run in summaries if run.id in fields}
        summaries = [run for run in summaries if leaks.get(run.id) is not None]  # the others were deleted meanwhile
        path = store.path
        others = _what_is_there(store, args) if not summaries else ""
    newest = "the newest matching run" if args.limit == 1 else f"the newest {args.limit} matching runs"
    limited = (f"Showing {newest}; more match: --limit 0 shows them all, "
               f"or --limit N more than {args.limit}.")
    if args.json:
        write_output(None, json.dumps([run_record(run, leaks[run.id], damaged.get(run.id)) for run in summaries],
                                      indent=2))
        if more:
            err.print(limited, highlight=False)
        return 0
    if not summaries:
        advice = others or ". Record one with `merbench run` (see `merbench run --help`)."
        out.print(console_line(f"No runs in {path} match{advice}"), highlight=False)
        return 0
    print_table(out, runs_table(path, summaries, leaks))
    if more:
        out.print(limited, highlight=False)
    for note in (leak_note(summaries, leaks), damaged_note(damaged)):
        if note:
            out.print(escape(note), style="bold red", highlight=False)
    return 0
