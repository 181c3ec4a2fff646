"""``merbench datasets list|check``: the dataset plugins and a check of your copy of one."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from merbench.commands import GivenOnce, HelpFormatter, dataset_folder, flatten_sets, output_file
from merbench.piped_output import say, show_table
from merbench.tables import TEXT, Column, DataTable
from merbench.wording import counted, default_text, numbered_order

ORDER = 25

EXAMPLES = """examples:
  merbench datasets list
  merbench datasets check casme2 --root /data/CASME2
  merbench datasets check casme2 --root /data/CASME2 --set dataset.classes=3 dataset.frames=raw
  merbench datasets check samm --root /data/SAMM --strict
  merbench datasets check smic --root /data/SMIC --set dataset.subset=nir
  merbench datasets check megc2019 --root /data/megc   # holds SMIC/, CASME2/, SAMM/
  merbench datasets check megc2019 --root /data/megc --set dataset.list=derived dataset.fixes=none
  merbench datasets check casme3 --root /data/CASME3 --set dataset.classes=4
  merbench datasets check mmew --root /data/MMEW
  merbench datasets check 4dme --root /data/4DME --set dataset.multilabel=first
  merbench datasets check manifest --root /data/flow --set dataset.manifest=labels.csv
  merbench datasets check casme2 --root /data/CASME2 --json casme2-check.json   # keep what was found

exit status: 0 the tree is usable, 2 it is not (the message says what, where and how to fix it).

See docs/datasets.md for the expected layout of each release.
"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``datasets`` sub-command with ``list`` and ``check``."""
    parser = commands.add_parser(
        "datasets",
        help="list dataset plugins and their options, or check your copy of a dataset",
        description="List dataset plugins, or check a dataset tree without training: counts per class, subject "
        "and domain, rows skipped or fixed and why, missing or unusable frames.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="{list,check}", required=True)
    listing = actions.add_parser("list", help="dataset plugins with their options and defaults",
                                 description="Every dataset plugin: whether it needs --root (your copy of the "
                                 "dataset), what it is, and its options with their defaults (set with --set "
                                 "dataset.KEY=VALUE; docs/datasets.md describes each release's layout).",
                                 epilog="examples:\n  merbench datasets list\n  merbench datasets list --json > "
                                 "datasets.json   # for scripts", formatter_class=HelpFormatter)
    listing.add_argument("--json", action="store_true",
                         help="print the list as JSON to stdout, for scripts (as `merbench list datasets --json`)")
    listing.set_defaults(handler=execute_list)
    check = actions.add_parser(
        "check",
        help="validate a dataset tree without training",
        description="Load DATASET from --root as `merbench run` would and open the frames a run reads first.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    check.add_argument("name", metavar="DATASET", help="dataset plugin name (see `merbench datasets list`)")
    check.add_argument("--root", type=dataset_folder, action=GivenOnce, help="folder of your copy of the dataset")
    check.add_argument("--set", dest="sets", action="append", default=[], nargs="+", metavar="KEY=VALUE",
                       help="dataset option, as for `merbench run` (e.g. dataset.classes=3); for precomputed images also "
                       "the image preprocessor's (image.size=N: the size a run resizes them to)")
    check.add_argument("--strict", action="store_true",
                       help="rows that would be skipped and clips with a missing or unusable onset, apex or middle "
                       "frame are an error (exit 2), as --set dataset.strict=true makes them")
    check.add_argument("--show", type=_count, default=20, metavar="N",
                       help="list at most N skipped rows / problems (default 20; 0 lists none)")
    check.add_argument("--quiet", action="store_true", help="no progress display while the frames are opened")
    check.add_argument("--json", type=output_file, metavar="FILE",
                       help="also write every finding as JSON to FILE, whether the tree is usable or not (- for "
                       "stdout; the tables then go to stderr)")
    check.set_defaults(handler=execute_check)


def execute_list(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench datasets list``."""
    from merbench.commands.list import dataset_records, listing_json
    from merbench.registry import get_registry

    records = dataset_records(get_registry())
    if args.json:
        out.out(listing_json({"datasets": records}), highlight=False)
        return 0
    table = DataTable("Datasets", [Column("Name", style="bold"), Column("Needs --root"), Column("Description", TEXT),
                                   Column("Options (--set dataset.KEY=VALUE, defaults)", TEXT, priority=1)])
    for record in records:  # the records --json writes
        options = ", ".join(f"{key}={default_text(value)}" for key, value in record["options"].items())
        table.add_row(record["name"], "yes" if record["needs_root"] else "no", record["description"], options)
    show_table(out, table, in_place=True, apart=True)
    return 0


def _count_table(title: str, rows, classes, first: tuple[str, ...]) -> DataTable:
    """Samples per class of each row; a row's key is a tuple of names, one per ``first`` column."""
    table = DataTable(title, [*(Column(name) for name in first), *(Column(name, justify="right") for name in classes),
                              Column("total", justify="right", style="bold")])
    for key, counts in rows:
        table.add_row(*map(str, key), *(str(counts.get(c, 0)) for c in classes), str(sum(counts.values())))
    return table


def _count(text: str) -> int:
    """``--show N``: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below 0; give how many rows to list, 0 or more")
    return value


def _per_part(summary: dict, fact) -> str:
    """``fact`` of a dataset's summary, or of each part of a composite (megc2019) as ``part: fact; ...``."""
    parts = summary.get("parts")
    if not isinstance(parts, dict) or not parts:
        return str(fact(summary))
    shown = [f"{name}: {fact(part)}" for name, part in parts.items() if fact(part)]
    return "; ".join(shown)


def execute_check(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench datasets check NAME --root DIR``."""
    from collections import Counter, defaultdict

    from merbench.cache import cache_root
    from merbench.config import parse_set
    from merbench.datafiles import folder_stamps, written_inside
    from merbench.config import resolve_section
    from merbench.dataset_check import (CheckReport, check_files, check_image_settings, check_record, load_for_check,
                                        split_image_settings, verdict, warnings)
    from merbench.errors import DataError
    from merbench.export import strict_json
    from merbench.outputs import check_command_output, write_output
    from merbench.progress import command_progress
    from merbench.registry import get_registry

    registry = get_registry()
    given = parse_set(flatten_sets(args.sets))
    sets, image = split_image_settings(registry, given)
    target = check_command_output(args.json, "--json", argparse.Namespace(**{**vars(args), "dataset": args.name}),
                                  writes=None) if args.json is not None else None
    if args.json is not None and target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    untouched = folder_stamps(args.root)
    dataset, strict = load_for_check(registry, args.name, args.root, sets, cache_root(create=False))
    check_image_settings(dataset, given)
    image = image if dataset.gives == "image" else None
    report = CheckReport(dataset, skips_clips="strict" in registry.get("datasets", args.name).options)
    with command_progress(err, args.quiet) as progress:
        progress.start("files", len(dataset.samples), f"Opening frames of {dataset.name}")
        report.files_checked, report.problems = check_files(dataset, lambda n: progress.advance("files", n),
                                                            image["size"] if image else 0)
    written = written_inside(args.root, untouched)

    summary = dataset.summary
    classes = list(dataset.classes)
    overview = DataTable(f"Dataset {dataset.name}", [Column("", style="bold"), Column("", TEXT, keep=True)],
                         show_header=False)
    facts = [
        ("root", args.root or summary.get("root", "")),
        ("annotation", _per_part(summary, lambda part: part.get("annotation") or part.get("manifest") or "(not named by the loader)")),
        ("frames", _per_part(summary, lambda part: part.get("frames") or part.get("mode") or "")),
        ("frames folder", _per_part(summary, lambda part: part.get("frames_folder") or "")),
        ("samples", f"{len(dataset.samples)}{_usable(len(dataset.samples), report.clips_left_out, report.skips_clips)}"),
        ("subjects", len(set(dataset.subjects.tolist()))),
        ("classes", ", ".join(classes)),
        ("rows skipped", len(report.skipped)),  # as the tables below: a plugin gives the rows, no count
        ("rows fixed", len(report.fixed)),
        ("dropped by the class set", ", ".join(f"{k} {v}" for k, v in summary.get("dropped_by_class_set", {}).items()) or "-"),
        ("left out as asked", ", ".join(f"{v} by {k}" for k, v in summary.get("left_out_by_option", {}).items())),
        ("apex unknown → middle frame", sum(sample.apex is None for sample in dataset.samples)),  # as a run does
        ("apex annotated at the onset", _apex_at_onset(dataset)),
        ("clips with frames missing inside", summary.get("frame_gaps", 0)),
        ("files opened", f"{report.files_checked} ({len(report.problems)} missing or unusable)"),
    ]
    for key, value in facts:
        if value not in ("", None):
            overview.add_row(key, str(value))
    _show(out, overview)

    by_domain: dict[str, Counter] = defaultdict(Counter)
    by_subject: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for sample in dataset.samples:
        name = classes[sample.label]
        by_domain[sample.domain][name] += 1
        by_subject[(sample.domain, sample.subject)][name] += 1
    _show(out, _count_table("Samples per class and domain", [((domain,), counts) for domain, counts in
                                                             sorted(by_domain.items())], classes, ("domain",)))
    subject_rows = sorted(by_subject.items(), key=lambda row: (row[0][0], numbered_order(row[0][1])))
    if len(by_domain) > 1:  # by domain, then subject: two parts of a composite may use one subject id
        _show(out, _count_table("Samples per subject", subject_rows, classes, ("domain", "subject")))
    else:
        _show(out, _count_table("Samples per subject", [((subject,), counts) for (_, subject), counts in
                                                        subject_rows], classes, ("subject",)))

    for title, entries, column in (("Rows skipped", report.skipped, "reason"), ("Rows fixed", report.fixed, "note"),
                                   ("Clips with frames missing inside (used: frames are matched by number)",
                                    report.frame_gaps, "note")):
        if not entries:
            continue
        more = f"{len(entries) - args.show} more not shown (--show N)" if len(entries) > args.show else None
        table = DataTable(f"{title} ({len(entries)})", [Column("source"), Column("row", justify="right"), Column("sample"),
                                                         Column(column, TEXT, priority=1)], caption=more)
        for entry in entries[: args.show]:
            table.add_row(str(entry.get("source", "")), str(entry.get("row") or "-"), str(entry["sample"]),
                          str(entry.get(column, "")))
        _show(out, table)
    if report.problems:
        table = DataTable(f"Missing or unusable files ({len(report.problems)})",
                          [Column("sample"), Column("file", TEXT, priority=1), Column("problem", TEXT, priority=1, stack=True)])
        # What stops a run or leaves a clip out first: a cut list then hides only what the default chain never reads.
        ordered = sorted(report.problems, key=lambda problem: (not problem.stops_run, not problem.skips_clip))
        _show(out, _limited(table, ordered, args.show,
                            lambda problem: (problem.sample, problem.path, problem.problem)))

    print_annotations(out, dataset, args.show)
    if args.json is not None:
        options = resolve_section(registry.get("datasets", args.name), "dataset", "default", sets)
        record = check_record(report, args.root, options, args.strict or strict, image)
        record["warnings"] += [written] if written else []
        write_output(target, strict_json(record))
    reason = verdict(report, args.strict or strict)
    if reason:
        raise DataError(reason)
    for warning in warnings(report, args.strict or strict) + ([written] if written else []):
        say(err, f"Warning: {warning}", f"[bold yellow]Warning:[/] {escape(warning)}")
    skipped = f", {counted(report.skipped, 'row')} skipped (see above; --strict makes that an error)" if report.skipped else ""
    unreadable = report.clips_left_out
    kept = [i for i, sample in enumerate(dataset.samples) if sample.id not in unreadable]
    left_out = f", {counted(unreadable, 'clip')} with missing or unusable files left out" if unreadable else ""
    subjects = set(dataset.subjects[kept].tolist())
    usable = f"{counted(kept, 'sample')}, {counted(subjects, 'subject')}{skipped}{left_out}"
    say(out, f"usable: {usable}", f"[green]usable:[/] {escape(usable)}")
    return 0


def _usable(samples: int, left_out: set[str], skips_clips: bool = True) -> str:
    """`` (N usable: ...)`` after the sample count when clips with missing or unusable files are left out; for a
    dataset without a ``strict`` option (``skips_clips`` false), that a run stops at them instead."""
    if not left_out:
        return ""
    if not skips_clips:
        return (f" ({counted(left_out, 'clip')} with missing or unusable files, at which a run stops: the dataset "
                "has no dataset.strict option to skip them)")
    return (f" ({samples - len(left_out)} usable: {counted(left_out, 'clip')} with missing or unusable files left "
            "out, as a run leaves them)")


def _show(out: Console, table: DataTable) -> None:
    """Print ``table`` as ``piped_output.show_table`` does, a row too wide for a pipe or log wrapping its text column
    (a value, a reason) under itself."""
    show_table(out, table, in_place=True)


def _limited(table: DataTable, entries: list, show: int, row) -> DataTable:
    """``table`` with the first ``show`` of ``entries`` (``row`` gives each one's cells) and a caption saying how many
    more there are."""
    for entry in entries[:show]:
        table.add_row(*(str(cell) for cell in row(entry)))
    if len(entries) > show:
        table.caption = f"{len(entries) - show} more not shown (--show N)"
    return table


def _table(title: str, headers) -> DataTable:
    """A table whose last column (a reason, a source) wraps; the others are names and values, never cut."""
    return DataTable(title, [*(Column(h) for h in headers[:-1]), Column(headers[-1], TEXT, priority=1)])


def print_annotations(out: Console, dataset, show: int) -> None:
    """Official-list coverage, known annotation fixes and action-unit counts, where the dataset has them."""
    from merbench.dataset_check import au_summary

    summary = dataset.summary
    coverage = summary.get("official_list")
    if coverage:
        parts = ", ".join(f"{name} {c['found']}/{c['listed']}" for name, c in coverage["per_domain"].items())
        say(out, f"official MEGC2019 list: {coverage['found']}/{coverage['listed']} listed samples found ({parts})")
        for title, key, headers, row in (
            ("Listed samples missing from your copies", "missing", ("domain", "subject", "clip", "label", "reason"),
             lambda e: (e["domain"], e["subject"], e["clip"], e["label"], e["reason"])),
            ("Present in your copies but not listed", "unlisted", ("domain", "sample", "emotion", "3-class"),
             lambda e: (e["domain"], e["sample"], e["emotion"], e["composite"] or "-")),
            ("Labels that differ from the release's emotion (the list's label is used)", "label_mismatches",
             ("domain", "sample", "list", "release"), lambda e: (e["domain"], e["sample"], e["list"], e["release"] or "-")),
        ):
            if coverage[key]:
                _show(out, _limited(_table(f"{title} ({len(coverage[key])})", headers), coverage[key], show, row))
    fixes = summary.get("annotation_fixes")
    if fixes:
        applied, not_applied = fixes.get("applied", []), fixes.get("not_applied", [])
        say(out, f"annotation fixes: {fixes['mode']} ({len(applied)} applied, {len(not_applied)} not applied)")
        columns = ("sample", "field", "old", "new", "source")
        if applied:
            _show(out, _limited(_table(f"Annotation fixes applied ({len(applied)})", columns), applied, show,
                          lambda e: (e["sample"], e["field"], e["old"], e["new"], e["source"])))
        if not_applied:
            _show(out, _limited(_table(f"Known fixes not applied ({len(not_applied)})", ("sample", "field", "new", "reason")),
                          not_applied, show, lambda e: (e["sample"], e["field"], e["new"], e["reason"])))
    aus = au_summary(dataset)
    if aus["samples"]:
        say(out, f"action units: {counted(aus['samples'], 'sample')} with AU codes ({aus['ambiguous']} with ambiguous 'or' codes, "
                 f"{aus['unparsed']} with unparsed text)")
        table = DataTable("Samples per action unit", [Column("AU"), Column("samples", justify="right")])
        for au, count in aus["per_au"].items():
            table.add_row(f"AU{au}", str(count))
        _show(out, table)


def _apex_at_onset(dataset) -> str:
    """``dataset_check.apex_at_onset`` as the check's overview says it: how many, the first ones, and why it
    matters."""
    from merbench.dataset_check import apex_at_onset

    at_onset = apex_at_onset(dataset)
    if at_onset is None:
        return f"- (its samples are precomputed {dataset.gives}s, not clips)"
    if not at_onset:
        return "0"
    first = ", ".join(at_onset[:3]) + (", ..." if len(at_onset) > 3 else "")
    return f"{len(at_onset)} ({first}): kept as annotated; their onset-to-apex flow is zero"
