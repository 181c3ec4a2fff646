"""``merbench significance A B``: paired comparison of two runs made on the same folds."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from merbench.commands import HelpFormatter, output_file
from merbench.commands.runs import add_store_argument
from merbench.wording import percent

ORDER = 50

EXAMPLES = """examples:
  merbench significance a.json b.json                 # result files written by merbench run --json
  merbench significance 20261205-180556 20261205-1806  # stored runs: ids or unique prefixes
  merbench significance a.json b.json --metric uar --resample clips
  merbench significance a.json b.json --json significance.json
"""


MIN_RESAMPLES, MAX_RESAMPLES = 100, 100_000
"""The ``--bootstrap`` range: fewer make the interval's ends noise; more only cost time (and memory)."""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``significance`` sub-command."""
    significance = commands.add_parser(
        "significance",
        help="is run B better than run A? paired Wilcoxon test over folds and a bootstrap interval",
        description="Compare two results of the same dataset and protocol made on the same folds (same --seed): "
        "Wilcoxon signed-rank test over per-fold scores and a paired bootstrap 95% interval of the pooled difference (B - A).",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    significance.add_argument("run_a", metavar="A", help="run A: a result file (merbench run --json) or a "
                              "stored run's id (or a unique prefix; see merbench runs)")
    significance.add_argument("run_b", metavar="B", help="run B, given the same way")
    significance.add_argument("--metric", default="uf1", choices=("uf1", "uar", "accuracy"),
                              help="the per-fold score compared (default uf1)")
    significance.add_argument("--bootstrap", type=int, default=2000, metavar="N", help="bootstrap resamples, 100 to 100000 (default 2000)")
    significance.add_argument("--resample", choices=("subjects", "clips"), default="subjects",
                              help="what each bootstrap draw picks: subjects (the default), each with all its test "
                              "clips, since clips of one person are alike and drawing them one by one usually "
                              "gives a narrower interval than the data support; or clips one by one, as many papers do")
    significance.add_argument("--json", type=output_file, metavar="FILE",
                              help="also write the comparison as JSON to FILE (- for stdout; the table then goes to "
                              "stderr)")
    add_store_argument(significance)
    significance.set_defaults(handler=execute)


def given_run(text: str, name: str) -> Path:
    """Run ``name`` (A or B) as given: ``text`` as a path; an empty one is refused, since ``Path("")`` is the current
    folder."""
    from merbench.errors import UsageError

    if not text.strip():
        raise UsageError(f"{name}: an empty run id; give a run's id or the start of it (`merbench runs` lists them), "
                         "or a result file written by merbench run --json")
    return Path(text)


def load_run(given: Path, store_path: Path | None):
    """Run ``given``: a result file when one is there (or the name looks like a file), else a run in the store (also
    where a folder of the working directory bears the run's id)."""
    from merbench.audit import load_result
    from merbench.errors import DataError, UsageError
    from merbench.store import ResultStore

    looks_like_a_file = given.suffix.lower() == ".json" or len(given.parts) > 1
    if looks_like_a_file or (given.exists() and not given.is_dir()):
        return load_result(given, "significance")
    what = "a folder, not a result file," if given.is_dir() else "no such result file,"
    try:
        store = ResultStore(store_path, create=False)  # reads only
    except UsageError as exc:
        if not given.is_dir():
            raise
        raise DataError(f"{given}: {what} and no results store to find a run of that id in: {exc}") from None
    with store:
        try:
            store.run_row(str(given))
        except UsageError as exc:
            raise DataError(f"{given}: {what} and not a run of the results store: {exc}") from None
        return store.result(str(given))  # a run without a final result says why, and what to do


def same_run(given: dict[str, Path], a, b) -> bool:
    """Whether A and B, given as ``given`` and read as ``a`` and ``b``, are one run: one result file (under one name or
    two), one stored run, or that run's result unchanged in a file (a copy, or `merbench show --json`'s)."""
    import os

    files = [path.is_file() for path in given.values()]
    if all(files) and os.path.samefile(given["A"], given["B"]):
        return True
    return a.run_id is not None and a.run_id == b.run_id and (not any(files) or a == b)


def wilcoxon_text(comparison) -> str:
    """The caption's test clause: statistic and p-value, or why the test does not apply."""
    if comparison.p_value is None:
        return f"Wilcoxon signed-rank over folds: {comparison.wilcoxon_note}."
    import numpy as np

    from merbench.significance import fold_differences, folds_text
    from merbench.wording import plural

    differing = fold_differences(comparison.fold_scores_a, comparison.fold_scores_b) != 0  # the test drops ties
    n = int(np.count_nonzero(differing))
    floor = 2 / 2 ** n if n else 1.0  # the smallest two-sided p of the exact test over n folds
    folds = folds_text(n) if n == differing.size else \
        f"{folds_text(n)} that {plural(n, 'differs', 'differ')} (of {differing.size})"
    if n == 0:
        few = f" No fold's score differs (all {differing.size} equal): there is no difference to test."
    elif floor >= 0.05:
        few = (f" With {folds} it cannot give p below {floor:.3g}, so it cannot show a difference at 0.05 (that "
               "takes at least 6 folds that differ); read the bootstrap interval.")
    else:
        few = ""
    return (f"Wilcoxon signed-rank over folds: statistic {comparison.wilcoxon_statistic:g}, "
            f"p={comparison.p_value:.3g}.{few}")  # no spaces: a wrapped caption never ends a line with "p ="


def run_settings(a, b) -> list[tuple[str, ...] | None]:
    """What A and B each changed from its profile's defaults (``merbench.run_settings``; ``None``: cannot be told)."""
    from merbench.registry import get_registry
    from merbench.run_settings import changed_settings_of

    return changed_settings_of([a, b], get_registry())


def row_names(a, b, settings: list[tuple[str, ...] | None] | None = None) -> tuple[str, str]:
    """A and B as ``compare`` names their rows (``merbench.compare.row_names``): the model with its profile where
    the two differ in it, the settings its run changed that the other's did not (``ststnet (engine.lr=0.002)``) and
    the folder it read its dataset from where they read it from two, so that two runs of one model read apart; and
    its seed where the two differ (``ststnet, seed 1``), which compare leaves to its seed column.
    ``settings``: ``run_settings(a, b)``, when already known."""
    from merbench.compare import row_names as compared_rows

    name_a, name_b = compared_rows([a, b], run_settings(a, b) if settings is None else settings)
    if a.seed is not None and b.seed is not None and a.seed != b.seed:
        return f"{name_a}, seed {a.seed}", f"{name_b}, seed {b.seed}"
    return name_a, name_b


def comparison_table(a, b, comparison, metric_name: str):
    """The significance table: fold mean and pooled score of A, B and B - A."""
    import numpy as np

    from merbench.report import shown_difference
    from merbench.significance import folds_text
    from merbench.tables import Column, DataTable

    name_a, name_b = row_names(a, b)
    table = DataTable(
        f"{metric_name}: B ({name_b}) vs A ({name_a}) on {a.dataset}, {a.protocol}, "
        f"{folds_text(len(comparison.fold_scores_a))}",
        [Column(""), *(Column(header, justify="right") for header in ("A", "B", "B - A"))],
        caption=f"{wilcoxon_text(comparison)} "
        f"Pooled difference with a paired bootstrap 95% interval ({comparison.n_bootstrap} resamples, each "
        f"drawing {_drawn(comparison)}).",
    )
    mean_a, mean_b = float(np.mean(comparison.fold_scores_a)), float(np.mean(comparison.fold_scores_b))
    table.add_row("fold mean", percent(mean_a), percent(mean_b), shown_difference(mean_a, mean_b))
    table.add_row(
        "pooled", percent(comparison.pooled_a), percent(comparison.pooled_b),
        f"{shown_difference(comparison.pooled_a, comparison.pooled_b)} "
        f"[{percent(comparison.ci_low, signed=True)}, {percent(comparison.ci_high, signed=True)}]",
    )
    return table


def _drawn(comparison) -> str:
    """What one bootstrap draw picked, for the caption."""
    from merbench.significance import FEW_SUBJECTS

    if comparison.resampled == "subjects":
        drawn = f"{comparison.n_units} of the {comparison.n_units} test subjects with replacement, each with all its clips"
        if comparison.n_units == 1:
            return (drawn + "; with one test subject every draw is the same, so the interval has no width: "
                    "--resample clips draws its clips")
        if comparison.n_units < FEW_SUBJECTS:
            return drawn + f"; with {comparison.n_units} test subjects the draws take few values: read it as rough"
        return drawn
    return (f"{comparison.n_units} of the {comparison.n_units} test clips one by one with replacement (clips of one "
            "subject are alike, so this interval is usually narrower than one over subjects)")


def comparison_document(given: dict[str, Path], runs: dict, comparison) -> dict:
    """The comparison as one JSON object (``--json``): both runs (as given, with their id, the name the table gives
    it (``row_names``), model, dataset, protocol, seed, profile (null: not recorded), the folder it read its dataset
    from (``root``, null for a dataset read from none) and the settings it changed from its profile's defaults (null:
    cannot be told)), the per-fold and pooled scores, the pooled difference B - A with its bootstrap interval, the
    Wilcoxon test (``p_value`` null where it does not apply, ``note`` saying why) and each run's leaks."""
    import numpy as np

    from merbench.compare import profile_of
    from merbench.significance import CONFIDENCE

    settings = run_settings(runs["A"], runs["B"])
    names = dict(zip("AB", row_names(runs["A"], runs["B"], settings)))

    def run_record(name: str, changed: tuple[str, ...] | None) -> dict:
        result = runs[name]
        return {"given": str(given[name]), "run_id": result.run_id, "name": names[name], "model": result.model,
                "dataset": result.dataset, "protocol": result.protocol, "seed": result.seed,
                "profile": profile_of(result), "root": (result.config or {}).get("root"),
                "settings": None if changed is None else list(changed),
                "leaks": comparison.leaks.get(name, [])}

    return {
        "kind": "merbench-significance", "version": 1, "metric": comparison.metric,
        "a": run_record("A", settings[0]), "b": run_record("B", settings[1]),
        "fold_scores_a": comparison.fold_scores_a, "fold_scores_b": comparison.fold_scores_b,
        "fold_mean_a": float(np.mean(comparison.fold_scores_a)), "fold_mean_b": float(np.mean(comparison.fold_scores_b)),
        "pooled_a": comparison.pooled_a, "pooled_b": comparison.pooled_b,
        "pooled_difference": comparison.pooled_b - comparison.pooled_a,
        "interval": {"low": comparison.ci_low, "high": comparison.ci_high, "confidence": CONFIDENCE,
                     "resamples": comparison.n_bootstrap, "resampled": comparison.resampled,
                     "units": comparison.n_units},
        "wilcoxon": {"statistic": comparison.wilcoxon_statistic, "p_value": comparison.p_value,
                     "note": comparison.wilcoxon_note},
    }


def print_leak_warnings(out: Console, a, b, comparison) -> None:
    """One red "⚠ leakage:" line per run that leaks, naming it (A or B) and what it leaks."""
    from rich.markup import escape

    from merbench.significance import leak_warning

    for name, result in (("A", a), ("B", b)):
        kinds = comparison.leaks.get(name)
        if kinds:
            out.print(f"[bold red]⚠ leakage:[/] {escape(leak_warning(name, result.model, kinds))}", highlight=False)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench significance A B`` (result files or stored run ids)."""
    from rich.markup import escape

    from merbench.errors import UsageError
    from merbench.export import strict_json
    from merbench.outputs import check_command_output, stored_files, stored_roots, write_output
    from merbench.significance import compare_runs
    from merbench.tables import print_table

    if not MIN_RESAMPLES <= args.bootstrap <= MAX_RESAMPLES:
        raise UsageError(f"--bootstrap {args.bootstrap}: use {MIN_RESAMPLES} to {MAX_RESAMPLES} resamples (default "
                         "2000; each is drawn in turn, so the upper end already takes minutes)")
    given = {"A": given_run(args.run_a, "A"), "B": given_run(args.run_b, "B")}
    a, b = load_run(given["A"], args.store), load_run(given["B"], args.store)
    runs = (("A", given["A"], a), ("B", given["B"], b))
    read = {what: file for name, path, result in runs if isinstance(result.config, dict)
            for what, file in stored_files(f"{name} ({path})", result.config, result.dataset_summary,
                                                   result.environment).items()}
    target = check_command_output(args.json, "--json", args, also_read={
        f"run {name}'s result file": path for name, path in given.items()
        if path.is_file()}, also_roots={**stored_roots({f"{name} ({path})": result.config for name, path, result in
                                                        runs}), **read},
                                 writes="significance") \
        if args.json is not None else None
    if same_run(given, a, b):
        raise UsageError(f"the same run twice (A: {given['A']}, B: {given['B']}): give two different runs "
                         "(`merbench runs` lists the stored ones)")
    if args.json is not None and target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    for name, path, result in (("A", given["A"], a), ("B", given["B"], b)):
        if result.seeds and len(result.seeds) > 1:
            err.print(escape(f"Note: {name} ({path}) is a --seeds {len(result.seeds)} run; only its first seed "
                             f"({result.seed}) keeps per-sample predictions, so that seed is compared"))
    comparison = compare_runs(a, b, args.metric, args.bootstrap, resample=args.resample,
                              given=(str(given["A"]), str(given["B"])))
    if args.resample == "subjects" and comparison.resampled == "clips":
        err.print("Note: the results do not record their samples' subjects (an older merbench), so the bootstrap "
                  "draws clips one by one")
    metric = args.metric.upper() if args.metric != "accuracy" else "Accuracy"
    print_table(out, comparison_table(a, b, comparison, metric))
    print_leak_warnings(out, a, b, comparison)
    if args.json is not None:
        write_output(target, strict_json(comparison_document(given, {"A": a, "B": b}, comparison)))
    return 0
