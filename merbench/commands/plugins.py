"""``merbench plugins``: installed plugin distributions, what they register, load errors."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

ORDER = 30


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``plugins`` sub-command."""
    parser = commands.add_parser("plugins", help="installed plugins, their distributions, what they register, load errors")
    parser.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
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
