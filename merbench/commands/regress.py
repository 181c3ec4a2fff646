"""``merbench regress``: check scores against a baseline file; exit 1 when any falls outside its band."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from merbench.commands.runs import add_store_argument

ORDER = 64

EXAMPLES = """examples:
  merbench regress --baseline benchmarks/baselines/synthetic-quick.yaml
  merbench regress --baseline benchmarks/baselines/synthetic-quick.yaml --model convmixer ststnet
  merbench regress --baseline benchmarks/baselines/synthetic-quick.yaml --stored     # reuse identical stored runs
  merbench regress --baseline benchmarks/baselines/synthetic-quick.yaml --update     # accept measured values
  merbench regress --baseline my.yaml --update --add-missing                         # add every installed model

exit status: 0 every metric within its band, 1 any metric too low or suspiciously high, 2 bad baseline or usage.
"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``regress`` sub-command."""
    regress = commands.add_parser(
        "regress",
        help="check pooled scores against a baseline file (CI); --update rewrites it",
        description="Run each entry of a baseline file (or reuse an identical stored run with --stored) and compare "
        "each pooled metric with its expected value: below expected - tolerance is a regression, above expected + "
        "tolerance is suspicious (leakage, a broken metric). Prints expected / measured / delta / status per metric.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    regress.add_argument("--baseline", type=Path, required=True, metavar="FILE.yaml", help="baseline file (format: docs/results.md)")
    regress.add_argument("--model", nargs="+", default=[], metavar="NAME", help="check only the entries of these models")
    regress.add_argument("--stored", action="store_true", help="reuse the newest stored run with the same configuration when there is one")
    regress.add_argument("--update", action="store_true", help="rewrite the baseline's expected values from the measured ones (atomically)")
    regress.add_argument("--add-missing", action="store_true",
                         help="with --update: add an entry (the file's defaults) for every installed model not in the baseline")
    regress.add_argument("--no-store", action="store_true", help="do not record the runs in the results store")
    regress.add_argument("--quiet", action="store_true", help="no progress bars")
    add_store_argument(regress)
    regress.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench regress``."""
    from contextlib import nullcontext

    from merbench.errors import UsageError
    from merbench.progress import RichProgress, SilentProgress
    from merbench.regress import (
        check_entry, entry_config, load_baseline, missing_entries, stored_result, updated_document, write_baseline,
    )
    from merbench.registry import get_registry
    from merbench.store import ResultStore, run_recorded
    from merbench.testing import conformance_names

    if args.add_missing and not args.update:
        raise UsageError("--add-missing only works with --update")
    if args.no_store and (args.stored or args.store):
        raise UsageError("--no-store cannot be combined with --stored or --store")
    baseline = load_baseline(args.baseline)
    registry = get_registry()
    if args.add_missing:
        baseline.entries += missing_entries(baseline, conformance_names(registry))
    unknown = sorted(set(args.model) - {entry.model for entry in baseline.entries})
    if unknown:
        raise UsageError(f"--model {' '.join(unknown)}: not in {args.baseline}")
    selected = [entry for entry in baseline.entries if not args.model or entry.model in args.model]
    if not selected:
        raise UsageError(f"{args.baseline} has no entries; add some or use --update --add-missing")
    if args.update and args.model:
        raise UsageError("--update rewrites the whole baseline: drop --model so every entry is measured")
    configs = [entry_config(entry, registry) for entry in selected]  # every entry validated before any run

    store = None if args.no_store else ResultStore(args.store)
    measured = []
    try:
        progress = SilentProgress() if args.quiet else RichProgress(err)
        with progress if isinstance(progress, RichProgress) else nullcontext():
            for entry, config in zip(selected, configs):
                result = stored_result(store, config) if args.stored and store is not None else None
                if result is None:
                    err.print(f"Running {escape(entry.label)}")
                    result, _, _ = run_recorded(store, config, registry, 1, progress)
                else:
                    err.print(f"Reusing stored run {result.get('run_id')} for {escape(entry.label)}")
                measured.append((entry, result))
    finally:
        if store is not None:
            store.close()

    checks = [check for entry, result in measured for check in check_entry(entry, result)]
    table = Table(title=f"Regression check against {args.baseline}",
                  caption="Pooled scores in %. low: below expected − tolerance (regression); high: above expected + "
                  "tolerance (suspicious); new: no expected value yet (use --update).")
    for header in ("Model", "Setting", "Metric", "Expected", "Measured", "Delta", "Band", "Status", "Run"):
        table.add_column(header, justify="right" if header in ("Expected", "Measured", "Delta", "Band") else "left")
    colours = {"ok": "green", "low": "bold red", "high": "bold magenta", "new": "yellow"}
    previous = None
    for (entry, _), check in ((pair, check) for pair in measured for check in check_entry(*pair)):
        first = entry is not previous
        previous = entry
        expected = "—" if check.expected is None else f"{100 * check.expected:.1f}"
        delta = "—" if check.delta is None else f"{100 * check.delta:+.1f}"
        band = f"−{100 * check.tolerance:.1f}/+{100 * check.tolerance_high:.1f}"
        setting = f"{entry.dataset} · {entry.protocol} · {entry.profile} · seed {entry.seed}" if first else ""
        table.add_row(escape(entry.model) if first else "", escape(setting), check.metric, expected, f"{100 * check.measured:.1f}",
                      delta, band, f"[{colours[check.status]}]{check.status}[/]", (check.run_id or "") if first else "")
    out.print(table)

    if args.update:
        write_baseline(args.baseline, updated_document(baseline, measured))
        out.print(f"Baseline {args.baseline} updated from {len(measured)} run(s).")
        return 0
    failed = [check for check in checks if not check.passed]
    if failed:
        out.print(f"[bold red]{len(failed)} of {len(checks)} metric(s) outside their band.[/]")
        return 1
    out.print(f"[green]All {len(checks)} metric(s) within their band.[/]")
    return 0
