"""``merbench list [kind]``: installed models, datasets, preprocessors and protocols."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from merbench.commands import KINDS

ORDER = 20


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``list`` sub-command."""
    listing = commands.add_parser("list", help="list installed models, datasets, preprocessors or protocols")
    listing.add_argument("kind", nargs="?", choices=KINDS, help="what to list (default: everything)")
    listing.set_defaults(handler=execute)


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


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
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
