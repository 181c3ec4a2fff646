"""Plugins that exit or print while merbench loads them: reported as broken, never the end of a command or of its
JSON output."""

from __future__ import annotations

import json

import pytest

from merbench.registry import Registry, reset_registry

ARGUMENT_PARSER = '''
import argparse

parser = argparse.ArgumentParser(prog="exiter")
parser.add_argument("--gpu")
parser.parse_args()
'''

EXITING_HOOK = '''
import sys

from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    sys.exit("this plugin needs CUDA")
'''

CHATTY = '''
from merbench.contracts import ProtocolPlugin
from merbench.hookspecs import hookimpl

print("chatty plugin imported")


def split(labels, subjects, seed, options, domains):
    raise AssertionError("never called here")


@hookimpl
def merbench_register_protocols(register):
    print("chatty plugin registering")
    register(ProtocolPlugin(name="chatty-folds", split=split, subject_independent=True,
                            description="a throw-away protocol that prints"))
'''


def test_a_plugin_that_exits_when_imported_is_reported_and_every_command_works(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-exiter", "exiter", "merbench_exiter_plugin", ARGUMENT_PARSER)
    monkeypatch.setattr("sys.argv", ["merbench", "plugins"])  # what the plugin's parser reads, as in a shell

    shown = run_cli("plugins")
    assert shown.code == 0, shown.err
    assert "convmixer" in shown.out, "the other plugins are listed"
    assert "plugin 'exiter' (merbench-exiter 0.1) failed to import merbench_exiter_plugin" in " ".join(shown.out.split())
    assert "raised SystemExit(2)" in shown.out and "exits when imported" in " ".join(shown.out.split())

    reset_registry()
    listed = run_cli("list", "protocols")
    assert listed.code == 0, listed.err
    assert "loso" in listed.out
    assert "plugin problem:" in listed.err and "merbench-exiter" in listed.err and "Traceback" not in listed.err


def test_a_plugin_whose_hook_calls_sys_exit_is_reported_and_the_others_register(install_plugin, run_cli):
    install_plugin("merbench-needs-cuda", "needs-cuda", "merbench_needs_cuda_plugin", EXITING_HOOK)
    registry = Registry()
    assert "convmixer" in registry.names("models") and "loso" in registry.names("protocols")
    assert len(registry.problems) == 1
    assert "plugin 'needs-cuda' (merbench-needs-cuda 0.1) failed in merbench_register_models" in registry.problems[0]
    assert "SystemExit('this plugin needs CUDA')" in registry.problems[0]

    reset_registry()
    listed = run_cli("list", "protocols")
    assert listed.code == 0, listed.err
    assert "subject-10fold" in listed.out and "this plugin needs CUDA" in listed.err


def test_strict_plugins_turn_an_exiting_plugin_into_exit_code_2_naming_it(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-needs-cuda", "needs-cuda", "merbench_needs_cuda_plugin", EXITING_HOOK)
    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    strict = run_cli("list", "protocols")
    assert strict.code == 2
    assert "merbench-needs-cuda" in strict.err and "MERBENCH_STRICT_PLUGINS is set" in strict.err
    assert "Traceback" not in strict.err


LAZY_FACTORY = '''
from merbench.contracts import ProtocolPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_protocols(register):
    register(ProtocolPlugin(name="lazy-folds", split="merbench_exiting_factory:split", subject_independent=True,
                            description="a throw-away protocol whose split module exits when imported"))
'''


def test_a_lazy_factory_whose_module_exits_is_a_problem_of_its_plugin(install_plugin, run_cli, tmp_path):
    install_plugin("merbench-lazy", "lazy", "merbench_lazy_plugin", LAZY_FACTORY)
    (tmp_path / "site" / "merbench_exiting_factory.py").write_text("import sys\n\nsys.exit(3)\n")
    shown = run_cli("plugins")
    assert shown.code == 0, shown.err
    text = " ".join(shown.out.split())
    assert "convmixer" in text and "lazy-folds" in text
    assert "its split= factory 'merbench_exiting_factory:split' cannot be loaded: it raised SystemExit(3)" in text


def test_ctrl_c_while_a_plugin_is_imported_still_stops_merbench(install_plugin):
    install_plugin("merbench-slow", "slow", "merbench_slow_plugin", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        Registry()


@pytest.mark.parametrize("command", [("list", "--json"), ("plugins", "--json"), ("info", "ststnet", "--json", "-")])
def test_what_a_plugin_prints_goes_to_stderr_so_json_on_stdout_parses(install_plugin, run_cli, command):
    install_plugin("merbench-chatty", "chatty", "merbench_chatty_plugin", CHATTY)
    shown = run_cli(*command)
    assert shown.code == 0, shown.err
    json.loads(shown.out)
    assert "chatty plugin imported" in shown.err and "chatty plugin registering" in shown.err
    if command[0] != "info":
        assert "chatty-folds" in shown.out


LAZY_MODEL = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="exiting-net", build="merbench_exiting_model:build", description="exits when built",
                         input="flow-uvs"))
'''


def test_a_run_whose_model_factory_module_exits_ends_with_merbench_s_message(install_plugin, run_cli, tmp_path):
    """The run imports the factory itself (``resolve_factory``), outside the registry's checks."""
    install_plugin("merbench-lazymodel", "lazymodel", "merbench_lazymodel_plugin", LAZY_MODEL)
    (tmp_path / "site" / "merbench_exiting_model.py").write_text("import sys\n\nsys.exit(4)\n")
    ran = run_cli("run", "--model", "exiting-net", "--dataset", "synthetic", "--profile", "quick", "--no-store")
    assert ran.code == 2, ran.err
    said = " ".join(ran.err.split())
    assert "its build= factory 'merbench_exiting_model:build' cannot be loaded: it raised SystemExit(4)" in said, said
