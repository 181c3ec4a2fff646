"""``merbench list [kind]``: installed models, datasets, preprocessors and protocols."""

from __future__ import annotations

import argparse

from rich.console import Console

from merbench.commands import HelpFormatter, KINDS, print_plugin_problems

ORDER = 20


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``list`` sub-command."""
    listing = commands.add_parser(
        "list",
        help="list installed models, datasets, preprocessors or protocols",
        description="List what the installed plugins provide. For models: the input each expects and, for its "
        "default profile, parameters and FLOPs per sample (3 classes; multiply-add = 2 FLOPs).",
        epilog="examples:\n  merbench list\n  merbench list models\n  merbench list models --json\n"
        "  merbench info ststnet",
        formatter_class=HelpFormatter,
    )
    listing.add_argument("kind", nargs="?", choices=KINDS, metavar="KIND",
                         help=f"what to list: {', '.join(KINDS[:-1])} or {KINDS[-1]} (default: everything)")
    listing.add_argument("--json", action="store_true",
                         help="print the listing as JSON to stdout, for scripts (to a file: merbench list --json > "
                         "list.json)")
    listing.set_defaults(handler=execute)


def model_record(registry, spec) -> dict:
    """What ``merbench list models`` knows of one model (default profile), as a JSON-ready dict."""
    from merbench.modelinfo import example_name, model_facts

    name = example_name(spec)
    record = {"example": name if name != spec.name else None, "input": spec.input, "shape": None, "kind": None,
              "params": None, "flops": None, "flops_declared": False, "error": None, "error_stage": None,
              "reported": len(spec.reported)}
    if not name:
        return record
    facts = model_facts(registry, name, "default")
    record.update(shape=list(facts.shape) if facts.shape else None, kind=facts.kind, params=facts.params,
                  flops=facts.flops, flops_declared=facts.flops_declared, error=facts.error, error_stage=facts.error_stage)
    return record


def model_cells(record: dict) -> list:
    """Input, parameters, FLOPs and reported-score count of a model record, as table cells.

    A model that cannot be built, or whose forward pass fails, shows ``error`` (``execute`` prints the error under
    the table).
    """
    from merbench.modelinfo import human
    from merbench.tables import styled

    shape = "×".join(str(n) for n in record["shape"]) if record["shape"] else "—"
    if record["error"]:
        return [f"{record['input']} {shape}", styled("error", "red"), "—", str(record["reported"])]
    if record["kind"] is None:
        return [record["input"], "—", "—", str(record["reported"])]
    params = f"{record['params']:,}" if record["params"] is not None else record["kind"]
    flops = human(record["flops"]) + (" (declared)" if record["flops_declared"] else "")
    return [f"{record['input']} {shape}", params, flops, str(record["reported"])]


def _records(registry, kind: str) -> list[dict]:
    records = []
    for spec in registry.items(kind):
        provider = registry.provider(kind, spec.name)
        record = {"name": spec.name, "description": spec.description,
                  "provider": {"distribution": provider.distribution, "version": provider.version}}
        if kind == "models":
            record.update(model_record(registry, spec))
        elif kind == "preprocessors":
            record["produces"] = spec.produces
        elif kind == "protocols":
            record["subject_independent"] = bool(spec.subject_independent)
            record["options"] = dict(spec.options)  # --set protocol.NAME=VALUE
        elif kind == "datasets":
            record["needs_root"] = bool(spec.needs_root)
            record["options"] = dict(spec.options)  # --set dataset.NAME=VALUE
        records.append(record)
    return records


def listing_json(listing: dict) -> str:
    """``list --json``'s text: a plugin's option default that JSON has no type for (a path) is written as its text."""
    import json

    return json.dumps(listing, indent=2, default=str)


def dataset_records(registry) -> list[dict]:
    """Every dataset plugin as ``list datasets --json`` and ``datasets list --json`` write it: name, description,
    provider, whether it needs ``--root`` and its options' defaults."""
    return _records(registry, "datasets")


def _table(kind: str, records: list[dict]):
    from merbench.contracts import shown_name
    from merbench.tables import TEXT, Column, DataTable, styled

    columns = [Column("Name", style="bold"), Column("Description", TEXT, priority=1)]
    if kind == "models":
        columns += [Column("Input", TEXT, priority=2), Column("Params", justify="right"),
                    Column("FLOPs", justify="right"), Column("Reported", justify="right")]
    if kind == "preprocessors":
        columns.append(Column("Produces"))
    if kind == "protocols":
        columns += [Column("Subject\nindependent"), Column("Options", TEXT)]
    columns.append(Column("Provider", TEXT, priority=-1))  # the first to go on a narrow terminal
    caption = None
    if kind == "protocols":
        caption = "Options: their defaults; change one with --set protocol.NAME=VALUE."
    if kind == "models":
        families = "; ".join(f"{shown_name(r['name'])}: figures of {r['example']}" for r in records if r["example"])
        caption = ("Input, Params, FLOPs per sample: default profile, 3 classes" + (f"; {families}" if families else "")
                   + ". Reported: published scores on record. More: merbench info NAME.")
    table = DataTable(kind.capitalize(), columns, caption=caption)
    for record in records:
        extra: list = []
        name = record["name"]
        if kind == "models":
            extra = model_cells(record)
            name = shown_name(name)
        elif kind == "preprocessors":
            extra = [record["produces"]]
        elif kind == "protocols":
            options = ", ".join(f"protocol.{key}={value}" for key, value in record["options"].items())
            extra = ["yes" if record["subject_independent"] else styled("no", "red"), options or "-"]
        provider = record["provider"]
        table.add_row(name, record["description"], *extra, f"{provider['distribution']} {provider['version']}")
    return table


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench list [kind]``."""
    from merbench.escaping import console_line
    from merbench.piped_output import say, show_table
    from merbench.registry import get_registry

    registry = get_registry()
    listing = {kind: _records(registry, kind) for kind in ([args.kind] if args.kind else KINDS)}
    if args.json:
        out.out(listing_json(listing), highlight=False)
    else:
        for kind, records in listing.items():
            show_table(out, _table(kind, records), in_place=True, apart=True)
            for record in records:
                if record.get("error"):
                    what = ("was built, but its forward pass on one sample failed" if record.get("error_stage") == "forward"
                            else "cannot be built")
                    hint = (f"(`merbench info {record['example'] or record['name']}` shows its options; "
                            "`merbench plugins` shows where it comes from)")
                    say(err, f"model {record['name']!r} {what}: {record['error']} {hint}",
                        f"[red]model {console_line(repr(record['name']))} {what}:[/] {console_line(record['error'])} "
                        f"{console_line(hint)}")
    print_plugin_problems(err, registry)
    return 0
