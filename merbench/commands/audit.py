"""``merbench audit FILE...``: re-check stored results for leakage."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from merbench.commands import HelpFormatter, output_file
from merbench.commands.runs import add_store_argument
from merbench.wording import counted, some_of

ORDER = 40

EXAMPLES = """examples:
  merbench audit result.json                       # written by merbench run --json
  merbench audit results/*.json --json audit.json  # several files, and every check as JSON
  merbench show RUN_ID --json r.json && merbench audit r.json   # a stored run
  merbench audit leakage.json                      # a leakage study against its stored runs
"""


def audited_file(text: str) -> Path:
    """A ``FILE.json`` argument as a path; an empty one is refused, since ``Path("")`` is the current folder."""
    from merbench.errors import UsageError

    if not text.strip():
        raise UsageError("an empty file name; give a result file written by merbench run --json (for a stored run: "
                         "merbench show RUN_ID --json FILE)")
    return Path(text)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``audit`` sub-command."""
    audit = commands.add_parser(
        "audit",
        help="re-check result files for leakage; exit 1 when any is found",
        description="Re-check results written by `merbench run --json` for subject overlap between training and "
        "test, selection or normalisation on test data, and scores that do not follow from the predictions; and "
        "a leakage study's summary (`merbench leakage --json`) against the runs it lists in the results store: "
        "each variant's scores, ΔUF1 interval and leaks computed again from them. "
        "Exit 0 when every file passes, 1 when any check fails, 2 when a file is not a readable result "
        "(the other files are still audited).",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    audit.add_argument("files", nargs="+", metavar="FILE.json",
                       help="result files, or leakage summaries, to audit")
    audit.add_argument("--json", type=output_file, metavar="FILE",
                       help="also write every file's checks as JSON to FILE (- for stdout; the tables then go to stderr)")
    add_store_argument(audit, "the results store holding the runs a leakage summary lists")

    audit.set_defaults(handler=execute)


def execute(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench audit FILE...``."""
    from merbench.errors import DataError, MerbenchError
    from merbench.export import strict_json
    from merbench.outputs import check_command_output, result_roots, summary_roots, write_output
    from merbench.result import RunResult
    from merbench.tables import print_error

    files = list(dict.fromkeys(audited_file(text) for text in args.files))  # a file given twice is audited once
    loaded = {path: _loaded(path) for path in files}  # a result, a leakage summary, or why it is neither
    studies = {what: folder for path, summary in loaded.items() if isinstance(summary, dict) and args.json is not None
               for what, folder in summary_roots(summary, path, args.store).items()}  # what the studies read
    target = check_command_output(args.json, "--json", args, also_read={f"the audited file {path}": path
                                                                        for path in files},
                                  also_roots={**result_roots(result for result in loaded.values()
                                                             if isinstance(result, RunResult)), **studies},
                                  writes="audit") \
        if args.json is not None else None
    if args.json is not None and target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    failing: list[Path] = []
    unreadable: list[Path] = []
    records: list[dict] = []
    for path in files:
        document = loaded[path]
        if isinstance(document, dict):
            try:
                record = _audit_summary(path, document, args.store, out)
            except MerbenchError as exc:  # its runs cannot be read at all (no store there, or a damaged one)
                document = DataError(f"{path}: {exc}")
        elif not isinstance(document, DataError):
            record = _audit_result(path, document, out)
        if isinstance(document, DataError):
            print_error(err, str(document))
            unreadable.append(path)
            records.append({"file": str(path), "readable": False, "error": str(document)})
            continue
        if not record["passed"]:
            failing.append(path)
        records.append(record)
    passed_files = len(files) - len(failing) - len(unreadable)
    if len(files) > 1:  # one line to read at the end of several tables
        parts = [f"{passed_files} of {counted(files, 'file')} passed every check"]
        if failing:
            parts.append(f"{len(failing)} failed a check ({some_of(failing, 3)})")
        if unreadable:
            parts.append(f"{len(unreadable)} could not be read as a result ({some_of(unreadable, 3)})")
        out.print(escape("Audit: " + "; ".join(parts)), highlight=False)
    if args.json is not None:
        write_output(target, strict_json({"kind": "merbench-audit", "version": 1, "passed": passed_files,
                                          "failed": len(failing), "unreadable": len(unreadable), "files": records}))
    return 2 if unreadable else 1 if failing else 0


def _loaded(path: Path):
    """The run result in ``path``, the leakage summary (a dict) when it holds one, or the ``DataError`` that says why
    it is neither; the file is read once."""
    from merbench.audit import read_json_file, result_in
    from merbench.errors import DataError, MerbenchError
    from merbench.leakage_summary import checked_summary
    from merbench.result import document_kind

    try:
        document = read_json_file(path)
        if document_kind(document) == "leakage":
            return checked_summary(document, path, "leakage summary")
        return result_in(document, path)
    except MerbenchError as exc:
        return exc if isinstance(exc, DataError) else DataError(str(exc))


def _checks_record(checks) -> dict:
    """What an audited file's ``--json`` record says of its checks: whether all passed, and each check."""
    return {"passed": all(check.passed for check in checks),
            "checks": [{"name": c.name, "passed": c.passed, "finding": c.detail} for c in checks]}


def _checks_table(title: str, checks) -> object:
    """The table of one audited file's checks."""
    from merbench.tables import TEXT, Column, DataTable, styled

    table = DataTable(title, [Column("Check"), Column("Status"), Column("Finding", TEXT, keep=True)])
    for check in checks:
        table.add_row(check.name, styled("pass", "green") if check.passed else styled("FAIL", "bold red"), check.detail)
    return table


def _audit_result(path: Path, result, out: Console) -> dict:
    """Audit one run's result: print its table and return its ``--json`` record."""
    from merbench.audit import audit_result
    from merbench.tables import print_table

    checks = audit_result(result)
    print_table(out, _checks_table(f"Audit of {path} ({result.model} on {result.dataset}, {result.protocol})", checks))
    return {"file": str(path), "readable": True, "run_id": result.run_id, "model": result.model,
            "dataset": result.dataset, "protocol": result.protocol, **_checks_record(checks)}


def _audit_summary(path: Path, summary: dict, store_path, out: Console) -> dict:
    """Audit one leakage summary against the runs it lists in the store at ``store_path``: print its table and
    return its ``--json`` record."""
    from merbench.leakage_audit import audit_summary
    from merbench.store import ResultStore
    from merbench.tables import print_table

    with ResultStore(store_path, create=False) as store:  # reads only
        checks = audit_summary(summary, store)
    print_table(out, _checks_table(f"Audit of {path} (leakage study of {summary['model']} on {summary['dataset']}, "
                                   f"runs in {store.path})", checks))
    return {"file": str(path), "readable": True, "kind": "leakage", "model": summary["model"],
            "dataset": summary["dataset"], "protocol": summary.get("protocol"), "store": str(store.path),
            **_checks_record(checks)}
