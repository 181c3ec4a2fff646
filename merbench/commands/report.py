"""``merbench report``: write the comparison of stored runs to a file, and figures."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from rich.console import Console

from merbench.commands import HelpFormatter, output_file, path_argument
from merbench.commands.compare import add_selection_arguments, selected_comparison
from merbench.escaping import console_line
from merbench.tables import FORMATS as TABLE_FORMATS
from merbench.wording import counted

ORDER = 63

EXAMPLES = """examples:
  merbench report --output results.md
  merbench report --format latex --output table.tex --dataset casme2 samm --metric uf1
  merbench report --output results.csv --stat pooled
  merbench report --output report.html                      # one file to send: tables, figures, provenance
  merbench report --output report.html --figures figures/   # plus the figures as PNG files
  merbench report --leakage leakage.json                    # a leakage study's table (merbench leakage --json)
  merbench report --leakage leakage.json --output leakage.html   # ... as md or a self-contained html page
"""


class FileOrTableFormat(argparse.Action):
    """report's ``--format``: the format of ``--output`` (``args.format``), or a table format, which goes where every
    other command's ``--format`` goes (``args.table_format``, read when the consoles are made)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        setattr(namespace, "table_format" if values in TABLE_FORMATS else self.dest, values)


MAX_DRAWN_RUNS = 60
"""The most runs an HTML report or ``--figures`` draws figures for (two PNGs each, about 0.2 s apiece): a store of a
year's runs, unfiltered, shows thousands (a 174 MB page after 5 minutes for 1,772 of them)."""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command."""
    report = commands.add_parser(
        "report",
        help="write the comparison of stored runs as md, csv, json, latex or html; figures as PNG",
        description="Write the same comparison as `merbench compare` to a file (format from --format or the file's "
        "suffix). CSV and JSON hold one record per cell with fractions 0..1; md and latex the table in %. "
        "html is a self-contained report (no network needed) with the table, reported scores, leakage marks, "
        "per-dataset and per-fold tables, confusion matrices, per-fold plots and each run's provenance. "
        "--figures DIR writes the confusion matrix and per-fold scores of each run in the table as PNG.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add_selection_arguments(report)
    report.add_argument("--format", choices=("md", "csv", "json", "latex", "html", *TABLE_FORMATS), metavar="FORMAT",
                        action=FileOrTableFormat,
                        help="--output's format: md, csv, json, latex or html (default: from the suffix); or, as for "
                        "every command, how tables on the terminal look: auto, table or plain")
    report.add_argument("--output", type=output_file, metavar="FILE", help="file to write, - for stdout (required unless only --figures)")
    report.add_argument("--figures", type=path_argument("the folder to write the figures into, e.g. --figures "
                                                        "figures/"), metavar="DIR",
                        help="write confusion-matrix and per-fold PNGs into DIR")
    report.add_argument("--leakage", type=path_argument("a summary written by merbench leakage --json, e.g. "
                                                        "--leakage leakage.json"), metavar="SUMMARY.json",
                        help="render a leakage study's summary (merbench leakage --json) instead of stored runs: the "
                        "table on the terminal, or --output FILE as md, json or html")
    report.set_defaults(handler=execute)


LEAKAGE_FORMATS = ("md", "json", "html")


def _leakage(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench report --leakage FILE``: the study's table, or the summary written as md, json or html."""
    from merbench.errors import UsageError
    from merbench.export import FORMATS as FILE_FORMATS, SUFFIX_OF, format_for, strict_json
    from merbench.html_report import render_leakage_page
    from merbench.leakage_summary import load_summary
    from merbench.outputs import check_output_path, store_files, summary_roots, write_output
    from merbench.rendered_tables import render_leakage
    from merbench.report import leakage_table
    from merbench.tables import FORMATS as TERMINAL_FORMATS, print_table

    stray = [flag for flag, given in (("--figures", args.figures), ("RUN_ID", args.run_ids), ("--model", args.model),
                                      ("--dataset", args.dataset), ("--protocol", args.protocol),
                                      ("--profile", args.profile)) if given]
    if stray:
        raise UsageError(f"--leakage renders a study's summary file; drop {', '.join(stray)} (they select stored runs)")
    if args.output is None and args.format in FILE_FORMATS:
        raise UsageError(f"--format {args.format} is the format of a file: a leakage summary is written as "
                         f"{', '.join(LEAKAGE_FORMATS)} with --output FILE (e.g. --output leakage.md); without it, the "
                         f"table is printed on the terminal ({'/'.join(TERMINAL_FORMATS)})")
    fmt = format_for(args.output, args.format, LEAKAGE_FORMATS, "a leakage summary") if args.output is not None else None
    def checked(folders: dict[str, Path], probe: bool = True) -> Path | None:
        return (check_output_path(args.output, "--output", store_files(args.store),
                                  {f"the leakage summary (--leakage {args.leakage})": args.leakage}, folders,
                                  example=f"leakage{SUFFIX_OF[fmt]}", probe=probe)
                if args.output is not None else None)

    target = checked({}, probe=False)  # before the summary is read: a bad path is said first, no file made there
    summary = load_summary(args.leakage)
    if args.output is not None:  # never inside the study's dataset folders, nor onto a file its runs read
        target = checked(summary_roots(summary, args.leakage, args.store))
    if fmt is None:
        print_table(out, leakage_table(summary))
        return 0
    text = {"md": lambda: render_leakage(summary, str(args.leakage), "merbench report --leakage") + "\n",
            "json": lambda: strict_json(summary), "html": lambda: render_leakage_page(summary)}[fmt]()
    write_output(target, text)
    if target is not None:
        err.print(f"Leakage study of {console_line(str(summary['model']))} on {console_line(str(summary['dataset']))} "
                  f"written to {console_line(str(args.output))} ({fmt})", soft_wrap=True, highlight=False)
    return 0


def _refuse_overlap(args: argparse.Namespace, target: Path | None, figures: Path | None,
                    figures_written: Sequence[Path] = ()) -> None:
    """Refuse an ``--output`` file (``target``) where the ``--figures`` folder, or a folder above it, goes, or that
    is one of ``figures_written``: one would replace the other after the first was written (``UsageError``)."""
    from merbench.errors import UsageError
    from merbench.export import SUFFIX_OF

    if target is None or figures is None:
        return
    if target == figures or target in figures.parents:
        raise UsageError(f"--output {args.output} and --figures {args.figures}: the figures folder would be made where "
                         f"the --output file goes; give the figures a folder of their own, e.g. --figures "
                         f"{target.parent / 'figures'}")
    if target in figures_written:
        raise UsageError(f"--output {args.output}: is where --figures {args.figures} writes the figure {target.name}; "
                         f"give the report another name, e.g. --output "
                         f"{target.parent / ('report' + SUFFIX_OF.get(args.format, target.suffix))}")


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench report``."""
    from merbench.compare import shown_runs
    from merbench.errors import UsageError
    from merbench.export import SUFFIX_OF, format_for, write_comparison
    from merbench.figures import check_figure_files, figure_files, write_figures
    from merbench.outputs import check_output_folder, check_output_path, result_roots, store_files

    if args.leakage is not None:
        return _leakage(args, out, err)
    if args.output is None and args.figures is None:
        raise UsageError("give --output FILE (and/or --figures DIR), e.g. merbench report --output results.md")
    fmt = format_for(args.output, args.format) if args.output is not None else None
    # Checked before the store is read: a bad path must not be found after the work. No file is made in the folders
    # yet (probe=False): they may lie inside the runs' dataset folders, known once the runs are read.
    target = (check_output_path(args.output, "--output", store_files(args.store), example=f"report{SUFFIX_OF[fmt]}",
                                probe=False) if args.output is not None else None)
    figures = check_output_folder(args.figures, "--figures", probe=False) if args.figures is not None else None
    _refuse_overlap(args, target, figures)
    comparison, results = selected_comparison(args)
    shown = shown_runs(comparison)
    drawn = len(shown)
    for wanted, what in ((fmt == "html", "--output FILE.html"), (figures is not None, "--figures")):
        if wanted and drawn > MAX_DRAWN_RUNS:
            other = ("drop --figures: the table alone is not limited" if fmt != "html" else
                     "write it as md, csv, json or latex, which hold no figures")
            raise UsageError(f"{what}: {counted(drawn, 'run')} shown, two figures each, where at most "
                             f"{MAX_DRAWN_RUNS} are drawn (thousands take minutes and hundreds of MB): narrow the "
                             f"report with --model, --dataset, --protocol, --profile or run ids, or {other}")
    roots = result_roots(results)
    if target is not None:  # again with the selected runs' dataset folders: merbench never writes inside one
        target = check_output_path(args.output, "--output", store_files(args.store), roots=roots,
                                   example=f"report{SUFFIX_OF[fmt]}")
    if figures is not None:  # before the --output file is written: a refused figure leaves nothing behind
        figures = check_output_folder(args.figures, "--figures", roots)
        check_figure_files(shown, figures)
        _refuse_overlap(args, target, figures, figure_files(shown, figures))
    if args.output is not None:
        write_comparison(comparison, target, fmt, results, args.metric)
        if target is not None:
            what = "a self-contained page with each run's figures, per-fold tables and provenance" if fmt == "html" else fmt
            models = {run.model for run in comparison.runs.values()}
            rows = "" if len(models) == len(comparison.models) else f" in {counted(comparison.models, 'row')}"
            err.print(f"{counted(models, 'model')}{rows} × {counted(comparison.columns, 'column')} written to "
                      f"{console_line(str(args.output))} ({what})", soft_wrap=True, highlight=False)
    if figures is not None:
        row_of = {id(run): row for (row, _), run in comparison.runs.items()}  # each figure titled with its table row
        written = write_figures(shown, figures, args.metric, [row_of[id(run)] for run in shown])  # the runs shown
        err.print(f"{counted(written, 'figure')} written to {console_line(str(args.figures))}", soft_wrap=True, highlight=False)
    return 0
