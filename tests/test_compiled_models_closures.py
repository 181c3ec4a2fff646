"""``engine.compile=true`` with factories that share a name: each model trains its own network.

Two closures of one function (``_factory("ReLU")``, ``_factory("Tanh")``) are both
``_factory.<locals>.build``; keyed by that name alone, the second model's folds loaded
their weights into the first one's compiled network (same weight shapes) and trained it.
Compiled with ``aot_eager`` as in tests/test_compiled_models.py.
"""

from __future__ import annotations

import json

import torch
from torch import nn

import merbench.compiled_models as compiled_models
from merbench.contracts import FamilyFactory
from merbench.folds.job import ModelRecipe

PLUGIN = """
from torch import nn

from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def _factory(activation):
    def build(options, in_channels, n_classes, input_size):
        width = int(options["width"])
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * input_size * input_size, width),
                             getattr(nn, activation)(), nn.Linear(width, n_classes))
    return build


@hookimpl
def merbench_register_models(register):
    for activation in ("ReLU", "Tanh"):
        register(ModelPlugin(name=f"net-{activation.lower()}", build=_factory(activation), input="flow-uvs",
                             description=activation, options={"width": 8}))
"""
TINY = ("dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=16", "dataset.frames=6",
        "engine.batch_size=8")


def _factory(activation):
    def build(options, in_channels, n_classes, input_size):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * input_size * input_size, options["width"]),
                             getattr(nn, activation)(), nn.Linear(options["width"], n_classes))
    return build


def module_level_build(options, in_channels, n_classes, input_size):
    return _factory("ReLU")(options, in_channels, n_classes, input_size)


def family_build(member, options, in_channels, n_classes, input_size):
    return _factory({"small": "ReLU", "large": "Tanh"}[member])(options, in_channels, n_classes, input_size)


def key(recipe: ModelRecipe) -> compiled_models.ArchitectureKey | None:
    return compiled_models.architecture_key(recipe, recipe(), (8, 2, 4, 4), 3, None, torch.contiguous_format,
                                            torch.device("cpu"))


def test_closures_of_one_function_have_keys_of_their_own_even_without_a_plugin_name():
    relu, tanh = _factory("ReLU"), _factory("Tanh")
    assert relu.__qualname__ == tanh.__qualname__
    for plugin in ("the model plugin", None):
        labels = {"plugin": plugin} if plugin else {}
        first = key(ModelRecipe(relu, {"width": 8}, 2, 3, 4, **labels))
        second = key(ModelRecipe(tanh, {"width": 8}, 2, 3, 4, **labels))
        assert first is not None and second is not None and first != second
    assert key(ModelRecipe(relu, {"width": 8}, 2, 3, 4)) == key(ModelRecipe(relu, {"width": 8}, 2, 3, 4)), \
        "one closure's folds still share their compilation"

    named = [key(ModelRecipe(module_level_build, {"width": 8}, 2, 3, 4, plugin=f"model plugin '{name}' (x 0.1)"))
             for name in ("a", "a", "b")]
    assert named[0] == named[1] != named[2], "the registered name and distribution are in the key"
    assert named[0].model.endswith(":module_level_build") and named[0].factory is None
    members = [key(ModelRecipe(FamilyFactory(family_build, member), {"width": 8}, 2, 3, 4))
               for member in ("small", "small", "large")]
    assert members[0] == members[1] != members[2], "family members are told apart, equal ones share"


def test_a_cached_network_with_other_layers_is_not_loaded_but_compiled_anew(compile_cache):
    same_key = key(ModelRecipe(module_level_build, {"width": 8}, 2, 3, 4))
    relu = _factory("ReLU")({"width": 8}, 2, 3, 4)
    compile_cache.step_for(same_key, relu, 8)
    tanh = _factory("Tanh")({"width": 8}, 2, 3, 4)
    step = compile_cache.step_for(same_key, tanh, 8)
    assert step.module is tanh and any(isinstance(layer, nn.Tanh) for layer in step.module.modules())
    assert (compile_cache.compilations, compile_cache.reuses) == (2, 0)
    again = _factory("Tanh")({"width": 8}, 2, 3, 4)
    assert compile_cache.step_for(same_key, again, 8).module is tanh, "the tanh network is the one cached now"
    assert (compile_cache.compilations, compile_cache.reuses) == (2, 1)


def test_compiled_runs_of_two_closure_built_models_each_train_their_own(compile_cache, install_plugin, run_cli,
                                                                        tmp_path):
    install_plugin("merbench-nets", "nets", "merbench_nets", PLUGIN)

    def run(model: str, *extra: str) -> list:
        target = tmp_path / f"{model}-{len(list(tmp_path.glob('*.json')))}.json"
        result = run_cli("run", "--model", model, "--dataset", "synthetic", "--protocol", "loso", "--profile",
                         "quick", "--no-store", "--quiet", "--json", str(target), "--set", *TINY, *extra)
        assert result.code == 0, result.err
        return [row["prediction"] for row in json.loads(target.read_text())["predictions"]]

    eager_relu, eager_tanh = run("net-relu"), run("net-tanh")
    assert eager_relu != eager_tanh, "the two activations must predict differently for this test to mean anything"
    compiled_relu = run("net-relu", "engine.compile=true")
    compiled_tanh = run("net-tanh", "engine.compile=true")  # same process and cache as net-relu
    assert compiled_relu == eager_relu
    assert compiled_tanh == eager_tanh, "net-tanh trained net-relu's network"
