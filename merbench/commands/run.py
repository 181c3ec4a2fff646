"""``merbench run``: train and evaluate a model on a dataset under a protocol."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from merbench.commands import (EPILOG, STORE_FILE, GivenOnce, HelpFormatter, add_model_and_dataset, dataset_folder, flatten_sets,
                               output_file, path_argument, print_plugin_problems, ray_messages)
from merbench.errors import DataError, RunFailed, UsageError
from merbench.escaping import console_line
from merbench.wording import counted

if TYPE_CHECKING:
    from merbench.config import RunConfig

ORDER = 10

RUN_EPILOG = """  merbench run --model convmixer --dataset synthetic --profile quick --store results.sqlite
  merbench run --resume 20250611-142233-3fa2c1     # continue an interrupted run
  merbench run --config result.json                # run a recorded run's configuration again (docs/results.md)
  merbench run --model ststnet --dataset synthetic --protocol loso --set engine.parallel_folds=auto
  merbench run --model ststnet --dataset synthetic --executor ray --set executor.address=HEAD:6379
"""


def run_examples() -> str:
    """``run --help``'s examples: the top-level help's ``merbench run`` lines, then the run-only ones."""
    own = [line for line in EPILOG.splitlines()[1:] if line.strip().startswith("merbench run ")]
    return "examples:\n" + "\n".join(own) + "\n" + RUN_EPILOG


RESUME_CONFLICTS = ("model", "dataset", "protocol", "profile", "epochs", "seed", "config")
"""The run options ``--resume`` refuses: they are the stored run's. ``--root``, ``--device`` and ``--executor`` belong
to the machine, not to the run, and may be given (the stored content key of the inputs refuses other data)."""


RUN_USAGE = """%(prog)s --model MODEL --dataset DATASET
                    [options]
       %(prog)s --config FILE [options]
       %(prog)s --resume RUN_ID [--force]"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``run`` sub-command."""
    run = commands.add_parser(
        "run",
        help="train and evaluate a model on a dataset under a protocol",
        description="Train and evaluate MODEL on DATASET under PROTOCOL and print per-fold and pooled scores. "
        "Every run is recorded in the results store as its folds complete (see `merbench runs`).",
        epilog=run_examples(),
        formatter_class=HelpFormatter,
    )
    add_model_and_dataset(run, RUN_USAGE)
    run.add_argument("--protocol", help="protocol plugin name (default: subject-10fold)")
    run.add_argument("--root", type=dataset_folder, action=GivenOnce, help="folder of your copy of the dataset (not needed for synthetic)")
    run.add_argument("--profile", help="quick (seconds, for tests), default (the CPU job) or paper (full size, for a GPU)"
                     "; without it: profile: in --config, else default")
    run.add_argument("--epochs", type=int, help="training epochs per fold (overrides the profile)")
    run.add_argument("--seed", type=int, help="random seed of folds, initialisation and batches (default 0)")
    run.add_argument("--seeds", type=int, metavar="N",
                     help="repeat the run with N consecutive seeds and report mean ± std across seeds (default 1; "
                     "with --config result.json: as many as that run had)")
    run.add_argument("--device", help="auto (CUDA when present, else CPU; the default), cpu, cuda or cuda:N")
    run.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="set an option, e.g. model.depth=8, engine.lr=0.001, flow.method=dis (repeatable; "
                     "several KEY=VALUE may follow one --set)", nargs="+")
    run.add_argument("--config", type=path_argument("a YAML file of options or a result JSON, e.g. --config run.yaml"), help="YAML file of options (sections model:, dataset:, engine:, flow: ...), or a result JSON to run its "
                     "configuration again")
    run.add_argument("--executor", choices=["local", "ray"],
                     help="where folds train: local (this machine, default) or ray (a Ray cluster; see "
                     "--set executor.address=auto|HOST:PORT and docs/scale.md); same as --set executor.name=...")
    run.add_argument("--json", type=output_file, metavar="FILE", help="write the machine-readable result to this file (- for stdout)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--store", type=STORE_FILE, metavar="PATH",
                     help="results store (SQLite) to record the run in (default: $MERBENCH_STORE or the user data dir)")
    run.add_argument("--no-store", action="store_true", help="do not record the run in the results store")
    run.add_argument("--resume", metavar="RUN_ID",
                     help="continue an interrupted stored run: its completed folds are kept, the rest are trained "
                     "(the run's stored configuration is used; give no other run options but --root, --device and "
                     "--executor, which belong to this machine)")
    run.add_argument("--force", action="store_true",
                     help="with --resume: continue a run recorded as still running where merbench cannot check its "
                     "process (on another host or in another container, or recorded by an older merbench), on your "
                     "word that it is gone")

    run.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench run``."""
    from merbench.outputs import check_command_output, check_store_outside_datasets
    from merbench.registry import get_registry
    from merbench.store import ResultStore

    registry = get_registry()
    print_plugin_problems(err, registry, [args.model])
    # A resumed run's dataset folder is known once the store is read: no file is made in --json's folder before then
    args.json_target = (check_command_output(args.json, "--json", args, probe=args.resume is None, writes="run")
                        if args.json is not None else None)
    if args.json is not None and args.json_target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    if args.resume is not None and not args.resume.strip():
        raise UsageError("--resume: an empty run id; give a run's id or the start of it (`merbench runs` lists them)")
    if args.no_store and (args.resume is not None or args.store):
        raise UsageError("--no-store cannot be combined with --resume or --store")
    if args.force and args.resume is None:
        raise UsageError("--force goes with --resume ID only (it continues a run recorded as still running)")
    # A new run's usage errors are found before the store is opened: they leave no row behind.
    config = None if args.resume is not None else _new_config(args, registry, ray_messages(err, args.quiet))
    if args.resume is not None:
        _check_run_to_resume(args, registry)  # nothing is created for a run that is not there
    check_store_outside_datasets(args)  # after the configuration: a --root the dataset cannot take is said first
    store = None if args.no_store else ResultStore(args.store, no_store_option=args.resume is None)
    try:
        return _execute(args, out, err, registry, store, config)
    finally:
        if store is not None:
            store.close()


def _new_config(args: argparse.Namespace, registry, ray_messages=None):
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
        device=args.device or "auto",
        root=args.root,
        epochs=args.epochs,
        sets=with_executor_flag(parse_set(flatten_sets(args.sets)), args.executor, args.config),
        config_file=args.config,
    )
    preflight(config, registry, start_workers=True, join_ray_with=ray_messages)
    return config  # its folder is stored as an absolute path (RunConfig.to_dict): a resume from elsewhere finds it


def _check_run_to_resume(args: argparse.Namespace, registry) -> None:
    """Refuse a ``--resume`` of a run that is not in the store it names before that store is opened for writing,
    which would create it: a missing ``--store`` path is refused as the reading commands refuse it (likely
    mistyped), and nothing is written anywhere. A ``--root`` for a run of a dataset that reads no folder (synthetic)
    is refused as such, before the store is checked against that folder."""
    from merbench.config import NO_FOLDER
    from merbench.errors import MerbenchError
    from merbench.store import ResultStore

    with ResultStore(args.store, create=False) as reader:
        dataset = reader.run_row(args.resume)["dataset"]
    if args.root is not None:
        try:
            reads_root = registry.get("datasets", dataset).reads_root
        except MerbenchError:
            return  # a dataset plugin not installed here: said when the run is read
        if not reads_root:
            raise UsageError(NO_FOLDER.format(name=dataset, root=args.root))


def _execute(args: argparse.Namespace, out: Console, err: Console, registry, store, config) -> int:
    from merbench.outputs import write_output
    from merbench.preflight import preflight
    from merbench.progress import command_progress
    from merbench.report import print_result
    from merbench.recording import run_recorded

    if args.resume is not None:
        resumed = _resumed(args, store, registry)
        config, n_seeds, run_id = resumed.config, resumed.n_seeds, resumed.run_id
        for note in resumed.notes:
            err.print(f"[bold yellow]Warning:[/] {escape(note)}", highlight=False)
        _check_outputs_outside(args, config, run_id)
        preflight(config, registry, start_workers=True, join_ray_with=ray_messages(err, args.quiet))
        if resumed.taken_over is not None:
            from merbench.runner import choose_run_device

            choose_run_device(config)  # a device this machine lacks is refused before the run is taken over
            _take_over(store, run_id, *resumed.taken_over)
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
    rerun = _rerun_check(args)
    try:
        with progress_sink:
            if rerun is not None:
                rerun.compare_options(config.sections, _given_keys(args), progress_sink)
            result, run_id, reused = run_recorded(store, config, registry, n_seeds, progress_sink, run_id, announce,
                                                  rerun)
    except KeyboardInterrupt:
        if started and _finished(store, started[0]):  # stopped in the moment after its last commit
            err.print(_finished_note(args, store, started[0]), highlight=False)
        elif started:
            err.print(console_line(f"{_folds_kept(store, started[0])}; continue with: "
                                   f"{store.resume_command(started[0])}{_json_option(args)}"), soft_wrap=True, highlight=False)
        elif store is not None:
            err.print("Nothing was recorded: the run was stopped before it started; run the same command again")
        raise
    written = False
    try:
        if reused:
            err.print(f"Resumed: {counted(reused, 'completed fold')} reused from the store, the rest trained now")
        print_result(out, result)
        if store is not None:
            err.print(console_line(f"Stored as run {run_id} in {store.path} (merbench show {run_id}"
                                   f"{store.store_option()})"), highlight=False)
        if args.json is not None:
            try:
                write_output(args.json_target, json.dumps(result.to_dict(), indent=2))
            except UsageError as exc:  # written after the run: the run is done, only its copy is missing
                again = (f"write it again with `merbench show {run_id}{store.store_option()}{_json_option(args)}`"
                         if store is not None
                         else "run again with another --json path")
                raise RunFailed(f"{exc}; the run itself finished and its result is "
                                f"{'stored' if store else 'not stored'}: {again}") from None
            written = True
            if args.json_target is not None:
                err.print(f"Result written to {console_line(str(args.json))}", soft_wrap=True, highlight=False)
    except KeyboardInterrupt:
        if store is not None:
            err.print(_finished_note(args, store, run_id, written), highlight=False)
        raise
    return 0


def _rerun_check(args: argparse.Namespace):
    """The ``RerunCheck`` of a run of ``--config result.json``; else ``None``."""
    from merbench.config import options_file
    from merbench.environment import FILES_KEY
    from merbench.rerun_inputs import RerunCheck
    from merbench.result import document_kind

    if args.config is None or args.resume is not None:
        return None
    data = options_file(args.config)
    if not isinstance(data, dict) or document_kind(data) != "run":
        return None
    environment = data.get("environment") if isinstance(data.get("environment"), dict) else {}
    recorded = data.get("config") if isinstance(data.get("config"), dict) else {}
    preprocess = data.get("preprocess") if isinstance(data.get("preprocess"), dict) else {}  # {}: no key to compare
    return RerunCheck(f"--config {args.config}", preprocess, environment.get(FILES_KEY), environment or None,
                      recorded.get("options"))


def _given_keys(args: argparse.Namespace) -> set[str]:
    """The dotted options the command gives itself (``--set``, ``--epochs``), which a recorded run's are not."""
    from merbench.config import parse_set

    return set(parse_set(flatten_sets(args.sets))) | ({"engine.epochs"} if args.epochs is not None else set())


def _finished(store, run_id: str) -> bool:
    """Whether ``run_id`` is complete in ``store`` (a Ctrl-C can land after the run's last commit)."""
    from merbench.errors import MerbenchError

    try:
        return store.run_row(run_id)["status"] == "complete"
    except MerbenchError:
        return False


def _finished_note(args: argparse.Namespace, store, run_id: str, written: bool = False) -> str:
    """What a run stopped after it finished still lacks: the note that nothing needs resuming, and how to get the
    ``--json`` file it did not write."""
    show = f"merbench show {run_id}{store.store_option()}"
    note = f"Run {run_id} had finished and is stored ({show}); nothing to resume"
    if args.json is not None and args.json_target is not None and not written:
        note += f"; --json was not written: `{show}{_json_option(args)}` writes it"
    return console_line(note)


def _json_option(args: argparse.Namespace) -> str:
    """`` --json FILE`` (quoted for the shell) when the command was given ``--json``, else ``""``: a command merbench
    advises in its place writes that file too."""
    import shlex

    return f" --json {shlex.quote(str(args.json))}" if args.json is not None else ""


def _fill_unrecorded_options(config, registry) -> list[str]:
    """Give each option of the run's plugins that its stored configuration lacks (stored by a merbench before the
    option existed) the value its profile gives now, as a new run would, rather than the plugin's own default that
    leaving it out would give (``dataset.preset``: ``easy`` in quick, where the plugin's is ``real``); returns the
    ``section.option=value`` texts filled in."""
    from merbench.config import resolve_config
    from merbench.errors import MerbenchError
    from merbench.run_settings import setting_text, unrecorded_options

    try:
        defaults = resolve_config(registry, model=config.model, dataset=config.dataset, protocol=config.protocol,
                                  profile=config.profile, seed=config.seed, root=config.root,
                                  sets={"preprocess": list(config.preprocess)})
    except MerbenchError:
        return []  # the checks before the run name what is wrong
    filled = []
    for section, key in unrecorded_options(config.sections, defaults.sections):
        config.sections[section][key] = value = defaults.sections[section][key]
        filled.append(setting_text(f"{section}.{key}", value))
    return filled


def _check_outputs_outside(args: argparse.Namespace, config, run_id: str) -> None:
    """``--json`` checked again with what a resumed run reads, which the check before the store was read could not
    know: its dataset folder (the stored one, unless ``--root`` gave it; merbench never writes inside it) and the
    files its stored options name (a manifest, weights: an output never replaces them)."""
    from merbench.outputs import check_output_path, input_paths, store_files, stored_option_files

    if args.json is not None:
        check_output_path(args.json, "--json", store_files(args.store),
                          {**stored_option_files(run_id, config.sections), **input_paths(args)},
                          {"the resumed run's dataset folder": config.root} if config.root is not None else {},
                          writes="run")


def _folds_kept(store, run_id: str) -> str:
    """What a stopped run left in the store, for the line that says how to continue it."""
    from merbench.errors import MerbenchError

    try:
        done = store.folds_stored(run_id)
    except MerbenchError:
        return "The run is stored"
    if not done:
        return "The run is stored (no fold completed yet)"
    return f"{counted(done, 'completed fold')} {'is' if done == 1 else 'are'} stored"


@dataclasses.dataclass
class _Resumed:
    """A stored run to resume: its configuration (with this machine's ``--root`` and ``--device``), seed count, full
    id, the warnings to show before it starts, and ``(host, pid)`` of the process ``--force`` takes it over from."""

    config: RunConfig
    n_seeds: int
    run_id: str
    notes: list[str]
    taken_over: tuple[str, int | None] | None = None


def _resumed(args: argparse.Namespace, store, registry) -> _Resumed:
    """The run to resume (checks it can be resumed)."""
    from merbench.config import RunConfig

    given = [f"--{name}" for name in RESUME_CONFLICTS if getattr(args, name) is not None]
    given += ["--set"] if args.sets else []
    given += ["--seeds"] if args.seeds is not None else []
    if given:
        raise UsageError(f"--resume uses the stored run's configuration; drop {', '.join(given)} (only --root, "
                         "--device and --executor, which belong to this machine, may be given)")
    row = store.run_row(args.resume)
    taken_over, notes = _check_not_running(args, row)
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
    config = _on_this_machine(args, config, row["id"])
    filled = _fill_unrecorded_options(config, registry)
    if filled:
        options = ", ".join(text.partition("=")[0] for text in filled)
        notes.append(f"run {row['id']} was stored by a merbench without the option{'s' if len(filled) > 1 else ''} "
                     f"{options}; resumed with the {config.profile} profile's value{'s' if len(filled) > 1 else ''} "
                     f"({', '.join(filled)}); if that makes other data or folds than the run started with, the "
                     "resume is refused and the run has to start anew")
    if args.executor:  # the executor may change on resume
        config.sections["executor"]["name"] = args.executor
    return _Resumed(config, int(row["n_seeds"]), row["id"], notes, taken_over)


def _check_not_running(args: argparse.Namespace, row) -> tuple[tuple[str, int | None] | None, list[str]]:
    """Refuse a complete run, and one still running; with ``--force``, a run recorded as running whose process
    merbench cannot check (another host, or an older merbench's record) is to be taken over: ``(host, pid)`` of that
    process, and the warning saying what that assumes."""
    from merbench.store import status_of, unchecked_holder

    run_id, status = row["id"], status_of(row)
    if status == "complete":
        raise UsageError(f"run {run_id} is complete; nothing to resume (see `merbench show {run_id}`)")
    if status != "running":
        return None, [f"--force is not needed: run {run_id} is {status}, not running"] if args.force else []
    holder = f"process {row['pid']} on {row['host']}"
    why = unchecked_holder(row)
    if why is None:
        raise UsageError(f"run {run_id} is still running ({holder}, this host); wait for it or stop it first")
    if not args.force:
        raise UsageError(f"run {run_id} is recorded as still running ({holder}), and {why}. If it still runs, wait for "
                         "it; if that process is gone (killed, or its machine lost), continue the run with "
                         f"`merbench run --resume {run_id} --force`")
    return (row["host"], row["pid"]), [
        f"run {run_id} was recorded as still running ({holder}); --force takes it as gone and continues the run "
        "here. If that process still runs, both train this run, and its stored folds mix the two: stop it"]


def _take_over(store, run_id: str, host: str, pid: int | None) -> None:
    """Record a run ``--force`` takes over (from process ``pid`` on ``host``) as interrupted, once the checks before
    the run passed (a refused command leaves it as it was)."""
    if not store.release_run(run_id, host, pid):
        raise UsageError(f"run {run_id} changed while it was being taken over; run `merbench run --resume {run_id} "
                         "--force` again")


def _on_this_machine(args: argparse.Namespace, config, run_id: str):
    """The stored configuration with this machine's ``--root`` and ``--device`` where given (a ``--root`` for a
    dataset that reads no folder was refused by ``_check_run_to_resume``); a stored dataset folder that is not here
    is refused with the option that gives it."""
    if args.device is not None:
        config = dataclasses.replace(config, device=args.device)
    if args.root is not None:
        return dataclasses.replace(config, root=args.root)
    root = config.root
    if root is not None and not Path(root).is_dir():
        what = "is a file, not a folder" if Path(root).exists() else "does not exist"
        relative = "" if Path(root).is_absolute() else " (relative to the folder the run was started in)"
        raise UsageError(f"run {run_id} read dataset '{config.dataset}' from {root}{relative}, which {what} here; "
                         f"give the folder of your copy with `merbench run --resume {run_id} --root DIR` (the resume "
                         "checks that it gives the same inputs)")
    return config
