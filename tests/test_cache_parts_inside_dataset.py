"""A folder of the cache (``preprocess/``, kept on a bigger disk through a link, as ``cache clear`` allows) that leads
inside a dataset folder is refused as the cache itself is, before anything is written. Before, only the cache folder
was checked: preprocessed arrays were written inside the dataset, and the run's warning blamed a plugin."""

from __future__ import annotations

import os

import pytest

import realtrees as rt
from merbench.datafiles import check_cache_outside
from merbench.errors import UsageError


def link_part_into_dataset(tmp_path, monkeypatch, part: str = "preprocess"):
    """A manifest dataset ``ds`` and a cache whose ``part`` is a link to ``ds/stash``; returns (root, stash)."""
    root = tmp_path / "ds"
    rt.build_manifest_images(root)
    stash = root / "stash"
    stash.mkdir()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / part).symlink_to(stash)
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    return root, stash


@pytest.fixture
def linked_part(tmp_path, monkeypatch):
    """``link_part_into_dataset`` of ``preprocess/``."""
    return link_part_into_dataset(tmp_path, monkeypatch)


@pytest.mark.parametrize("command", [
    ("preprocess",),
    ("run", "--model", "convmixer", "--protocol", "loso", "--profile", "quick", "--epochs", "1", "--no-store"),
    ("datasets", "check", "manifest"),
])
def test_a_cache_part_linked_into_the_dataset_is_refused_before_anything_is_written(run_cli, linked_part, command):
    root, stash = linked_part
    before = os.stat(stash).st_mtime_ns
    dataset = () if command[0] == "datasets" else ("--dataset", "manifest")
    result = run_cli(*command, *dataset, "--root", str(root), "--set", "dataset.manifest=labels.csv", "--quiet")
    said = " ".join(result.err.split())
    assert result.code == 2, said
    assert list(stash.iterdir()) == [] and os.stat(stash).st_mtime_ns == before
    part = root.parent / "cache" / "preprocess"
    assert (f"the cache folder {part} (→ {stash}) lies inside the dataset folder {root}; merbench never writes inside "
            f"a dataset: point the link {part} at a folder outside the dataset") in said
    assert "wrote inside" not in said


def test_each_cache_part_is_checked_and_one_elsewhere_is_not_refused(tmp_path):
    root, cache, disk = tmp_path / "ds", tmp_path / "cache", tmp_path / "big-disk"
    for folder in (root / "facts", cache, disk):
        folder.mkdir(parents=True)
    (cache / "preprocess").symlink_to(disk)
    check_cache_outside(root, cache)
    (cache / "model-facts").symlink_to(root / "facts")
    with pytest.raises(UsageError, match=f"the cache folder {cache / 'model-facts'} "):
        check_cache_outside(root, cache)


def test_a_cache_part_linked_where_a_link_of_the_dataset_leads_is_refused_naming_that_link(tmp_path):
    root, frames, cache = tmp_path / "ds", tmp_path / "frames-disk", tmp_path / "cache"
    for folder in (root, frames / "stash", cache):
        folder.mkdir(parents=True)
    (root / "frames").symlink_to(frames)
    (cache / "synthetic").symlink_to(frames / "stash")
    with pytest.raises(UsageError, match="through its link") as refused:
        check_cache_outside(root, cache)
    assert f"{cache / 'synthetic'} (→ {frames / 'stash'})" in str(refused.value)
    assert f"through its link {root / 'frames'} (→ {frames})" in str(refused.value)


@pytest.mark.parametrize("engine", ["engine.early_stopping=2", "engine.parallel_mode=vmap"])
def test_model_facts_linked_into_the_dataset_are_refused_before_the_facts_are_measured(run_cli, tmp_path, monkeypatch,
                                                                                     engine):
    """Early stopping and batched folds measure the model before the dataset loads; its facts go to the cache's
    ``model-facts/``, which must not be written when it leads inside the dataset."""
    root, facts = link_part_into_dataset(tmp_path, monkeypatch, "model-facts")
    cache = tmp_path / "cache"
    result = run_cli("run", "--model", "convmixer", "--dataset", "manifest", "--root", str(root), "--protocol", "loso",
                     "--profile", "quick", "--no-store", "--quiet", "--set", "dataset.manifest=labels.csv", engine)
    said = " ".join(result.err.split())
    assert result.code == 2, said
    assert f"the cache folder {cache / 'model-facts'} (→ {facts}) lies inside the dataset folder {root}" in said
    assert list(facts.iterdir()) == []
