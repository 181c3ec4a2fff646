"""``merbench cache info|clear``: what the cache holds, and emptying it."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from merbench.commands import HelpFormatter, output_file
from merbench.wording import counted

ORDER = 70

PARTS = {"preprocess": "preprocessed model inputs", "synthetic": "generated synthetic datasets",
         "model-facts": "model sizes and FLOPs for `list` and `info`"}
"""The cache folders merbench owns (``merbench.cache.CACHE_PARTS``); ``clear`` removes these and nothing else."""
_OWN_NAMES = {"preprocess": r"[0-9a-f]{2}|index|hashes|\..+\.tmp",
              "synthetic": r"[0-9a-f]{16}|\.[0-9a-f]{16}\..+|\..+\.tmp",
              "model-facts": r"[0-9a-f]{64}\.json|\..+\.tmp"}
OWN_ENTRIES = {part: re.compile(rf"(?:{names})|\.(?:{names})\.deleting\.[0-9]+\.[0-9]+")
               for part, names in _OWN_NAMES.items()}
"""The names merbench gives the entries at the top of each part: hidden ones are temporary files (``.NAME.xxxx.tmp``),
in ``synthetic`` a dataset being generated (``.KEY.xxxx``), and one of these an interrupted ``cache clear`` had moved
aside to delete in a part that is a symbolic link (``.ab.deleting.PID.NS``); any other hidden name is the user's."""

EXAMPLES = """examples:
  merbench cache info
  merbench cache info --json cache.json
  merbench cache clear --yes                 # remove every part: inputs, synthetic data, model facts
  merbench cache clear --only preprocess --yes
The cache is $MERBENCH_CACHE, by default the user cache folder (e.g. ~/.cache/merbench).
"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``cache`` sub-command with ``info`` and ``clear``."""
    parser = commands.add_parser("cache", help="show or empty merbench's cache",
                                 description="merbench cache info|clear: what the cache holds, and emptying it.",
                                 epilog=EXAMPLES, formatter_class=HelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="{info,clear}", required=True)
    info = actions.add_parser("info", help="size and entries per dataset and chain", epilog=EXAMPLES,
                              formatter_class=HelpFormatter,
                              description="Where merbench's cache is, and what it holds: preprocessed inputs per "
                              "dataset and preprocessing chain, generated synthetic datasets, their sizes, and "
                              "temporary files left by interrupted writes.")
    info.add_argument("--json", type=output_file, metavar="FILE", help="also write the summary as JSON to this file (- for stdout)")
    info.set_defaults(handler=execute_info)
    clear = actions.add_parser(
        "clear", help="empty the cache (needs --yes)", epilog=EXAMPLES, formatter_class=HelpFormatter,
        description="Remove merbench's cached data: preprocessed inputs, generated synthetic datasets and the "
        "model sizes and FLOPs `list` and `info` show (computed again when next needed). Without "
        "--yes nothing is removed: it says what would go and exits with code 2. Other files in the cache folder are kept.",
    )
    clear.add_argument("--yes", action="store_true", help="really remove (there is no prompt)")
    clear.add_argument("--only", choices=sorted(PARTS), metavar="PART",
                       help=f"remove only this part: {', '.join(PARTS)} (default: every part)")
    clear.set_defaults(handler=execute_clear)


DELETING = ".*.deleting.*"
"""The names of what ``cache clear`` moved aside to delete (``_remove``); an interrupted clear leaves them."""


def _foreign_entries(name: str, path: Path) -> list[str]:
    """Names at the top of the cache part ``path`` that merbench never makes there (a user's own folder that
    happens to be called ``preprocess`` or ``synthetic``), sorted."""
    try:
        return sorted(entry.name for entry in path.iterdir() if not OWN_ENTRIES[name].fullmatch(entry.name))
    except NotADirectoryError:
        return ["(a file, not a folder)"]


def _remove(path: Path) -> Path | None:
    """Remove ``path``: renamed to a hidden name first, so that a run at the same time sees all of it or none.
    Returns that name when it was moved away (whatever is at ``path`` afterwards was made again meanwhile; what is
    still at the hidden name could not be deleted), else None."""
    doomed, moved = path, None
    if not path.match(DELETING):  # one an interrupted clear moved aside is deleted where it is: its name would grow
        try:
            doomed = path.parent / f".{path.name}.deleting.{os.getpid()}.{time.time_ns()}"
            os.replace(path, doomed)
            moved = doomed
        except OSError:
            doomed = path
    if doomed.is_dir() and not doomed.is_symlink():
        shutil.rmtree(doomed, ignore_errors=True)
    else:
        try:
            doomed.unlink()
        except OSError:
            pass
    return moved


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _first_left(path: Path) -> Path:
    """The first file still under the folder ``path`` that a removal left (one that could not be deleted), else
    ``path``."""
    for folder, _, names in os.walk(path):
        if names:
            return Path(folder) / sorted(names)[0]
    return path


def _size(path: Path) -> tuple[int, int]:
    """Files and bytes under ``path``."""
    files = size = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                size += (Path(folder) / name).stat().st_size
                files += 1
            except OSError:
                pass
    return files, size


def human(size: float) -> str:
    """A byte count for people (KiB, MiB...)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _params(signature: list[dict[str, Any]]) -> str:
    parts = []
    for step in signature:
        params = ", ".join(f"{k}={v}" for k, v in step.get("params", {}).items() if k not in ("opencv", "cascade_sha256"))
        parts.append(f"{step['name']} v{step['version']}({params})")
    return " → ".join(parts)


def _is_index(meta: Any) -> bool:
    """Whether ``meta`` has the fields of a preprocessing index, of the kinds ``cache info`` shows."""
    return (isinstance(meta, dict) and isinstance(meta.get("entries"), list)
            and all(isinstance(key, str) for key in meta["entries"])
            and all(isinstance(meta.get(text, ""), str) for text in ("dataset", "produces", "written"))
            and isinstance(meta.get("shape") or [], list) and isinstance(meta.get("signature", []), list))


def summarise(root: Path) -> dict[str, Any]:
    """What the cache under ``root`` holds: per (dataset, chain) indexes, totals and leftovers."""
    from merbench.preprocess import entry_path, index_dir

    entry_dir = root / "preprocess"
    rows, indexed = [], set()
    for meta_path in sorted(index_dir(entry_dir).glob("*.json")) if entry_dir.is_dir() else []:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            params = _params(meta.get("signature", [])) if _is_index(meta) else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            params = None
        if params is None:  # not an index merbench wrote (damaged, or put there by hand): not listed
            continue
        keys = meta["entries"]
        present, size = 0, 0
        for key in keys:
            path = entry_path(entry_dir, key)
            indexed.add(path.name)
            for part in (path, path.with_suffix(".json")):
                if part.exists():
                    size += part.stat().st_size
                    present += part.suffix == ".npy"
        bundle = meta_path.with_suffix(".npy")
        size += bundle.stat().st_size if bundle.exists() else 0
        rows.append({
            "dataset": meta.get("dataset", "?"), "chain": meta.get("chain", "?"), "produces": meta.get("produces", "?"),
            "shape": meta.get("shape"), "params": params, "entries": present,
            "samples": len(keys), "clips": meta.get("clips") if isinstance(meta.get("clips"), int) else None,
            "bytes": size, "written": meta.get("written", ""), "index": meta_path.stem,
        })
    rows.sort(key=_row_order)
    entries = [p for p in entry_dir.glob("??/*.npy")] if entry_dir.is_dir() else []
    temporary = leftovers(root)
    parts = {}
    for name in PARTS:
        files, size = _size(root / name) if (root / name).is_dir() else (0, 0)
        parts[name] = {"files": files, "bytes": size,
                       "not_merbench": _foreign_entries(name, root / name) if (root / name).exists() else []}
    other = sorted(p.name for p in root.iterdir() if p.name not in PARTS and not p.match(DELETING)) \
        if root.is_dir() else []
    return {
        "root": str(root), "chains": rows, "entries": len(entries),
        "unindexed_entries": sum(p.name not in indexed for p in entries),
        "temporary_files": len(temporary), "temporary_bytes": sum(_size(p)[1] if p.is_dir() else _file_size(p)
                                                                  for p in temporary),
        "parts": parts, "other": other,
    }


def _row_order(row: dict[str, Any]) -> tuple:
    """Rows of ``cache info`` by dataset, chain, what they produce and its shape, then parameters and when each was
    written (the index files' hash names say nothing to a reader)."""
    chain, shape = row["chain"], row["shape"]
    return (str(row["dataset"]), " ".join(map(str, chain)) if isinstance(chain, list) else str(chain),
            str(row["produces"]), [int(v) if isinstance(v, int) else 0 for v in shape] if isinstance(shape, list) else [],
            str(row["params"]), str(row["written"] or ""))


def when_written(stamp: str) -> str:
    """An index's ``written`` time (``2026-12-05T03:57:06+0100``) as ``2026-12-05 03:57:06``, to the second: it
    tells apart two rows of one dataset and chain from two copies (``--root``) of that dataset."""
    return stamp[:19].replace("T", " ") if stamp else "?"


def leftovers(root: Path) -> list[Path]:
    """What interrupted writes left in the cache parts ``clear`` empties: temporary files (``*.tmp``), the hidden folders a dataset is
    generated into before it is moved into place (``synthetic/.KEY.xxxx``; a killed run leaves them behind), and
    what an interrupted ``cache clear`` had moved aside to delete: a part (``.preprocess.deleting.PID.NS``), or an
    entry of a part that is a symbolic link, in its target (``preprocess/.ab.deleting.PID.NS``)."""
    if not root.is_dir():
        return []
    folders: list[Path] = sorted(root.glob(DELETING))
    for name in PARTS:
        if (root / name).is_dir():
            for hidden in sorted((root / name).glob(".*")):  # merbench's own only (OWN_ENTRIES), as clear decides
                if OWN_ENTRIES[name].fullmatch(hidden.name) and (hidden.is_dir() or hidden.match(DELETING)):
                    folders.append(hidden)
    files = [p for name in PARTS if (root / name).is_dir() for p in (root / name).rglob("*.tmp")
             if not any(folder in p.parents for folder in folders)]  # what clear removes: its parts' files only
    return folders + files


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def chains_table(summary: dict[str, Any]):
    """The ``cache info`` table: one row per (dataset, chain) index, with when it was written (two copies of a dataset
    give two rows); names, sizes and counts whole, parameters wrapped."""
    from merbench.tables import TEXT, Column, DataTable

    table = DataTable(f"Preprocessed inputs in {summary['root']}",
                      [Column("Dataset"), Column("Chain", stack=True), Column("Produces"), Column("Written", stack=True),
                       Column("Entries", justify="right"), Column("Size", justify="right"), Column("Parameters", TEXT)])
    for row in summary["chains"]:
        shape = "×".join(str(v) for v in row["shape"] or [])
        table.add_row(row["dataset"], row["chain"], f"{row['produces']} {shape}".strip(), when_written(row["written"]),
                      f"{row['entries']}/{row['samples']}", human(row["bytes"]), _parameters_cell(row))
    return table


def _parameters_cell(row: dict[str, Any]) -> str:
    """The chain's parameters, after the clips its samples were made from where a protocol made several samples of
    one clip (``frame-10fold``): such a row is otherwise told from the clips' own row by its entry count alone."""
    clips, samples = row.get("clips"), row["samples"]
    if clips is None or clips >= samples:
        return row["params"]
    return f"{samples} samples made from {clips} clips by the protocol (frame-level); {row['params']}"


def headline(summary: dict[str, Any]) -> str:
    """What ``cache info`` says above its lines of totals when it has no table: no preprocessed inputs at all, or
    entries that no complete dataset run indexed (interrupted runs, or an index removed)."""
    if not summary["entries"]:
        return f"No preprocessed inputs in {summary['root']}."
    return (f"No complete dataset run indexed in {summary['root']}: the entries counted below are from interrupted "
            "runs, or their index is gone.")


def execute_info(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench cache info``."""
    from merbench.cache import cache_root
    from merbench.outputs import check_output_path, store_files, write_output
    from merbench.tables import print_table

    target = check_output_path(args.json, "--json", store_files(None), writes=None) if args.json is not None else None
    if args.json is not None and target is None:
        out = err  # `--json -`: stdout holds the JSON alone
    summary = summarise(cache_root(create=False))  # reading creates no folder
    if summary["chains"]:
        print_table(out, chains_table(summary))
    else:
        out.print(escape(headline(summary)), highlight=False)
    parts = summary["parts"]
    for name, description in PARTS.items():
        foreign = parts[name].get("not_merbench", [])
        what = (f"not merbench's: it holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''} "
                "(`cache clear` refuses it)") if foreign else description
        out.print(escape(f"{name}/: {what}, {parts[name]['files']} files, {human(parts[name]['bytes'])}"),
                  highlight=False)
    listed = sum(row["entries"] for row in summary["chains"])
    shared = (f" (the rows count {listed}: an input two rows produce identically is stored once and counted in each)"
              if listed > summary["entries"] else "")
    out.print(f"{summary['entries']} entries in all{shared}, {summary['unindexed_entries']} not in any complete dataset run "
              f"(e.g. an interrupted one: the next run reuses them); "
              f"{counted(summary['temporary_files'], 'temporary file or folder', 'temporary files or folders')}"
              + (f" ({human(summary['temporary_bytes'])}, left by interrupted writes; `merbench cache clear --yes` "
                 "removes them)" if summary["temporary_files"] else ""), highlight=False)
    if summary["other"]:
        out.print(f"Also in the folder, not managed by `cache clear`: {escape(', '.join(summary['other']))}",
                  highlight=False)
    if args.json is not None:
        write_output(target, json.dumps(summary, indent=2))
    return 0


def execute_clear(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``merbench cache clear``."""
    from merbench.cache import cache_root

    root = cache_root(create=False)  # nothing to remove from a folder that does not exist
    names = [args.only] if args.only else list(PARTS)
    targets = [(name, root / name) for name in names if (root / name).exists()]
    total = sum(_size(path)[1] for _, path in targets)
    foreign = [f"{name}/{entry}" for name, path in targets for entry in _foreign_entries(name, path)]
    if foreign:
        from merbench.errors import UsageError

        raise UsageError(f"{root / foreign[0]} was not made by merbench ({counted(foreign, 'such entry')} in "
                         f"{', '.join(sorted({f.split('/')[0] + '/' for f in foreign}))}): the cache folder may be a "
                         "folder of your own (check MERBENCH_CACHE); nothing was removed. Point MERBENCH_CACHE at "
                         "merbench's cache, or move your files out")
    unfinished = sorted(root.glob(DELETING)) if root.is_dir() else []
    left = f" and {counted(unfinished, 'folder')} an interrupted clear left ({unfinished[0].name})" if unfinished else ""
    total += sum(_size(path)[1] for path in unfinished)
    if not args.yes:
        what = (", ".join(f"{name}/ ({PARTS[name]})" for name, _ in targets) or "nothing") + left
        err.print(escape(f"would remove {what} from {root}, {human(total)}; nothing was removed: add --yes to confirm"),
                  highlight=False)
        return 2
    moved: dict[Path, Path] = {}
    found: list[Path] = []
    try:
        for name, path in targets:
            # A symbolic link (the cache on a bigger disk) keeps its target folder: only merbench's entries in it go.
            for entry in [path] if not path.is_symlink() else sorted(path.iterdir()):
                if (aside := _remove(entry)) is not None:
                    moved[entry] = aside
        for leftover in sorted(root.glob(DELETING)):
            _remove(leftover)
            found.append(leftover)
    except KeyboardInterrupt:
        err.print(escape(f"The clear was stopped part-way; what it had not removed yet is still in {root} and no "
                         "command reads it: run `merbench cache clear --yes` again to finish"), highlight=False)
        raise
    kept = [entry for _, path in targets for entry in ([path] if not path.is_symlink() else sorted(path.iterdir()))
            if _exists(entry)]
    remade = [entry for entry in kept if entry in moved]
    if remade:
        from merbench.errors import MerbenchError

        raise MerbenchError(f"{remade[0]} was removed and made again while clearing: a merbench command running at "
                            "the same time writes into the cache; let it finish (or stop it) and clear again")
    # What was moved aside at the cache root, or found there, and is still there: rmtree could not delete it all.
    kept += [aside for aside in dict.fromkeys([*moved.values(), *found]) if aside.parent == root and _exists(aside)]
    if kept:
        from merbench.errors import MerbenchError

        first = _first_left(kept[0])
        held = f" (it still holds {first.relative_to(kept[0])})" if first != kept[0] else ""
        raise MerbenchError(f"could not remove {kept[0]}{held}{f' and {len(kept) - 1} more' if len(kept) > 1 else ''} "
                            f"(read-only, immutable, or not yours to delete?): check the permissions of {root}")
    removed = (', '.join(f'{n}/' for n, _ in targets) or ('' if unfinished else 'nothing')) + left
    out.print(escape(f"Removed {removed.removeprefix(' and ')} from {root} ({human(total)})"),
              highlight=False)
    return 0
