"""``merbench preprocess``: fill the preprocessing cache for a dataset without training."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from merbench.commands import (GivenOnce, HelpFormatter, dataset_folder, flatten_sets, output_file, path_argument,
                               print_plugin_problems)
from merbench.wording import counted

ORDER = 15

EXAMPLES = """examples:
  merbench preprocess --dataset synthetic
  merbench preprocess --dataset synthetic --set flow.method=dis flow.size=64
  merbench preprocess --dataset smic --root ~/data/SMIC --set preprocess=crop,apex,flow apex.rule=motion-peak
  merbench preprocess --dataset synthetic --model convmixer --profile quick   # exactly what that run needs
  merbench cache info
"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``preprocess`` sub-command."""
    parser = commands.add_parser(
        "preprocess",
        help="run the preprocessing chain over a dataset and fill the cache (no training)",
        description=(
            "Run the preprocessing chain over every clip of DATASET and store the results in the cache, so that "
            "later runs with the same chain and options compute nothing. --model, --dataset, --root, --profile, "
            "--set and --config are as for `merbench run` (options that only training reads, such as --device or "
            "--protocol, are not taken, and such a --set option is ignored with a note); with --model the chain and its check are exactly that model's."
        ),
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--dataset", required=True, help="dataset plugin name (see `merbench list datasets`)")
    parser.add_argument("--root", type=dataset_folder, action=GivenOnce, help="folder of your copy of the dataset (not needed for synthetic)")
    parser.add_argument("--model", help="prepare the input this model's run needs and check it matches (optional)")
    parser.add_argument("--profile", help="quick, default or paper (sets option defaults, e.g. flow.size)"
                     "; without it: profile: in --config, else default")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", nargs="+",
                        help="an option, e.g. preprocess=crop,flow flow.method=dis engine.preprocess_workers=2 (repeatable)")
    parser.add_argument("--config", type=path_argument("a YAML file of options, e.g. --config run.yaml"), help="YAML file of options, as for `merbench run`")
    parser.add_argument("--json", type=output_file, metavar="FILE", help="write a summary (counts, seconds, chain, details) to this file (- for stdout)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=execute)


# Read by preprocessing although in a training section: how many processes compute the clips.
PREPROCESS_ENGINE_OPTIONS = ("engine.preprocess_workers",)


def training_only(keys) -> list[str]:
    """The ``--set`` keys that only training reads (the seed, ``engine.*`` but the preprocessing workers,
    ``protocol``, ``executor.*``, ``model.*`` options), in the order given; checked as ``merbench run`` checks them."""
    def trains(key: str) -> bool:
        section, dot, option = key.partition(".")
        if key in PREPROCESS_ENGINE_OPTIONS or (section == "model" and option in ("", "name")):
            return False  # the model's name picks the chain
        return key == "seed" or section in ("engine", "protocol", "executor", "model")
    return [key for key in keys if trains(str(key))]


def ignored_note(keys: list[str]) -> str:
    """The note for ``--set`` settings that ``merbench preprocess`` does not read."""
    one = len(keys) == 1
    return (f"--set {', '.join(keys)}: {'a setting' if one else 'settings'} that only training reads; "
            f"preprocess ignored {'it' if one else 'them'}")


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench preprocess``."""
    from merbench.cache import cache_root
    from merbench.config import parse_set, resolve_config
    from merbench.errors import UsageError
    from merbench.outputs import check_command_output, write_output
    from merbench.preprocess import checked_chain, preprocess_dataset, skipped_clips_text, skips_unreadable
    from merbench.progress import RichProgress
    from merbench.registry import get_registry
    from merbench.dataset_check import loader_skip_note
    from merbench.escaping import printable
    from merbench.runner import load_dataset

    target = check_command_output(args.json, "--json", args, writes=None) if args.json is not None else None
    if args.json is not None and target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    registry = get_registry()
    print_plugin_problems(err, registry, [args.model])
    sets = parse_set(flatten_sets(args.sets))
    if args.model is None:
        bad = sorted(key for key in sets if key.startswith("model."))
        if bad:
            raise UsageError(f"{', '.join(bad)}: model options need --model NAME")
    # Without --model (or `model:` in --config) the chain is the one `merbench run` picks from the dataset alone.
    config = resolve_config(registry, model=args.model, dataset=args.dataset, profile=args.profile, root=args.root,
                            sets=sets, config_file=args.config, model_optional=True)
    chain = checked_chain(config, registry)
    ignored = training_only(sets)
    if ignored:
        err.print(f"[yellow]Note:[/] {escape(ignored_note(ignored))}", highlight=False)
    cache_dir = cache_root(create=False)  # load_dataset creates it after refusing one inside the dataset
    dataset = load_dataset(config, registry, cache_dir)
    left_out = loader_skip_note(dataset, config.dataset, config.root, config.section("dataset"),
                                registry.get("datasets", config.dataset).options)
    if left_out:
        err.print(f"[yellow]Note:[/] {escape(left_out)}", highlight=False)
    workers = int(config.section("engine")["preprocess_workers"])
    skip = skips_unreadable(config.section("dataset"))
    def warn(text: str) -> None:  # a damaged cache entry, recomputed: said as `merbench run` says it
        err.print(f"[bold yellow]Warning:[/] {escape(text)}", highlight=False)

    try:
        if args.quiet:
            result = preprocess_dataset(dataset, chain, cache_dir=cache_dir, workers=workers, skip_unreadable=skip,
                                        on_warning=warn)
        else:
            with RichProgress(err) as progress:
                progress.start("preprocess", len(dataset.samples),
                               f"Preprocessing {config.dataset} ({', '.join(config.preprocess)})")
                result = preprocess_dataset(
                    dataset, chain, lambda n: progress.advance("preprocess", n), cache_dir, workers, skip,
                    on_warning=lambda text: progress.message(f"[bold yellow]Warning:[/] {text}"))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: said as `merbench run` says what it kept
        err.print("The clips finished so far are cached; run the same command again to compute only the rest")
        raise
    rate = result.computed / result.seconds if result.computed and result.seconds > 0 else None
    shape = "×".join(str(size) for size in result.inputs.shape[1:])
    # Two lines, so that an 80-column terminal does not wrap inside a figure.
    out.print(escape(f"{config.dataset}: {counted(len(dataset.samples), 'clip')} through {chain.names} → "
                     f"'{chain.produces}' {shape}"), highlight=False)
    out.print(escape(f"  computed {result.computed}, cached {result.cached} in {result.seconds:.2f} s"
                     + (f" ({rate:.1f} clips/s, {counted(result.workers, 'worker')})" if rate else "")), highlight=False)
    for key in ("flow_method", "apex_rule", "crop_detector"):
        if key in result.details:
            out.print(escape(f"  {key}: {result.details[key]}"), highlight=False)
    for key, counts in result.details.items():  # what each step did to how many clips: crop's boxes, magnify's
        if key.endswith("_counts") and key != "apex_rule_counts" and isinstance(counts, dict):
            done = "; ".join(f"{what} ({counted(n, 'clip')})" for what, n in counts.items())
            out.print(escape(f"  {key.removesuffix('_counts')}: {done}"), highlight=False)
    if "skipped" in result.details:
        err.print(Text(skipped_clips_text(result.details["skipped"]), style="yellow"), highlight=False)
    out.print(escape(f"Cache: {cache_dir} (see `merbench cache info`)"), highlight=False)
    if not config.model:  # each model reads its own chain options (convmixer: u, v only), so nothing may be reused
        err.print(Text(printable(
            f"Note: without --model this prepared the chain a run picks from the dataset alone ({chain.names}, with "
            "the options given); a run reuses these entries only when its model reads the same chain with the same "
            "options: give --model NAME to prepare exactly what that model's run reads"), style="yellow"),
            highlight=False)
    if args.json is not None:
        summary = {
            "dataset": config.dataset, "chain": chain.names, "produces": chain.produces,
            "shape": list(result.inputs.shape[1:]), "n_samples": len(dataset.samples),
            "computed": result.computed, "cached": result.cached, "seconds": result.seconds,
            "workers": result.workers, "details": result.details, "config": config.to_dict(),
        }
        write_output(target, json.dumps(summary, indent=2))
    return 0
