"""The import graph of merbench and its plugins, read from the source with `ast`.

Used by tests/test_layers.py, and runnable on its own to print the figures a
restructuring reports: `python tests/import_graph.py` lists every module with its
line count and layer, the function-local imports of merbench, and the import loops.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The plugins are installed as merbench_plugins from the folder plugins/.
PACKAGES = {"merbench": ROOT / "merbench", "merbench_plugins": ROOT / "plugins"}


@dataclass
class Module:
    """One source file: its dotted name, path, line count and the merbench modules it imports."""

    name: str
    path: Path
    lines: int
    top_imports: set[str] = field(default_factory=set)
    local_imports: list[tuple[int, str]] = field(default_factory=list)


def _module_name(package: str, base: Path, path: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.name.split(".")
    if module.path.name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _targets(module: Module, node: ast.AST, known: set[str]) -> list[str]:
    """The known modules one import statement names (a `from pkg import submodule` counts as the submodule)."""
    found = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            found.append(alias.name)
    elif isinstance(node, ast.ImportFrom):
        base = _resolve(module, node)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            found.append(sub if sub in known else base)
    result = []
    for name in found:
        # `import merbench.folds.local` names the package chain; keep the longest known prefix.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            result.append(name)
    return result


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def read_modules(packages: dict[str, Path] = PACKAGES) -> dict[str, Module]:
    """Every module of the given packages, with its merbench imports split into top-level and function-local.

    Imports under `if TYPE_CHECKING:` are left out: they never run.
    """
    modules: dict[str, Module] = {}
    for package, base in packages.items():
        for path in sorted(base.rglob("*.py")):
            name = _module_name(package, base, path)
            modules[name] = Module(name, path, len(path.read_text().splitlines()))
    known = set(modules)
    for module in modules.values():
        tree = ast.parse(module.path.read_text(), str(module.path))
        _collect(module, tree.body, known, local=False)
    return modules


def _collect(module: Module, body: list[ast.stmt], known: set[str], local: bool) -> None:
    for node in body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            _collect(module, node.orelse, known, local)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in sorted(set(_targets(module, node, known))):
                if target == module.name:
                    continue
                if local:
                    module.local_imports.append((node.lineno, target))
                else:
                    module.top_imports.add(target)
            continue
        inner = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child_body in _bodies(node):
            _collect(module, child_body, known, local or inner)


def _bodies(node: ast.AST) -> list[list[ast.stmt]]:
    bodies = []
    for name in ("body", "orelse", "finalbody", "handlers"):
        value = getattr(node, name, None)
        if isinstance(value, list) and value and isinstance(value[0], (ast.stmt, ast.ExceptHandler)):
            bodies.append(value)
    if isinstance(node, ast.Match):
        bodies.extend(case.body for case in node.cases)
    return bodies


def edges(modules: dict[str, Module], with_local: bool = True) -> dict[str, set[str]]:
    """Module → the modules it imports (a package's own __init__ is not counted as importing its children)."""
    graph = {}
    for name, module in modules.items():
        targets = set(module.top_imports)
        if with_local:
            targets |= {target for _, target in module.local_imports}
        graph[name] = {t for t in targets if t != name}
    return graph


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


LAYER_TABLE = re.compile(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*([^|]*)\|", re.M)


def layer_rows(design: Path = ROOT / "docs" / "design.md") -> list[tuple[int, str, list[str]]]:
    """The layer table of docs/design.md: (layer number, group name, module patterns), top layer first.

    The table lies between ``<!-- layers -->`` and ``<!-- /layers -->``; a row reads
    `| N | name | patterns |`, patterns separated by commas; a pattern is a dotted
    module name, or one ending in `.*` for a whole package.
    """
    text = design.read_text()
    table = text[text.index("<!-- layers -->"):text.index("<!-- /layers -->")]
    return [(int(n), name.strip(), [p.strip().strip("`") for p in patterns.split(",") if p.strip()])
            for n, name, patterns in LAYER_TABLE.findall(table)]


def row_of(module: str, rows: list[tuple[int, str, list[str]]]) -> tuple[int, str] | None:
    """The (layer, group name) of a module by its most specific pattern; a module's own name beats its package's."""
    best = None
    for number, name, patterns in rows:
        for pattern in patterns:
            if pattern.endswith(".*"):
                prefix = pattern[:-2]
                hit, weight = module == prefix or module.startswith(prefix + "."), len(prefix)
            else:
                hit, weight = module == pattern, 1000 + len(pattern)
            if hit and (best is None or weight > best[0]):
                best = (weight, (number, name))
    return best[1] if best else None


def main() -> None:
    """Print the modules with line counts and layers, the function-local imports and the loops."""
    modules = read_modules()
    try:
        rows = layer_rows()
    except (FileNotFoundError, ValueError):
        rows = []
    print("module\tlayer\tlines")
    for name, module in sorted(modules.items()):
        place = row_of(name, rows)
        print(f"{name}\t{f'{place[0]} {place[1]}' if place else '-'}\t{module.lines}")
    local = [(m.name, line, target) for m in modules.values() for line, target in m.local_imports]
    print(f"\nfunction-local merbench imports: {len(local)}")
    for name, line, target in sorted(local):
        print(f"  {name}:{line} -> {target}")
    print("\nimport loops:")
    for component in loops(edges(modules)):
        print("  " + " <-> ".join(component))


if __name__ == "__main__":
    main()
