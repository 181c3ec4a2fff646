"""Preprocessing cache reuse, repeatability with a seed, and the dataset-root rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from merbench.cache import content_key
from merbench.config import resolve_config
from merbench.errors import UsageError
from merbench.preprocess import build_chain
from merbench.registry import get_registry

FAST = ("--set", "protocol.n_splits=3", "engine.epochs=2")


def entries(cache: Path) -> list[Path]:
    """Per-clip entries (not the per-dataset stacked files under ``preprocess/index/``)."""
    return sorted((cache / "preprocess").glob("??/*.npy"))


def test_second_run_reuses_the_cache_and_gives_identical_metrics(fresh_cache, quick_run):
    first = quick_run(*FAST)
    assert first["preprocess"]["computed"] == 60 and first["preprocess"]["cached"] == 0
    assert first["dataset_summary"]["generated_now"] is True
    assert len(entries(fresh_cache)) == 60

    second = quick_run(*FAST)
    assert second["preprocess"]["computed"] == 0 and second["preprocess"]["cached"] == 60
    assert second["dataset_summary"]["generated_now"] is False
    assert second["pooled"] == first["pooled"]
    assert [f["metrics"] for f in second["folds"]] == [f["metrics"] for f in first["folds"]]
    assert second["predictions"] == first["predictions"]
    assert not list(fresh_cache.rglob("*.tmp")), "a temporary file was left behind"

    other_seed = quick_run(*FAST, "--seed", "1")
    assert other_seed["preprocess"]["computed"] == 0, "the seed of a run must not invalidate preprocessing"
    assert [f["test_subjects"] for f in other_seed["folds"]] != [f["test_subjects"] for f in first["folds"]]


def test_changed_preprocessing_parameter_recomputes(fresh_cache, quick_run):
    quick_run(*FAST)
    changed = quick_run(*FAST, "flow.method=dis")
    assert changed["preprocess"]["computed"] == 60
    assert changed["preprocess"]["flow_method"] == "dis"
    assert len(entries(fresh_cache)) == 120


def test_corrupt_cache_entry_is_recomputed(fresh_cache, quick_run):
    quick_run(*FAST)
    victim = entries(fresh_cache)[0]
    victim.write_bytes(victim.read_bytes()[:20])
    for stacked in (fresh_cache / "preprocess" / "index").glob("*.npy"):
        stacked.unlink()  # else the warm run loads the stacked outputs and never reads the entry
    again = quick_run(*FAST)
    assert again["preprocess"]["computed"] == 1 and again["preprocess"]["cached"] == 59


def test_cache_key_depends_on_every_chain_parameter():
    registry = get_registry()
    keys = set()
    for sets in ({}, {"flow.size": 24}, {"flow.method": "dis"}, {"flow.subtract_median": False}, {"flow.channels": "u,v,strain"}):
        config = resolve_config(registry, model="convmixer", dataset="synthetic", sets=sets)
        chain = build_chain([registry.get("preprocessors", "flow")], config.sections, builtin=[True])  # its own key
        keys.add(content_key(chain.signature()))
    assert len(keys) == 5


def test_cache_inside_a_dataset_root_is_refused(run_cli, tmp_path, monkeypatch):
    root = tmp_path / "dataset"
    root.mkdir()
    monkeypatch.setenv("MERBENCH_CACHE", str(root / "cache"))
    result = run_cli("run", "--model", "convmixer", "--dataset", "smic", "--profile", "quick", "--root", str(root))
    assert result.code == 2
    assert "never writes inside a dataset" in " ".join(result.err.split())
    assert not any(p.suffix == ".png" for p in root.rglob("*")), "frames were written inside the dataset root"


def test_missing_root_folder_is_reported(run_cli, tmp_path):
    result = run_cli("run", "--model", "convmixer", "--dataset", "smic", "--profile", "quick", "--root", str(tmp_path / "nope"))
    assert result.code == 2
    assert "no such folder" in result.err


@pytest.mark.parametrize("command", [
    ("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--root", "{root}"),
    ("grid", "--models", "ststnet", "--datasets", "synthetic", "--profile", "quick", "--root", "synthetic={root}"),
    ("datasets", "check", "synthetic", "--root", "{root}"),
])
def test_a_root_for_the_generated_dataset_is_refused_not_ignored(run_cli, tmp_path, command):
    result = run_cli(*(part.format(root=tmp_path) for part in command))
    assert result.code == 2
    given = f"synthetic={tmp_path}" if command[0] == "grid" else str(tmp_path)  # quoted as typed
    assert f"--root {given}: dataset 'synthetic' is generated and reads no folder; drop --root" in " ".join(result.err.split())


def test_model_input_must_match_the_chain(monkeypatch):
    import dataclasses

    from merbench.runner import run_benchmark

    registry = get_registry()
    spec = registry.get("models", "convmixer")
    monkeypatch.setitem(registry._items["models"], "convmixer", dataclasses.replace(spec, input="apex-grey"))
    config = resolve_config(registry, model="convmixer", dataset="synthetic", profile="quick")
    with pytest.raises(UsageError, match="expects input 'apex-grey' but the preprocessing chain flow produces 'flow-uvs'"):
        run_benchmark(config, registry)
