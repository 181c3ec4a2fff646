"""A model option its build() refuses is refused before anything is preprocessed or recorded: preflight builds
the model once for the input the chain will give (``merbench run`` leaves no ``failed`` row for a usage error)."""

from __future__ import annotations

import json

import pytest

TINY = ["dataset.subjects=4", "dataset.clips_per_subject=3", "protocol.n_splits=2", "engine.epochs=1"]


@pytest.mark.parametrize("model, setting, says", [
    ("convmixer", "model.patch=100", "model.patch=100: must be between 1 and the input size 28"),
    ("convmixer", "model.attention_every=3", "model.attention_every=3 exceeds model.depth=2"),
    ("offapexnet", "model.filters=4,4,4,4,4,4", "needs inputs of at least 64x64 pixels, got 28"),
    ("timm:resnet18", "model.weights=/etc/hostname", "could not load the weights /etc/hostname"),
    # deeper than a 16x16 input allows: it failed in the first batch, with a failed run recorded
    ("timm:vgg11", "flow.size=16", "model 'timm:vgg11' cannot take inputs of 16x16 pixels (its layers shrink them to "
                                   "nothing, or its patches are larger); raise the input size to at least 32 with the "
                                   "size of the step that makes it: --set flow.size=32 (flow chain) or image.size=32"),
])
def test_a_refused_model_option_leaves_no_run_and_computes_nothing(run_cli, tmp_path, monkeypatch, model, setting, says):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    store = tmp_path / "runs.sqlite"
    result = run_cli("run", "--model", model, "--dataset", "synthetic", "--profile", "quick", "--store", str(store),
                     "--set", *TINY, setting)
    assert result.code == 2 and says in " ".join(result.err.split()), result.err
    assert "Run " not in result.out + result.err and not store.exists()  # nothing recorded
    assert not list((tmp_path / "cache").rglob("*.npy"))  # nothing preprocessed


def test_a_buildable_model_is_not_held_up(run_cli, tmp_path):
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--set", *TINY)
    assert result.code == 0, result.out + result.err


def test_the_preflight_build_prints_nothing_of_its_own(run_cli, tmp_path):
    """Built on the meta device, a model loading its weights in build() would make torch warn once per tensor."""
    import timm
    import torch

    weights = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18", num_classes=3).state_dict(), weights)
    result = run_cli("run", "--model", "timm:resnet18", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--set", *TINY, f"model.weights={weights}")
    assert result.code == 0, result.out + result.err
    assert "meta parameter" not in result.err and "no-op" not in result.err


def test_info_shows_the_profiles_a_network_too_deep_for_refuses_and_the_figures_of_the_others(run_cli, tmp_path,
                                                                                             monkeypatch):
    """`info timm:vgg11` once showed torch's RuntimeError for the small profiles; refusing them must not hide the
    paper profile, which builds."""
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    shown = run_cli("info", "timm:vgg11", "--json", "-")
    assert shown.code == 0, shown.err
    profiles = json.loads(shown.out)["profiles"]
    assert "model 'timm:vgg11' cannot take inputs of 16x16 pixels" in profiles["quick"]["error"]
    assert profiles["paper"]["error"] is None and profiles["paper"]["params"] > 1_000_000
    unknown = run_cli("info", "timm:resnet1")
    assert unknown.code == 2 and "'timm:resnet1' is not a timm architecture" in unknown.err
