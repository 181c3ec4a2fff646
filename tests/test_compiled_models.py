"""``engine.compile=true``: one compilation per architecture and process, and folds train as with a fresh compile.

The tests compile with the ``aot_eager`` backend: it traces forward and backward
as ``inductor`` does (so dynamo's guards and recompilations are the real ones)
without generating C++ code, which would take tens of seconds per graph here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

import merbench.compiled_models as compiled_models
import merbench.engine as engine
from merbench.contracts import Fold
from merbench.engine import TrainSettings, choose_device, train_fold
from merbench.folds.job import ModelRecipe

CONVMIXER = "merbench_plugins.models.convmixer.network:build_model"
# A 9x9 kernel takes the convmixer's own depthwise backward, so the compiled graph holds it too.
OPTIONS = {"dim": 8, "depth": 1, "kernel": 9, "patch": 2, "attention": "spatial", "attention_every": 1, "dropout": 0.1}
SETTINGS = TrainSettings(epochs=2, batch_size=8, lr=0.01, weight_decay=0.0, label_smoothing=0.0,
                         class_weighting="none", compile=True)


def data(n: int = 44):
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(n, 2, 14, 14, generator=generator)
    labels = torch.arange(n) % 3
    inputs[:, 0] += labels.view(-1, 1, 1).float()
    # 30 and 31 training samples: last batches of 6 and 7, each fold a size the other has not seen.
    folds = [Fold(0, np.arange(0, 30), np.arange(30, n)), Fold(1, np.arange(13, n), np.arange(0, 13))]
    return inputs, labels, folds


def train(recipe, inputs, labels, fold, seed):
    with engine.torch_threads(1):
        return train_fold(recipe, inputs, labels, fold, 3, SETTINGS, choose_device("cpu"), seed=seed)


def graphs() -> int:
    return counters["stats"]["unique_graphs"]


def test_a_later_fold_reuses_the_compilation_and_trains_as_a_fresh_compile(compile_cache):
    recipe = ModelRecipe(CONVMIXER, OPTIONS, 2, 3, 14)
    inputs, labels, folds = data()
    fresh = train(recipe, inputs, labels, folds[1], seed=11)  # fold 1 with a compilation of its own
    assert (compile_cache.compilations, compile_cache.reuses) == (1, 0)

    compile_cache.clear()
    torch._dynamo.reset()
    train(recipe, inputs, labels, folds[0], seed=10)  # compiles
    after_first = graphs()
    assert after_first >= 1 and compile_cache.compilations == 1
    reused = train(recipe, inputs, labels, folds[1], seed=11)  # the same fold again, on the cached compilation
    assert (compile_cache.compilations, compile_cache.reuses) == (1, 1)
    assert graphs() == after_first, "the second fold must not trace or compile anything new"

    np.testing.assert_array_equal(reused.predictions, fresh.predictions)
    assert reused.epoch_losses == pytest.approx(fresh.epoch_losses, rel=1e-5)


def test_the_cached_module_takes_each_folds_fresh_weights(compile_cache):
    recipe = ModelRecipe(CONVMIXER, OPTIONS, 2, 3, 14)
    first_model = recipe()
    step = compile_cache.step_for(compiled_models.architecture_key(recipe, first_model, (8, 2, 14, 14), 3, None,
                                                           torch.contiguous_format, torch.device("cpu")),
                          first_model, 8)
    with torch.no_grad():
        for parameter in step.module.parameters():
            parameter.add_(1.0)
            parameter.grad = torch.ones_like(parameter)
    torch.manual_seed(5)
    second_model = recipe()
    key = compiled_models.architecture_key(recipe, second_model, (8, 2, 14, 14), 3, None, torch.contiguous_format,
                                           torch.device("cpu"))
    again = compile_cache.step_for(key, second_model, 8)
    assert again.module is step.module, "the cached module trains the second fold"
    for (name, value), (_, expected) in zip(again.module.state_dict().items(), second_model.state_dict().items()):
        assert torch.equal(value, expected), name
    assert all(parameter.grad is None for parameter in again.module.parameters())


def test_another_architecture_or_batch_compiles_anew_and_a_bare_factory_is_never_reused(compile_cache):
    recipe = ModelRecipe(CONVMIXER, OPTIONS, 2, 3, 14)
    wider = ModelRecipe(CONVMIXER, {**OPTIONS, "dim": 16}, 2, 3, 14)

    def key(r, model, batch=8):
        return compiled_models.architecture_key(r, model, (batch, 2, 14, 14), 3, None, torch.contiguous_format,
                                                torch.device("cpu"))

    for r, batch in ((recipe, 8), (wider, 8), (recipe, 16), (recipe, 8), (wider, 8)):
        model = r()
        compile_cache.step_for(key(r, model, batch), model, batch)
    assert (compile_cache.compilations, compile_cache.reuses) == (3, 2)

    bare = lambda: recipe()  # noqa: E731 - a factory without a name and options
    assert compiled_models.architecture_key(bare, bare(), (8, 2, 14, 14), 3, None, torch.contiguous_format,
                                            torch.device("cpu")) is None
    for _ in range(2):
        compile_cache.step_for(None, bare(), 8)
    assert compile_cache.compilations == 5


def test_only_full_batches_run_compiled(compile_cache):
    recipe = ModelRecipe(CONVMIXER, OPTIONS, 2, 3, 14)
    calls = []
    step = compiled_models.CompiledStep(recipe(), lambda x: calls.append(len(x)) or torch.zeros(len(x), 3), 8)
    step(torch.randn(8, 2, 14, 14))
    assert step(torch.randn(5, 2, 14, 14)).shape == (5, 3)
    assert calls == [8], "the smaller last batch runs eagerly"


def test_without_compile_the_cache_is_not_used(compile_cache):
    recipe = ModelRecipe(CONVMIXER, OPTIONS, 2, 3, 14)
    inputs, labels, folds = data()
    settings = TrainSettings(epochs=1, batch_size=8, lr=0.01, weight_decay=0.0, label_smoothing=0.0,
                             class_weighting="none")
    train_fold(recipe, inputs, labels, folds[0], 3, settings, choose_device("cpu"), seed=0)
    assert (compile_cache.compilations, compile_cache.reuses) == (0, 0)
