"""``merbench info MODEL``: everything merbench knows about one model."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

ORDER = 25


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``info`` sub-command."""
    parser = commands.add_parser(
        "info",
        help="describe a model: citation, input, options per profile, params, FLOPs, reported scores",
        description="Describe MODEL: description, citation, provider, the input and preprocessing it gets, its options "
        "in each profile, parameters and FLOPs per sample (3 classes; multiply-add = 2 FLOPs) and the scores its "
        "paper reported.",
        epilog="examples:\n  merbench info ststnet\n  merbench info timm:resnet18\n  merbench info lbptop-svm",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a model name (see `merbench list models`)")
    parser.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench info MODEL``."""
    from merbench.config import PROFILES, resolve_config
    from merbench.errors import MerbenchError
    from merbench.modelinfo import example_name, human, model_facts
    from merbench.registry import get_registry

    registry = get_registry()
    spec = registry.get("models", args.model)
    provider = registry.provider("models", spec.name)
    name = example_name(spec)
    default_facts = model_facts(registry, name, "default") if name else None
    if default_facts is not None and isinstance(default_facts.exception, MerbenchError):
        raise default_facts.exception  # e.g. timm:NAME that timm does not know
    out.print(f"[bold]{escape(spec.name)}[/]: {escape(spec.description)}")
    out.print(f"Citation: {escape(spec.citation or '— (none declared)')}")
    out.print(f"Provider: {escape(str(provider))}")
    if name != spec.name:
        out.print(escape(f"A name family: use it as {spec.name}NAME, e.g. {', '.join(spec.examples) or '—'}; "
                         f"the figures below are for {name or '—'}."))
    if not name:
        return 0

    from merbench.tables import TEXT, Column, DataTable, print_table, styled

    resolved = {p: resolve_config(registry, model=name, dataset="synthetic", profile=p) for p in PROFILES}
    options = DataTable(f"Options of {name} per profile (--set model.KEY=VALUE)",
                        [Column("Option", style="bold"), *(Column(profile) for profile in PROFILES)])
    for key in resolved["default"].section("model"):
        options.add_row(key, *(str(resolved[p].section("model")[key]) for p in PROFILES))
    print_table(out, options)

    facts_table = DataTable("Input and size per profile (3 classes)",
                            [Column("Profile"), Column("Input (C×H×W)"), Column("Params", justify="right"),
                             Column("FLOPs/sample", justify="right"), Column("Preprocessing", TEXT)])
    for profile in PROFILES:
        facts = default_facts if profile == "default" else model_facts(registry, name, profile)
        chain = ", ".join(
            f"{step}({', '.join(f'{k}={v}' for k, v in resolved[profile].section(step).items())})" for step in facts.chain
        )
        params = human(facts.params) if facts.params is not None else facts.kind
        flops = human(facts.flops) + (" (declared)" if facts.flops_declared else "")
        if facts.error:
            params, flops = styled(f"error: {facts.error}", "red"), "—"
        facts_table.add_row(profile, f"{spec.input} {facts.input_text}", params, flops, chain)
    print_table(out, facts_table)
    if spec.preprocess or spec.preprocess_options:
        wishes = ", ".join(f"{s}.{k}={v}" for s, opts in spec.preprocess_options.items() for k, v in opts.items())
        out.print(escape(f"Model defaults: chain {','.join(spec.preprocess) or 'flow'}" + (f"; {wishes}" if wishes else "")
                         + " (--set preprocess=... and --set STEP.KEY=... override them)"))

    if spec.reported:
        sources = {score.source for score in spec.reported}
        one_source = len(sources) == 1
        reported = DataTable("Reported by the paper (percent; cited, not measured by merbench)",
                             [Column("Dataset"), Column("Protocol"), Column("Metric"), Column("Value", justify="right"),
                              *([] if one_source else [Column("Source", TEXT)])],
                             caption=f"Source: {next(iter(sources))}" if one_source else None)
        for score in spec.reported:
            reported.add_row(score.dataset, score.protocol, score.metric.upper(), f"{score.value:.2f}",
                             *([] if one_source else [score.source]))
        print_table(out, reported)
    else:
        out.print("Reported scores: none declared.")
    return 0
