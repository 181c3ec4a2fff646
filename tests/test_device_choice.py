"""A run chooses its device once, for all its seeds: without a store, and in a grid cell run on a Ray worker."""

from __future__ import annotations

import socket

import pytest

from merbench.config import resolve_config
from merbench.registry import get_registry

TINY = {"dataset.subjects": 4, "dataset.clips_per_subject": 6, "dataset.size": 32, "dataset.frames": 8,
        "protocol.n_splits": 2, "engine.epochs": 1, "engine.threads": 1}


@pytest.fixture
def choices(monkeypatch):
    """Every call of ``merbench.engine.choose_device`` from now on, by its requested device."""
    import merbench.engine

    calls: list[str] = []
    original = merbench.engine.choose_device

    def counted(requested, *args, **kwargs):
        calls.append(requested)
        return original(requested, *args, **kwargs)

    monkeypatch.setattr(merbench.engine, "choose_device", counted)
    return calls


def _config():
    return resolve_config(get_registry(), model="lbptop-svm", dataset="synthetic", profile="quick", device="cpu",
                          sets=dict(TINY))


def test_a_run_without_a_store_chooses_its_device_once_for_all_seeds(choices):
    from merbench.runner import run_with_seeds

    result = run_with_seeds(_config(), get_registry(), 3)
    assert choices == ["cpu"]
    assert [seed.seed for seed in result.seeds] == [0, 1, 2]


def test_a_grid_cell_on_a_worker_chooses_its_device_once_and_says_where_it_ran(choices):
    from merbench.grid import run_cell_detached

    config = _config()
    report = run_cell_detached(config, 2, cores=1, gpus=0)
    assert report.error is None
    assert choices == ["cpu"]
    assert report.result.environment["worker_host"] == socket.gethostname()
    assert report.result.config == config.to_dict()  # as requested, not as confined to the worker's cores
    assert [seed for seed, *_ in report.folds] == [0, 0, 1, 1]
