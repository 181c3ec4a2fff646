"""Plugin authors' mistakes that pluggy or ``--set`` let through, each refused with one line that says how to fix it.

A: one module named by two entry points (in one distribution or two, or merbench's own module named by a third
party) keeps the first registration and refuses the second, naming both; before, pluggy's refusal of the second
(a 2.5 kB dump) unregistered the first, and so built-ins too. B: a number range on an option whose default is
unset (``None``, ``""``, ``[]``) applies to every value, which is then a number (each element of a list); before,
it was ignored and ``--set model.weights=-7`` reached build as the text ``'-7'``. A range on a default that is
true/false or a list of text is refused when the plugin registers. C: an entry point naming a class whose hooks
take ``self`` is named as the class and told to point at an instance; before, it was a "builtins.type object"
told to write what it had written.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from merbench.config import coerce, resolve_section
from merbench.errors import UsageError
from merbench.registry import Registry

EXAMPLE_SOURCE = Path(__file__).resolve().parents[1] / "examples" / "merbench-plugin-example" / "src"

MODELS = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    raise AssertionError("never built")


def model(name, **fields):
    return ModelPlugin(name=name, build=build, description="d", input="flow-uvs", **fields)


@hookimpl
def merbench_register_models(register):
{registrations}
'''


def _models(*registrations: str) -> str:
    return MODELS.format(registrations="\n".join(f"    register({line})" for line in registrations))


@pytest.fixture
def install_dist(tmp_path, monkeypatch):
    """Make a fake distribution with the given ``merbench`` entry points (``{name: target}``) and modules
    (``{module: source}``) importable."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    added: list[str] = []

    def install(dist: str, entry_points: dict[str, str], modules: dict[str, str] | None = None,
                version: str = "0.1") -> None:
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[merbench]\n{lines}")
        for module, source in (modules or {}).items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
        added.extend(target.partition(":")[0] for target in entry_points.values())

    yield install
    for module in added:
        if not module.startswith("merbench_plugins"):
            sys.modules.pop(module, None)


def _record(registry: Registry, entry_point: str, dist: str):
    return next(r for r in registry.records if (r.provider.entry_point, r.provider.distribution) == (entry_point, dist))


def _problem(registry: Registry, *parts: str) -> str:
    found = [problem for problem in registry.problems if all(part in problem for part in parts)]
    assert len(found) == 1, f"one problem with {parts} expected in {registry.problems}"
    return found[0]


# ------------------------------------------------------------------------------ A: one module, two entry points

def test_one_module_named_twice_in_one_distribution_keeps_the_first_and_names_both(install_dist):
    install_dist("merbench-mynet", {"mynet": "merbench_mynet", "models": "merbench_mynet"},
                 {"merbench_mynet": _models('model("mynet")')})
    registry = Registry()
    assert "mynet" in registry.names("models"), "the first entry point's registration is kept"
    kept, refused = _record(registry, "models", "merbench-mynet"), _record(registry, "mynet", "merbench-mynet")
    assert kept.ok and kept.registered == {"models": ["mynet"]}
    assert refused.errors == [
        "plugin 'mynet' (merbench-mynet 0.1) could not be registered: its entry point 'mynet = merbench_mynet' names "
        "module merbench_mynet, which entry point 'models = merbench_mynet' of merbench-mynet 0.1 already loaded "
        "(merbench registers each plugin once); remove one of the two entry points"]
    assert registry.problems == refused.errors, "one line, no pluggy dump"


def test_the_example_plugins_module_named_by_a_second_distribution_stays_registered(install_dist, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE_SOURCE))
    install_dist("merbench-plugin-example", {"example": "merbench_plugin_example"}, version="0.1.0")
    install_dist("merbench-mynet", {"example": "merbench_plugin_example"})
    registry = Registry()
    assert "example-tinycnn" in registry.names("models")
    kept = _record(registry, "example", "merbench-mynet")
    assert kept.ok and kept.registered == {"models": ["example-tinycnn"]}
    message = _problem(registry, "merbench-plugin-example 0.1.0")
    assert message.startswith("plugin 'example' (merbench-plugin-example 0.1.0) could not be registered: its entry "
                              "point 'example = merbench_plugin_example' names module merbench_plugin_example, which "
                              "entry point 'example = merbench_plugin_example' of merbench-mynet 0.1 already loaded")
    assert "already registered under a different name" not in " ".join(registry.problems)


def test_merbenchs_own_module_named_by_a_third_party_keeps_the_built_ins(install_dist, run_cli):
    install_dist("merbench-steal", {"x": "merbench_plugins.protocols"})
    registry = Registry()
    assert {"loso", "subject-10fold"} <= set(registry.names("protocols"))
    assert _record(registry, "protocols", "merbench").ok
    assert _record(registry, "x", "merbench-steal").errors == [
        "plugin 'x' (merbench-steal 0.1) could not be registered: its entry point 'x = merbench_plugins.protocols' "
        "names module merbench_plugins.protocols, which entry point 'protocols = merbench_plugins.protocols' of "
        f"merbench {_record(registry, 'protocols', 'merbench').provider.version} already loaded (merbench registers "
        "each plugin once); remove this entry point: the module is merbench's own, registered already"]
    listing = run_cli("list", "protocols")
    assert listing.code == 0 and "loso" in listing.out
    assert "Traceback" not in listing.err and "<module" not in listing.err


# ------------------------------------------------------------------------------ B: a range on an unset default

UNSET = _models('model("unset-ranges", options={"weights": None, "layers": [], "scale": ""}, '
                'option_ranges={"weights": "[0, 1]", "layers": ">= 1", "scale": "> 0"})')


def test_a_range_on_an_unset_default_registers_and_checks_every_value_as_a_number(install_dist):
    install_dist("merbench-unset", {"unset": "merbench_unset"}, {"merbench_unset": UNSET})
    registry = Registry()
    assert "unset-ranges" in registry.names("models") and registry.problems == []
    spec = registry.get("models", "unset-ranges")

    def resolved(**sets: str) -> dict:
        return resolve_section(spec, "model", overrides={f"model.{key}": value for key, value in sets.items()})

    assert resolved(weights="0.5", layers="2,3", scale="4") == {"weights": 0.5, "layers": [2, 3], "scale": 4}
    assert resolved(weights="null", layers="", scale="") == {"weights": None, "layers": [], "scale": ""}
    refusals = {"weights=-7": "model.weights=-7: must be a finite number in [0, 1] (default null)",
                "weights=abc": "model.weights=abc: must be a finite number in [0, 1] (default null)",
                "scale=0": "model.scale=0: must be a finite number > 0 (default empty)",
                "layers=0,-5,abc": "model.layers=0,-5,abc: every value must be a finite number ≥ 1 (default empty)",
                "layers=0": "model.layers=0: every value must be a finite number ≥ 1 (default empty)"}
    for given, message in refusals.items():
        key, _, value = given.partition("=")
        with pytest.raises(UsageError) as refused:
            resolved(**{key: value})
        assert str(refused.value) == message


def test_a_run_setting_an_unset_option_outside_its_range_stops_before_it_starts(install_dist, run_cli):
    install_dist("merbench-unset", {"unset": "merbench_unset"}, {"merbench_unset": UNSET})
    result = run_cli("run", "--model", "unset-ranges", "--dataset", "synthetic", "--profile", "quick",
                     "--set", "model.weights=-7")
    assert result.code == 2
    assert "model.weights=-7: must be a finite number in [0, 1] (default null)" in " ".join(result.err.split())
    assert "Traceback" not in result.err


def test_a_list_or_yaml_value_for_an_unset_single_option_is_refused():
    with pytest.raises(UsageError, match=r"expected one value \(a finite number in \[0, 1\]\), not a list"):
        coerce("model.weights", [0.5], None, "[0, 1]")


def test_a_profile_value_outside_the_range_of_an_unset_option_refuses_the_model(install_dist):
    install_dist("merbench-unsetprof", {"unsetprof": "merbench_unsetprof"}, {"merbench_unsetprof": _models(
        'model("unset-profile", options={"weights": None}, option_ranges={"weights": "[0, 1]"}, '
        'profiles={"quick": {"weights": 5}})')})
    registry = Registry()
    assert "unset-profile" not in registry.names("models")
    assert "its profile 'quick' sets weights=5: must be a finite number in [0, 1]" in _problem(
        registry, "'unset-profile'")


def test_a_range_on_a_true_or_false_or_text_list_default_is_refused_saying_what_to_declare(install_dist):
    install_dist("merbench-kinds", {"kinds": "merbench_kinds"}, {"merbench_kinds": _models(
        'model("flag-range", options={"flag": True}, option_ranges={"flag": ">= 1"})',
        'model("names-range", options={"names": ["a"]}, option_ranges={"names": ">= 1"})')})
    registry = Registry()
    assert not {"flag-range", "names-range"} & set(registry.names("models"))
    assert _problem(registry, "'flag-range'").endswith(
        "refused: its default flag=True is true or false, but its option_ranges rule '>= 1' is a number range, which "
        "--set would never apply (it keeps a true or false option's values true or false); write the default as a "
        "number, or drop the range")
    assert _problem(registry, "'names-range'").endswith(
        "refused: its default names=['a'] holds text, but its option_ranges rule '>= 1' is a number range, which "
        "--set would never apply (it keeps a text option's values text); write its elements as numbers, or give the "
        "rule as a tuple of text choices")


# ------------------------------------------------------------------------------ C: an entry point naming a class

CLASSES = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    raise AssertionError("never built")


class MyPlugin:
    @hookimpl
    def merbench_register_models(self, register):
        register(ModelPlugin(name="from-instance", build=build, description="d", input="flow-uvs"))


class Static:
    @staticmethod
    @hookimpl
    def merbench_register_models(register):
        register(ModelPlugin(name="from-static", build=build, description="d", input="flow-uvs"))


plugin = MyPlugin()
'''


def test_an_entry_point_naming_a_class_says_to_point_at_an_instance(install_dist):
    install_dist("merbench-cls", {"cls": "mine_cls:MyPlugin"}, {"mine_cls": CLASSES})
    registry = Registry()
    assert _record(registry, "cls", "merbench-cls").errors == [
        "plugin 'cls' (merbench-cls 0.1) could not be registered: its entry point names class mine_cls.MyPlugin, and "
        "'merbench_register_models' is an instance method (taking self), which merbench cannot call on the class; "
        "point the entry point at an instance (mine_cls:plugin, with plugin = MyPlugin() in mine_cls), or make the "
        "hooks module-level functions and point it at mine_cls"]
    assert "from-instance" not in registry.names("models")


def test_an_instance_or_a_class_with_static_hooks_registers(install_dist):
    install_dist("merbench-cls", {"instance": "mine_cls:plugin", "static": "mine_cls:Static"}, {"mine_cls": CLASSES})
    registry = Registry()
    assert {"from-instance", "from-static"} <= set(registry.names("models"))
    assert registry.problems == []
