"""A plugin spec field holding a value of the wrong kind (``reported=(ReportedScore(...))`` without its trailing
comma, ``build=None``, ``description=None``, ``flops=1000``, a dataset with ``reads_root=False`` but
``needs_root=True``...) is refused when the plugin registers, with one message naming the plugin, the field, what it
is and what to write, instead of registering as ok and crashing a later command with a traceback."""

from __future__ import annotations

import numpy as np
import pytest

from merbench.contracts import ReportedScore
from merbench.errors import PluginError, UsageError
from merbench.registry import Registry
from merbench.testing import assert_conformant

PLUGIN = '''
from merbench.contracts import DatasetPlugin, ModelPlugin, PreprocessorPlugin, ProtocolPlugin, ReportedScore
from merbench.hookspecs import hookimpl

SCORE = ReportedScore("samm", "loso", "uf1", 73.5, "A paper")


def build(options, in_channels, n_classes, input_size):
    raise AssertionError("not built here")


def load(root, options, cache_dir):
    raise AssertionError("not loaded here")


def split(labels, subjects, seed, options, domains):
    raise AssertionError("not split here")


def model(name, **fields):
    return ModelPlugin(**{"name": name, "build": build, "description": "d", "input": "flow-uvs", **fields})


@hookimpl
def merbench_register_models(register):
    register(model("onescore", reported=(SCORE)))
    register(model("noscores", reported=None))
    register(model("dictscore", reported=(SCORE, {"value": 73.5})))
    register(model("nobuild", build=None))
    register(model("nodescription", description=None))
    register(model("intflops", flops=1000))
    register(model("goodnet", reported=(SCORE,), flops={"default": 1000}))


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="madehere", load=load, description="d", reads_root=False))
    register(DatasetPlugin(name="madewell", load=load, description="d", reads_root=False, needs_root=False))


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="noproduct", build=build, description="d", produces=None))


@hookimpl
def merbench_register_protocols(register):
    register(ProtocolPlugin(name="tenfolds", split=split, description="d", subject_independent=True, folds=10))
'''

TEXT_VALUE = '''
from merbench.contracts import ModelPlugin, ReportedScore
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="textscore", build="x:y", description="d", input="flow-uvs",
                         reported=(ReportedScore("samm", "loso", "uf1", "73.5", "A paper"),)))
'''

ONE_SCORE = '''
from merbench.contracts import ModelPlugin, ReportedScore
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="onescore", build="x:y", description="d", input="flow-uvs",
                         reported=(ReportedScore("samm", "loso", "uf1", 73.5, "A paper"))))
'''

REFUSED = {
    "onescore": "its reported is a ReportedScore, not a tuple of them: write reported=(ReportedScore(...),)",
    "noscores": "its reported is None, not a tuple of ReportedScore; write reported=(ReportedScore(...),), or "
                "reported=() for none",
    "dictscore": "its reported[1] is {'value': 73.5} (a dict), not a ReportedScore",
    "nobuild": "its build is None, not a callable or a 'package.module:function' text",
    "nodescription": "its description is None, not text; write description='one line saying what it is'",
    "intflops": "its flops is 1000 (an int), not a mapping of run profile to FLOPs per sample (a number); write "
                "flops={'default': 1000}",
}


@pytest.fixture
def registry(install_plugin):
    install_plugin("merbench-badfields", "badfields", "merbench_badfields_plugin", PLUGIN)
    return Registry()


def test_each_wrongly_typed_field_is_refused_naming_plugin_field_and_fix(registry):
    problems = "\n".join(registry.problems)
    for name, message in REFUSED.items():
        assert f"model '{name}' from plugin 'badfields' (merbench-badfields 0.1) refused: {message}" in problems
    assert "goodnet" in registry.names("models")
    assert not set(REFUSED) & set(registry.names("models"))
    assert "intflops' cannot be built" not in problems and "AttributeError" not in problems
    assert "its produces is None, not a representation's name as text; write produces='flow-uvs'" in problems
    assert "noproduct" not in registry.names("preprocessors")
    assert "its folds is 10 (an int), not one of '', 'n_splits', 'per subject', 'one'" in problems
    assert "tenfolds" not in registry.names("protocols")


def test_a_dataset_that_refuses_root_yet_needs_it_is_refused_naming_both_fields(registry, run_cli):
    assert "madewell" in registry.names("datasets") and "madehere" not in registry.names("datasets")
    assert ("dataset 'madehere' from plugin 'badfields' (merbench-badfields 0.1) refused: it declares "
            "reads_root=False (--root is refused, the loader makes its data) but leaves needs_root=True (--root must "
            "be given), so no command can use it; add needs_root=False") in registry.problems
    shown = run_cli("run", "--model", "goodnet", "--dataset", "madehere")
    assert shown.code == 2 and "add needs_root=False" in shown.err and "--root DIR" not in shown.err


def test_commands_reading_the_specs_give_one_message_instead_of_a_traceback(registry, run_cli):
    listed = run_cli("list", "models")
    assert listed.code == 0 and "goodnet" in listed.out and "onescore" not in listed.out
    for name in ("onescore", "nodescription"):
        shown = run_cli("info", name)
        assert shown.code == 2 and "Traceback" not in shown.err
        assert "reported=(ReportedScore(...),)" in shown.err or "description='one line" in shown.err
    with pytest.raises(UsageError, match="its reported is a ReportedScore, not a tuple"):
        assert_conformant("onescore", registry, run=False)


def test_strict_mode_raises_the_same_message(install_plugin):
    install_plugin("merbench-onescore", "onescore", "merbench_onescore_plugin", ONE_SCORE)
    with pytest.raises(PluginError, match=r"model 'onescore' .* refused: its reported is a ReportedScore, not a tuple"):
        Registry(strict=True)


@pytest.mark.parametrize("value", ["73.5", True, None, [73.5]])
def test_a_reported_score_refuses_a_value_that_is_no_number(value):
    with pytest.raises(TypeError, match=r"reported uf1 value .* is a \w+, not a number; .* e\.g\. value=73\.5"):
        ReportedScore("samm", "loso", "uf1", value, "A paper")


def test_a_reported_score_takes_numbers_and_refuses_text_fields_of_another_kind():
    assert ReportedScore("samm", "loso", "uf1", 73, "A paper").value == 73
    assert ReportedScore("samm", "loso", "uf1", np.float32(73.5), "A paper").value == 73.5
    with pytest.raises(TypeError, match="reported source None is a NoneType, not text; write source='...'"):
        ReportedScore("samm", "loso", "uf1", 73.5, None)


def test_a_text_value_fails_the_plugin_hook_naming_plugin_and_value(install_plugin, run_cli):
    install_plugin("merbench-textvalue", "textvalue", "merbench_textvalue_plugin", TEXT_VALUE)
    registry = Registry()
    assert "textscore" not in registry.names("models")
    assert any("plugin 'textvalue' (merbench-textvalue 0.1) failed in merbench_register_models: TypeError: reported "
               "uf1 value '73.5' is a str, not a number" in problem for problem in registry.problems)
    assert run_cli("list", "models").code == 0
