"""What timm does to a ``model.weights`` file to fit the run, said in merbench's terms: a stem of another channel
count than RGB and the run's is refused naming both (before: timm's advice to "correct the source pretrained_cfg"),
a wider network's tensors are refused naming one (before: torch's dump of every mismatch), position tables
interpolated to another input size are said once, at the preflight (before: silently), a folder given as the weights
file names its files, and a network built for one input size says so (before: "its layers shrink them to
nothing")."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from merbench.config import resolve_config
from merbench.errors import ModelNote, UsageError
from merbench.preflight import check_chain, check_model_build
from merbench.registry import get_registry
from merbench_plugins.models.timm_backbone import build_model


def _options(weights) -> dict:
    return {**get_registry().get("models", "timm:").options, "weights": str(weights), "pretrained": False}


def _saved(folder, name: str, in_channels: int = 3, size: int = 28, file: str | None = None):
    torch.manual_seed(0)
    path = folder / (file or f"{name}-{in_channels}.pth")
    state = build_model(name, _options(""), in_channels, 3, size).state_dict()
    torch.save(state, path)
    return path, state


def test_a_stem_of_one_channel_is_refused_for_three_channel_inputs_and_loads_for_one(tmp_path):
    weights, state = _saved(tmp_path, "resnet18", in_channels=1)
    with pytest.raises(UsageError) as raised:
        build_model("resnet18", _options(weights), 3, 3, 28)
    message = str(raised.value)
    assert message.startswith(f"timm:resnet18: the weights {weights} have a stem (conv1.weight) for 1-channel inputs, "
                              "and the run's inputs have 3 channels")
    assert "--set flow.channels=u" in message and "pretrained_cfg" not in message
    model = build_model("resnet18", _options(weights), 1, 3, 28)
    assert torch.equal(model.state_dict()["conv1.weight"], state["conv1.weight"])


def test_weights_of_a_wider_network_of_the_family_name_one_tensor_and_its_two_shapes(tmp_path):
    weights, _ = _saved(tmp_path, "mobilenetv3_small_100")
    with pytest.raises(UsageError) as raised:
        build_model("mobilenetv3_small_050", _options(weights), 3, 3, 28)
    message = str(raised.value)
    assert "in other shapes (" in message and " in the file, " in message and " in the model)" in message
    assert "a wider or narrower network of its family" in message
    assert "size mismatch for" not in message and "\n" not in message


def test_position_tables_interpolated_to_the_input_are_said_with_the_size_they_were_made_for(tmp_path):
    weights, _ = _saved(tmp_path, "vit_tiny_patch16_224", size=64)
    with warnings.catch_warnings(record=True) as caught, torch.device("meta"):
        warnings.simplefilter("always")
        build_model("vit_tiny_patch16_224", _options(weights), 3, 3, 32)
        build_model("vit_tiny_patch16_224", _options(weights), 3, 3, 64)  # the weights' own size: nothing to say
    notes = [str(w.message) for w in caught if issubclass(w.category, ModelNote)]
    assert notes == ["timm:vit_tiny_patch16_224: timm interpolated the weights' pos_embed (1x17x192 → 1x5x192) to "
                     "32x32 inputs: the pretrained position tables were made for 64x64 inputs; use --set "
                     "flow.size=64 (or image.size=64) to fine-tune them as they are"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_model("vit_tiny_patch16_224", _options(weights), 3, 3, 32)  # a fold's build: said once, not per fold
    assert not [w for w in caught if issubclass(w.category, ModelNote)]


def test_the_run_says_the_note_once_and_its_result_keeps_it(run_cli, tmp_path, monkeypatch):
    """Before, the note was a Python warning naming timm_backbone.py's line, and the result did not keep it."""
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    weights, _ = _saved(tmp_path, "vit_tiny_patch16_224", size=64)
    ran = run_cli("run", "--model", "timm:vit_tiny_patch16_224", "--dataset", "synthetic", "--profile", "quick",
                  "--no-store", "--json", str(tmp_path / "r.json"), "--set", f"model.weights={weights}", "flow.size=32",
                  "dataset.subjects=4", "dataset.clips_per_subject=3", "protocol.n_splits=2", "engine.epochs=1")
    assert ran.code == 0, ran.err
    said = "timm interpolated the weights' pos_embed (1x17x192 → 1x5x192) to 32x32 inputs"
    shown = " ".join((ran.err + ran.out).split())
    assert shown.count(said) == 1 and "ModelNote from" not in shown and "timm_backbone.py" not in shown
    kept = json.loads((tmp_path / "r.json").read_text())["warnings"]
    assert [warning for warning in kept if said in warning]


def test_the_preflight_keeps_torchs_and_the_models_warnings_quiet(tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    weights, _ = _saved(tmp_path, "vit_tiny_patch16_224", size=64)
    config = resolve_config(get_registry(), model="timm:vit_tiny_patch16_224", dataset="synthetic", profile="quick",
                            sets={"model.weights": str(weights), "flow.size": 32})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_model_build(config, get_registry(), check_chain(config, get_registry()), 3)
    assert caught == []


def test_a_folder_given_as_the_weights_names_the_files_in_it(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "resnet18-weights"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    refused = run_cli("run", "--model", "timm:resnet18", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                      "--set", f"model.weights={folder}")
    assert refused.code == 2
    assert (f"model.weights={folder}: {folder} is a folder, not a file (it holds model.safetensors); give the path of "
            f"the file itself, e.g. model.weights={folder / 'model.safetensors'}") in " ".join(refused.err.split())
    assert "no such file" not in refused.err


def test_a_network_built_for_one_input_size_names_it_instead_of_layers_that_shrink_the_input():
    with pytest.raises(UsageError) as raised, torch.device("meta"):  # the preflight's build checks the size
        build_model("efficientformer_l1", _options(""), 3, 3, 64)
    message = str(raised.value)
    assert "it is built for particular input sizes" in message and "it takes 224; " in message
    assert "--set flow.size=224" in message and "shrink them to nothing" not in message
