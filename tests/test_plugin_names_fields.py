"""A spec field that holds a tuple of names (``ModelPlugin.preprocess``, ``examples``, ``PreprocessorPlugin.accepts``)
given as text (``preprocess="flow"``, ``("motion-sum")`` without its trailing comma) is refused when the plugin
registers, naming the plugin and the tuple to write, instead of becoming the steps f, l, o, w."""

from __future__ import annotations

from merbench.registry import Registry

PLUGIN = '''
from merbench.contracts import ModelPlugin, PreprocessorPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    raise AssertionError("not built here")


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="textchain", build=build, description="d", input="flow-uvs", preprocess="flow"))
    register(ModelPlugin(name="nocomma", build=build, description="d", input="flow-uvs", preprocess=("crop,flow")))
    register(ModelPlugin(name="fam:", build=build, description="d", input="flow-uvs", examples="fam:a"))
    register(ModelPlugin(name="tuplechain", build=build, description="d", input="flow-uvs", preprocess=("flow",)))


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="textaccepts", build=build, description="d", produces="x", accepts="frames"))
'''


def test_a_text_where_a_tuple_of_names_belongs_is_refused_naming_the_tuple(install_plugin, run_cli):
    install_plugin("merbench-textnames", "textnames", "merbench_textnames_plugin", PLUGIN)
    registry = Registry()
    assert "tuplechain" in registry.names("models")
    assert not {"textchain", "nocomma", "fam:"} & set(registry.names("models"))
    assert "textaccepts" not in registry.names("preprocessors")
    problems = "\n".join(registry.problems)
    assert ("model 'textchain' from plugin 'textnames' (merbench-textnames 0.1) refused: its preprocess is the text "
            "'flow', which merbench would read letter by letter as the names f, l, o, w; give a tuple of names: "
            "preprocess=('flow',)") in problems
    assert "preprocess=('crop', 'flow')" in problems
    assert "its examples is the text 'fam:a'" in problems and "examples=('fam:a',)" in problems
    assert "its accepts is the text 'frames'" in problems and "accepts=('frames',)" in problems
    shown = run_cli("info", "textchain")
    assert shown.code == 2 and "preprocess=('flow',)" in shown.err and "unknown preprocessor 'f'" not in shown.err
