"""What ``merbench list models`` and ``merbench info MODEL`` show of a model stays true and readable.

Before: the cached parameter count of a model stayed as it was after a helper module of its factory was edited
(``info`` then showed the new count in ``quick`` beside the old one in ``default``);
``MERBENCH_DISABLE_PLUGINS=synthetic`` made every model "cannot be built: unknown dataset 'synthetic'" and ``info`` exit 2; a hand-edited facts file (params as text) ended
``list`` in a traceback, and 999,563 parameters were shown as ``1e+03k``; a plugin that prints while its model is built
made ``--json -`` output invalid JSON; ``info`` printed an empty ``Options`` table for a model with no options and
``timm::`` for the family.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from merbench.registry import reset_registry

STALE_NET = '''
from stale_layers import WIDTH
from torch import nn

from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    return nn.Sequential(nn.Conv2d(in_channels, WIDTH, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(WIDTH, n_classes))


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="stale-net", build=build, description="width from a helper module", input="flow-uvs"))
'''


def _params(width: int, channels: int = 3, classes: int = 3) -> int:
    """Parameters of STALE_NET's network: a 3×3 convolution to ``width`` channels, then a linear layer."""
    return (channels * 9 + 1) * width + (width + 1) * classes


def _profiles(run_cli, model: str) -> dict:
    result = run_cli("info", model, "--json", "-")
    assert result.code == 0 and "Traceback" not in result.err, result.err
    return json.loads(result.out)["profiles"]


@pytest.mark.parametrize("where", ["on the path", "in site-packages"])
def test_editing_a_helper_module_of_a_model_updates_its_cached_params(install_plugin, run_cli, fresh_cache, tmp_path,
                                                                      monkeypatch, where):
    install_plugin("merbench-stale", "stale", "stale_net", STALE_NET)
    if where == "in site-packages":  # then only the modules beside the factory's own count, not every file outside
        import merbench.modelinfo as modelinfo

        libraries = modelinfo._library_folders()
        monkeypatch.setattr(modelinfo, "_library_folders", lambda: (*libraries, os.path.join(tmp_path / "site", "")))
    helper = tmp_path / "site" / "stale_layers.py"  # beside stale_net.py, as a plugin of two modules has it
    helper.write_text("WIDTH = 8\n")
    try:
        before = _profiles(run_cli, "stale-net")
        assert {profile: facts["params"] for profile, facts in before.items()} == dict.fromkeys(before, _params(8))

        helper.write_text("WIDTH = 64\n")  # what a plugin author's edit does; stale_net.py is untouched
        stat = helper.stat()
        os.utime(helper, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # a later second, for the .pyc too
        sys.modules.pop("stale_layers", None)  # a new `merbench info`: a new process imports the edited module
        sys.modules.pop("stale_net", None)
        reset_registry()
        after = _profiles(run_cli, "stale-net")
        assert {profile: facts["params"] for profile, facts in after.items()} == dict.fromkeys(after, _params(64))
    finally:
        sys.modules.pop("stale_layers", None)


def test_models_are_described_with_the_synthetic_dataset_disabled(run_cli, monkeypatch, tmp_path):
    shown = _profiles(run_cli, "ststnet")
    monkeypatch.setenv("MERBENCH_DISABLE_PLUGINS", "synthetic")
    reset_registry()
    listing = run_cli("list", "models", "--json")
    assert listing.code == 0 and "cannot be built" not in listing.err, listing.err
    records = {record["name"]: record for record in json.loads(listing.out)["models"]}
    assert [name for name, record in records.items() if record["error"]] == []
    assert records["ststnet"]["params"] == shown["default"]["params"]
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))  # computed now, without the synthetic plugin
    result = run_cli("info", "ststnet", "--json", "-")
    assert result.code == 0 and "unknown dataset" not in result.err, result.err
    assert json.loads(result.out)["profiles"] == shown


CHATTY = '''
from torch import nn

from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    print("chatty: building the network")
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, n_classes))


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="chatty", build=build, description="prints while it is built", input="flow-uvs"))
'''


@pytest.mark.parametrize("command", [("list", "models", "--json"), ("info", "chatty", "--json", "-")])
def test_a_model_that_prints_while_built_leaves_json_on_stdout(install_plugin, run_cli, command):
    install_plugin("merbench-chatty", "chatty", "merbench_chatty_plugin", CHATTY)
    result = run_cli(*command)
    assert result.code == 0, result.err
    json.loads(result.out)  # stdout holds the JSON alone
    assert "chatty: building the network" in result.err  # what the plugin said is not lost


def test_info_of_a_model_without_options_says_so_instead_of_an_empty_table(install_plugin, run_cli):
    install_plugin("merbench-chatty", "chatty", "merbench_chatty_plugin", CHATTY)
    result = run_cli("info", "chatty")
    assert result.code == 0, result.err
    assert "Options of chatty: none declared." in result.out
    assert "Option " not in result.out  # no table header with no rows under it


def test_info_of_a_family_names_it_as_the_listing_does(run_cli):
    result = run_cli("info", "timm:")
    assert result.code == 0, result.err
    assert result.out.startswith("timm:<name>: Any timm architecture") and "timm::" not in result.out


def test_a_damaged_facts_file_is_computed_again_and_counts_are_rounded_before_their_unit(run_cli, tmp_path,
                                                                                          monkeypatch):
    from merbench.modelinfo import human

    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    first = run_cli("list", "models", "--json")
    assert first.code == 0, first.err
    params = {record["name"]: record["params"] for record in json.loads(first.out)["models"]}
    files = list((tmp_path / "cache" / "model-facts").glob("*.json"))
    assert files
    for path in files:  # a count written as text, as a hand edit or another tool may leave it
        stored = json.loads(path.read_text())
        stored["params"] = str(stored["params"])
        path.write_text(json.dumps(stored))
    again = run_cli("list", "models")
    assert again.code == 0 and "Traceback" not in again.err, again.err
    assert f"ststnet {params['ststnet']:,}" in " ".join(again.out.split())
    assert (human(999_563), human(999.6), human(1_234_567), human(999)) == ("1M", "1k", "1.23M", "999")
