"""A plugin's factory that cannot take the arguments merbench passes it (``build(options, in_channels, n_classes)``
without ``input_size``, a dataset ``load(root, options)``, a preprocessor class whose ``__call__`` lacks
``upstream``...) is the plugin's problem when it registers, stating the form merbench calls; a model ``build()``
that reads an option its plugin never declared says to declare it (was: both blamed the user's model options)."""

from __future__ import annotations

import pickle

from merbench.engine import ModelOptions, build_error
from merbench.registry import Registry

PLUGIN = '''
import functools

from merbench.contracts import DatasetPlugin, ModelPlugin, PreprocessorPlugin, ProtocolPlugin
from merbench.hookspecs import hookimpl


def build_three(options, in_channels, n_classes):
    raise AssertionError("not built here")


def build_three_and_size(extra, options, in_channels, n_classes, input_size):
    raise AssertionError("not built here")


def build_flexible(options, *args, **kwargs):
    raise AssertionError("not built here")


def build_reads_depth(options, in_channels, n_classes, input_size):
    return options["depth"]


WIDTHS = {"small": 8}


def build_arch(options, in_channels, n_classes, input_size):
    return WIDTHS[options["arch"]]


def build_old(options, in_channels, n_classes):
    raise AssertionError("not built here")


@functools.wraps(build_old)
def build_adapted(options, in_channels, n_classes, input_size):
    return build_old(options, in_channels, n_classes)


class Net:
    def __init__(self, options, in_channels):
        pass


class Step:
    def __init__(self, options):
        pass

    def __call__(self, sample, read_frame):
        pass


def build_family(member, options, in_channels, n_classes, input_size):
    raise AssertionError("not built here")


def files_read(options):
    return {}


def load_two(root, options):
    raise AssertionError("not loaded here")


def split_four(labels, subjects, seed, options):
    raise AssertionError("not split here")


def model(name, build):
    return ModelPlugin(name=name, build=build, description="d", input="flow-uvs", options={"width": 8})


@hookimpl
def merbench_register_models(register):
    register(model("sig-three", build_three))
    register(model("sig-class", Net))
    register(model("sig-family:", build_reads_depth))
    register(model("sig-flexible", build_flexible))
    register(model("sig-builtin", dict))
    register(model("sig-depth", build_reads_depth))
    register(model("sig-string", "merbench_sigs_plugin:build_three"))
    register(model("sig-wrapped", build_adapted))
    register(model("sig-partial", functools.partial(build_three_and_size, "unused")))
    register(ModelPlugin(name="sig-reads:", build=build_family, read_files=files_read, description="d",
                         input="flow-uvs"))
    register(ModelPlugin(name="sig-arch", build=build_arch, description="d", input="flow-uvs",
                         options={"arch": "small"}))


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="sig-load", load=load_two, description="d", needs_root=False))


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="sig-step", build=Step, description="d", produces="flow-uvs"))


@hookimpl
def merbench_register_protocols(register):
    register(ProtocolPlugin(name="sig-split", split=split_four, description="d", subject_independent=True))
'''

WHO = "from plugin 'sigs' (merbench-sigs 0.1) refused: "


def _problem(registry: Registry, name: str) -> str:
    found = [problem for problem in registry.problems if f"'{name}' {WHO}" in problem]
    assert len(found) == 1, registry.problems
    return found[0].partition(WHO)[2]


def test_a_factory_that_cannot_take_merbenchs_arguments_is_refused_stating_the_form(install_plugin):
    install_plugin("merbench-sigs", "sigs", "merbench_sigs_plugin", PLUGIN)
    registry = Registry()
    assert _problem(registry, "sig-three") == (
        "its build= factory build_three(options, in_channels, n_classes) cannot be called as merbench calls it, "
        "build_three(options, in_channels, n_classes, input_size) (too many positional arguments); write "
        "def build_three(options, in_channels, n_classes, input_size)")
    assert _problem(registry, "sig-class").startswith(
        "its build= class Net(options, in_channels) cannot be called as merbench calls it, Net(options, "
        "in_channels, n_classes, input_size)")
    assert "build_reads_depth(member, options, in_channels, n_classes, input_size)" in _problem(registry, "sig-family:")
    assert ("its read_files= factory files_read(options) cannot be called as merbench calls it, files_read(member, "
            "options)") in _problem(registry, "sig-reads:")
    assert "load_two(root, options, cache_dir)" in _problem(registry, "sig-load")
    assert "def split_four(labels, subjects, seed, options, domains)" in _problem(registry, "sig-split")
    assert _problem(registry, "sig-step").startswith(
        "its build= class Step's __call__(self, sample, read_frame) cannot be called as merbench calls each built "
        "preprocessor, step(sample, read_frame, upstream)")
    assert {"sig-flexible", "sig-builtin", "sig-depth", "sig-string"} <= set(registry.names("models")), \
        "*args, a signature that cannot be read and a right one pass; a factory string is checked when loaded"
    assert {"sig-wrapped", "sig-partial"} <= set(registry.names("models")), \
        "a functools.wraps adapter is checked by its own arguments, not those of what it wraps; a partial's are bound"
    registry.check_factories()  # what `merbench plugins` does
    record = next(r for r in registry.records if r.provider.entry_point == "sigs")
    assert any(problem.startswith("model plugin 'sig-string' (merbench-sigs 0.1): its build= factory build_three(")
               for problem in record.problems), record.problems


def test_built_in_plugins_still_register_clean():
    registry = Registry()
    assert all(record.ok for record in registry.records if record.provider.builtin), registry.problems


def test_build_reading_an_undeclared_option_says_to_declare_it(install_plugin, run_cli):
    options = ModelOptions(width=8)
    assert options.get("depth") is None and not options.missing, "get() is no lookup that fails"
    try:
        options["depth"]
    except KeyError as exc:
        message = str(build_error("model plugin 'x' (d 1)", exc, options))
    assert message == ("model plugin 'x' (d 1): its build() raised KeyError: 'depth': build() reads model option "
                       "'depth', which ModelPlugin.options does not declare (width); add it to options with its "
                       "default, or report it to the plugin's author")
    assert options == {"width": 8} and pickle.loads(pickle.dumps(options)) == options
    assert "check the model options given" in str(build_error("model plugin 'x' (d 1)", KeyError("width"), options))
    install_plugin("merbench-sigs", "sigs", "merbench_sigs_plugin", PLUGIN)
    run = run_cli("run", "--model", "sig-depth", "--dataset", "synthetic", "--profile", "quick")
    assert run.code == 2
    assert "build() reads model option 'depth', which ModelPlugin.options does not declare (width)" in run.err


def test_a_mistyped_option_value_that_build_looks_up_is_not_blamed_on_the_plugin(install_plugin, run_cli):
    install_plugin("merbench-sigs", "sigs", "merbench_sigs_plugin", PLUGIN)
    run = run_cli("run", "--model", "sig-arch", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                  "--set", "model.arch=smal")
    assert run.code == 2
    assert "its build() raised KeyError: 'smal'; check the model options given (`merbench info sig-arch`" in run.err
    assert "does not declare" not in run.err
    assert "KeyError: 'other'; check the model options given" in str(
        build_error("model plugin 'x' (d 1)", KeyError("other"), ModelOptions(width=8)))
