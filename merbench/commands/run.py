"""``merbench run``: train and evaluate a model on a dataset under a protocol."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from merbench.commands import EPILOG, HelpFormatter, dataset_folder, flatten_sets, print_plugin_problems
from merbench.errors import DataError, RunFailed, UsageError
from merbench.wording import counted

ORDER = 10

RUN_EPILOG = """  merbench run --model convmixer --dataset synthetic --profile quick --store results.sqlite
  merbench run --resume 20250611-142233-3fa2c1     # continue an interrupted run
  merbench run --config result.json                # run a recorded run's configuration again (docs/results.md)
  merbench run --model ststnet --dataset synthetic --protocol loso --set engine.parallel_folds=auto
  merbench run --model ststnet --dataset synthetic --executor ray --set executor.address=HEAD:6379
"""
RESUME_CONFLICTS = ("model", "dataset", "protocol", "profile", "root", "epochs", "seed", "config")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``run`` sub-command."""
    run = commands.add_parser(
        "run",
        help="train and evaluate a model on a dataset under a protocol",
        description="Train and evaluate MODEL on DATASET under PROTOCOL and print per-fold and pooled scores. "
        "Every run is recorded in the results store as its folds complete (see `merbench runs`).",
        epilog=EPILOG + RUN_EPILOG,
        formatter_class=HelpFormatter,
    )
    run.add_argument("--model", help="model plugin name (see `merbench list models`)")
    run.add_argument("--dataset", help="dataset plugin name (see `merbench list datasets`)")
    run.add_argument("--protocol", help="protocol plugin name (default: subject-10fold)")
    run.add_argument("--root", type=dataset_folder, help="folder of your copy of the dataset (not needed for synthetic)")
    run.add_argument("--profile", help="quick (seconds, for tests), default (the CPU job) or paper (full size, for a GPU)"
                     "; without it: profile: in --config, else default")
    run.add_argument("--epochs", type=int, help="training epochs per fold (overrides the profile)")
    run.add_argument("--seed", type=int, help="random seed of folds, initialisation and batches (default 0)")
    run.add_argument("--seeds", type=int, metavar="N",
                     help="repeat the run with N consecutive seeds and report mean ± std across seeds (default 1; "
                     "with --config result.json: as many as that run had)")
    run.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu or cuda")
    run.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="set an option, e.g. model.depth=8, engine.lr=0.001, flow.method=dis (repeatable; "
                     "several KEY=VALUE may follow one --set)", nargs="+")
    run.add_argument("--config", type=Path, help="YAML file of options (sections model:, dataset:, engine:, flow: ...), or a result JSON to run its "
                     "configuration again")
    run.add_argument("--executor", choices=["local", "ray"],
                     help="where folds train: local (this machine, default) or ray (a Ray cluster; see "
                     "--set executor.address=auto|HOST:PORT and docs/scale.md); same as --set executor.name=...")
    run.add_argument("--json", type=Path, help="write the machine-readable result to this file (- for stdout)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--store", type=Path, metavar="PATH",
                     help="results store (SQLite) to record the run in (default: $MERBENCH_STORE or the user data dir)")
    run.add_argument("--no-store", action="store_true", help="do not record the run in the results store")
    run.add_argument("--resume", metavar="RUN_ID",
                     help="continue an interrupted stored run: its completed folds are kept, the rest are trained "
                     "(the run's stored configuration is used; give no other run options)")

    run.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench run``."""
    from merbench.outputs import check_command_output, check_store_outside_datasets
    from merbench.registry import get_registry
    from merbench.store import ResultStore

    registry = get_registry()
    print_plugin_problems(err, registry)
    args.json_target = check_command_output(args.json, "--json", args) if args.json is not None else None
    if args.json is not None and args.json_target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    if args.no_store and (args.resume or args.store):
        raise UsageError("--no-store cannot be combined with --resume or --store")
    # A new run's usage errors are found before the store is opened: they leave no row behind.
    config = None if args.resume else _new_config(args, registry)
    check_store_outside_datasets(args)  # after the configuration: a --root the dataset cannot take is said first
    store = None if args.no_store else ResultStore(args.store)
    try:
        return _execute(args, out, err, registry, store, config)
    finally:
        if store is not None:
            store.close()


def _new_config(args: argparse.Namespace, registry):
    """The resolved configuration of a new run, checked by ``preflight`` (nothing is recorded or started yet)."""
    from merbench.config import check_seeds, parse_set, resolve_config, seeds_recorded_in, with_executor_flag
    from merbench.preflight import preflight

    args.seeds_to_run = args.seeds if args.seeds is not None else 1
    recorded = seeds_recorded_in(args.config) if args.config is not None else None
    if args.seeds is None and recorded is not None and recorded > 1:
        args.seeds_to_run = recorded  # a --seeds N run is run again with its N seeds, not one
    check_seeds(args.seeds_to_run)
    config = resolve_config(
        registry,
        model=args.model,
        dataset=args.dataset,
        protocol=args.protocol,
        profile=args.profile,
        seed=args.seed,
        device=args.device,
        root=args.root,
        epochs=args.epochs,
        sets=with_executor_flag(parse_set(flatten_sets(args.sets)), args.executor, args.config),
        config_file=args.config,
    )
    preflight(config, registry, start_workers=True)
    return config


def _execute(args: argparse.Namespace, out: Console, err: Console, registry, store, config) -> int:
    from merbench.outputs import write_output
    from merbench.preflight import preflight
    from merbench.progress import command_progress
    from merbench.report import print_result
    from merbench.recording import run_recorded

    if args.resume:
        config, n_seeds, run_id = _resumed(args, store, registry)
        for note in getattr(args, "resume_notes", []):
            err.print(f"[bold yellow]Warning:[/] {escape(note)}", highlight=False)
        _check_outputs_outside(args, config.root)
        preflight(config, registry, start_workers=True)
    else:
        n_seeds, run_id = args.seeds_to_run, None
        if args.seeds is None and n_seeds > 1:
            err.print(escape(f"--config {args.config}: a run of {n_seeds} seeds; running its {n_seeds} seeds again "
                             "(--seeds 1 runs one)"), highlight=False)
    started: list[str] = []

    def announce(new_id: str) -> None:
        started.append(new_id)
        err.print(escape(f"Run {new_id} (store {store.path})"), highlight=False)

    progress_sink = command_progress(err, args.quiet)
    try:
        with progress_sink:
            result, run_id, reused = run_recorded(store, config, registry, n_seeds, progress_sink, run_id, announce)
    except KeyboardInterrupt:
        if started:
            err.print(f"Completed folds are stored; continue with: merbench run --resume {started[0]}")
        elif store is not None:
            err.print("Nothing was recorded: the run was stopped before it started; run the same command again")
        raise
    if reused:
        err.print(f"Resumed: {counted(reused, 'completed fold')} reused from the store, the rest trained now")
    print_result(out, result)
    if store is not None:
        err.print(escape(f"Stored as run {run_id} in {store.path} (merbench show {run_id})"), highlight=False)
    if args.json is not None:
        try:
            write_output(args.json_target, json.dumps(result.to_dict(), indent=2))
        except UsageError as exc:  # written after the run: the run is done, only its copy is missing
            again = (f"write it again with `merbench show {run_id} --json {args.json}`" if store is not None
                     else "run again with another --json path")
            raise RunFailed(f"{exc}; the run itself finished and its result is {'stored' if store else 'not stored'}: "
                            f"{again}") from None
        if args.json_target is not None:
            err.print(f"Result written to {escape(str(args.json))}")
    return 0


def _fill_unrecorded_options(config, registry) -> list[str]:
    """Give each option of the run's plugins that its stored configuration lacks (stored by a merbench before the
    option existed) the value its profile gives now, as a new run would, rather than the plugin's own default that
    leaving it out would give (``dataset.preset``: ``easy`` in quick, where the plugin's is ``real``); returns the
    ``section.option=value`` texts filled in."""
    from merbench.config import resolve_config
    from merbench.errors import MerbenchError
    from merbench.run_settings import setting_text

    try:
        defaults = resolve_config(registry, model=config.model, dataset=config.dataset, protocol=config.protocol,
                                  profile=config.profile, seed=config.seed, root=config.root,
                                  sets={"preprocess": list(config.preprocess)})
    except MerbenchError:
        return []  # the checks before the run name what is wrong
    filled = []
    for section, values in config.sections.items():
        for key, value in defaults.sections.get(section, {}).items():
            if key not in values:
                values[key] = value
                filled.append(setting_text(f"{section}.{key}", value))
    return filled


def _check_outputs_outside(args: argparse.Namespace, root) -> None:
    """``--json`` checked again with a resumed run's stored dataset folder (``--root`` cannot be given with
    ``--resume``, so the check before the store was read knew no folder): merbench never writes inside it."""
    from merbench.outputs import check_output_path, input_paths, store_files

    if root is not None and args.json is not None:
        check_output_path(args.json, "--json", store_files(args.store), input_paths(args),
                          {"the resumed run's dataset folder": root})


def _resumed(args: argparse.Namespace, store, registry) -> tuple:
    """The stored configuration, seed count and full id of the run to resume (checks it can be resumed)."""
    from merbench.config import RunConfig
    from merbench.store import status_of

    given = [f"--{name}" for name in RESUME_CONFLICTS if getattr(args, name) is not None]
    given += ["--set"] if args.sets else []
    given += [f"--{name}" for name, default in (("device", "auto"), ("seeds", None))
              if getattr(args, name) != default]
    if given:
        raise UsageError(f"--resume uses the stored run's configuration; drop {', '.join(given)}")
    row = store.run_row(args.resume)
    status = status_of(row)
    if status == "complete":
        raise UsageError(f"run {row['id']} is complete; nothing to resume (see `merbench show {row['id']}`)")
    if status == "running":
        raise UsageError(f"run {row['id']} is still running (process {row['pid']} on {row['host']}); wait for it or stop it first")
    stored = store.run_config(row["id"])
    try:
        plugins = [("models", stored["model"]), ("datasets", stored["dataset"]), ("protocols", stored["protocol"])]
        plugins += [("preprocessors", name) for name in stored["preprocess"]]
        config = RunConfig.from_dict(stored)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"configuration of run {row['id']} in {store.path}: incomplete or damaged ({type(exc).__name__}: "
                        f"{exc}); the store was changed outside merbench. Start the run again without --resume") from None
    for kind, name in plugins:
        registry.get(kind, name)
    filled = _fill_unrecorded_options(config, registry)
    if filled:
        args.resume_notes = [f"run {row['id']} was stored by a merbench without {', '.join(filled)}: resumed with "
                             f"the {config.profile} profile's default{'s' if len(filled) > 1 else ''}; if that makes "
                             "other data or folds than the run started with, the resume is refused"]
    if args.executor:  # the executor may change on resume
        config.sections["executor"]["name"] = args.executor
    return config, int(row["n_seeds"]), row["id"]
