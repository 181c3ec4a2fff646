"""Render the score tables of README.md and docs/ from the baseline (or leakage summary) files they name.

    python benchmarks/render_tables.py            # rewrite the marked tables in place
    python benchmarks/render_tables.py --check    # exit 1 when a committed table is stale

Exit 2, with one line naming the file (and line), when a document cannot be
read as UTF-8 text or a marker is malformed, unclosed or closes nothing.

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


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or, with ``--check``, compare) every marked table; returns the exit code."""
    from merbench.errors import MerbenchError
    from merbench.registry import get_registry
    from merbench.rendered_tables import read_document, render_text

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table differs from its baseline")
    parser.add_argument("--root", type=Path, default=ROOT, help="folder the markers' baseline paths are relative to (default: the repository)")
    parser.add_argument("files", nargs="*", type=Path, help="markdown files (default: README.md and docs/*.md)")
    args = parser.parse_args(argv)
    registry = get_registry()
    stale = []
    for path in args.files or DOCUMENTS:
        try:
            text = read_document(path)
            rendered = render_text(text, args.root, registry, str(path))
            if rendered != text and not args.check:
                write(path, rendered)
        except MerbenchError as exc:
            print(f"render_tables: error: {exc}", file=sys.stderr)
            return 2
        if rendered != text:
            stale.append(path)
    for path in stale:
        print(f"{'stale' if args.check else 'rewritten'}: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
