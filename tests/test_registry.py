"""Plugin discovery through the ``merbench`` entry-point group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from merbench import registry as registry_module
from merbench.errors import PluginError, UsageError
from merbench.registry import Registry, reset_registry
from piped_rows import piped_row

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10, which merbench supports: pytest brings tomli there
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent

TINY_MODEL = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    import torch
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_channels * input_size * input_size, n_classes))


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="{name}", build=build, description="a throw-away test model", input="flow-uvs",
                         options={{"width": 1}}))
'''


def test_builtin_plugins_are_discovered_through_entry_points():
    registry = Registry()
    assert "convmixer" in registry.names("models")
    assert {"synthetic", "smic", "casme2", "samm", "megc2019", "manifest"} <= set(registry.names("datasets"))
    assert "flow" in registry.names("preprocessors")
    assert registry.names("protocols") == ["cross-dataset", "frame-10fold", "loso", "megc2019", "sample-10fold", "subject-10fold"]
    for kind in ("models", "datasets", "preprocessors", "protocols"):
        for name in registry.names(kind):
            assert registry.provider(kind, name).builtin, f"{kind} {name} should come from merbench itself"
    assert registry.problems == []


def test_every_plugin_module_has_an_entry_point():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    targets = set(project["project"]["entry-points"]["merbench"].values())
    for path in (REPO / "plugins").rglob("*.py"):
        if "@hookimpl" not in path.read_text():
            continue
        relative = path.relative_to(REPO / "plugins").with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        module = ".".join(("merbench_plugins", *parts))
        assert module in targets, f"{path} implements a hook but has no entry point in pyproject.toml"


def test_throwaway_plugin_is_discovered_and_runs(install_plugin, run_cli, tmp_path):
    install_plugin("merbench-tiny", "tiny", "merbench_tiny_plugin", TINY_MODEL.format(name="tiny-linear"))
    registry = Registry()
    assert "tiny-linear" in registry.names("models")
    provider = registry.provider("models", "tiny-linear")
    assert (provider.distribution, provider.entry_point, provider.builtin) == ("merbench-tiny", "tiny", False)

    listing = run_cli("list", "models")
    assert listing.code == 0
    assert "tiny-linear" in listing.out and "merbench-tiny 0.1" in listing.out

    run = run_cli("run", "--model", "tiny-linear", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                  "--set", "protocol.n_splits=2", "--json", str(tmp_path / "r.json"))
    assert run.code == 0, run.err
    assert '"model": "tiny-linear"' in (tmp_path / "r.json").read_text()


def test_broken_plugin_is_reported_and_the_rest_keep_working(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-broken", "broken", "merbench_broken_plugin", "import a_module_that_does_not_exist\n")
    registry = Registry()
    assert "convmixer" in registry.names("models")
    assert len(registry.problems) == 1
    problem = registry.problems[0]
    assert "plugin 'broken' (merbench-broken 0.1)" in problem
    assert "ModuleNotFoundError" in problem and "a_module_that_does_not_exist" in problem

    shown = run_cli("plugins")
    assert shown.code == 0
    assert "broken" in shown.out and "ModuleNotFoundError" in shown.out

    for off in ("0", "false", "No", "off"):
        monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", off)
        assert len(Registry().problems) == 1, f"MERBENCH_STRICT_PLUGINS={off} keeps strict mode off"
    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="merbench-broken"):
        Registry()
    reset_registry()
    strict = run_cli("list")
    assert strict.code == 2
    assert "merbench-broken" in strict.err and "Traceback" not in strict.err


def test_disabled_plugin_is_not_loaded(install_plugin, monkeypatch):
    install_plugin("merbench-broken", "broken", "merbench_broken_plugin", "raise RuntimeError('boom')\n")
    monkeypatch.setenv("MERBENCH_DISABLE_PLUGINS", "broken")
    registry = Registry()
    assert registry.problems == []
    assert "broken" not in [record.provider.entry_point for record in registry.records]


def test_a_disabled_name_that_matches_nothing_and_a_disabled_model_are_explained(run_cli, monkeypatch):
    monkeypatch.setenv("MERBENCH_DISABLE_PLUGINS", "bogus,convmixer")
    reset_registry()
    try:
        shown = run_cli("plugins")
        assert shown.code == 0 and "No installed entry point is called bogus" in shown.out
        refused = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick")
        assert refused.code == 2
        said = " ".join(refused.err.split())  # only the name that left an entry point out (bogus matched none)
        assert "MERBENCH_DISABLE_PLUGINS=convmixer leaves out those entry points" in said and "=bogus" not in said
    finally:
        monkeypatch.delenv("MERBENCH_DISABLE_PLUGINS")
        reset_registry()


def test_duplicate_name_is_refused_naming_both_providers(install_plugin):
    install_plugin("merbench-dup", "dup", "merbench_dup_plugin", TINY_MODEL.format(name="convmixer"))
    registry = Registry()
    assert registry.provider("models", "convmixer").builtin, "the built-in must keep its name"
    assert len(registry.problems) == 1
    message = registry.problems[0]
    assert "model 'convmixer'" in message
    assert "plugin 'dup' (merbench-dup 0.1)" in message
    assert "plugin 'convmixer' (merbench 0.1.0)" in message


def test_hook_that_raises_or_registers_the_wrong_type_is_reported(install_plugin):
    install_plugin("merbench-bad", "bad", "merbench_bad_plugin", '''
        from merbench.hookspecs import hookimpl

        @hookimpl
        def merbench_register_models(register):
            register("not a ModelPlugin")

        @hookimpl
        def merbench_register_datasets(register):
            raise ValueError("cannot list datasets")
    ''')
    registry = Registry()
    problems = " | ".join(registry.problems)
    assert "expected ModelPlugin" in problems
    assert "merbench_register_datasets" in problems and "cannot list datasets" in problems
    assert "synthetic" in registry.names("datasets")
    assert all(registry.provider("datasets", name).builtin for name in registry.names("datasets"))


def test_unknown_hook_name_is_reported(install_plugin):
    install_plugin("merbench-typo", "typo", "merbench_typo_plugin", '''
        from merbench.hookspecs import hookimpl

        @hookimpl
        def merbench_register_modles(register):
            pass
    ''')
    registry = Registry()
    assert any("merbench-typo" in p and "merbench_register_modles" in p and "did you mean merbench_register_models?" in p
               for p in registry.problems)


def test_a_hook_without_hookimpl_is_reported_not_taken_as_loaded(install_plugin, monkeypatch):
    install_plugin("merbench-unmarked", "unmarked", "merbench_unmarked_plugin", TINY_MODEL.format(name="unmarked")
                   .replace("@hookimpl\n", ""))
    registry = Registry()
    record = next(r for r in registry.records if r.provider.entry_point == "unmarked")
    assert "unmarked" not in registry.names("models")
    assert record.error and "merbench_register_models is not marked @hookimpl" in record.error
    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="not marked @hookimpl"):
        Registry()


@pytest.mark.parametrize("target, source, hinted", [
    ("merbench_aimed_plugn", "HOOKS = 1\n", True),
    ("merbench_aimed_plugin:hoks", "HOOKS = 1\n", True),
    ("merbench_aimed_plugin", "import merbench_no_such_dependency\n", False),
    ("merbench_aimed_plugin", "import merbench_aimed\n", False),  # a dependency whose name starts the module's
])
def test_an_entry_point_naming_a_missing_module_says_where_to_fix_it(install_plugin, tmp_path, target, source, hinted):
    install_plugin("merbench-aimed", "aimed", "merbench_aimed_plugin", source)
    (tmp_path / "site" / "merbench-aimed-0.1.dist-info" / "entry_points.txt").write_text(f"[merbench]\naimed = {target}\n")
    record = next(r for r in Registry().records if r.provider.entry_point == "aimed")
    assert f"failed to import {target}" in record.error
    hint = "check [project.entry-points.merbench] in merbench-aimed's pyproject.toml"
    assert (hint in record.error) == hinted, record.error  # a missing import inside the plugin is its own error


def test_a_model_whose_input_no_preprocessor_produces_is_named_before_anything_runs(install_plugin, run_cli):
    install_plugin("merbench-uvw", "uvw", "merbench_uvw_plugin",
                   TINY_MODEL.format(name="uvw-model").replace('input="flow-uvs"', 'input="flow-uvw"'))
    listed = run_cli("list", "models")
    assert listed.code == 0 and "uvw-model" in listed.out
    said = " ".join(listed.err.split())
    assert "model 'uvw-model' declares input 'flow-uvw', which no registered preprocessor produces" in said
    assert "(from plugin 'uvw' (merbench-uvw 0.1))" in said


def test_a_hook_without_hookimpl_beside_a_marked_one_is_reported(install_plugin):
    install_plugin("merbench-half", "half", "merbench_half_plugin", TINY_MODEL.format(name="half") + """

def merbench_register_protocols(register):
    raise AssertionError("never called: not marked")
""")
    registry = Registry()
    record = next(r for r in registry.records if r.provider.entry_point == "half")
    assert "half" in registry.names("models"), "the marked hook still ran"
    assert "'merbench_register_protocols' in module merbench_half_plugin is not marked @hookimpl, so merbench never " \
           "calls it" in record.error


def test_a_hook_returning_what_register_returned_is_fine(install_plugin):
    install_plugin("merbench-listed", "listed", "merbench_listed_plugin", TINY_MODEL.format(name="listed").replace(
        "def merbench_register_models(register):\n    register(", "def merbench_register_models(register):\n    return [register("
    ).replace("options={\"width\": 1}))", "options={\"width\": 1}))]"))
    registry = Registry()
    record = next(r for r in registry.records if r.provider.entry_point == "listed")
    assert "listed" in registry.names("models") and not record.error, record.error


def test_a_hook_that_returns_its_spec_instead_of_registering_it_is_reported(install_plugin):
    install_plugin("merbench-returns", "returns", "merbench_returns_plugin", TINY_MODEL.format(name="kept").replace(
        "def merbench_register_models(register):\n    register(", "def merbench_register_models(register):\n    return ("))
    registry = Registry()
    record = next(r for r in registry.records if r.provider.entry_point == "returns")
    assert "kept" not in registry.names("models")
    assert "merbench_register_models returned a ModelPlugin, which merbench ignores: a hook registers each plugin " \
           "by calling register(spec)" in record.error


def test_plugins_at_80_columns_shows_a_failed_plugin_and_its_error_whole(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-broken", "broken", "merbench_broken_plugin",
                   "def helper():\n    raise RuntimeError('boom in the plugin')\n\nhelper()\n")
    monkeypatch.setenv("COLUMNS", "80")
    shown = run_cli("--format", "table", "plugins")
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert max(len(line) for line in lines) <= 80 and "Not shown at this width" not in shown.out
    row = next(line for line in lines if "│ broken " in line)
    assert "│ error " in row and all(f"│ {name} " in shown.out for name in ("convmixer", "datasets", "synthetic"))
    assert "RuntimeError: boom in the plugin" in " ".join(shown.out.split())
    assert "Traceback" not in shown.out and "merbench plugins --debug" in shown.out
    debug = run_cli("plugins", "--debug")
    assert "Traceback" in debug.out and "merbench_broken_plugin.py\", line 2, in helper" in debug.out


def test_conformance_names_of_a_plugin_that_failed_to_load_says_why(install_plugin):
    from merbench.testing import ConformanceError, conformance_names

    install_plugin("merbench-broken", "broken", "merbench_broken_plugin", "raise RuntimeError('boom in the plugin')\n")
    registry = Registry()
    with pytest.raises(ConformanceError, match=r"(?s)failed to load.*RuntimeError: boom in the plugin"):
        conformance_names(registry, distribution="merbench-broken")
    with pytest.raises(ConformanceError, match="no merbench plugin of the distribution 'merbench-missing' is installed"):
        conformance_names(registry, distribution="merbench-missing")


def test_unknown_name_suggests_close_matches():
    registry = Registry()
    with pytest.raises(UsageError, match="Did you mean 'convmixer'") as info:
        registry.get("models", "convmixr")
    assert "Available models: convmixer" in str(info.value)


def test_a_name_of_another_kind_says_what_it_is(run_cli):
    """`merbench info synthetic` or swapped --model/--dataset suggested a lookalike ('ststnet') instead."""
    registry = Registry()
    with pytest.raises(UsageError, match=r"^unknown model 'synthetic'\. 'synthetic' is a dataset, not a model\. "
                                         r"Available models: convmixer") as info:
        registry.get("models", "synthetic")
    assert "Did you mean" not in str(info.value)
    with pytest.raises(UsageError, match=r"^unknown dataset 'loso'\. 'loso' is a protocol, not a dataset\."):
        registry.get("datasets", "loso")
    swapped = run_cli("run", "--model", "synthetic", "--dataset", "convmixer", "--profile", "quick", "--no-store")
    assert swapped.code == 2 and "'synthetic' is a dataset, not a model" in swapped.err


def test_missing_builtin_entry_points_say_how_to_fix(monkeypatch):
    monkeypatch.setattr(registry_module, "_iter_entry_points", lambda: [])
    with pytest.raises(PluginError, match=r"reinstall merbench \(pip install --force-reinstall merbench, or pip install -e \. in a checkout\)"):
        Registry()


def test_list_models_with_a_model_that_cannot_be_built_stays_within_80_columns(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-unbuildable", "unbuildable", "merbench_unbuildable_plugin",
                   TINY_MODEL.format(name="unbuildable").replace("    import torch\n",
                                                                  "    raise TypeError('no input size')\n"))
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("--format", "table", "list", "models")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert max(len(line) for line in lines) <= 80 and any(line.startswith("┏") for line in lines)
    row = next(line for line in lines if line.startswith("│ unbuildable "))
    assert " error " in row
    assert "model 'unbuildable' cannot be built: TypeError" in " ".join(result.err.split())


MISSPELT_FACTORIES = '''
from merbench.contracts import DatasetPlugin, ModelPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="misspelt-attribute", build="merbench_misspelt_plugin:biuld", description="x",
                         input="flow-uvs"))
    register(ModelPlugin(name="misspelt-module", build="merbench_mispelt_plugin:build", description="x",
                         input="flow-uvs"))
    register(ModelPlugin(name="module-raises", build="merbench_raising_module:build", description="x",
                         input="flow-uvs"))


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="misspelt-load", load="merbench_misspelt_plugin:lod", description="x",
                           needs_root=False, reads_root=False))
'''


def test_plugins_loads_every_lazy_factory_and_names_a_misspelt_one(install_plugin, run_cli, tmp_path, monkeypatch):
    """A build=/load= string loads only when a run needs it; `merbench plugins`, where a user diagnoses plugins,
    loads them all, so a typo is an error of its plugin there (it showed "ok" before)."""
    import json

    install_plugin("merbench-misspelt", "misspelt", "merbench_misspelt_plugin", MISSPELT_FACTORIES)
    (tmp_path / "site" / "merbench_raising_module.py").write_text("raise RuntimeError('needs a licence server')\n")
    monkeypatch.setenv("COLUMNS", "200")
    shown = run_cli("--format", "plain", "plugins")
    assert shown.code == 0, shown.err
    row = piped_row(shown.out, "misspelt")
    assert "error" in row.split()
    text = " ".join(shown.out.split())
    assert ("dataset plugin 'misspelt-load' (merbench-misspelt 0.1): its load= factory 'merbench_misspelt_plugin:lod' "
            "cannot be loaded: AttributeError") in text
    assert "its build= factory 'merbench_misspelt_plugin:biuld' cannot be loaded: AttributeError" in text
    assert "'merbench_mispelt_plugin:build' cannot be loaded: ModuleNotFoundError" in text
    assert "'merbench_raising_module:build' cannot be loaded: RuntimeError: needs a licence server" in text
    assert all("ok" in piped_row(shown.out, name).split() for name in ("convmixer", "synthetic"))

    listed = json.loads(run_cli("plugins", "--json").out)
    record = next(r for r in listed["plugins"] if r["provider"]["entry_point"] == "misspelt")
    assert len(record["problems"]) == 4
    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    assert run_cli("plugins").code == 2


def test_a_factory_module_that_raises_on_import_is_one_plugin_error(install_plugin, run_cli, tmp_path):
    install_plugin("merbench-misspelt", "misspelt", "merbench_misspelt_plugin", MISSPELT_FACTORIES)
    (tmp_path / "site" / "merbench_raising_module.py").write_text("raise RuntimeError('needs a licence server')\n")
    run = run_cli("run", "--model", "module-raises", "--dataset", "synthetic", "--profile", "quick")
    assert run.code == 2 and "Traceback" not in run.err
    assert ("model plugin 'module-raises' (merbench-misspelt 0.1): its build= factory 'merbench_raising_module:build' "
            "cannot be loaded: RuntimeError: needs a licence server") in " ".join(run.err.split())
