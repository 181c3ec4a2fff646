"""``merbench regress``: check scores against a baseline file; exit 1 when any falls outside its band or its run fails."""

from __future__ import annotations

import argparse
import dataclasses
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from merbench.argument_types import NameList
from merbench.commands import HelpFormatter, output_file, path_argument, ray_messages, reusable_stored_run
from merbench.commands.runs import add_store_argument
from merbench.escaping import console_line, printable
from merbench.wording import counted, some_of

ORDER = 64

EXAMPLES = """examples:
  merbench regress --baseline benchmarks/baselines/ci.yaml                        # what CI runs
  merbench regress --baseline benchmarks/baselines/ci.yaml --model convmixer ststnet
  merbench regress --baseline benchmarks/baselines/ci.yaml --stored               # reuse stored runs, continue interrupted ones
  merbench regress --baseline benchmarks/baselines/ci.yaml --json -               # machine-readable verdicts
  merbench regress --baseline benchmarks/baselines/ci.yaml --update --seeds 3     # bands from 3 seeds x 2 layouts
  merbench regress --baseline lab.yaml --update --seeds 3 --root casme2=/data/CASME2   # your own data
  merbench regress --baseline my.yaml --update --add-missing                      # add every installed model

exit status: 0 every metric within its band, 1 any metric too low or suspiciously high or any entry's run failed, \
2 bad baseline or usage.
"""


def baseline_file(text: str) -> Path:
    """``--baseline FILE.yaml`` as a ``Path`` (``path_argument``); ``-`` is refused: a baseline is a file that
    merbench reads and ``--update`` rewrites, so standard input cannot stand for it."""
    if text.strip() == "-":
        raise argparse.ArgumentTypeError("'-' (standard input) is not supported: a baseline is a file merbench reads "
                                         "and --update rewrites; give a file name, e.g. --baseline baseline.yaml")
    return path_argument("a baseline file name, e.g. --baseline baseline.yaml")(text)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``regress`` sub-command."""
    regress = commands.add_parser(
        "regress",
        help="check pooled scores against a baseline file (CI); --update rewrites it",
        description="Run each entry of a baseline file (or reuse an identical stored run with --stored) and compare "
        "each pooled metric with its expected value: below expected - tolerance is a regression, above expected + "
        "tolerance is suspicious (leakage, a broken metric). Prints expected / measured / delta / status per metric.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    regress.add_argument("--baseline", type=baseline_file, required=True, metavar="FILE.yaml", help="baseline file (format: docs/results.md)")
    regress.add_argument("--model", nargs="+", action=NameList, default=[], metavar="NAME",
                         help="check only the entries of these models (separated by spaces or commas)")
    regress.add_argument("--stored", action="store_true",
                         help="reuse the newest stored run with the same configuration when there is one (also for "
                         "--seeds runs), and continue an interrupted one from its finished folds")
    regress.add_argument("--update", action="store_true", help="rewrite the baseline's expected values from the measured ones (atomically)")
    regress.add_argument("--seeds", type=int, default=1, metavar="N",
                         help="with --update: run each entry with N seeds in each --threads layout and derive its band "
                         "(expected = mean, tolerance = min(max(k*std, floor), 1)); 1 (default) keeps the tolerances")
    regress.add_argument("--threads", default=None, metavar="LAYOUTS",
                         help="with --update --seeds N: thread layouts to run, 'auto' (as configured) and/or a number of "
                         "threads per fold trained fold by fold (default: auto,2)")
    regress.add_argument("--k", type=float, default=None, metavar="K", help="with --seeds: band half-width in standard deviations (default 3)")
    regress.add_argument("--floor", type=float, default=None, metavar="F",
                         help="with --seeds: smallest tolerance, as a fraction 0..1 (default 0.03)")
    regress.add_argument("--root", action="append", default=[], metavar="DATASET=DIR",
                         help="the folder of your copy of a dataset the baseline uses (repeatable), e.g. casme2=/data/CASME2")
    regress.add_argument("--json", type=output_file, metavar="FILE", help="write the checks as JSON to FILE ('-': standard output)")
    regress.add_argument("--add-missing", action="store_true",
                         help="with --update: add an entry (the file's defaults) for every installed model not in the baseline")
    regress.add_argument("--no-store", action="store_true", help="do not record the runs in the results store")
    regress.add_argument("--quiet", action="store_true", help="no progress bars")
    add_store_argument(regress)
    regress.set_defaults(handler=execute)


def _roots(items: list[str]) -> dict[str, Path]:
    from merbench.errors import UsageError

    roots = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise UsageError(f"--root {item!r}: expected DATASET=DIR, for example --root casme2=/data/CASME2")
        roots[name.strip()] = Path(folder.strip()).expanduser()
    return roots


def _check_update_options(args: argparse.Namespace) -> None:
    from merbench.config import check_seeds
    from merbench.errors import UsageError

    if args.add_missing and not args.update:
        raise UsageError("--add-missing only works with --update")
    if not args.update and (args.seeds != 1 or args.threads is not None or args.k is not None or args.floor is not None):
        raise UsageError("--seeds, --threads, --k and --floor derive bands: they only work with --update")
    check_seeds(args.seeds)
    if args.seeds == 1 and (args.threads is not None or args.k is not None or args.floor is not None):
        raise UsageError("--threads, --k and --floor derive bands over several runs: add --seeds N (N ≥ 2)")
    for option, value in (("--k", args.k), ("--floor", args.floor)):
        if value is not None and not (value >= 0 and value != float("inf")):
            raise UsageError(f"{option} {value}: must be a finite number ≥ 0")
    if args.floor is not None and args.floor > 1:  # refused before the runs, not by the rewritten file after them
        raise UsageError(f"--floor {args.floor}: a tolerance is a fraction 0..1 (0.03 allows ±3 points); give a floor ≤ 1")
    if args.no_store and (args.stored or args.store):
        raise UsageError("--no-store cannot be combined with --stored or --store")


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench regress``."""
    from merbench.errors import UsageError
    from merbench.outputs import (ANY_KIND, check_output_path, check_store_outside_datasets, dataset_roots,
                                  input_paths, store_files)
    from merbench.regress import entry_error, load_baseline, missing_entries, parse_thread_layouts
    from merbench.registry import get_registry
    from merbench.store import default_store_path
    from merbench.testing import conformance_names

    _check_update_options(args)
    check_store_outside_datasets(args)
    json_target = None
    if args.json is not None:
        protect = [] if args.no_store else store_files(args.store or default_store_path())
        json_target = check_output_path(args.json, "--json", protect,
                                        inputs={**input_paths(args),
                                                f"the baseline file (--baseline {args.baseline})": args.baseline},
                                        roots=dataset_roots(args), writes=None)
        if json_target is None:
            out = err  # stdout carries the JSON alone
    if args.update:  # the baseline must be rewritable before minutes of runs are spent
        # writes=ANY_KIND: load_baseline says what a result file given as the baseline is, in its own words
        check_output_path(args.baseline, "--baseline", store_files(None if args.no_store else args.store),
                          roots=dataset_roots(args), example="baseline.yaml", writes=ANY_KIND)
    layouts = parse_thread_layouts("auto,2" if args.threads is None else args.threads) if args.seeds > 1 else ["auto"]
    baseline = load_baseline(args.baseline, update=args.update, start_new=args.update and args.add_missing)
    registry = get_registry()
    if args.add_missing:
        baseline.entries += missing_entries(baseline, conformance_names(registry))
    unknown = sorted(set(args.model) - {entry.model for entry in baseline.entries})
    if unknown:
        raise UsageError(f"--model {' '.join(unknown)}: not in {args.baseline}")
    selected = [entry for entry in baseline.entries if not args.model or entry.model in args.model]
    if not selected:
        raise UsageError(f"{args.baseline} has no entries; add some or use --update --add-missing")
    if args.update and args.model:
        raise UsageError("--update rewrites the whole baseline: drop --model so every entry is measured")
    roots = _roots(args.root)
    unused = sorted(set(roots) - {entry.dataset for entry in selected})
    if unused:
        raise UsageError(f"--root {unused[0]}=...: no entry of {args.baseline} uses dataset '{unused[0]}'")
    for entry in selected:
        try:
            needs_root = getattr(registry.get("datasets", entry.dataset), "needs_root", False)
        except UsageError as exc:  # an unknown dataset
            raise entry_error(entry, exc) from None
        if entry.dataset not in roots and needs_root:
            raise UsageError(
                f"{entry.where}: uses dataset '{entry.dataset}', which reads your own licensed copy: "
                f"give its folder with --root {entry.dataset}=DIR (layout: docs/datasets.md; "
                f"`merbench datasets check {entry.dataset} --root DIR` checks it)")
    return _measure_and_report(args, out, err, registry, baseline, selected, roots, layouts, json_target)


def _measure_and_report(args, out: Console, err: Console, registry, baseline, selected, roots, layouts, json_target) -> int:
    from merbench.errors import MerbenchError, RunFailed, UsageError
    from merbench.progress import command_progress
    from merbench.environment import current_software
    from merbench.regress import (
        DEFAULT_FLOOR, DEFAULT_K, Reuse, check_entry, entry_config, failed_checks, file_stamp, parse_baseline,
        run_error_text, undeclared_leaks, updated_document, write_baseline,
    )
    from merbench.store import ResultStore

    configs = [entry_config(entry, registry, roots.get(entry.dataset)) for entry in selected]  # all validated first
    for entry, config in zip(selected, configs):  # roots, chains, annotations, folds: before minutes of runs
        _preflight(entry, config, registry, ray_messages(err, args.quiet))
    k = DEFAULT_K if args.k is None else args.k
    floor = DEFAULT_FLOOR if args.floor is None else args.floor
    store = None if args.no_store else ResultStore(args.store)
    measured = []
    errors: dict[int, str] = {}  # position in measured → why its run failed (a check goes on with the other entries)
    reuses: list[list[Reuse]] = []  # per position in measured: the stored runs it reused (--stored)
    software: dict = {}

    def now() -> dict:  # this check's software, looked up once and only when a stored run is reused
        if not software:
            software.update(current_software())
        return software
    runs_done = [0]  # of the entry running now (--seeds N: its seeds × layouts), for the note on an interruption
    try:
        progress = command_progress(err, args.quiet)
        with progress:
            for entry, config in zip(selected, configs):
                reused: list[Reuse] = []
                reuses.append(reused)
                runs_done[0] = 0
                if args.seeds > 1:
                    measured.append(_derive(entry, registry, store, progress, err, roots, layouts, k, floor, args,
                                            reused, now, runs_done))
                    continue
                result = reusable_stored_run(store, config, registry, err) if args.stored and store is not None else None
                if result is None:
                    try:
                        result = _run_one(store, config, registry, progress, err, entry.heading(), args.stored)
                    except MerbenchError as exc:  # the model's or the data's fault: this entry fails, the rest run
                        if args.update:  # a baseline is only rewritten from a complete set of runs
                            raise RunFailed(f"{entry.where}: {run_error_text(exc)}; the baseline {args.baseline} "
                                            "is not updated") from None
                        errors[len(measured)] = run_error_text(exc)  # reported below the table
                else:
                    reused.append(Reuse.of(entry.where, result, entry.seed, "auto", now()))
                    _say_reused(err, reused[-1], entry.heading())
                measured.append((entry, result, None))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (cli.Terminated): say what is kept and how to go on
        finished = [entry for entry, result, _ in measured if result is not None]
        current = selected[len(measured)] if len(measured) < len(selected) else None
        err.print(Text(printable(interrupted_note(finished, current, len(selected), runs_done[0], args.seeds,
                                                  len(layouts), store is not None,
                                                  args.baseline if args.update else None))), highlight=False)
        raise
    finally:
        if store is not None:
            store.close()

    try:  # after the runs: a Ctrl-C now leaves every run stored, and the baseline as said
        unchecked: set[int] = set()  # runs that recorded a leak their entry does not declare
        for i, (entry, result, derivation) in enumerate(measured):
            problem = undeclared_leaks(entry, result)
            if problem and args.update:
                raise RunFailed(f"{entry.where}: {problem}; the baseline {args.baseline} is not updated")
            if problem:  # its checks fail, with the reason below the table
                errors[i] = problem
                unchecked.add(i)
                measured[i] = (entry, None, derivation)
        widened: list[str] = []
        if args.update:
            document = updated_document(baseline, measured, widened)
            try:  # checked as the file will be read, before it is written: nothing invalid is ever written
                rewritten = parse_baseline(document, args.baseline)
            except UsageError as exc:
                raise UsageError(f"{exc} (in the updated baseline; the file is not updated)") from None
            write_baseline(args.baseline, document, baseline.read_as, widened)
            # The table shows the measured runs against the bands just written.
            # --update measures every entry (no --model), so the rewritten file holds them in the same order.
            measured = [(entry, result, derivation) for entry, (_, result, derivation) in zip(rewritten.entries, measured)]
        checks = [(entry, failed_checks(entry) if result is None else check_entry(entry, result), result, errors.get(i))
                  for i, (entry, result, _) in enumerate(measured)]
        _print_checks(out, args.baseline, checks, registry)
        _print_reuses(out, [reuse for entry_reuses in reuses for reuse in entry_reuses])
        _print_blind_bands(out, checks, args.update)
        _print_quick_bands(out, checks)
        for note in widened:
            out.print(Text(printable(f"Note: {note}."), style="yellow"), highlight=False)
        if args.json is not None:
            _write_json(json_target, args.baseline, checks, registry, reuses, updated=args.update)
        if args.update:
            how = f"{counted(args.seeds, 'seed')} × {counted(layouts, 'thread layout')} each" if args.seeds > 1 else "one run each"
            out.print(f"Baseline {console_line(str(args.baseline))} updated from {counted(measured, 'entry')}, {how}.", highlight=False)
            return 0
        failed = [(entry, check) for entry, entry_checks, _, _ in checks for check in entry_checks if not check.passed]
        total = sum(len(entry_checks) for _, entry_checks, _, _ in checks)
        for i, (entry, _, _, error) in enumerate(checks):
            if error is not None:
                out.print(f"{'Not checked' if i in unchecked else 'Run failed'}: {escape(entry.where)}: {escape(error)}",
                          style="bold red", highlight=False)
        if failed:
            models = [entry.model for entry, _, _, _ in checks]
            named = ", ".join(f"{entry.model} {check.metric} {check.status}"
                              + (f" (entry {entry.number})" if models.count(entry.model) > 1 else "")
                              for entry, check in failed)  # a model's entries told apart
            statuses = {check.status for _, check in failed}
            verdict = "outside their band" if statuses <= {"low", "high"} else "did not pass"
            new = ""
            if "new" in statuses:  # --update re-derives every entry: offered only when it accepts no other verdict
                new = ("; new: no expected value yet" + (f": `merbench regress --baseline {args.baseline} --update` "
                                                         "records the measured values" if statuses == {"new"} else ""))
            out.print(f"FAILED: {len(failed)} of {counted(total, 'metric')} {verdict}: {escape(named)}{escape(new)}",
                      style="bold red", highlight=False)
            return 1
        out.print(f"All {counted(total, 'metric')} within their band.", style="green", highlight=False)
        return 0
    except KeyboardInterrupt:  # the file read again: the Ctrl-C may have landed inside the write, after its rename
        rewrote = args.update and file_stamp(args.baseline) != baseline.read_as
        err.print(Text(printable(after_runs_note(args, rewrote, store is not None))), highlight=False)
        raise


def _preflight(entry, config, registry, join_ray_with=None) -> None:
    """What ``merbench run`` checks before a run, for an entry: its root folder (``--root``), preprocessing chain,
    annotations and folds; an error names the baseline file and entry. Called for every entry before the first
    run, so a bad ``--root`` of the last entry does not wait for the others to train."""
    from merbench.errors import DataError, UsageError
    from merbench.preflight import preflight
    from merbench.regress import entry_error

    try:
        preflight(config, registry, join_ray_with=join_ray_with)
    except (UsageError, DataError) as exc:
        text = str(exc)
        if config.root is not None and text.startswith(f"--root {config.root}:"):  # the user's own --root: name it so
            raise type(exc)(f"{entry.where}: --root {entry.dataset}={text[len('--root '):]}") from None
        raise entry_error(entry, exc) from None


def _run_one(store, config, registry, progress, err: Console, what: str, resume: bool):
    """Train ``config`` (one seed), recorded in ``store``, after a ``Running WHAT`` line.

    With ``resume`` (``--stored``) an interrupted run of exactly this configuration in the store is continued, its
    finished folds kept, as ``merbench grid --stored`` does (``store.interrupted_run``), and a line says so; one that
    cannot be continued (another process holds it, or its inputs changed) is named and the entry trained anew."""
    from merbench.errors import FoldsLost
    from merbench.recording import continue_with_stored, run_or_continue
    from merbench.wording import counted

    def say(line: str) -> None:  # taken literally: a name or option with markup prints as written
        err.print(Text(printable(line)), highlight=False)

    resume_id = store.interrupted_run(config, 1) if resume and store is not None else None
    say(f"Running {what}" + (f", continuing its interrupted run {resume_id}" if resume_id else ""))
    recorded: list[str] = []
    try:
        result, run_id, kept = run_or_continue(store, config, registry, 1, progress, resume_id,
                                               lambda reason: say(f"Note: {what}: {reason}; it is trained anew"),
                                               recorded.append)
    except FoldsLost as exc:
        raise continue_with_stored(exc, recorded[0] if recorded else None, store, "regress", "entry") from None
    if kept is not None:
        say(f"{what}: stored as run {run_id}, continued from where it was interrupted ({counted(kept, 'fold')} kept)")
    return result


def after_runs_note(args: argparse.Namespace, rewrote: bool, stored: bool) -> str:
    """What a Ctrl-C after the last entry's run leaves: every run stored (unless ``--no-store``), the baseline
    rewritten or not (``--update``), and the ``--json`` file not written."""
    parts = ["Interrupted after every entry had run" + ("; their runs are stored" if stored else "")]
    if args.update:
        parts.append(f"the baseline {args.baseline} {'is updated' if rewrote else 'is not updated'}")
    if args.json is not None:
        parts.append("--json was not written")
    if stored and rewrote:
        parts.append(f"`merbench regress --baseline {args.baseline} --stored` checks the stored runs against it again")
    elif stored:
        parts.append("run the same command with --stored to finish without training again")
    return "; ".join(parts)


def interrupted_note(finished: list, current, total: int, runs_done: int, seeds: int, layouts: int, stored: bool,
                     baseline: Path | None) -> str:
    """What a check interrupted (Ctrl-C, SIGTERM) kept, and how to go on, in one line.

    ``finished``: the entries (``regress.Entry``) whose run finished (trained or reused), ``current`` the one that
    was running (``None`` once every entry had finished), ``total`` the entries checked, ``runs_done`` how many of
    the current entry's ``seeds`` × ``layouts`` runs finished (``--seeds N``), ``stored`` whether runs are recorded
    (not ``--no-store``); ``baseline``: the file ``--update`` would have rewritten, which is left as it was."""
    runs = seeds * layouts
    partly = runs_done if current is not None and runs > 1 else 0  # the interrupted entry's finished --seeds runs
    numbers = ", ".join(str(entry.number) for entry in finished)
    if finished:
        kept = (f"{len(finished)} of {counted(total, 'entry')} finished and {'is' if len(finished) == 1 else 'are'} "
                f"stored ({'entry' if len(finished) == 1 else 'entries'} {numbers})")
        kept += f", and {partly} of the {runs} runs of entry {current.number}" if partly else ""
    elif partly:
        kept = f"{partly} of the {runs} runs of entry {current.number} {'is' if partly == 1 else 'are'} stored"
    else:
        kept = "No entry finished"
    them = "it" if len(finished) + partly == 1 else "them"
    name = "" if current is None else f"entry {current.number} ({current.model} · {current.dataset} · {current.protocol})"
    if not stored:
        line = "nothing is stored (--no-store), so the same command trains every entry again"
        line = f"Interrupted in {name}; {line}" if current is not None else line[0].upper() + line[1:]
    elif current is None:
        line = f"{kept}; run the same command with --stored to reuse {them}"
    else:
        keep = f"keep {them}, " if finished or partly else ""
        line = (f"{kept}; run the same command with --stored to {keep}continue the interrupted {name} from its "
                "finished folds and run the rest")
    return line + ("" if baseline is None else f"; the baseline {baseline} is not updated")


def _say_reused(err: Console, reuse, label: str, layout: str | None = None) -> None:
    """The progress line of a reused stored run; one trained with other software than the check says which."""
    line = f"Reusing stored run {reuse.run_id} for {label}" + (f", threads {layout}" if layout else "")
    if reuse.changed:
        line += f": trained with other software ({'; '.join(reuse.changed)}; noted below the table)"
    err.print(Text(printable(line)), highlight=False)


def _print_blind_bands(out: Console, checks, updated: bool) -> None:
    """A warning per band that cannot raise one of its alarms (``merbench.one_class.blind_bands``: a lower edge a
    model predicting one class or guessing at random would pass, an upper edge no score can top), with what to do."""
    from merbench.one_class import blind_bands

    advice = ("derive it from more seeds, or with a lower --k or --floor" if updated else
              "derive it again from more seeds (`merbench regress --update --seeds N`) or narrow it by hand")
    for entry, _, result, _ in checks:
        if result is None:
            continue
        bands = [(e.metric, e.expected, e.tolerance, e.above) for e in entry.expectations]
        for note in blind_bands(f"entry {entry.number} ({entry.label})", bands, result.confusion_matrix):
            out.print(Text(printable(f"Warning: {note}; {advice}."), style="bold yellow"), highlight=False)


def _print_quick_bands(out: Console, checks) -> None:
    """One warning naming the entries whose bands were measured at the quick profile (docs/results.md, The CI
    baseline: every model scores near chance there, so such a band cannot tell a model that stopped learning)."""
    quick = [f"entry {entry.number} ({entry.label})" for entry, _, result, _ in checks
             if result is not None and entry.profile == "quick"]
    if quick:
        out.print(Text(printable(
            f"Warning: {some_of(quick, 3, '; ')}: {'its band was' if len(quick) == 1 else 'their bands were'} measured "
            "at the quick profile, where every model scores near chance on the synthetic data: such a band catches a "
            "crash, not a model that stopped learning; write profile: default under defaults: and derive the bands "
            "again (`merbench regress --update --seeds 3`)."), style="bold yellow"), highlight=False)


def _print_reuses(out: Console, reuses) -> None:
    """A paragraph per reused stored run trained with other software than the check (``Reuse.note``), wrapped at
    spaces on a terminal (no id or version is cut) and one line each in a log; text taken literally."""
    for note in filter(None, (reuse.note() for reuse in reuses)):
        out.print(Text(printable(f"Note: {note}"), style="yellow"), highlight=False)


def _derive(entry, registry, store, progress, err: Console, roots, layouts, k, floor, args, reused, now, runs_done):
    """Run an entry with every seed and thread layout; its first run (own seed, ``auto``) is the one checked, with
    what every run leaked.

    A stored run reused for a variant (``--stored``) is appended to ``reused``, and with ``--stored`` an
    interrupted run of a variant is continued (``_run_one``); ``now()``: the check's software; ``runs_done[0]``
    counts the variants finished (for the note on an interruption)."""
    from datetime import date

    from merbench.environment import describe_environment, describe_machine
    from merbench.errors import MerbenchError, RunFailed
    from merbench.regress import Derivation, Reuse, entry_config, run_error_text, variants
    from merbench.runner import leaks_of_every_seed

    values: dict[str, list[float]] = {e.metric: [] for e in entry.expectations}
    first, seconds, results = None, [], []
    runs = variants(entry, args.seeds, layouts)
    for number, (seed, layout, variant) in enumerate(runs, start=1):
        config = entry_config(variant, registry, roots.get(entry.dataset))
        result = reusable_stored_run(store, config, registry, err) if args.stored and store is not None else None
        if result is None:  # named with the variant's seed, not the entry's
            try:
                result = _run_one(store, config, registry, progress, err,
                                  f"{entry.heading(seed)}, threads {layout} ({number}/{len(runs)})", args.stored)
            except MerbenchError as exc:  # a baseline is only rewritten from a complete set of runs
                raise RunFailed(f"{entry.where}, seed {seed}, threads {layout}: {run_error_text(exc)}; the baseline "
                                f"{args.baseline} is not updated") from None
        else:
            reused.append(Reuse.of(f"{entry.where}, seed {seed}, threads {layout}", result, seed, layout, now()))
            _say_reused(err, reused[-1], entry.heading(seed), layout)
        runs_done[0] = number
        for metric in values:
            values[metric].append(float(result.pooled[metric]))
        if layout == layouts[0]:
            seconds.append(float(result.seconds.total))
        first = first or result
        results.append(result)
    # What any run leaked is the entry's (a protocol may share subjects with one seed only): checked as the first's
    first = dataclasses.replace(first, **leaks_of_every_seed(results))
    environment = describe_environment("cpu")
    context = {
        "machine": describe_machine(first.environment.get("device")), "date": date.today().isoformat(),
        "versions": {key: None if environment.get(key) is None else str(environment.get(key))
                     for key in ("merbench", "torch", "opencv", "git_commit")},  # None: not known (no git checkout)
        "command": (f"merbench regress --baseline {args.baseline} --update --seeds {args.seeds} --threads {','.join(layouts)}"
                    + (" --stored" if args.stored else "")),
    }
    if reused:  # the versions above are this check's; a reused run names its own, so that the file says whose values
        context["reused_runs"] = [{"run_id": reuse.run_id, "seed": reuse.seed, "threads": reuse.threads,
                                   **{key: value for key, value in reuse.trained_with.items() if value is not None}}
                                  for reuse in reused]
    derivation = Derivation(list(range(entry.seed, entry.seed + args.seeds)), layouts, k, floor, values,
                            sum(seconds) / len(seconds), context)
    return entry, first, derivation


def _points(value: float, places: int = 1):
    """A fraction as percentage points with ``places`` decimals (a ``Decimal``), by the rule every score shown
    follows (``merbench.wording.percent_points``)."""
    from merbench.wording import percent_points

    return percent_points(value, places)


def _verdict_as_shown(expected, tolerance, tolerance_high, measured) -> str:
    """The verdict the printed numbers (``Decimal`` points) give by ``check_entry``'s rule, its ``SLACK`` for the
    written rounding included."""
    from merbench.regress import SLACK, band_verdict

    return band_verdict(expected, tolerance, tolerance_high, measured, Decimal(repr(SLACK)) * 100)


def _shown(check) -> tuple[str, str, str, str]:
    """(expected, band, measured, delta) of a row, in %: the delta is that of the two numbers shown, so a row always
    adds up, and no zero prints as -0.0. A score that is not a number shows as itself (nan). The verdict is the
    exact values'; where one decimal would round a value across an edge of the band (48.66 shown as 48.7 at the edge
    48.7, yet low), the row shows as many as its verdict needs (up to four), so that what it shows gives it."""
    import math

    places = 1
    if check.status in ("ok", "low", "high") and check.expected is not None:
        values = (check.expected, check.tolerance, check.tolerance_high, check.measured)
        while places < 4 and _verdict_as_shown(*(_points(value, places) for value in values)) != check.status:
            places += 1
    expected = None if check.expected is None else _points(check.expected, places)
    measured = None if check.measured is None or not math.isfinite(check.measured) else _points(check.measured, places)
    if abs(check.tolerance - check.tolerance_high) < 1e-12:
        band = f"±{_points(check.tolerance, places)}"
    else:
        band = f"-{_points(check.tolerance, places)}/+{_points(check.tolerance_high, places)}"
    if expected is None or measured is None:
        delta = "—"
    else:
        delta = f"{0:.{places}f}" if measured == expected else f"{measured - expected:+}"
    if check.measured is not None and measured is None:
        shown_measured = f"{100 * check.measured:.1f}"  # nan, inf
    else:
        shown_measured = "—" if measured is None else str(measured)
    return "—" if expected is None else str(expected), band, shown_measured, delta


def _print_checks(out: Console, baseline, checks, registry) -> None:
    """One row per metric (model, metric, expected, band, measured, delta, verdict), then the paper's scores."""
    from merbench.regress import reported_notes
    from merbench.tables import Column, DataTable, print_item, print_table, styled

    table = DataTable(
        f"Regression check against {baseline}",
        [Column("Model"), Column("Metric"), Column("Expected", justify="right"), Column("Band", justify="right"),
         Column("Measured", justify="right"), Column("Delta", justify="right"), Column("Verdict"),
         Column("Setting", kind="text", priority=1, breakable=False)],
        caption="Pooled scores in %. low: below expected − tolerance (a regression); high: above expected + "
        "tolerance (suspicious); new: no expected value yet (use --update); failed: the run failed, recorded a "
        "leak its entry does not declare or ran on other data than its band was derived on (reason below), or its "
        "score is not a number."
        + (" #N: the entry's number in the baseline, for a model with several entries."
           if len({entry.model for entry, _, _, _ in checks}) < len(checks) else "")
        + (" ⚠: a leaky entry (leaky: true): its scores are inflated, not comparable with honest ones."
           if any(entry.leaky for entry, _, _, _ in checks) else ""),
    )
    colours = {"ok": "green", "low": "bold red", "high": "bold magenta", "new": "yellow", "failed": "bold red"}
    models = [entry.model for entry, _, _, _ in checks]
    for entry, entry_checks, _, _ in checks:
        # A model's entries told apart by number where the Setting column does not fit (80 columns)
        shown = entry.model + (f" #{entry.number}" if models.count(entry.model) > 1 else "") + (" ⚠" if entry.leaky else "")
        for index, check in enumerate(entry_checks):
            expected, band, measured, delta = _shown(check)
            table.add_row(shown, check.metric, expected, band, measured, delta,
                          styled(check.status, colours[check.status]), entry.setting if index == 0 else "")
        table.add_section()
    print_table(out, table)
    notes = [(f"entry {entry.number}: " if models.count(entry.model) > 1 else "") + note
             for entry, entry_checks, result, _ in checks
             for note in reported_notes(entry, registry, entry_checks, result)]  # a model's entries told apart
    if notes:
        out.print("Reported scores in % (orientation only unless data and protocol are the same):",
                  highlight=False)
        for note in notes:
            print_item(out, f"  {note}")


def _write_json(target, baseline, checks, registry, reuses, updated: bool) -> None:
    import json
    import math

    from merbench.outputs import write_output
    from merbench.regress import reported_notes

    def finite(value: float | None) -> float | None:  # NaN is not JSON
        return value if value is not None and math.isfinite(value) else None

    document = {
        "baseline": str(baseline),
        "updated": updated,
        "passed": all(check.passed for _, entry_checks, _, _ in checks for check in entry_checks),
        "entries": [
            {
                "model": entry.model, "dataset": entry.dataset, "protocol": entry.protocol, "profile": entry.profile,
                "seed": entry.seed, "set": entry.sets, "leaky": entry.leaky,
                "run_id": None if result is None else result.run_id,
                "error": error,
                "checks": [
                    {"metric": c.metric, "expected": c.expected, "tolerance": c.tolerance, "tolerance_high": c.tolerance_high,
                     "measured": finite(c.measured), "delta": finite(c.delta), "status": c.status}
                    for c in entry_checks
                ],
                "reported": reported_notes(entry, registry, entry_checks, result),
                "reused": [reuse.to_dict() for reuse in entry_reuses],
            }
            for (entry, entry_checks, result, error), entry_reuses in zip(checks, reuses)
        ],
    }
    write_output(target, json.dumps(document, indent=2) + "\n")
