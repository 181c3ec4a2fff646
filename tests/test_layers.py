"""merbench's imports go one way down: the layer order of docs/design.md, no import loop (docs/design.md, Layers)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import import_graph as graph

FOUNDATION = "foundation"
PLUGINS = "merbench_plugins"


def violations(modules: dict[str, graph.Module], rows: list[tuple[int, str, list[str]]]) -> list[str]:
    """Every import against the layer order, every module without a layer, and every import loop."""
    found = []
    places = {name: graph.row_of(name, rows) for name in modules}
    found += [f"{name}: no row of the layer table in docs/design.md names it" for name, place in places.items()
              if place is None]
    for name, module in sorted(modules.items()):
        imports = [(None, t) for t in sorted(module.top_imports)] + list(module.local_imports)
        for line, target in imports:
            where = f"{name}{f':{line}' if line else ''} imports {target}"
            source, destination = places[name], places.get(target)
            if source is None or destination is None:
                continue
            if name.startswith("merbench.") or name == "merbench":
                if target.startswith(PLUGINS):
                    found.append(f"{where}: merbench never imports its plugins")
                    continue
            if name.startswith(PLUGINS) and not target.startswith(PLUGINS) and destination[1] != FOUNDATION:
                found.append(f"{where}: a plugin imports only the foundation layer")
                continue
            if destination[0] < source[0]:
                found.append(f"{where}: layer {source[0]} ({source[1]}) imports layer {destination[0]} "
                             f"({destination[1]}), which is above it")
            elif destination[0] == source[0] and destination[1] != source[1]:
                found.append(f"{where}: the groups {source[1]} and {destination[1]} of layer {source[0]} "
                             "do not import each other")
    found += [f"import loop: {' <-> '.join(loop)}" for loop in graph.loops(graph.edges(modules))]
    return found


def test_imports_go_one_way_down_the_layers_of_docs_design():
    problems = violations(graph.read_modules(), graph.layer_rows())
    assert not problems, "\n".join(problems)


def test_every_layer_row_names_modules_that_exist():
    modules = graph.read_modules()
    for _, name, patterns in graph.layer_rows():
        for pattern in patterns:
            prefix = pattern[:-2] if pattern.endswith(".*") else pattern
            assert any(m == prefix or m.startswith(prefix + ".") for m in modules), f"{name}: {pattern} names no module"


def _planted(tmp_path: Path, files: dict[str, str]) -> dict[str, graph.Module]:
    """The import graph of a copy of merbench and its plugins with ``files`` (path: source) added."""
    import shutil

    root = tmp_path / "tree"
    shutil.copytree(graph.ROOT / "merbench", root / "merbench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(graph.ROOT / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    for path, source in files.items():
        (root / path).write_text(textwrap.dedent(source))
    return graph.read_modules({"merbench": root / "merbench", "merbench_plugins": root / "plugins"})


def test_the_layer_test_notices_an_import_that_goes_up(tmp_path):
    """The store (results) made to start runs through the runner, as it did before: the test must fail on it."""
    store = (graph.ROOT / "merbench" / "store.py").read_text()
    modules = _planted(tmp_path, {"merbench/store.py": store + "\n\ndef rerun():\n    from merbench.runner import run_with_seeds\n"})
    problems = violations(modules, graph.layer_rows())
    assert any("merbench.store" in p and "imports merbench.runner" in p and "above it" in p for p in problems), problems


def test_the_layer_test_notices_an_import_loop_and_a_plugin_reaching_into_the_core(tmp_path):
    engine = (graph.ROOT / "merbench" / "engine.py").read_text()
    estimator = (graph.ROOT / "merbench" / "estimator.py").read_text()
    modules = _planted(tmp_path, {
        "merbench/estimator.py": estimator + "\nfrom merbench.engine import train_fold  # noqa\n",
        "merbench/engine.py": engine,
        "plugins/protocols.py": (graph.ROOT / "plugins" / "protocols.py").read_text()
        + "\nfrom merbench.runner import run_benchmark  # noqa\n",
    })
    problems = violations(modules, graph.layer_rows())
    assert "import loop: merbench.engine <-> merbench.estimator" in problems, problems
    assert any(p.startswith("merbench_plugins.protocols imports merbench.runner: a plugin") for p in problems), problems


def test_the_layer_test_notices_a_module_without_a_layer(tmp_path):
    modules = _planted(tmp_path, {"merbench/newcomer.py": '"""A module nobody placed."""\n'})
    assert "merbench.newcomer: no row of the layer table in docs/design.md names it" in violations(modules, graph.layer_rows())
