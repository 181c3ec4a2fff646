"""Mistakes a plugin author makes, each one message that names the plugin and says what to fix, printed literally.

A: a profile that names a key, a profile or a value its spec does not allow is refused when the plugin
registers (like an ``option_ranges`` key that is not an option). B: control characters in plugin text
(description, citation, an import error) are shown as ``\\xNN``, never sent to the terminal. C: a hook
function with a wrong argument name, or a wrong hook name, is one line naming the module by its dotted
name. D: a model whose build returns None is listed as ``error`` with the reason.
"""

from __future__ import annotations

import pytest
from test_registry import TINY_MODEL

from merbench.errors import PluginError
from merbench.registry import Registry, reset_registry
from piped_rows import piped_row

PROFILE_MISTAKES = '''
from merbench.contracts import ModelPlugin, PreprocessorPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    import torch
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_channels * input_size * input_size, n_classes))


def model(name, **fields):
    return ModelPlugin(name=name, build=build, description="a throw-away test model", input="flow-uvs", **fields)


@hookimpl
def merbench_register_models(register):
    register(model("typo-key", options={"width": 4}, profiles={"quick": {"widht": 2}}))
    register(model("typo-profile", options={"width": 4}, profiles={"quik": {"width": 2}}))
    register(model("out-of-range", options={"width": 4}, option_ranges={"width": ">= 1"},
                   profiles={"quick": {"width": 0}}))
    register(model("typo-range", options={"width": 4}, option_ranges={"widht": ">= 1"}))
    register(model("default-out-of-range", options={"width": 0}, option_ranges={"width": ">= 1"}))
    register(model("unset-defaults", options={"weights": None, "mode": "", "depth": None},
                   option_ranges={"weights": "file", "mode": ("a", "b"), "depth": ">= 1"}))
    register(model("fine", options={"width": 4}, option_ranges={"width": ">= 1"},
                   profiles={"quick": {"width": 2}, "default": {}, "paper": {"width": 8}}))


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="typo-step", build=lambda options: None, description="a step", produces="x",
                                options={"size": 8}, profiles={"paper": {"sise": 16}}))
'''

CONTROL_TEXT = TINY_MODEL.replace('description="a throw-away test model"',
                                  'description="a \\x1b[31mESC\\x1b[0m model", citation="Line one\\r\\nLine two"')

IMPORT_ERROR = 'raise RuntimeError("[red]boom[/] \\x1b[31mRED \\x1b]0;title\\x07 end")\n'
SHOWN_ERROR = "RuntimeError: [red]boom[/] \\x1b[31mRED \\x1b]0;title\\x07 end"

WRONG_ARGUMENT = '''
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(reg):
    pass
'''

WRONG_HOOK = '''
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_modles(register):
    pass
'''

NONE_MODEL = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    return None


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="none-model", build=build, description="forgets to return", input="flow-uvs"))
'''


def _problem(registry: Registry, *parts: str) -> str:
    found = [problem for problem in registry.problems if all(part in problem for part in parts)]
    assert len(found) == 1, f"one problem with {parts} expected in {registry.problems}"
    return found[0]


def _raw_control(text: str) -> list[str]:
    return [repr(c) for c in text if ord(c) < 32 and c != "\n" or c == "\x7f"]


# ------------------------------------------------------------------------------------------ A: profiles


def test_a_profile_key_that_is_not_an_option_refuses_the_model_when_it_registers(install_plugin, run_cli,
                                                                                 monkeypatch):
    install_plugin("merbench-profiles", "profiles", "merbench_profiles_plugin", PROFILE_MISTAKES)
    registry = Registry()
    message = _problem(registry, "'typo-key'")
    assert message == ("model 'typo-key' from plugin 'profiles' (merbench-profiles 0.1) refused: its profile 'quick' "
                       "sets 'widht', which is not one of its options (width); did you mean 'width'? (a profile may "
                       "only set keys of options)")
    assert "typo-key" not in registry.names("models") and "fine" in registry.names("models")
    assert "profile 'paper' sets 'sise'" in _problem(registry, "'typo-step'")

    monkeypatch.setenv("COLUMNS", "80")
    shown = run_cli("plugins")
    assert shown.code == 0
    row = piped_row(shown.out, "profiles")
    assert "error" in row.split()
    assert "error: " + message in " ".join(shown.out.split())

    run = run_cli("run", "--model", "typo-key", "--dataset", "synthetic", "--profile", "quick", "--no-store")
    assert run.code == 2
    assert "plugin problem: " + message in run.err
    assert "merbench: error: model 'typo-key' was refused when plugin 'profiles' (merbench-profiles 0.1) registered " \
           "it: its profile 'quick' sets 'widht'" in " ".join(run.err.split())

    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    reset_registry()
    strict = run_cli("list", "models")
    assert strict.code == 2
    assert "merbench-profiles 0.1) refused: its profile" in strict.err and "MERBENCH_STRICT_PLUGINS is set" in strict.err
    for flags in ([], ["--json"]):  # the diagnosis is printed whole, and a CI step checking plugins fails
        diagnosed = run_cli("plugins", *flags)
        assert diagnosed.code == 2 and "MERBENCH_STRICT_PLUGINS is set" in diagnosed.err
        assert "widht" in diagnosed.out


def test_a_profile_value_outside_its_range_an_unknown_profile_and_a_range_typo_are_plugin_problems(install_plugin):
    install_plugin("merbench-profiles", "profiles", "merbench_profiles_plugin", PROFILE_MISTAKES)
    registry = Registry()
    assert _problem(registry, "'out-of-range'").endswith(
        "refused: its profile 'quick' sets width=0: must be an integer ≥ 1 (default 4), as its option_ranges "
        "declare; change the profile's value or the range")
    assert _problem(registry, "'typo-profile'").endswith(
        "refused: it declares profiles['quik'], but the run profiles are quick, default, paper; did you mean 'quick'?")
    assert _problem(registry, "'typo-range'").endswith(
        "refused: it declares option_ranges['widht'], but 'widht' is not one of its options (width); "
        "did you mean 'width'?")
    assert _problem(registry, "'default-out-of-range'").endswith(
        "refused: its default width=0: must be an integer ≥ 1 (default 0), as its own option_ranges declare; change "
        "the default or the range")
    assert not {"out-of-range", "typo-profile", "typo-range", "default-out-of-range"} & set(registry.names("models"))
    assert "unset-defaults" in registry.names("models"), "None, '' (unset) and file defaults are not values to check"


# ------------------------------------------------------------------------------------ B: control text


def test_info_shows_control_characters_of_a_description_and_a_citation_literally(install_plugin, run_cli,
                                                                                monkeypatch):
    install_plugin("merbench-ctrl", "ctrl", "merbench_ctrl_plugin", CONTROL_TEXT.format(name="ctrl-model"))
    monkeypatch.setenv("COLUMNS", "80")
    for table_format in ("plain", "table"):
        shown = run_cli("--format", table_format, "info", "ctrl-model")
        assert shown.code == 0, shown.err
        assert not _raw_control(shown.out) and "\x1b" not in shown.out
        lines = shown.out.splitlines()
        assert "ctrl-model: a \\x1b[31mESC\\x1b[0m model" in lines
        assert "Citation: Line one\\x0d\\x0aLine two" in lines


def test_a_plugins_import_error_is_shown_literally_in_plugins_and_in_every_plugin_problem_line(install_plugin,
                                                                                               run_cli, tmp_path):
    install_plugin("merbench-boom", "boom", "merbench_boom_plugin", IMPORT_ERROR)
    shown = run_cli("plugins")
    assert shown.code == 0
    assert not _raw_control(shown.out)
    assert f"error: plugin 'boom' (merbench-boom 0.1) failed to import merbench_boom_plugin: {SHOWN_ERROR}" \
        in " ".join(shown.out.split())  # wrapped at spaces in a pipe
    debug = run_cli("plugins", "--debug")
    assert not _raw_control(debug.out) and "Traceback" in debug.out

    space = tmp_path / "space.yaml"
    space.write_text("model.depth: [1, 2]\n")
    for command in (["run", "--model", "nosuch", "--dataset", "synthetic"],
                    ["grid", "--models", "nosuch", "--datasets", "synthetic"],
                    ["tune", "--model", "nosuch", "--dataset", "synthetic", "--space", str(space), "--trials", "1"],
                    ["preprocess", "--dataset", "nosuch"],
                    ["leakage", "--model", "nosuch", "--dataset", "synthetic"]):
        result = run_cli(*command)
        assert result.code == 2, (command, result.err)
        assert not _raw_control(result.err), command
        assert f"plugin problem: plugin 'boom' (merbench-boom 0.1) failed to import merbench_boom_plugin: " \
               f"{SHOWN_ERROR}" in result.err.splitlines(), command


# ---------------------------------------------------------------------------------------- C: hooks


def test_a_hook_with_a_wrong_argument_name_is_one_line_naming_the_expected_argument(install_plugin, run_cli):
    install_plugin("merbench-arg", "arg", "merbench_arg_plugin", WRONG_ARGUMENT)
    registry = Registry()
    assert _problem(registry, "merbench-arg") == (
        "plugin 'arg' (merbench-arg 0.1) could not be registered: merbench_register_models(reg) in module "
        "merbench_arg_plugin takes 'reg', which the hook does not pass: name the argument 'register' "
        "(def merbench_register_models(register))")
    shown = run_cli("plugins")
    assert "hookimpl definition" not in shown.out and "can not be found in the hookspec" not in shown.out


def test_a_wrong_hook_name_names_the_module_by_its_dotted_name(install_plugin):
    install_plugin("merbench-typo", "typo", "merbench_typo_plugin", WRONG_HOOK)
    message = _problem(Registry(), "merbench-typo")
    assert message == ("plugin 'typo' (merbench-typo 0.1) could not be registered: unknown hook "
                       "'merbench_register_modles' in module merbench_typo_plugin (did you mean "
                       "merbench_register_models?)")


def test_strict_mode_makes_a_wrong_argument_name_an_error(install_plugin, monkeypatch):
    install_plugin("merbench-arg", "arg", "merbench_arg_plugin", WRONG_ARGUMENT)
    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="name the argument 'register'"):
        Registry()


# -------------------------------------------------------------------------------- D: build -> None


def test_list_models_shows_error_and_why_for_a_build_that_returns_none(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-none", "none", "merbench_none_plugin", NONE_MODEL)
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("--format", "table", "list", "models")
    assert result.code == 0, result.err
    assert "NoneType" not in result.out
    row = next(line for line in result.out.splitlines() if line.startswith("│ none-model "))
    assert " error " in row
    assert ("model 'none-model' cannot be built: TypeError: build() returned None, which is neither a "
            "torch.nn.Module nor an estimator with fit(X, y) and predict(X)") in " ".join(result.err.split())
