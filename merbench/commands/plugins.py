"""``merbench plugins``: installed plugin distributions, what they register, load errors."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from merbench.commands import HelpFormatter

ORDER = 30


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``plugins`` sub-command."""
    parser = commands.add_parser(
        "plugins", help="installed plugins, their distributions, what they register, load errors",
        description="Every installed plugin (entry-point group 'merbench'), built-in ones included: its distribution, "
        "what it registers and whether it loads. Every lazily loaded factory (build=, load=, split=) is imported "
        "too, so a misspelt one shows here as its plugin's error. With MERBENCH_STRICT_PLUGINS=1 a problem (a "
        "MERBENCH_DISABLE_PLUGINS name that matches no entry point, or several, included) makes the exit code 2.",
        epilog="examples:\n  merbench plugins\n  merbench plugins --debug       # with the plugins' tracebacks\n"
        "  merbench plugins --json        # for scripts\n",
        formatter_class=HelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the plugins as JSON to stdout, for scripts (to a file: merbench plugins --json > plugins.json)")
    parser.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench plugins``: every plugin is listed, broken ones too (it is where a broken plugin is diagnosed); with
    ``MERBENCH_STRICT_PLUGINS=1`` a problem then makes the exit code 2, as for every other command."""
    from merbench.registry import Registry, strict_plugins_requested

    registry = Registry(strict=False)
    registry.check_factories()  # a misspelt build=/load=/split= shows here, not only when a run first needs it
    problems = sum(len(record.errors) + len(record.problems) for record in registry.records)
    problems += len(registry.disabled_problems)  # MERBENCH_DISABLE_PLUGINS's own: an unknown or a shared name
    failed = 2 if problems and strict_plugins_requested() else 0
    if failed:
        err.print(escape(f"merbench: error: {problems} plugin problem{'' if problems == 1 else 's'} "
                         "(MERBENCH_STRICT_PLUGINS is set)"), highlight=False)
    if getattr(args, "json", False):
        import dataclasses
        import json

        records = [dataclasses.asdict(record) for record in registry.records]
        listed = {"plugins": records, "disabled": registry.disabled_found,
                  "disabled_unknown": registry.disabled_unknown, "disabled_shared": registry.disabled_shared}
        out.out(json.dumps(listed, indent=2), highlight=False)
        return failed
    from merbench.escaping import console_line, printable
    from merbench.piped_output import say, show_table
    from merbench.tables import TEXT, Column, DataTable, styled

    table = DataTable("Installed merbench plugins (entry-point group 'merbench')",
                      [Column("Entry point"), Column("Target", stack=True), Column("Distribution", stack=True),
                       Column("Registers", TEXT, keep=True), Column("Status")])
    for record in registry.records:
        provider = record.provider
        registers = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in record.registered.items()) or "—"
        status = styled("ok", "green") if record.ok else styled("error", "red")
        table.add_row(provider.entry_point, provider.target, f"{provider.distribution} {provider.version}", registers, status)
    show_table(out, table, in_place=True)
    for record in registry.records:
        for error, trace in zip(record.errors, record.traces):
            say(out, f"error: {error}", f"[red]error:[/] {console_line(error)}")
            if getattr(args, "debug", False) and trace:
                out.out(printable(trace.rstrip("\n")), highlight=False)
        for problem in record.problems:  # it loaded, but something it registered cannot run
            say(out, f"error: {problem}", f"[red]error:[/] {console_line(problem)}")
        for note in record.notes:  # perhaps a mistake; it runs as it is
            say(out, f"note: {note}", f"[yellow]note:[/] {console_line(note)}")
    if any(any(record.traces) for record in registry.records) and not getattr(args, "debug", False):
        say(out, "(`merbench plugins --debug` shows the tracebacks of the plugins' own errors)")
    if registry.disabled_found:
        say(out, f"Disabled by MERBENCH_DISABLE_PLUGINS: {', '.join(registry.disabled_found)}")
    for note in registry.disabled_shared:
        say(out, note, f"[yellow]{console_line(note)}[/]")
    if registry.disabled_unknown:
        unknown = (f"No installed entry point is called {', '.join(registry.disabled_unknown)}: "
                   "check the names in MERBENCH_DISABLE_PLUGINS against the Entry point column")
        say(out, unknown, f"[yellow]{console_line(unknown)}[/]")
    return failed
