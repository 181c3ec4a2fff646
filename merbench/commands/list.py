"""``merbench list [kind]``: installed models, datasets, preprocessors and protocols."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from merbench.commands import KINDS

ORDER = 20


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``list`` sub-command."""
    listing = commands.add_parser(
        "list",
        help="list installed models, datasets, preprocessors or protocols",
        description="List what the installed plugins provide. For models: the input each expects and, for its "
        "default profile, parameters and FLOPs per sample (3 classes; multiply-add = 2 FLOPs).",
        epilog="examples:\n  merbench list\n  merbench list models\n  merbench info ststnet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("kind", nargs="?", choices=KINDS, help="what to list (default: everything)")
    listing.set_defaults(handler=execute)


def model_columns(registry, spec) -> list[str]:
    """Input, parameters, FLOPs and reported-score count of a model (default profile)."""
    from merbench.modelinfo import example_name, human, model_facts

    name = example_name(spec)
    if not name:
        return [spec.input, "—", "—", str(len(spec.reported))]
    facts = model_facts(registry, name, "default")
    prefix = f"{name}: " if name != spec.name else ""
    if facts.error:
        return [spec.input, f"[red]error: {escape(facts.error)}[/]", "—", str(len(spec.reported))]
    params = f"{facts.params:,}" if facts.params is not None else facts.kind
    flops = human(facts.flops) + (" (declared)" if facts.flops_declared else "")
    return [f"{spec.input} {facts.input_text}", prefix + params, prefix + flops, str(len(spec.reported))]


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench list [kind]``."""
    from merbench.registry import get_registry

    registry = get_registry()
    for kind in [args.kind] if args.kind else KINDS:
        table = Table(title=kind.capitalize())
        table.add_column("Name", style="bold")
        table.add_column("Description")
        if kind == "models":
            table.add_column("Input (default profile)")
            table.add_column("Params", justify="right")
            table.add_column("FLOPs/sample", justify="right")
            table.add_column("Reported", justify="right")
        if kind == "preprocessors":
            table.add_column("Produces")
        if kind == "protocols":
            table.add_column("Subject-independent")
        table.add_column("Provider")
        for spec in registry.items(kind):
            provider = registry.provider(kind, spec.name)
            extra: list[str] = []
            name = spec.name
            if kind == "models":
                extra = model_columns(registry, spec)
                name = f"{spec.name}<name>" if spec.name.endswith(":") else spec.name
            elif kind == "preprocessors":
                extra = [spec.produces]
            elif kind == "protocols":
                extra = ["yes" if spec.subject_independent else "[red]no[/]"]
            table.add_row(escape(name), spec.description, *extra, f"{provider.distribution} {provider.version}")
        out.print(table)
    for problem in registry.problems:
        err.print(f"[yellow]plugin problem:[/] {escape(problem)}")
    return 0
