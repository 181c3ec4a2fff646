"""``merbench tune``: nested cross-validated hyper-parameter search with Optuna (docs/tuning.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from merbench.commands import (GivenOnce, HelpFormatter, add_model_and_dataset, dataset_folder, flatten_sets, output_file,
                               path_argument, print_plugin_problems)
from merbench.escaping import console_line

ORDER = 12

EXAMPLES = """examples:
  merbench tune --model ststnet --dataset synthetic --profile quick --trials 3 --space benchmarks/spaces/ststnet.yaml
  merbench tune --model convmixer --dataset casme2 --root /data/CASME2 --protocol loso --trials 30 \\
      --space benchmarks/spaces/convmixer.yaml --inner-folds 5 --json tuned.json
  merbench tune ... --resume                  # continue an interrupted tune (same options)
  merbench tune ... --executor ray --workers 4 --set executor.address=HEAD:6379
"""


USAGE = """%(prog)s --model MODEL --dataset DATASET
                     --space FILE.yaml --trials N [options]
       %(prog)s --config FILE --space FILE.yaml
                     --trials N [options]"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``tune`` sub-command."""
    tune = commands.add_parser(
        "tune",
        help="tune hyper-parameters honestly: nested cross-validation with Optuna",
        description="Search the options of SPACE for MODEL with Optuna (TPE, median pruning) inside every outer fold "
        "of PROTOCOL: each trial is scored on inner folds carved by subject from that outer fold's training "
        "subjects only; the best configuration is then trained once on the outer training part and scored once on "
        "the outer test part. Prints the outer scores (the tuned result), the configuration chosen per fold and "
        "how stable the choice is. Trials are stored (--storage) and an interrupted tune continues where it "
        "stopped. See docs/tuning.md.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add_model_and_dataset(tune, USAGE)
    tune.add_argument("--protocol", help="outer protocol (default: subject-10fold)")
    tune.add_argument("--space", type=path_argument("a YAML file of the search space, e.g. --space space.yaml"), required=True, metavar="FILE.yaml",
                      help="search space: SECTION.OPTION -> {type: float|int|categorical, ...} (benchmarks/spaces/)")
    tune.add_argument("--trials", type=int, required=True, metavar="N", help="trials per outer fold")
    tune.add_argument("--inner-folds", type=int, default=3, metavar="K",
                      help="inner folds by subject within each outer training part (default 3)")
    tune.add_argument("--root", type=dataset_folder, action=GivenOnce, help="folder of your copy of the dataset (not needed for synthetic)")
    tune.add_argument("--profile", help="quick (seconds, for tests), default or paper"
                     "; without it: profile: in --config, else default")
    tune.add_argument("--epochs", type=int, help="training epochs per fold (overrides the profile)")
    tune.add_argument("--seed", type=int, help="seed of folds, sampler, initialisation and batches (default 0)")
    tune.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU; the default), cpu, cuda or cuda:N")
    tune.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", nargs="+",
                      help="fix an option for every trial, e.g. engine.epochs=10 (repeatable)")
    tune.add_argument("--config", type=path_argument("a YAML file of options, e.g. --config run.yaml"), help="YAML file of fixed options (sections model:, engine:, ...)")
    tune.add_argument("--executor", choices=["local", "ray"],
                      help="where trials train: local (default) or ray (each inner fold a Ray task; docs/scale.md)")
    tune.add_argument("--workers", type=int, default=1, metavar="N",
                      help="trials at once (default 1; locally they share the cores)")
    tune.add_argument("--storage", type=path_argument("a file for the study, e.g. --storage study.sqlite"), metavar="PATH",
                      help="SQLite file of the trials (default: tuning.sqlite beside the results store)")
    tune.add_argument("--resume", action="store_true",
                      help="continue the stored trials of this tune (an error when there are none); without it "
                      "stored trials of the same options are reused too")
    tune.add_argument("--fresh", action="store_true", help="delete this tune's stored trials and start over")
    tune.add_argument("--json", type=output_file, metavar="FILE", help="write the summary to this file (- for stdout)")
    tune.add_argument("--quiet", action="store_true", help="no progress bars")
    tune.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench tune``."""
    from merbench.config import parse_set, with_executor_flag
    from merbench.outputs import check_command_output, check_store_outside_datasets, write_output
    from merbench.progress import command_progress
    from merbench.registry import get_registry
    from merbench.tuning import TuneRequest, import_optuna, run_tune
    from merbench.tuning_report import print_summary

    import_optuna()  # a missing Optuna is said before anything else
    registry = get_registry()
    print_plugin_problems(err, registry, [args.model])
    from merbench.tuning_storage import default_storage, storage_files

    storage = args.storage or default_storage()
    check_store_outside_datasets(args, storage, "--storage" if args.storage else "the trials storage")
    json_target = check_command_output(args.json, "--json", args, also_read=storage_files(storage),
                                       writes="tune") \
        if args.json is not None else None
    if args.json is not None and json_target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    request = TuneRequest(
        model=args.model, dataset=args.dataset, space=args.space, trials=args.trials, protocol=args.protocol,
        profile=args.profile, seed=args.seed, device=args.device, root=args.root, epochs=args.epochs,
        sets=with_executor_flag(parse_set(flatten_sets(args.sets)), args.executor, args.config), config_file=args.config, inner_folds=args.inner_folds,
        workers=args.workers, executor=args.executor, storage=args.storage, resume=args.resume, fresh=args.fresh,
    )
    progress = command_progress(err, args.quiet)
    try:
        with progress:
            summary = run_tune(request, registry, progress)
    except KeyboardInterrupt as stop:
        err.print(escape(interrupted_note(_stored_trials(stop), storage)), highlight=False)
        raise
    print_summary(out, summary)
    if args.json is not None:
        write_output(json_target, json.dumps(summary, indent=2))
        if json_target is not None:
            err.print(f"Summary written to {console_line(str(args.json))}", soft_wrap=True, highlight=False)
    return 0


def _stored_trials(stop: BaseException | None) -> int | None:
    """The finished trials the tune counted when it was stopped (``tuning.run_tune`` notes them on the interrupt),
    also when a second Ctrl-C raised over the first while the command cleaned up."""
    from merbench.errors import raised_over

    return next((found.stored_trials for found in raised_over(stop)
                 if getattr(found, "stored_trials", None) is not None), None)


def interrupted_note(stored: int | None, storage: Path) -> str:
    """What an interrupted tune says: how many of its trials are stored (``stored``; ``None`` when not known) in
    ``storage``, and how to go on."""
    from merbench.wording import counted

    if stored is None and not storage.exists():
        stored = 0
    if stored == 0:
        return "No trial had finished, so nothing is stored; run the same command again to start (without --resume)"
    if stored is None:  # stopped before the tune knew its trials (loading, preprocessing): the file may hold none
        return (f"Run the same command again to continue from the trials of this tune stored in {storage}, if there "
                "are any (--resume refuses when there are none)")
    return (f"{counted(stored, 'finished trial')} of this tune stored in {storage}; run the same command again (or "
            "add --resume) to continue")
