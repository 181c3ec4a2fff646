"""MERBENCH_DISABLE_PLUGINS's own problems (a name of no entry point, a name of several distributions' entry
points) are errors under MERBENCH_STRICT_PLUGINS, and ``plugins --json`` holds the same facts as the table."""

from __future__ import annotations

import json

import pytest

from merbench.registry import reset_registry

SHARED = """
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl

@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="epmodel", build="torch.nn:Identity", options={"width": 1}))
"""

UNKNOWN = ("MERBENCH_DISABLE_PLUGINS names synthtic, which no installed entry point is called; did you mean "
           "'synthetic'? Otherwise fix or drop it (entry point names are listed by `merbench plugins`)")


@pytest.fixture
def disable(monkeypatch):
    """Set MERBENCH_DISABLE_PLUGINS (and strict mode) for one test, with a fresh registry."""

    def set_env(value: str, strict: bool) -> None:
        monkeypatch.setenv("MERBENCH_DISABLE_PLUGINS", value)
        monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1" if strict else "0")
        reset_registry()

    yield set_env
    reset_registry()


def _said(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", [("list", "protocols"), ("info", "ststnet")])
def test_an_unknown_disabled_name_is_an_error_only_under_strict(disable, run_cli, command):
    disable("synthtic", strict=False)
    lenient = run_cli(*command)
    assert lenient.code == 0, lenient.err
    assert "plugin problem: " + UNKNOWN in _said(lenient.err)
    disable("synthtic", strict=True)
    strict = run_cli(*command)
    assert strict.code == 2, strict.out
    assert _said(strict.err) == f"merbench: error: {UNKNOWN} (MERBENCH_STRICT_PLUGINS is set)"


def test_a_strict_run_with_an_unknown_disabled_name_stops_before_training(disable, run_cli, tmp_path):
    disable("synthtic", strict=True)
    strict = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--json", str(tmp_path / "result.json"))
    assert strict.code == 2 and not (tmp_path / "result.json").exists()
    assert _said(strict.err) == f"merbench: error: {UNKNOWN} (MERBENCH_STRICT_PLUGINS is set)"


def test_a_shared_disabled_name_is_an_error_under_strict(disable, run_cli, install_plugin):
    install_plugin("merbench-epclash", "models", "merbench_epclash_plugin", SHARED)
    disable("models", strict=True)
    strict = run_cli("list", "models")
    assert strict.code == 2, strict.out
    assert "MERBENCH_DISABLE_PLUGINS names 'models', the entry point of 2 distributions" in _said(strict.err)
    assert "e.g. merbench-epclash:models (MERBENCH_STRICT_PLUGINS is set)" in _said(strict.err)
    assert "Traceback" not in strict.err


@pytest.mark.parametrize("flags", [(), ("--json",)])
def test_plugins_exits_2_for_disabled_name_problems_under_strict(disable, run_cli, flags):
    disable("synthtic,convmixer", strict=False)
    assert run_cli("plugins", *flags).code == 0
    disable("synthtic,convmixer", strict=True)
    strict = run_cli("plugins", *flags)
    assert strict.code == 2
    assert "merbench: error: 1 plugin problem (MERBENCH_STRICT_PLUGINS is set)" in strict.err
    disable("convmixer", strict=True)
    assert run_cli("plugins", *flags).code == 0, "a name that matches one entry point is no problem"


def test_plugins_json_says_which_names_matched_and_which_did_not(disable, run_cli, install_plugin):
    install_plugin("merbench-epclash", "models", "merbench_epclash_plugin", SHARED)
    disable("synthtic,models,convmixer", strict=False)
    shown = run_cli("plugins", "--json")
    assert shown.code == 0, shown.err
    listed = json.loads(shown.out)
    assert listed["disabled"] == ["convmixer", "models"]
    assert listed["disabled_unknown"] == ["synthtic"]
    assert len(listed["disabled_shared"]) == 1
    assert listed["disabled_shared"][0].startswith("MERBENCH_DISABLE_PLUGINS names 'models', the entry point of 2")
    table = _said(run_cli("plugins").out)
    assert "Disabled by MERBENCH_DISABLE_PLUGINS: convmixer, models " in table
    assert listed["disabled_shared"][0] in table and "No installed entry point is called synthtic" in table
