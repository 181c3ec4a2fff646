"""``model.weights`` of a timm backbone loads that file's tensors, and a state dict of another network is refused:
timm loads leniently once the head is replaced, so such a file would load nothing and training start from random."""

from __future__ import annotations

import pytest
import torch

from merbench.errors import UsageError
from merbench.registry import get_registry
from merbench_plugins.models.timm_backbone import build_model


def _options(weights) -> dict:
    return {**get_registry().get("models", "timm:").options, "weights": str(weights), "pretrained": False}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """resnet18's own state dict as .pth, .safetensors and a training checkpoint, and the tensors saved."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    state = build_model("resnet18", _options(""), 3, 3, 28).state_dict()
    torch.save(state, folder / "own.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "own.safetensors"))
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, folder / "checkpoint.pth")
    torch.save(torch.nn.Linear(4, 2).state_dict(), folder / "other.pth")
    return folder, state


@pytest.mark.parametrize("file", ["own.pth", "own.safetensors", "checkpoint.pth"])
def test_the_models_own_weights_are_loaded(saved, file):
    folder, state = saved
    torch.manual_seed(1)  # another initialisation: equal tensors can only come from the file
    model = build_model("resnet18", _options(folder / file), 3, 3, 28)
    assert torch.equal(model.state_dict()["conv1.weight"], state["conv1.weight"])


def test_a_state_dict_of_another_network_is_refused(saved):
    folder, _ = saved
    with pytest.raises(UsageError) as raised:
        build_model("resnet18", _options(folder / "other.pth"), 3, 3, 28)
    message = str(raised.value)
    assert message.startswith(f"timm:resnet18: the weights {folder / 'other.pth'} name 0 of the model's ")
    assert "training would start from random weights" in message


class RunsCode:
    """A pickled object whose loading calls a function: what a hostile weights file holds."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_weights_file_is_refused_before_timm_opens_it(tmp_path, monkeypatch):
    """timm loads the file itself, and timm 0.9 on torch < 2.6 (both allowed) unpickles it in full: merbench reads
    it as tensors only first, so timm never sees a file that holds anything else, whatever their versions."""
    import timm

    marker = tmp_path / "code-ran"
    weights = tmp_path / "hostile.pth"
    torch.save({"conv1.weight": RunsCode(marker)}, weights)
    opened = []
    real_create = timm.create_model

    def create_model(name, *args, **kwargs):
        opened.append(kwargs.get("pretrained"))
        return real_create(name, *args, **kwargs)

    monkeypatch.setattr(timm, "create_model", create_model)
    with pytest.raises(UsageError, match="holds pickled Python objects"):
        build_model("resnet18", _options(weights), 3, 3, 28)
    assert opened == [] and not marker.exists()


def test_weights_of_a_deeper_network_of_the_family_are_refused_naming_what_the_model_lacks(tmp_path, capfd):
    """resnet34's state dict names every tensor of resnet18 and 96 more: timm loaded its first blocks, silently
    apart from a log line of thousands of characters per build."""
    weights = tmp_path / "resnet34.pth"
    torch.save(build_model("resnet34", _options(""), 3, 3, 28).state_dict(), weights)
    with pytest.raises(UsageError) as raised:
        build_model("resnet18", _options(weights), 3, 3, 28)
    message = str(raised.value)
    assert message.startswith(f"timm:resnet18: the weights {weights} hold 96 tensors timm:resnet18 lacks (layer1.2.")
    assert "(and 93 more)): they are weights of another network" in message
    assert "Unexpected keys" not in capfd.readouterr().err


def test_a_classifier_of_another_size_is_not_counted_as_another_network(saved):
    folder, state = saved
    model = build_model("resnet18", _options(folder / "own.pth"), 3, 5, 28)  # 5 classes: a new head
    assert torch.equal(model.state_dict()["conv1.weight"], state["conv1.weight"])


@pytest.mark.parametrize("size, fix", [(28, "use an input of 16 or 32 pixels (--set flow.size=32"),
                                       (12, "use an input of 16 pixels (--set flow.size=16")])
def test_vit_patches_that_do_not_divide_the_input_are_refused(size, fix):
    """A 16-pixel patch of a 28x28 flow image saw its top-left 16x16 only, and the run went on."""
    with pytest.raises(UsageError) as raised:
        build_model("vit_tiny_patch16_224", _options(""), 3, 3, size)
    message = str(raised.value)
    assert message.startswith(f"timm:vit_tiny_patch16_224: its 16x16 patches do not divide {size}x{size} inputs")
    assert fix in message
    assert build_model("vit_tiny_patch16_224", _options(""), 3, 3, 32) is not None
