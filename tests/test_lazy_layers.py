"""A model plugin built with torch's lazy layers (``LazyLinear``, ``LazyConv2d``, ``LazyBatchNorm2d``) runs.

PyTorch documents lazy layers as the way to skip computing a flattened size; before, such a plugin ran into
"merbench's training code raised ValueError: Attempted to use an uninitialized parameter ... please report it to
merbench", and ``list models``/``info`` showed "error" for its parameters. Also here: a model whose declared input no
preprocessor makes is said once by ``run`` (before: a ``plugin problem:`` line and the same text as the error).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from merbench.lazy_layers import has_lazy_layers, materialise_lazy_layers
from piped_rows import piped_row

LAZY = '''
from torch import nn

from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    return nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(), nn.LazyLinear(n_classes))


def build_broken(options, in_channels, n_classes, input_size):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(n_classes), nn.Unflatten(1, (7, 7)))


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="lazy", build=build, description="lazy layers", input="flow-uvs"))
    register(ModelPlugin(name="lazy-broken", build=build_broken, description="fails on its input", input="flow-uvs"))
    register(ModelPlugin(name="lazy-typo", build=build, description="a misspelt input", input="flow-uv"))
'''


@pytest.fixture
def lazy_plugin(install_plugin):
    install_plugin("merbench-lazy", "lazy", "merbench_lazy_plugin", LAZY)


def _said(result) -> str:
    return " ".join((result.out + result.err).split())


def test_a_model_of_lazy_layers_trains_and_the_same_seed_gives_the_same_scores(lazy_plugin, run_cli, tmp_path):
    scores = []
    for attempt in range(2):
        target = tmp_path / f"lazy-{attempt}.json"
        result = run_cli("run", "--model", "lazy", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                         "--no-store", "--json", str(target))
        assert result.code == 0 and "Traceback" not in result.err, _said(result)
        run = json.loads(target.read_text())
        scores.append((run["pooled"]["uf1"], run["predictions"]))
    assert scores[0] == scores[1]


def test_listing_and_info_count_the_parameters_of_lazy_layers(lazy_plugin, run_cli):
    info = run_cli("info", "lazy", "--json", "-")
    assert info.code == 0 and "uninitialized" not in _said(info), _said(info)
    params = {profile: facts["params"] for profile, facts in json.loads(info.out)["profiles"].items()}
    # quick, 3x16x16 flow: conv 3*4*9+4, batch norm 4+4, linear (4*14*14)*3+3; default, 3x32x32: (4*30*30)*3+3
    assert params["quick"] == 112 + 8 + 2355 and params["default"] == 112 + 8 + 10803, params
    listed = run_cli("list", "models")
    line = piped_row(listed.out, "lazy")
    assert "10,923" in line and "error" not in line, line


def test_a_lazy_model_that_fails_on_the_runs_input_is_named_with_the_shape(lazy_plugin, run_cli):
    result = run_cli("run", "--model", "lazy-broken", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--set", "engine.parallel_folds=1")
    said = _said(result)
    assert (result.code, "Traceback" in result.err) == (2, False), said
    assert ("model plugin 'lazy-broken' (merbench-lazy 0.1): its lazy layers could not take their shapes from one "
            "sample of shape (3, 16, 16), the run's input: its forward() raised RuntimeError") in said, said
    assert "report it to merbench" not in said


def test_a_models_missing_input_is_said_once_by_run(lazy_plugin, run_cli):
    result = run_cli("run", "--model", "lazy-typo", "--dataset", "synthetic", "--profile", "quick", "--quiet")
    said = _said(result)
    assert result.code == 2 and said.count("declares input 'flow-uv'") == 1, said
    assert said.startswith("merbench: error: model 'lazy-typo' declares input 'flow-uv'")
    assert "(from plugin 'lazy' (merbench-lazy 0.1))" in said
    other = run_cli("run", "--model", "lazy", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                    "--no-store", "--epochs", "1")
    assert "plugin problem: model 'lazy-typo' declares input 'flow-uv'" in _said(other), \
        "another model's run still shows the problem"
    grid = run_cli("grid", "--models", "lazy,lazy-typo", "--datasets", "synthetic", "--profile", "quick", "--quiet",
                   "--no-store")
    assert grid.code == 2 and _said(grid).count("declares input 'flow-uv'") == 1, _said(grid)


def test_materialising_keeps_the_mode_and_the_batch_norm_statistics_and_follows_the_seed():
    def built() -> nn.Module:
        torch.manual_seed(3)
        model = nn.Sequential(nn.LazyConv2d(2, 3), nn.LazyBatchNorm2d(), nn.Flatten(), nn.LazyLinear(3))
        materialise_lazy_layers(model, (2, 8, 8))
        return model

    first, second = built(), built()
    assert not has_lazy_layers(first) and first.training
    assert first[1].running_mean.tolist() == [0.0, 0.0] and int(first[1].num_batches_tracked) == 0
    assert first[3].weight.shape == (3, 2 * 6 * 6)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    plain = nn.Linear(4, 2).eval()
    before = [p.clone() for p in plain.parameters()]
    materialise_lazy_layers(plain, (4,))
    assert not plain.training and all(torch.equal(a, b) for a, b in zip(before, plain.parameters()))


def test_the_conformance_suite_passes_a_model_of_lazy_layers(lazy_plugin):
    from merbench.registry import Registry
    from merbench.testing import check_model

    findings = {f.check: f for f in check_model("lazy", Registry(), profiles=("quick",), run=False)}
    torch_checks = [check for check in findings if check.startswith("[quick]")]
    assert "[quick] determinism" in torch_checks and "[quick] seed" in torch_checks
    assert all(findings[check].passed for check in torch_checks), [findings[c] for c in torch_checks]


def test_a_model_of_lazy_layers_only_in_double_precision_is_shaped_in_its_own_dtype():
    model = nn.Sequential(nn.LazyConv2d(2, 3), nn.Flatten(), nn.LazyLinear(3)).double()
    materialise_lazy_layers(model, (3, 8, 8))  # before: float32 zeros, "Input type (float) and bias type (double)"
    assert model[2].weight.shape == (3, 72) and model[2].weight.dtype == torch.float64
