"""Render the score tables of README.md and docs/ from the baseline (or leakage summary) files they name.

    python benchmarks/render_tables.py            # rewrite the marked tables in place
    python benchmarks/render_tables.py --check    # exit 1 when a committed table is stale

Exit 2, with one line naming the file (and line), when a document cannot be
read as UTF-8 text, a marker is malformed, unclosed or closes nothing, or its
table cannot be rendered from what it names; every document is rendered
before any is written, so then none is rewritten.

The tables sit between ``<!-- merbench:table KIND BASELINE -->`` and
``<!-- /merbench:table -->`` (merbench.rendered_tables). Regenerate a baseline
with ``merbench regress --baseline BASELINE --update --seeds 3`` first; the
``leakage`` kind names a summary instead, written by ``merbench leakage ...
--json benchmarks/leakage/NAME.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically; ``UsageError`` naming it when it cannot be written."""
    from merbench.cache import atomic_write_text
    from merbench.errors import UsageError

    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be written ({exc.strerror}); check its folder's permissions, "
                         "or run with --check to only compare") from None


def render_document(text: str, root: Path, registry: object, where: str) -> str:
    """``text`` with its marked tables rendered anew; a ``UsageError`` names ``where`` and the failing marker's line."""
    from merbench.errors import UsageError
    from merbench.rendered_tables import MARKER, check_markers, render_text

    def replace(match) -> str:
        try:
            return render_text(match.group(0), root, registry, where)
        except UsageError as exc:
            line = text.count("\n", 0, match.start()) + 1
            said = str(exc).removeprefix(f"{where}: ")
            raise UsageError(f"{where}, line {line}: {said}") from None

    check_markers(text, where)
    return MARKER.sub(replace, text)


def render_all(paths: list[Path], root: Path) -> list[tuple[Path, str, str]]:
    """(path, text, rendered text) of every document, all rendered before any is written."""
    from merbench.registry import get_registry
    from merbench.rendered_tables import read_document

    registry = get_registry()
    documents = []
    for path in paths:
        text = read_document(path)
        documents.append((path, text, render_document(text, root, registry, str(path))))
    return documents


def shown(path: Path) -> Path:
    """``path`` relative to the repository when it lies in it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or, with ``--check``, compare) every marked table; returns the exit code.

    Every document is rendered before any is written: when one cannot be, none is rewritten.
    """
    from merbench.errors import MerbenchError

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table differs from its baseline")
    parser.add_argument("--root", type=Path, default=ROOT, help="folder the markers' baseline paths are relative to (default: the repository)")
    parser.add_argument("files", nargs="*", type=Path, help="markdown files (default: README.md and docs/*.md)")
    args = parser.parse_args(argv)
    try:
        documents = render_all(args.files or DOCUMENTS, args.root)
    except MerbenchError as exc:
        unchanged = "" if args.check else "; no document was rewritten"
        print(f"render_tables: error: {exc}{unchanged}", file=sys.stderr)
        return 2
    stale = [(path, rendered) for path, text, rendered in documents if rendered != text]
    for path, rendered in stale:
        if not args.check:
            try:
                write(path, rendered)
            except MerbenchError as exc:
                print(f"render_tables: error: {exc}", file=sys.stderr)
                return 2
        print(f"{'stale' if args.check else 'rewritten'}: {shown(path)}")
    return 1 if stale and args.check else 0

if __name__ == "__main__":
    sys.exit(main())
