"""The ``merbench`` command line (contract: DESIGN.md section 2).

Errors a user can act on (``MerbenchError``) become one line on stderr and exit
code 2 (1 for a run that failed) here, and only here; ``--debug`` shows the
traceback as well.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from merbench import __version__
from merbench.errors import MerbenchError

KINDS = ("models", "datasets", "preprocessors", "protocols")

EPILOG = """examples:
  merbench run --model convmixer --dataset synthetic
  merbench run --model convmixer --dataset synthetic --profile quick --json result.json
  merbench run --model convmixer --dataset synthetic --protocol sample-10fold --set model.depth=6
  merbench list models
  merbench plugins
  merbench audit result.json
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="merbench",
        description="Benchmark facial micro-expression recognition models under honest protocols.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"merbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

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

    listing = commands.add_parser("list", help="list installed models, datasets, preprocessors or protocols")
    listing.add_argument("kind", nargs="?", choices=KINDS, help="what to list (default: everything)")

    commands.add_parser("plugins", help="installed plugins, their distributions, what they register, load errors")

    audit = commands.add_parser(
        "audit",
        help="re-check result files for leakage; exit 1 when any is found",
        description="Re-check results written by `merbench run --json` for subject overlap between training and "
        "test, selection or normalisation on test data, and scores that do not follow from the predictions. "
        "Exit 0 when every file passes, 1 when any check fails.",
    )
    audit.add_argument("files", nargs="+", type=Path, metavar="FILE.json", help="result files to audit")

    significance = commands.add_parser(
        "significance",
        help="is run B better than run A? paired Wilcoxon test over folds and a bootstrap interval",
        description="Compare two results of the same dataset and protocol made on the same folds (same --seed): "
        "Wilcoxon signed-rank test over per-fold scores and a paired bootstrap 95%% interval of the pooled difference (B - A).",
    )
    significance.add_argument("run_a", type=Path, metavar="A.json")
    significance.add_argument("run_b", type=Path, metavar="B.json")
    significance.add_argument("--metric", default="uf1", choices=("uf1", "uar", "accuracy"))
    significance.add_argument("--bootstrap", type=int, default=2000, metavar="N", help="bootstrap resamples (default 2000)")
    return parser


def _flatten_sets(groups: list[list[str]]) -> list[str]:
    return [item for group in groups for item in group]


def command_run(args: argparse.Namespace, out: Console, err: Console) -> int:
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
        sets=parse_set(_flatten_sets(args.sets)),
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


def _model_size(spec: Any, registry: Any) -> str:
    from merbench.contracts import resolve_factory

    options = dict(spec.options)
    options.update(spec.profiles.get("default", {}))
    size, channels = 32, 3
    for prep in registry.items("preprocessors"):
        if prep.produces == spec.input:
            prep_options = {**prep.options, **prep.profiles.get("default", {})}
            size = int(prep_options.get("size", size))
            channels = len(prep_options.get("channels", [0] * channels))
            break
    try:
        model = resolve_factory(spec.build)(options, channels, 3, size)
    except Exception as exc:  # a third-party model that cannot be built is still listed
        return f"error: {exc}"
    return f"{sum(p.numel() for p in model.parameters()):,}"


def command_list(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench list [kind]``."""
    from merbench.registry import get_registry

    registry = get_registry()
    for kind in [args.kind] if args.kind else KINDS:
        table = Table(title=kind.capitalize())
        table.add_column("Name", style="bold")
        table.add_column("Description")
        if kind == "models":
            table.add_column("Input")
            table.add_column("Params (default profile)", justify="right")
        if kind == "preprocessors":
            table.add_column("Produces")
        if kind == "protocols":
            table.add_column("Subject-independent")
        table.add_column("Provider")
        for spec in registry.items(kind):
            provider = registry.provider(kind, spec.name)
            extra: list[str] = []
            if kind == "models":
                extra = [spec.input, _model_size(spec, registry)]
            elif kind == "preprocessors":
                extra = [spec.produces]
            elif kind == "protocols":
                extra = ["yes" if spec.subject_independent else "[red]no[/]"]
            table.add_row(spec.name, spec.description, *extra, f"{provider.distribution} {provider.version}")
        out.print(table)
    for problem in registry.problems:
        err.print(f"[yellow]plugin problem:[/] {escape(problem)}")
    return 0


def command_plugins(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench plugins`` (never strict: it is where a broken plugin is diagnosed)."""
    from merbench.registry import Registry

    registry = Registry(strict=False)
    table = Table(title="Installed merbench plugins (entry-point group 'merbench')")
    for header in ("Entry point", "Target", "Distribution", "Registers", "Status"):
        table.add_column(header)
    for record in registry.records:
        provider = record.provider
        registers = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in record.registered.items()) or "—"
        status = f"[red]{escape(record.error)}[/]" if record.error else "[green]ok[/]"
        table.add_row(provider.entry_point, provider.target, f"{provider.distribution} {provider.version}", registers, status)
    out.print(table)
    if registry.disabled:
        out.print(f"Disabled by MERBENCH_DISABLE_PLUGINS: {', '.join(sorted(registry.disabled))}")
    return 0


def command_audit(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench audit FILE...``."""
    from merbench.audit import audit_result, load_result

    failed = False
    for path in args.files:
        result = load_result(path)
        table = Table(title=f"Audit of {path} ({result['model']} on {result['dataset']}, {result['protocol']})")
        for header in ("Check", "Status", "Finding"):
            table.add_column(header)
        for check in audit_result(result):
            failed |= not check.passed
            status = "[green]pass[/]" if check.passed else "[bold red]FAIL[/]"
            table.add_row(check.name, status, escape(check.detail))
        out.print(table)
    return 1 if failed else 0


def command_significance(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench significance A.json B.json``."""
    import numpy as np

    from merbench.audit import load_result
    from merbench.errors import UsageError
    from merbench.significance import compare_runs

    if args.bootstrap < 100:
        raise UsageError(f"--bootstrap {args.bootstrap}: use at least 100 resamples")
    a, b = load_result(args.run_a), load_result(args.run_b)
    comparison = compare_runs(a, b, args.metric, args.bootstrap)
    metric = args.metric.upper() if args.metric != "accuracy" else "Accuracy"
    table = Table(title=f"{metric}: B ({b['model']}) vs A ({a['model']}) on {a['dataset']}, {a['protocol']}, {len(comparison.fold_scores_a)} folds")
    for header in ("", "A", "B", "B - A"):
        table.add_column(header, justify="right")
    mean_a, mean_b = float(np.mean(comparison.fold_scores_a)), float(np.mean(comparison.fold_scores_b))
    table.add_row("fold mean", f"{100 * mean_a:.1f}", f"{100 * mean_b:.1f}", f"{100 * (mean_b - mean_a):+.1f}")
    table.add_row(
        "pooled", f"{100 * comparison.pooled_a:.1f}", f"{100 * comparison.pooled_b:.1f}",
        f"{100 * comparison.pooled_difference:+.1f} [{100 * comparison.ci_low:+.1f}, {100 * comparison.ci_high:+.1f}]",
    )
    table.caption = (
        f"Wilcoxon signed-rank over folds: statistic {comparison.wilcoxon_statistic:g}, p = {comparison.p_value:.3g}. "
        f"Pooled difference with a paired bootstrap 95% interval ({comparison.n_bootstrap} resamples)."
    )
    out.print(table)
    return 0


COMMANDS = {
    "run": command_run,
    "list": command_list,
    "plugins": command_plugins,
    "audit": command_audit,
    "significance": command_significance,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``merbench`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    out = Console()
    err = Console(stderr=True)
    try:
        return COMMANDS[args.command](args, out, err)
    except MerbenchError as exc:
        if args.debug:
            traceback.print_exc()
        err.print(f"[bold red]merbench: error:[/] {escape(str(exc))}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("merbench: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
