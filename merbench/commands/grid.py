"""``merbench grid``: run every model × dataset × protocol cell and end with the comparison table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from merbench.commands import STORE_FILE, HelpFormatter, flatten_sets, output_file, path_argument, print_plugin_problems
from merbench.config import EXECUTORS
from merbench.errors import UsageError
from merbench.escaping import console_line
from merbench.result import as_json
from merbench.wording import counted

ORDER = 11

EXAMPLES = """examples:
  merbench grid --models convmixer,ststnet --datasets synthetic --protocols subject-10fold,loso --profile quick
  merbench grid --models convmixer,ststnet --datasets synthetic --protocols subject-10fold,loso --profile quick --stored  # after an interruption: keep finished cells, continue the interrupted one
  merbench grid --models ststnet,offapexnet --datasets casme2,samm --protocols loso --seeds 3 \\
      --root casme2=/data/CASME2 --root samm=/data/SAMM
  merbench grid --models convmixer,ststnet --datasets synthetic --protocols loso --seeds 3 \\
      --executor ray --set executor.address=10.0.0.5:6379 executor.num_gpus=1
"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``grid`` sub-command."""
    grid = commands.add_parser(
        "grid",
        help="run a comparison grid (models × datasets × protocols, N seeds each) and print the comparison table",
        description="Run every (model, dataset, protocol) cell, each with N seeds like `merbench run --seeds N`, record "
        "each cell as a run in the results store, and end with the comparison table of the grid's runs (the table "
        "`merbench compare` prints). Every cell's configuration is checked before anything runs. With --executor ray "
        "each cell is a Ray task and the results come back to this machine's store.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    grid.add_argument("--models", action="append", required=True, metavar="A,B",
                      help="model plugin names, comma-separated (see `merbench list models`)")
    grid.add_argument("--datasets", action="append", required=True, metavar="X,Y",
                      help="dataset plugin names, comma-separated (see `merbench list datasets`)")
    grid.add_argument("--protocols", action="append", metavar="P,Q",
                      help="protocol plugin names, comma-separated; without it: protocol: in --config or --set "
                      "protocol=NAME, else subject-10fold")
    grid.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds per cell (mean ± std across seeds; default 1)")
    grid.add_argument("--seed", type=int, help="first seed (default 0)")
    grid.add_argument("--profile", help="quick (seconds, for tests), default (the CPU job) or paper"
                     "; without it: profile: in --config, else default")
    grid.add_argument("--epochs", type=int, help="training epochs per fold (overrides the profile)")
    grid.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU; the default), cpu, cuda or cuda:N")
    grid.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", nargs="+",
                      help="set an option for every cell, e.g. engine.lr=0.001 executor.num_cpus=2 (repeatable); a model.*, "
                      "dataset.* or protocol.* option goes to the cells whose model, dataset or protocol has an option of "
                      "that name (two models with a 'kernel' option both get model.kernel, even where it means something "
                      "else in one: run that one in a grid of its own; one that none of them has is refused)")
    grid.add_argument("--config", type=path_argument("a YAML file of options, e.g. --config grid.yaml"), help="YAML file of options applied to every cell")
    grid.add_argument("--root", action="append", default=[], metavar="NAME=DIR",
                      help="folder of a dataset's copy: NAME=DIR per dataset (repeatable), or DIR when the grid has "
                      "one dataset; with --executor ray the folder must exist at that path on every node")
    grid.add_argument("--executor", choices=EXECUTORS,
                      help="where the cells run: local (one after another on this machine, default) or ray (each "
                      "cell a Ray task; cluster from executor.address, default auto); same as --set executor.name=...")
    grid.add_argument("--metric", default="uf1",
                      help="metric of the final table: uf1 (default), uar, accuracy, macro_f1, macro_precision, macro_recall, weighted_f1")
    grid.add_argument("--stat", default="fold", choices=("fold", "pooled"),
                      help="fold: mean ± std over folds (default); pooled: all folds' predictions together (± std over seeds)")
    grid.add_argument("--store", type=STORE_FILE, metavar="PATH",
                      help="results store (SQLite) to record the runs in (default: $MERBENCH_STORE or the user data dir)")
    grid.add_argument("--no-store", action="store_true", help="do not record the runs in the results store")
    grid.add_argument("--stored", action="store_true",
                      help="reuse a complete stored run with exactly a cell's configuration and seed count instead of "
                      "training it again, and continue a cell's interrupted run (after an interruption: the finished "
                      "cells are kept, the interrupted one keeps its finished folds, the rest run)")
    grid.add_argument("--quiet", action="store_true", help="no progress bars")
    grid.add_argument("--json", type=output_file, metavar="FILE", help="write the grid's cells, comparison and full results to this file (- for stdout)")
    grid.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench grid``."""
    from merbench.config import DEFAULT_PROTOCOL, check_seeds, parse_set, with_executor_flag
    from merbench.grid import (check_devices, check_placement, configured_protocol, given_names, parse_roots, plan_grid,
                               preflight_cells, split_names)
    from merbench.metrics import METRIC_KEYS
    from merbench.outputs import check_command_output, check_store_outside_datasets
    from merbench.registry import get_registry
    from merbench.store import ResultStore

    registry = get_registry()
    print_plugin_problems(err, registry, split_names(args.models))
    target = check_command_output(args.json, "--json", args, writes="grid") if args.json is not None else None
    if args.json is not None and target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    if args.no_store and (args.store or args.stored):
        raise UsageError("--no-store cannot be combined with --store or --stored")
    check_seeds(args.seeds)
    if args.metric not in METRIC_KEYS:  # checked now, not after the grid has run
        raise UsageError(f"--metric {args.metric}: choose one of {', '.join(METRIC_KEYS)}")
    models, datasets = (given_names(args.models, "--models", "models", registry),
                        given_names(args.datasets, "--datasets", "datasets", registry))
    sets = with_executor_flag(parse_set(flatten_sets(args.sets)), args.executor, args.config)
    protocols = (given_names(args.protocols, "--protocols", "protocols", registry)
                 or [configured_protocol(sets, args.config) or DEFAULT_PROTOCOL])
    cells = plan_grid(registry, models, datasets, protocols, roots=parse_roots(args.root, datasets), profile=args.profile,
                      seed=args.seed, device=args.device, epochs=args.epochs, sets=sets, config_file=args.config)
    check_seeds(args.seeds, max(cell.config.seed for cell in cells))  # the first seed may come from --config
    check_placement(cells)
    executor = cells[0].config.section("executor")["name"]
    if not args.stored and executor == "local":
        check_devices(cells)  # before the store is opened; with --stored, run_grid checks the cells left to train
    preflight_cells(cells, registry)  # a usage error leaves no row in the store
    check_store_outside_datasets(args)
    err.print(f"Grid: {counted(models, 'model')} × {counted(datasets, 'dataset')} × {counted(protocols, 'protocol')} = "
              f"{counted(cells, 'cell')}, {counted(args.seeds, 'seed')} each, executor {executor}")
    store = None if args.no_store else ResultStore(args.store)
    try:
        return _run(args, out, err, registry, cells, store, target)
    finally:
        if store is not None:
            store.close()


def _run(args: argparse.Namespace, out: Console, err: Console, registry: Any, cells: list, store: Any,
         target: Path | None = None) -> int:
    from merbench.environment import ReuseCheck
    from merbench.grid import run_grid
    from merbench.progress import command_progress

    reuse = ReuseCheck("grid")
    other_software_of: dict[str, list[str]] = {}  # by run id: a reused run's software that is not this grid's

    ended: list[Any] = []  # the cells that ended before an interruption, stored or failed

    def report(outcome) -> None:
        ended.append(outcome)
        if outcome.error is not None:
            stored = f" (stored run {outcome.run_id})" if outcome.run_id else ""
            err.print(f"[red]Cell {escape(outcome.cell.label)} {outcome.status}{escape(stored)}:[/] "
                      f"{escape(str(outcome.error))}")
        elif outcome.reused:
            changed = other_software_of[str(outcome.run_id)] = reuse.other_software(
                outcome.result.environment if outcome.result is not None else None)
            err.print(escape(f"Cell {outcome.cell.label}: stored run {outcome.run_id} {reuse.phrase(changed)}"),
                      highlight=False)
        elif outcome.run_id is not None:
            continued = ("" if outcome.continued_folds is None else
                         f", continued from where it was interrupted ({counted(outcome.continued_folds, 'fold')} kept)")
            err.print(escape(f"Cell {outcome.cell.label}: stored as run {outcome.run_id}{continued}"), highlight=False)

    executor = cells[0].config.section("executor")["name"]
    progress = command_progress(err, args.quiet)
    try:
        with progress:
            outcomes = run_grid(cells, registry, args.seeds, store, progress, report, reuse_stored=args.stored)
    except KeyboardInterrupt:
        if store is not None:
            note = interrupted_note(ended, executor, len(cells), args.json is not None, store)
            err.print(escape(note), highlight=False)
        else:
            err.print(escape(unstored_note(ended)), highlight=False)
        raise
    try:
        return _show_grid(args, out, err, store, target, executor, outcomes, other_software_of, registry)
    except KeyboardInterrupt:  # every cell has ended: only the table and the files are missing
        if store is not None:
            note = interrupted_note(outcomes, executor, len(cells), args.json is not None, store)
            err.print(escape(note), highlight=False)
        raise


def _show_grid(args: argparse.Namespace, out: Console, err: Console, store, target, executor: str, outcomes: list,
               other_software_of: dict[str, list[str]], registry) -> int:
    """Print the grid's comparison table, its warnings and failed cells, and write ``--json``; the exit code."""
    from merbench.commands.compare import print_leakage_warnings
    from merbench.compare import build_comparison, comparison_table
    from merbench.outputs import write_output
    from merbench.run_settings import changed_settings_of

    results = [outcome.result for outcome in outcomes if outcome.result is not None]
    failed = [outcome for outcome in outcomes if outcome.error is not None]
    comparison = build_comparison(results, args.metric, args.stat, changed_settings_of(results, registry)) if results else None
    if comparison is not None:
        out.print(comparison_table(comparison))
        print_leakage_warnings(out, comparison.warnings(), "the grid's --json FILE")
    for warning in other_software_warnings(outcomes, other_software_of):
        out.print(f"[bold yellow]⚠ other software:[/] {escape(warning)}")
    for outcome in failed:
        stored = f" (stored run {outcome.run_id})" if outcome.run_id else ""
        out.print(f"[bold red]{outcome.status}:[/] {escape(outcome.cell.label + stored)}: {escape(str(outcome.error))}")
    if args.json is not None:
        write_output(target, json.dumps(_json_report(args.seeds, executor, outcomes, comparison, other_software_of), indent=2))
        if target is not None:
            err.print(f"Grid written to {console_line(str(args.json))}", soft_wrap=True, highlight=False)
    if store is not None and results:
        ids = " ".join(outcome.run_id for outcome in outcomes if outcome.run_id and outcome.result is not None)
        err.print(escape(f"Stored in {store.path}; this table again: {compare_command(args, ids)}"), highlight=False)
    if failed:
        stopped = sum(outcome.status == "interrupted" for outcome in failed)
        how = ("failed" if not stopped else "interrupted" if stopped == len(failed) else
               f"failed or interrupted ({stopped} interrupted)")
        err.print(f"{len(failed)} of {counted(outcomes, 'cell')} {how}")
        return max(outcome.error.exit_code for outcome in failed)
    return 0


def compare_command(args: argparse.Namespace, ids: str) -> str:
    """The ``merbench compare`` command that prints the grid's table again: its runs, and its store, metric and
    statistic where they are not compare's defaults."""
    import shlex

    options = [f"--store {shlex.quote(str(args.store))}"] if args.store else []
    options += [f"--metric {args.metric}"] if args.metric != "uf1" else []
    options += [f"--stat {args.stat}"] if args.stat != "fold" else []
    return " ".join(["merbench compare", *options, ids])


def other_software_warnings(outcomes: list, other_software_of: dict[str, list[str]]) -> list[str]:
    """One sentence per cell that reused (``--stored``) a run trained with other software than this grid's."""
    return [f"{outcome.cell.label} shows stored run {outcome.run_id}, trained with other software, so its scores do "
            f"not measure this code (stored → now: {'; '.join(other_software_of[str(outcome.run_id)])}); run without "
            "--stored to measure it"
            for outcome in outcomes if other_software_of.get(str(outcome.run_id))]


def unstored_note(ended: list) -> str:
    """What a grid run with ``--no-store`` and interrupted after the cells ``ended`` lost: every finished cell."""
    finished = [outcome for outcome in ended if outcome.result is not None]
    if not finished:
        return ("No cell finished, and with --no-store nothing is kept; run it without --no-store to keep each cell "
                "as it ends")
    return (f"{counted(finished, 'finished cell')} {'was' if len(finished) == 1 else 'were'} not kept (--no-store): "
            "an interrupted grid without a store starts from its first cell again; run it without --no-store to "
            "keep each cell as it ends (and --stored to reuse them)")


def interrupted_note(ended: list, executor: str, total: int, json_asked: bool = False, store: Any = None) -> str:
    """What a grid of ``total`` cells interrupted after the cells ``ended`` kept, and how to go on; the commands it
    names find ``store`` (``ResultStore.store_option``, as a local cell's hint, ``grid.continue_in_grid``)."""
    stored = [outcome for outcome in ended if outcome.result is not None]
    kept = (f"{counted(stored, 'finished cell')} {'is' if len(stored) == 1 else 'are'} stored" if stored
            else "No cell finished")
    keep = ("keep it" if len(stored) == 1 else "keep them") if stored else ""
    if len(ended) >= total:  # stopped while the table was shown or the file written
        return (f"Interrupted after every cell had ended: {kept[0].lower() + kept[1:]}; run the same command with "
                f"--stored to show the table{' and write the --json file' if json_asked else ''} without training "
                "again")
    if executor == "local":
        return (f"{kept}; run the same command with --stored to {keep + ', ' if stored else ''}continue the "
                "interrupted cell from its finished folds and run the rest")
    option = store.store_option() if store is not None else ""
    return (f"{kept}; run the same command with --stored to {keep + ' and ' if stored else ''}run the rest: on Ray "
            f"an interrupted cell starts again from its first fold, in its stored run (merbench runs --status "
            f"interrupted{option} lists them)")


def _json_report(seeds: int, executor: str, outcomes: list, comparison: Any,
                 other_software_of: dict[str, list[str]]) -> dict[str, Any]:
    """The ``--json`` document: the grid, one entry per cell (its ``status``, ``complete``, ``failed`` or
    ``interrupted`` as the store has its run; with ``--stored``: whether it reused a stored run, how
    many folds of an interrupted run it continued (``continued_folds``, else ``None``), and ``other_software``, what
    of the software that run was trained with is not this grid's: ``KEY STORED → NOW``; a finished cell's scores as
    its result has them: what it leaked (``leaks``, ``subject_independent``), the first seed's (``seed``, ``pooled``,
    ``fold_mean``, ``fold_std``) and, with ``--seeds
    N``, every seed's (``seeds``, ``across_seeds``), from which the table's mean over every seed's folds comes), the comparison (as
    ``merbench compare --json`` prints it), the warnings on cells that show other software's runs
    (``other_software``, as printed under the table) and every full result."""
    from merbench.export import comparison_document
    from merbench.leaks import result_leaks

    cells = []
    for outcome in outcomes:
        entry: dict[str, Any] = {"model": outcome.cell.model, "dataset": outcome.cell.dataset,
                                 "protocol": outcome.cell.protocol, "run_id": outcome.run_id,
                                 "status": outcome.status,
                                 "error": None if outcome.error is None else str(outcome.error),
                                 "reused": outcome.reused, "continued_folds": outcome.continued_folds,
                                 "other_software": other_software_of.get(str(outcome.run_id), [])}
        if outcome.result is not None:
            result = outcome.result
            entry.update(seed=result.seed, leaks=result_leaks(result), subject_independent=result.subject_independent,
                         pooled=result.pooled, fold_mean=result.fold_mean, fold_std=result.fold_std,
                         seeds=None if result.seeds is None else as_json(result.seeds),
                         across_seeds=None if result.across_seeds is None else as_json(result.across_seeds))
        cells.append(entry)
    return {
        "grid": {"models": list(dict.fromkeys(o.cell.model for o in outcomes)),
                 "datasets": list(dict.fromkeys(o.cell.dataset for o in outcomes)),
                 "protocols": list(dict.fromkeys(o.cell.protocol for o in outcomes)),
                 "seeds": seeds, "executor": executor},
        "cells": cells,
        "comparison": None if comparison is None else comparison_document(comparison),
        "other_software": other_software_warnings(outcomes, other_software_of),
        "results": [outcome.result.to_dict() for outcome in outcomes if outcome.result is not None],
    }

