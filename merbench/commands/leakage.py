"""``merbench leakage``: measure how much each leaky shortcut inflates a model's scores on a dataset."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from rich.console import Console
from rich.markup import escape

from merbench.commands import (STORE_FILE, GivenOnce, HelpFormatter, add_model_and_dataset, dataset_folder, flatten_sets,
                               output_file, path_argument, print_plugin_problems, ray_messages, reusable_stored_run)
from merbench.errors import UsageError
from merbench.escaping import console_line
from merbench.wording import counted

ORDER = 13

EXAMPLES = """examples:
  merbench leakage --model ststnet --dataset synthetic --profile quick --seeds 1
  merbench leakage --model convmixer --dataset synthetic --seeds 3 --json leakage.json
  merbench leakage --model ststnet --dataset casme2 --root /data/CASME2 --protocol loso
  merbench leakage --model convmixer --dataset synthetic --seeds 3 --stored   # after an interruption: reuse finished runs
  merbench report --leakage leakage.json --output leakage.html       # render a stored summary

variants: honest (the --protocol, subject-10fold by default), sample-10fold, frame-10fold, \
select_on=test (engine.select_on=test), normalise_on=all (engine.normalise_on=all); docs/leakage.md.
"""


USAGE = """%(prog)s --model MODEL --dataset DATASET
                        [options]
       %(prog)s --config FILE [options]"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``leakage`` sub-command."""
    parser = commands.add_parser(
        "leakage",
        help="run the honest protocol and each leaky variant; print how much each inflates the scores",
        description="Run MODEL on DATASET under the honest protocol and under each leaky variant (sample-level "
        "folds, frame-level folds, epoch selection on the test fold, normalisation on all samples) with the same "
        "seeds, and print one table: each variant with what leaks, its UF1, UAR and accuracy, and the UF1 inflation "
        "over the honest run with a paired bootstrap interval (each draw picks test subjects with all their clips, "
        "or with --resample clips clips one by one; docs/leakage.md). Every run is recorded in the results store; --json keeps the summary "
        "(merbench report --leakage FILE renders it).",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add_model_and_dataset(parser, USAGE)
    parser.add_argument("--protocol", help="the honest, subject-independent protocol (default: subject-10fold)")
    parser.add_argument("--root", type=dataset_folder, action=GivenOnce, help="folder of your copy of the dataset (not needed for synthetic)")
    parser.add_argument("--profile", help="quick (seconds, for tests), default or paper"
                     "; without it: profile: in --config, else default")
    parser.add_argument("--epochs", type=int, help="training epochs per fold (overrides the profile)")
    parser.add_argument("--seed", type=int, help="first seed (default 0)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N", help="run every variant with N consecutive seeds (default 1)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU; the default), cpu, cuda or cuda:N")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", nargs="+",
                        help="an option for every variant, e.g. engine.epochs=10 (protocol.* options go to the "
                        "variants whose protocol has them)")
    parser.add_argument("--config", type=path_argument("a YAML file of options, e.g. --config run.yaml"), help="YAML file of options for every variant")
    parser.add_argument("--executor", choices=["local", "ray"],
                        help="where each variant's folds train: local (this machine, default) or ray (a Ray cluster; "
                        "see --set executor.address=auto|HOST:PORT and docs/scale.md); same as --set executor.name=...")
    parser.add_argument("--resample", choices=("subjects", "clips"), default="subjects",
                        help="what each draw of the ΔUF1 interval picks: test subjects (the default), each with all "
                        "its clips, since clips of one person are alike and drawing them one by one usually gives a "
                        "narrower interval than the data support; or clips one by one (as merbench significance --resample)")
    parser.add_argument("--json", type=output_file, metavar="FILE", help="write the summary to FILE (- for stdout)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--store", type=STORE_FILE, metavar="PATH",
                        help="results store to record the runs in (default: $MERBENCH_STORE or the user data dir)")
    parser.add_argument("--no-store", action="store_true", help="do not record the runs in the results store")
    parser.add_argument("--stored", action="store_true",
                        help="reuse a complete stored run with exactly a variant's configuration and seed instead of "
                        "running it again, and continue an interrupted one from its finished folds (to continue an "
                        "interrupted study)")
    parser.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench leakage``."""
    from merbench.config import parse_set, with_executor_flag
    from merbench.leakage import plan_study, preflight_study
    from merbench.outputs import check_command_output, check_store_outside_datasets
    from merbench.registry import get_registry
    from merbench.store import ResultStore

    registry = get_registry()
    print_plugin_problems(err, registry, [args.model])
    if args.no_store and (args.store or args.stored):
        raise UsageError("--no-store cannot be combined with --store or --stored")
    target = check_command_output(args.json, "--json", args, writes="leakage") if args.json is not None else None
    if args.json is not None and target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    study = plan_study(registry, model=args.model, dataset=args.dataset, protocol=args.protocol, profile=args.profile,
                       seed=args.seed, seeds=args.seeds, device=args.device, root=args.root, epochs=args.epochs,
                       sets=with_executor_flag(parse_set(flatten_sets(args.sets)), args.executor, args.config),
                       config_file=args.config)
    preflight_study(study, registry, ray_messages(err, args.quiet))  # every variant's errors before a run is recorded
    check_store_outside_datasets(args)
    store = None if args.no_store else ResultStore(args.store)
    try:
        summary = _run(args, err, registry, store, study)
    finally:
        if store is not None:
            store.close()
    _report(args, out, err, summary, target)
    return 0


def _run(args: argparse.Namespace, err: Console, registry, store, study) -> dict:
    from merbench.environment import ReuseCheck
    from merbench.leakage import run_study, study_summary
    from merbench.progress import command_progress
    from merbench.errors import FoldsLost
    from merbench.recording import continue_with_stored, run_or_continue

    total = len(study.configs()) * len(study.seeds)
    done: list[str] = []
    reused: list[dict] = []
    reuse = ReuseCheck("study")
    progress = command_progress(err, args.quiet)

    def announce(new_id: str) -> None:
        err.print(escape(f"Run {new_id} (store {store.path})"), highlight=False)

    def run_one(config, label: str) -> dict:
        stored = reusable_stored_run(store, config, registry, err) if args.stored and store is not None else None
        what = f"[{len(done) + 1}/{total}] {label}, seed {config.seed}"
        if stored is not None:
            changed = reuse.other_software(stored.environment)
            reused.append({"run_id": stored.run_id, "other_software": changed})
            err.print(escape(f"{what}: stored run {stored.run_id} {reuse.phrase(changed)}"), highlight=False)
            done.append(stored.run_id or "")
            return stored
        # --stored continues the variant's interrupted run, keeping its finished folds, as grid --stored does
        resume_id = store.interrupted_run(config, 1) if args.stored and store is not None else None
        err.print(escape(what + (f", continuing its interrupted run {resume_id}" if resume_id else "")), highlight=False)
        recorded: list[str] = []

        def announced(new_id: str) -> None:
            recorded.append(new_id)
            announce(new_id)

        try:
            result, run_id, kept = run_or_continue(
                store, config, registry, 1, progress, resume_id,
                lambda reason: err.print(escape(f"Note: {what}: {reason}; it is trained anew"), highlight=False),
                announced)
        except FoldsLost as exc:
            raise continue_with_stored(exc, recorded[0] if recorded else None, store, "leakage", "variant") from None
        if kept is not None:
            err.print(escape(f"{what}: stored as run {run_id}, continued from where it was interrupted "
                             f"({counted(kept, 'fold')} kept)"), highlight=False)
        done.append(run_id or "")
        return result

    try:
        with progress:
            honest, leaky, seconds = run_study(study, run_one)
    except KeyboardInterrupt:
        if store is not None:
            err.print(interrupted_note(len(done), total), highlight=False)
        raise
    command = "merbench " + " ".join(shlex.quote(part) for part in sys.argv[1:]) if sys.argv[1:] else "merbench leakage"
    return study_summary(study, honest, leaky, seconds, command, reused, resample=args.resample)


def interrupted_note(finished: int, total: int) -> str:
    """What a study interrupted (Ctrl-C, SIGTERM) after ``finished`` of its ``total`` runs kept, and how to go on:
    ``--stored`` reuses the finished runs and continues the interrupted one from its finished folds."""
    kept = (f"{finished} of {total} runs of the study finished and {'is' if finished == 1 else 'are'} stored: run the "
            f"same command with --stored to reuse {'it' if finished == 1 else 'them'} and" if finished else
            "No run of the study finished: run the same command with --stored to")
    return f"{kept} continue the interrupted run from its finished folds"


def _report(args: argparse.Namespace, out: Console, err: Console, summary: dict, target) -> None:
    from merbench.leakage_summary import study_time
    from merbench.outputs import write_output
    from merbench.report import leakage_table
    from merbench.tables import print_table

    print_table(out, leakage_table(summary))
    err.print(f"{len(summary['variants'])} variants × {counted(summary['seeds'], 'seed')} in {study_time(summary)}")
    if args.json is not None:
        write_output(target, json.dumps(summary, indent=2))
        if target is not None:
            err.print(f"Summary written to {console_line(str(args.json))} (merbench report --leakage {console_line(str(args.json))})", soft_wrap=True, highlight=False)
