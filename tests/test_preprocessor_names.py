"""Preprocessor names that ``--set`` cannot address, or that are a section of a run's settings, are refused when the
plugin registers (a preprocessor's options are the settings section named after it, set as ``NAME.OPTION``)."""

from __future__ import annotations

import pytest

from merbench.config import resolve_config
from merbench.errors import PluginError
from merbench.registry import SETTINGS_KEYS, Registry
from piped_rows import piped_row

ODD_NAMES = '''
from merbench.contracts import DatasetPlugin, ModelPlugin, PreprocessorPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_preprocessors(register):
    for name in ("frame.diff", "engine", "model", "seed", "frame-diff"):
        register(PreprocessorPlugin(name=name, build="x:y", description="d", produces="flow-uvs",
                                    options={"size": 4, "filters": 2, "parallel_folds": 1}))


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="odd.net", build="x:y", description="d", input="flow-uvs"))


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="odd.data", load="x:y", description="d"))
'''


@pytest.fixture
def odd_names(install_plugin):
    install_plugin("merbench-oddnames", "oddnames", "merbench_oddnames", ODD_NAMES)


def test_a_preprocessor_named_with_a_dot_or_as_a_settings_section_is_refused(odd_names, run_cli):
    registry = Registry()
    assert "frame-diff" in registry.names("preprocessors")
    assert not {"frame.diff", "engine", "model", "seed"} & set(registry.names("preprocessors"))
    refused = [p for p in registry.problems if p.startswith("preprocessor '")]
    assert len(refused) == 4, registry.problems
    assert any("'frame.diff'" in p and "holds a '.'" in p and "e.g. to 'frame-diff'" in p for p in refused)
    assert any("'engine'" in p and "section or key of a run's own settings" in p and "'engine-step'" in p
               for p in refused)
    # a model's or a dataset's name is never a settings section: its options are model.* and dataset.*
    assert "odd.net" in registry.names("models") and "odd.data" in registry.names("datasets")

    shown = run_cli("plugins")
    row = piped_row(shown.out, "oddnames")
    assert "error" in row.split() and "ok" not in row.split(), shown.out
    said = " ".join(shown.out.split())  # an error wraps at spaces in a pipe
    assert "error: preprocessor 'engine' from plugin 'oddnames' (merbench-oddnames 0.1) refused" in said


@pytest.mark.parametrize("sets, named", [
    (("preprocess=frame.diff", "frame.diff.size=8"), "frame.diff"),
    (("preprocess=engine",), "engine"),
    (("preprocess=model",), "model"),
])
def test_a_run_with_a_refused_preprocessor_names_the_refusal(odd_names, run_cli, sets, named):
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--quiet", "--set", *sets)
    message = " ".join(result.err.split())
    assert result.code == 2, result.err
    assert f"preprocessor '{named}' was refused when plugin 'oddnames'" in message
    assert "Traceback" not in result.err and "ststnet" not in message


def test_strict_plugins_make_the_refusal_an_error(odd_names, monkeypatch):
    monkeypatch.setenv("MERBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="preprocessor 'engine'|preprocessor 'frame.diff'"):
        Registry()


def test_every_section_and_key_of_a_run_s_settings_is_reserved():
    config = resolve_config(Registry(), model="ststnet", dataset="synthetic", profile="quick")
    sections = set(config.sections) - set(config.preprocess)
    keys = {key for key in config.to_dict() if key not in ("device", "root", "options")}
    assert sections | keys <= set(SETTINGS_KEYS)



NAME_OPTIONS = '''
from merbench.contracts import DatasetPlugin, ModelPlugin, ProtocolPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="named-net", build="x:y", description="d", input="flow-uvs", options={"name": "a"}))
    register(ModelPlugin(name="plain-net", build="x:y", description="d", input="flow-uvs", options={"tag": "a"}))


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="named-data", load="x:y", description="d", options={"name": "corpus"}))


@hookimpl
def merbench_register_protocols(register):
    register(ProtocolPlugin(name="named-split", split="x:y", description="d", subject_independent=True,
                            options={"name": "k"}))
'''


def test_an_option_called_name_is_refused_for_plugins_chosen_by_name(install_plugin):
    """``--set dataset.name=X`` names the dataset, so a plugin's option 'name' could never be set: it showed ok."""
    install_plugin("merbench-nameoptions", "nameoptions", "merbench_nameoptions", NAME_OPTIONS)
    registry = Registry()
    assert "plain-net" in registry.names("models")
    assert not {"named-net"} & set(registry.names("models"))
    assert "named-data" not in registry.names("datasets") and "named-split" not in registry.names("protocols")
    for kind, name, section in (("model", "named-net", "model"), ("dataset", "named-data", "dataset"),
                                ("protocol", "named-split", "protocol")):
        assert any(problem.startswith(f"{kind} '{name}' from plugin 'nameoptions'") and
                   f"its option 'name' cannot be set: --set {section}.name=... (and '{section}: {{name: ...}}' in a "
                   f"--config file) names the {section} itself; rename the option, e.g. to '{section}_name'" in problem
                   for problem in registry.problems), registry.problems
