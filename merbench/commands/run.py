"""``merbench run``: train and evaluate a model on a dataset under a protocol."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from merbench.commands import EPILOG, flatten_sets
from merbench.errors import MerbenchError

ORDER = 10


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``run`` sub-command."""
    run = commands.add_parser(
        "run",
        help="train and evaluate a model on a dataset under a protocol",
        description="Train and evaluate MODEL on DATASET under PROTOCOL and print per-fold and pooled scores.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--model", help="model plugin name (see `merbench list models`)")
    run.add_argument("--dataset", help="dataset plugin name (see `merbench list datasets`)")
    run.add_argument("--protocol", help="protocol plugin name (default: subject-10fold)")
    run.add_argument("--root", type=Path, help="folder of your copy of the dataset (not needed for synthetic)")
    run.add_argument("--profile", default="default", help="quick (seconds, for tests), default (the CPU job) or paper (full size, for a GPU)")
    run.add_argument("--epochs", type=int, help="training epochs per fold (overrides the profile)")
    run.add_argument("--seed", type=int, help="random seed of folds, initialisation and batches (default 0)")
    run.add_argument("--seeds", type=int, default=1, metavar="N",
                     help="repeat the run with N consecutive seeds and report mean ± std across seeds")
    run.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu or cuda")
    run.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="set an option, e.g. model.depth=8, engine.lr=0.001, flow.method=dis (repeatable; "
                     "several KEY=VALUE may follow one --set)", nargs="+")
    run.add_argument("--config", type=Path, help="YAML file of options (sections model:, dataset:, engine:, flow: ...)")
    run.add_argument("--json", type=Path, help="write the machine-readable result to this file")
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    run.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench run``."""
    from merbench.cache import atomic_write_text
    from merbench.config import parse_set, resolve_config
    from merbench.progress import RichProgress, SilentProgress
    from merbench.registry import get_registry
    from merbench.report import print_result
    from merbench.runner import run_with_seeds

    registry = get_registry()
    for problem in registry.problems:
        err.print(f"[yellow]plugin problem:[/] {escape(problem)}")
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
        sets=parse_set(flatten_sets(args.sets)),
        config_file=args.config,
    )
    if args.json is not None and args.json.is_dir():
        raise MerbenchError(f"--json {args.json}: is a folder; give a file name such as {args.json / 'result.json'}")
    if args.quiet:
        result = run_with_seeds(config, registry, args.seeds, SilentProgress())
    else:
        with RichProgress(err) as progress:
            result = run_with_seeds(config, registry, args.seeds, progress)
    print_result(out, result)
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(result, indent=2))
        err.print(f"Result written to {args.json}")
    return 0
