"""``--stored`` matches a stored run by what changes its scores (``run_settings.scoring_config``): how the folds were
spread (``--executor``, ``engine.parallel_folds``, ``threads``, ``preprocess_workers``, ``parallel_mode``) is not
part of it, so a grid asked again with ``--set engine.parallel_folds=1`` reuses its complete run and a local grid
continues a run interrupted on Ray. Under ``engine.parallel_mode=vmap`` the group of folds batched at a time
changes a dropout model's scores: it is named as ``engine.parallel_folds=N`` (the recorded group for ``auto``),
two groups are two rows of ``compare``, and neither is reused for the other."""

from __future__ import annotations

import pytest

from merbench.compare import build_comparison
from merbench.config import resolve_config
from merbench.metrics import METRIC_KEYS
from merbench.registry import get_registry
from merbench.run_settings import changed_settings, changed_settings_of
from merbench.store import ResultStore
from result_samples import minimal_result

COLUMN = ("synthetic", "loso")


def _config(model: str = "lbptop-svm", **sets):
    return resolve_config(get_registry(), model=model, dataset="synthetic", protocol="loso", profile="quick", seed=0,
                          sets={key.replace("__", "."): value for key, value in sets.items()})


def _result(run_id: str, config, uf1: float = 0.5, plan: dict | None = None):
    scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores} for i in range(2)]
    return minimal_result(run_id=run_id, model=config.model, dataset="synthetic", protocol="loso", seed=0,
                          profile="quick", config=config.to_dict(), pooled=scores, fold_mean=scores,
                          fold_std={key: 0.0 for key in scores}, folds=folds,
                          **({"engine_plan": plan} if plan is not None else {}))


def _stored(path, *configs) -> list[str]:
    """Complete runs of ``configs`` in a store at ``path``; their ids."""
    ids = [f"20261208-00000{i}-aaaaaa" for i in range(len(configs))]
    with ResultStore(path) as store:
        for run_id, config in zip(ids, configs):
            store.begin_run(config.to_dict(), 1, {}, run_id=run_id)
            store.finish_run(run_id, _result(run_id, config))
    return ids


@pytest.mark.parametrize("spread", [
    {"engine__parallel_folds": 1}, {"engine__threads": 1}, {"engine__preprocess_workers": 2},
    {"engine__parallel_mode": "processes"}, {"executor__name": "ray", "executor__num_cpus": 2},
])
def test_a_complete_run_is_reused_whatever_spread_its_folds(tmp_path, spread):
    [stored] = _stored(tmp_path / "runs.sqlite", _config(**spread))
    with ResultStore(tmp_path / "runs.sqlite", create=False) as store:
        assert store.identical_result(_config()).run_id == stored
    with ResultStore(tmp_path / "runs.sqlite", create=False) as store:
        assert store.identical_result(_config(engine__parallel_folds=2, executor__num_cpus=3)).run_id == stored


@pytest.mark.parametrize("scoring", [{"model__C": 2.0}, {"engine__select_on": "test"}, {"engine__parallel_mode": "vmap"}])
def test_a_run_made_with_a_setting_that_changes_scores_is_not_reused(tmp_path, scoring):
    _stored(tmp_path / "runs.sqlite", _config(**scoring))
    with ResultStore(tmp_path / "runs.sqlite", create=False) as store:
        assert store.identical_result(_config()) is None


def test_a_run_interrupted_on_ray_is_continued_by_a_local_grid(tmp_path):
    on_ray = _config(executor__name="ray", engine__parallel_folds=4)
    with ResultStore(tmp_path / "runs.sqlite") as store:
        run_id = store.begin_run(on_ray.to_dict(), 2, {})
        store.mark_stopped(run_id, "interrupted")
        assert store.interrupted_run(_config(), 2) == run_id
        assert store.interrupted_run(_config(), 1) is None
        assert store.interrupted_run(_config(model__C=2.0), 2) is None


def test_under_vmap_only_a_run_of_the_same_group_is_reused_or_continued(tmp_path):
    five = _config("ststnet", engine__parallel_mode="vmap", engine__parallel_folds=5)
    [stored] = _stored(tmp_path / "runs.sqlite", five)
    with ResultStore(tmp_path / "runs.sqlite") as store:
        assert store.identical_result(_config("ststnet", engine__parallel_mode="vmap",
                                              engine__parallel_folds=2)) is None
        assert store.identical_result(_config("ststnet", engine__parallel_mode="vmap", engine__parallel_folds=5,
                                              engine__threads=1, executor__name="ray")).run_id == stored
        interrupted = store.begin_run(five.to_dict(), 1, {})
        store.mark_stopped(interrupted, "interrupted")
        assert store.interrupted_run(_config("ststnet", engine__parallel_mode="vmap", engine__parallel_folds=2)) is None
        assert store.interrupted_run(five) == interrupted


BATCHED = {"executor": "BatchedFolds", "group_size": 5, "threads_per_fold": 2}


@pytest.mark.parametrize("sets, plan, named", [
    ({"engine__parallel_folds": 2}, {**BATCHED, "group_size": 2}, "engine.parallel_folds=2"),
    ({}, BATCHED, "engine.parallel_folds=5"),  # auto: the group the run batched
    ({}, {"executor": "SequentialFolds", "group_size": None}, "engine.parallel_folds=1"),  # memory held one
    ({"engine__parallel_folds": 3}, None, "engine.parallel_folds=3"),  # no plan recorded: as given
])
def test_the_group_batched_under_vmap_is_named(sets, plan, named):
    config = _config("ststnet", engine__parallel_mode="vmap", **sets)
    assert changed_settings(_result("20261208-000001-aaaaaa", config, plan=plan), get_registry()) == (
        named, "engine.parallel_mode=vmap")


def test_the_group_is_not_named_without_vmap():
    config = _config("ststnet", engine__parallel_folds=2)
    assert changed_settings(_result("20261208-000001-aaaaaa", config, plan={**BATCHED, "executor": "ProcessFolds",
                                                                            "group_size": None}),
                            get_registry()) == ()


def test_runs_of_two_groups_get_a_row_each():
    five, two = (_result(f"20261208-00000{n}-aaaaaa", _config("ststnet", engine__parallel_mode="vmap",
                                                              engine__parallel_folds=n), 0.5 + n / 100,
                         {**BATCHED, "group_size": n}) for n in (5, 2))
    comparison = build_comparison([five, two], settings=changed_settings_of([five, two], get_registry()))
    assert comparison.models == ["ststnet (engine.parallel_folds=2)", "ststnet (engine.parallel_folds=5)"]
    assert comparison.hidden == [] and comparison.common_settings == ("engine.parallel_mode=vmap",)
