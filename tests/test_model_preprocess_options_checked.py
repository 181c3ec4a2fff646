"""``ModelPlugin.preprocess_options`` is checked once the plugins have loaded: an unknown option of a registered step,
and a value the step's option refuses (checked as ``--set`` would be), is a problem of the model's plugin (``merbench
plugins`` shows it), and a run of that model with that step exits 2 naming the model, the plugin, the key and the fix
(was: ignored silently, or the preprocessor's refusal with no word of the model). A step no registered preprocessor
is (an optional plugin's, not installed) is no problem: only a note in ``merbench plugins`` when its name is close to
a registered one (was: a problem that refused every run of the model, merbench's own with ``flow`` disabled too)."""

from __future__ import annotations

import pytest

from realtrees import build_manifest_images

from merbench.config import resolve_config
from merbench.errors import PluginError
from merbench.registry import Registry
from piped_rows import piped_row

PLUGIN = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    raise AssertionError("not built here")


def model(name, wishes):
    return ModelPlugin(name=name, build=build, description="d", input="flow-uvs", preprocess_options=wishes)


@hookimpl
def merbench_register_models(register):
    register(model("wish-sise", {"flow": {"sise": 16}}))
    register(model("wish-flwo", {"flwo": {"size": 28}}))
    register(model("wish-tvl2", {"flow": {"method": "tvl2"}}))
    register(model("wish-text", {"flow": {"size": "20"}}))
'''

SOURCE = "(from plugin 'wishes' (merbench-wishes 0.1))"


@pytest.fixture
def registry(install_plugin):
    install_plugin("merbench-wishes", "wishes", "merbench_wishes_plugin", PLUGIN)
    return Registry()


def test_unknown_options_and_refused_values_are_the_model_plugins_problems(registry):
    record = next(r for r in registry.records if r.provider.entry_point == "wishes")
    assert not record.ok and len(record.problems) == 2
    sise, tvl2 = record.problems
    assert sise.startswith("model 'wish-sise's preprocess_options set flow.sise, which is not an option of "
                           "preprocessor 'flow' (did you mean flow.size?)") and sise.endswith(SOURCE)
    assert "fix ModelPlugin.preprocess_options in its plugin" in sise
    assert tvl2.startswith("model 'wish-tvl2's preprocess_options set flow.method=tvl2: choose one of auto, tvl1, "
                           "dis, farneback")
    for model in ("wish-sise", "wish-tvl2"):
        assert registry.input_problem(model)
        assert registry.input_problem(model, ("image",)) is None, "a chain without flow applies no flow options"
    for model in ("wish-text", "ststnet", "wish-flwo"):
        assert registry.input_problem(model) is None


def test_a_step_named_like_a_registered_one_is_a_note_not_a_problem(registry):
    record = next(r for r in registry.records if r.provider.entry_point == "wishes")
    assert record.notes == [
        "model 'wish-flwo's preprocess_options name step 'flwo', which no registered preprocessor is (did you mean "
        "'flow'?), so a run applies them to no step; if it is a typo, fix ModelPlugin.preprocess_options in its "
        f"plugin, or report it to the plugin's author {SOURCE}"]
    assert not any("flwo" in problem for problem in registry.problems)
    config = resolve_config(registry, model="wish-flwo", dataset="synthetic")
    assert config.sections["flow"]["size"] != 28


def test_a_run_of_such_a_model_is_refused_naming_it_and_its_plugin(registry):
    for model, key in (("wish-sise", "flow.sise"), ("wish-tvl2", "flow.method=tvl2")):
        with pytest.raises(PluginError) as caught:
            resolve_config(registry, model=model, dataset="synthetic")
        message = str(caught.value)
        assert f"model '{model}'s preprocess_options" in message and key in message and message.endswith(SOURCE)
    config = resolve_config(registry, model="wish-sise", dataset="synthetic", sets={"preprocess": "apex-frame"})
    assert "flow" not in config.sections, "options for a step the chain lacks refuse nothing"


def test_a_value_is_coerced_as_set_would_coerce_it(registry):
    config = resolve_config(registry, model="wish-text", dataset="synthetic")
    assert config.sections["flow"]["size"] == 20


def test_the_cli_says_it(registry, run_cli):
    listed = run_cli("plugins")
    row = piped_row(listed.out, "wishes")
    assert "ok" not in row.split()
    run = run_cli("run", "--model", "wish-sise", "--dataset", "synthetic", "--profile", "quick")
    assert run.code == 2 and "flow.sise" in run.err and "'wishes'" in run.err
    assert run.err.count("flow.sise") == 1, "said once, as the error, not also as a plugin problem"
    listed = run_cli("plugins")
    assert "note: model 'wish-flwo's preprocess_options name step 'flwo'" in " ".join(listed.out.split())


def test_options_for_a_disabled_step_are_no_problem(run_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("MERBENCH_DISABLE_PLUGINS", "flow")
    build_manifest_images(tmp_path)
    run = run_cli("run", "--model", "convmixer", "--dataset", "manifest", "--root", str(tmp_path), "--protocol",
                  "loso", "--profile", "quick", "--epochs", "1", "--no-store", "--set", "dataset.manifest=labels.csv")
    assert run.code == 0, run.err
    assert "plugin problem" not in run.err
    assert "plugin problem" not in run_cli("list", "models").err
