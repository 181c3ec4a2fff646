"""``merbench info MODEL``: everything merbench knows about one model."""

from __future__ import annotations

import argparse

from rich.console import Console

from merbench.commands import HelpFormatter, output_file, print_plugin_problems
from merbench.escaping import console_line, printable_line
from merbench.piped_output import say, show_table
from merbench.wording import default_text, paper_points, percent

ORDER = 25


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``info`` sub-command."""
    parser = commands.add_parser(
        "info",
        help="describe a model: citation, input, options per profile, params, FLOPs, reported and measured scores",
        description="Describe MODEL: description, citation, provider, the input and preprocessing it gets, its options "
        "in each profile, parameters and FLOPs per sample (3 classes; multiply-add = 2 FLOPs), the scores its "
        "paper (or another source) reported and under which protocol, and what merbench measured on the synthetic "
        "data under each protocol (from the stored baseline benchmarks/baselines/synthetic-default.yaml, when present).",
        epilog="examples:\n  merbench info ststnet\n  merbench info timm:resnet18\n  merbench info lbptop-svm\n"
        "  merbench info convmixer --json convmixer.json   # the same facts for scripts (scores as fractions 0..1)",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a model name (see `merbench list models`)")
    parser.add_argument("--json", type=output_file, metavar="FILE",
                        help="also write what it shows as JSON to FILE (- for stdout, the tables then go to stderr)")
    parser.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench info MODEL``."""
    from merbench.config import PROFILES
    from merbench.contracts import check_family_member, shown_name
    from merbench.errors import PluginError
    from merbench.modelinfo import example_name, human, listing_config, model_facts
    from merbench.outputs import check_output_path, store_files
    from merbench.registry import get_registry

    target = check_output_path(args.json, "--json", store_files(None), writes=None) if args.json is not None else None
    if args.json is not None and target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    registry = get_registry()
    print_plugin_problems(err, registry)
    spec = registry.get("models", args.model)
    provider = registry.provider("models", spec.name)
    name = example_name(spec)
    check_family_member(spec)
    all_facts = {profile: model_facts(registry, name, profile) for profile in PROFILES} if name else {}
    faults = [facts.exception for facts in all_facts.values() if isinstance(facts.exception, PluginError)]
    if all_facts and len(faults) == len(all_facts):  # a plugin's fault in every profile: an error, exit 2
        raise all_facts["default"].exception or faults[0]
    # a profile refused (an input too small for it, even in every profile) is said in its row below
    document = {"model": spec.name, "description": spec.description, "citation": spec.citation,
                "provider": str(provider), "builtin": provider.builtin, "shown_as": name}
    say(out, f"{shown_name(spec.name)}: {spec.description}",
        f"[bold]{console_line(shown_name(spec.name))}[/]: {console_line(spec.description)}")
    say(out, f"Citation: {spec.citation or '— (none declared)'}")
    say(out, f"Provider: {provider}")
    if name != spec.name:
        say(out, f"A name family: use it as {spec.name}NAME, e.g. {', '.join(spec.examples) or '—'}; the figures "
            f"below are for {name or '—'}.")
    if not name:
        _write_document(args, target, document)
        return 0

    from merbench.tables import TEXT, Column, DataTable, styled

    resolved = {p: listing_config(registry, name, p) for p in PROFILES}
    options = DataTable(printable_line(f"Options of {name} per profile (--set model.KEY=VALUE)"),
                        [Column("Option", style="bold"), *(Column(profile) for profile in PROFILES)])
    document["options"] = {}
    for key in resolved["default"].section("model"):
        options.add_row(key, *(default_text(resolved[p].section("model")[key]) for p in PROFILES))
        document["options"][key] = {p: resolved[p].section("model")[key] for p in PROFILES}
    if document["options"]:
        show_table(out, options)
    else:
        say(out, f"Options of {name}: none declared.")

    facts_table = DataTable("Input and size per profile (3 classes)",
                            [Column("Profile"), Column("Input (C×H×W)"), Column("Params", justify="right"),
                             Column("FLOPs/sample", justify="right"), Column("Preprocessing", TEXT)])
    document["profiles"] = {}
    for profile in PROFILES:
        facts = all_facts[profile]
        document["profiles"][profile] = {
            "input": spec.input, "shape": list(facts.shape) if facts.shape else None, "kind": facts.kind,
            "params": facts.params, "flops": facts.flops, "flops_declared": facts.flops_declared,
            "preprocessing": {step: dict(resolved[profile].section(step)) for step in facts.chain},
            "error": facts.error}
        chain = ", ".join(
            f"{step}({', '.join(f'{k}={v}' for k, v in resolved[profile].section(step).items())})" for step in facts.chain
        )
        params = human(facts.params) if facts.params is not None else facts.kind
        flops = human(facts.flops) + (" (declared)" if facts.flops_declared else "")
        if facts.error:
            params, flops = styled(f"error: {advice_for_runs(facts.error, name)}", "red"), "—"
        facts_table.add_row(profile, f"{spec.input} {facts.input_text}", params, flops, chain)
    show_table(out, facts_table)
    if spec.preprocess or spec.preprocess_options:
        wishes = ", ".join(f"{s}.{k}={v}" for s, opts in spec.preprocess_options.items() for k, v in opts.items())
        say(out, f"Model defaults: chain {','.join(spec.preprocess) or 'flow'}" + (f"; {wishes}" if wishes else "")
            + " (--set preprocess=... and --set STEP.KEY=... override them)")

    if spec.reported:
        from merbench.report import from_own_paper, reported_leak_note

        sources = {score.source for score in spec.reported}
        one_source = len(sources) == 1
        # A paper's score under a protocol that leaks (sample-10fold) is inflated: marked as `show` and `compare` do.
        leaks = {score.protocol: protocol_leaks_of(registry, score.protocol) for score in spec.reported}
        note = reported_leak_note(leaks, "⚠")
        source = f"Source: {next(iter(sources)).rstrip('.')}." if one_source else ""
        caption = " ".join(text for text in (source, note) if text)
        heading = "Reported by the paper" if from_own_paper(spec.reported, spec.citation) else "Published scores"
        reported = DataTable(f"{heading} (percent; cited, not measured by merbench)",
                             [Column("Dataset"), Column("Protocol"), Column("Metric"), Column("Value", justify="right"),
                              *([] if one_source else [Column("Source", TEXT)])],
                             caption=printable_line(caption) if caption else None)
        for score in spec.reported:
            document.setdefault("reported", []).append(
                {"dataset": score.dataset, "protocol": score.protocol, "metric": score.metric,
                 "value": round(score.value / 100, 6), "source": score.source, "protocol_leaks": leaks[score.protocol]})
            protocol = styled(f"{score.protocol} ⚠", "red") if leaks[score.protocol] else score.protocol
            reported.add_row(score.dataset, protocol, score.metric.upper(), paper_points(score.value),
                             *([] if one_source else [score.source]))
        show_table(out, reported)
    else:
        say(out, "Reported scores: none declared.")
    document.setdefault("reported", [])
    document["measured"] = print_measured(out, registry, name, spec.reported)
    _write_document(args, target, document)
    return 0


def advice_for_runs(error: str, name: str) -> str:
    """``error`` with its ``--set`` advice given as the run that takes it: info takes no ``--set``."""
    return error.replace("--set ", f"merbench run --model {name} --set ")


def _write_document(args: argparse.Namespace, target, document: dict) -> None:
    """Write ``document`` where ``--json`` asked (``target`` ``None``: stdout), when it was given (option values are
    JSON's: the registry refuses a default of another kind)."""
    if args.json is None:
        return  # and nothing more imported: info without --json stays quick
    from merbench.export import strict_json
    from merbench.outputs import write_output

    write_output(target, strict_json(document))


def protocol_leaks_of(registry, protocol: str) -> list[str]:
    """The leak kinds (``subjects``, ``clips``) the installed ``protocol`` declares; none for one not installed."""
    from merbench.leaks import protocol_leaks

    if protocol not in registry.names("protocols"):
        return []
    return protocol_leaks(registry.get("protocols", protocol))


def _shown_path(path) -> str:
    from merbench.modelinfo import SOURCE_ROOT

    try:
        return str(path.resolve().relative_to(SOURCE_ROOT))
    except ValueError:
        return str(path)


def print_measured(out: Console, registry, name: str, reported) -> dict:
    """What merbench measured for ``name`` on the synthetic data per protocol (stored baseline), and the gap; returns
    it for ``--json``: the baseline file, its rows (scores as fractions) and the note printed."""
    from merbench.modelinfo import synthetic_measurements
    from merbench.report import from_own_paper
    from merbench.tables import Column, DataTable

    stored = synthetic_measurements(name)
    where = _shown_path(stored.path)
    measured = {"baseline": where, "date": stored.date, "machine": stored.machine, "rows": [], "note": None}
    said = None
    if not stored.rows and registry.input_problem(name):  # recommending a run would recommend one that fails
        said = (f"nothing on record for {name}, and it cannot run until its input is fixed: no registered preprocessor "
                f"produces '{registry.get('models', name).input}' (the `plugin problem:` line says how to fix it).")
    elif not stored.rows and not registry.provider("models", name).builtin:
        # merbench's baseline file records its own models; a third-party author measures theirs and keeps the runs.
        said = (f"nothing on record for {name} (merbench's stored baseline covers its built-in models). Measure it with "
                f"`merbench run --model {name} --dataset synthetic` (the default profile); `merbench compare --model "
                f"{name}` then shows your stored runs.")
    elif stored.problem:
        said = f"the stored baseline {where} {stored.problem}."
    elif not stored.rows:
        said = f"no default-profile entry for {name} in {where}."
    if said is not None:
        say(out, f"Measured by merbench on the synthetic data: {said}")
        return {**measured, "note": said}
    runs = sorted({row.runs for row in stored.rows})
    table = DataTable(
        f"Measured by merbench on the synthetic data (default profile; pooled %, mean ± std over "
        f"{'/'.join(map(str, runs))} runs)",
        [Column("Protocol"), Column("Subjects"), Column("UF1", justify="right"), Column("UAR", justify="right"),
         Column("Accuracy", justify="right"), Column("s/run", justify="right")],
        caption=printable_line(f"From {where}" + "".join(f", {fact}" for fact in (stored.date, stored.machine) if fact)
                               + ". Synthetic clips, not the paper's data: compare the protocols, not the datasets."),
    )
    for row in stored.rows:
        independent = registry.get("protocols", row.protocol).subject_independent if row.protocol in registry.names(
            "protocols") else None
        cells = [f"{percent(row.mean[m])} ± {percent(row.std.get(m, 0.0))}" if m in row.mean else "—"
                 for m in ("uf1", "uar", "accuracy")]
        seconds = "—" if row.seconds_per_run is None else f"{row.seconds_per_run:.0f}"
        table.add_row(row.protocol, {True: "independent", False: "shared", None: "?"}[independent], *cells, seconds)
        measured["rows"].append({"protocol": row.protocol, "subject_independent": independent, "mean": row.mean,
                                 "std": row.std, "runs": row.runs, "seconds_per_run": row.seconds_per_run})
    show_table(out, table)
    leaky = {score.protocol: protocol_leaks_of(registry, score.protocol) for score in reported}
    note = gap_note(stored.rows, reported, leaky, from_own_paper(reported, registry.get("models", name).citation))
    if note:
        say(out, note)
    return {**measured, "note": note}


def gap_note(rows, reported, leaks=None, own_paper: bool = True) -> str | None:
    """One sentence on the paper's protocol against merbench's subject-independent one, or None; ``leaks`` maps each
    protocol of ``reported`` to its leak kinds (``protocol_leaks_of``): the paper's scores under one that leaks are
    said to be inflated. ``own_paper`` false: another source published them (``from_own_paper``), named above."""
    from merbench.leaks import describe

    by_protocol = {row.protocol: row for row in rows}
    paper_protocols = sorted({score.protocol for score in reported})
    independent = by_protocol.get("subject-10fold")
    if not paper_protocols or independent is None or "uf1" not in independent.mean:
        return None
    same = next((by_protocol[p] for p in paper_protocols if p in by_protocol and "uf1" in by_protocol[p].mean), None)
    def named(metric: str) -> str:
        return metric.upper() if len(metric) <= 3 else metric

    values = [score.value for score in reported]
    if len(reported) <= 2:  # each score by name: a range "73.53–76.05 % (UAR, UF1)" reads as UAR 73.53
        said = " and ".join(f"{named(score.metric)} {paper_points(score.value)} %" for score in reported)
    else:
        metrics = ", ".join(sorted({named(score.metric) for score in reported}))
        span = (f"{paper_points(min(values))}–{paper_points(max(values))}" if min(values) != max(values)
                else paper_points(values[0]))
        said = f"scores of {span} % ({metrics}, in no particular order)"
    reports = "The paper reports" if own_paper else "The published results (Source above) give"
    text = f"{reports} {said} under {', '.join(paper_protocols)}"
    leaking = {protocol: kinds for protocol, kinds in (leaks or {}).items() if kinds}
    if leaking:
        text += f" ⚠ (inflated: {'; '.join(f'{p} has {describe(kinds)}' for p, kinds in leaking.items())})"
    if same is None or same is independent:
        return text + f"; merbench's subject-10fold UF1 on the synthetic data is {percent(independent.mean['uf1'])} %."
    from merbench.report import shown_difference

    gain = shown_difference(independent.mean["uf1"], same.mean["uf1"])
    return (text + f". On the synthetic data, merbench measures UF1 {percent(same.mean['uf1'])} % under "
            f"{same.protocol} and {percent(independent.mean['uf1'])} % under subject-10fold: sharing subjects "
            f"between training and test changes UF1 by {gain} points here.")
