"""The Ray executor on a local 2-CPU Ray instance: same scores as the local executor, retries, results in the store."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from merbench.contracts import Fold, resolve_factory  # noqa: E402
from merbench.store import ResultStore  # noqa: E402

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=2", "engine.threads=1"]


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """One local Ray instance for the module (started after the session's cache is set, so workers share it)."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    if started:
        ray.shutdown()


def grid_json(run_cli, tmp_path, name: str, *extra: str) -> dict:
    target = tmp_path / f"{name}.json"
    result = run_cli("grid", "--models", "convmixer,ststnet", "--datasets", "synthetic", "--protocols", "subject-10fold",
                     "--profile", "quick", "--quiet", "--json", str(target), *TINY, *extra)
    assert result.code == 0, result.err
    return json.loads(target.read_text())


def test_grid_on_ray_gives_the_local_grids_metrics_and_stores_its_runs(run_cli, tmp_path):
    local = grid_json(run_cli, tmp_path, "local", "--no-store")
    store = tmp_path / "results.sqlite"
    remote = grid_json(run_cli, tmp_path, "ray", "--executor", "ray", "--store", str(store))
    assert remote["grid"]["executor"] == "ray"
    assert [r["model"] for r in remote["results"]] == [r["model"] for r in local["results"]] == ["convmixer", "ststnet"]
    for here, there in zip(local["results"], remote["results"]):
        assert there["pooled"] == here["pooled"]
        assert [f["metrics"] for f in there["folds"]] == [f["metrics"] for f in here["folds"]]
        assert there["predictions"] == here["predictions"]
        assert there["config"]["options"]["executor"]["name"] == "ray"
    with ResultStore(store) as results:
        for there in remote["results"]:
            assert results.result(there["run_id"]).pooled == there["pooled"]
            assert [stored.record.metrics for stored in results.stored_folds(there["run_id"], 0).values()] == \
                   [f["metrics"] for f in there["folds"]]
        assert {run.status for run in results.list_runs()} == {"complete"}


def test_run_with_folds_as_ray_tasks_predicts_as_a_local_run(quick_run):
    local = quick_run("--model", "ststnet", *TINY, "--no-store")
    remote = quick_run("--model", "ststnet", *TINY, "executor.name=ray", "--no-store")
    assert remote["engine_plan"]["executor"] == "RayFolds" and local["engine_plan"]["executor"] != "RayFolds"
    assert remote["predictions"] == local["predictions"]
    assert [f["metrics"] for f in remote["folds"]] == [f["metrics"] for f in local["folds"]]
    # each Ray fold says where it trained; a local run's folds trained on the run's own device
    import socket

    from merbench.environment import describe_cpu

    worker = f"{socket.gethostname()}: cpu ({describe_cpu()})"
    assert [f["trained_on"] for f in remote["folds"]] == [worker] * len(remote["folds"])
    assert remote["environment"]["fold_devices"] == [worker]
    assert "trained_on" not in local["folds"][0] and "fold_devices" not in local["environment"]


def test_a_fold_that_raises_or_loses_its_worker_is_retried_and_the_run_completes(tmp_path):
    from merbench.config import resolve_config
    from merbench.engine import TrainSettings, choose_device
    from merbench.folds import FoldData, FoldJob, FoldTask, ModelRecipe, SequentialFolds
    from merbench.progress import SilentProgress
    from merbench.folds.ray import RayFolds
    from merbench.ray_cluster import RayOptions
    from merbench.registry import get_registry

    registry = get_registry()
    build = registry.get("models", "ststnet").build
    raised, exited = tmp_path / "raised", tmp_path / "exited"

    def _once(marker) -> bool:  # True for the first caller only, across processes
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True

    def flaky(options, in_channels, n_classes, size):  # local functions go to the workers by value
        if _once(raised):
            raise RuntimeError("a transient failure (test)")
        if _once(exited):
            os._exit(1)  # the worker process dies, as on a lost node
        return resolve_factory(build)(options, in_channels, n_classes, size)

    config = resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick", device="cpu")
    rng = np.random.default_rng(0)
    data = FoldData(rng.normal(size=(18, 3, 28, 28)).astype(np.float32), np.arange(18) % 3,
                    np.repeat(np.array(["s1", "s2", "s3"]), 6))
    tasks = [FoldTask(Fold(i, np.flatnonzero(data.subjects != s), np.flatnonzero(data.subjects == s)), i)
             for i, s in enumerate(["s1", "s2", "s3"])]
    job = FoldJob(ModelRecipe(flaky, dict(config.section("model")), 3, 3, 28),
                  TrainSettings.from_options(config.section("engine")), choose_device("cpu"), threads=1)

    outputs: dict[int, object] = {}
    RayFolds(RayOptions(max_retries=2)).run(job, data, tasks, lambda t, o: outputs.setdefault(t.fold.index, o),
                                           SilentProgress())
    assert raised.exists() and exited.exists()  # both failures happened and were retried
    assert sorted(outputs) == [0, 1, 2]
    reference: dict[int, object] = {}
    SequentialFolds().run(job, data, tasks, lambda t, o: reference.setdefault(t.fold.index, o), SilentProgress())
    for index, output in reference.items():
        assert np.array_equal(outputs[index].predictions, output.predictions)


def test_a_fold_that_keeps_failing_stops_the_run_naming_the_fold(tmp_path):
    from merbench.config import resolve_config
    from merbench.engine import TrainSettings, choose_device
    from merbench.errors import FoldsLost
    from merbench.folds import FoldData, FoldJob, FoldTask, ModelRecipe
    from merbench.progress import SilentProgress
    from merbench.folds.ray import RayFolds
    from merbench.ray_cluster import RayOptions
    from merbench.registry import get_registry

    def broken(options, in_channels, n_classes, size):
        raise RuntimeError("always broken (test)")

    config = resolve_config(get_registry(), model="ststnet", dataset="synthetic", profile="quick", device="cpu")
    data = FoldData(np.zeros((6, 3, 28, 28), np.float32), np.arange(6) % 3, np.array(["a", "a", "a", "b", "b", "b"]))
    task = FoldTask(Fold(4, np.arange(3), np.arange(3, 6)), 4)
    job = FoldJob(ModelRecipe(broken, dict(config.section("model")), 3, 3, 28),
                  TrainSettings.from_options(config.section("engine")), choose_device("cpu"), threads=1)
    # FoldsLost: the command that ran it adds how to continue (tests/test_folds_lost.py)
    with pytest.raises(FoldsLost, match=r"fold 5 failed on Ray after 1 retries: RuntimeError: always broken"):
        RayFolds(RayOptions(max_retries=1)).run(job, data, [task], lambda t, o: None, SilentProgress())


def test_a_plugin_error_from_a_ray_fold_names_its_fold_once(tmp_path):
    from merbench.config import resolve_config
    from merbench.engine import TrainSettings, choose_device
    from merbench.errors import PluginError
    from merbench.folds import FoldData, FoldJob, FoldTask, ModelRecipe
    from merbench.folds.ray import RayFolds
    from merbench.progress import SilentProgress
    from merbench.ray_cluster import RayOptions
    from merbench.registry import get_registry

    def _two_outputs(options, in_channels, n_classes, size):  # defined here: Ray pickles it by value
        from torch import nn

        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * size * size, 2))

    config = resolve_config(get_registry(), model="ststnet", dataset="synthetic", profile="quick", device="cpu")
    data = FoldData(np.zeros((6, 3, 28, 28), np.float32), np.arange(6) % 3, np.array(["a", "a", "a", "b", "b", "b"]))
    job = FoldJob(ModelRecipe(_two_outputs, dict(config.section("model")), 3, 3, 28),
                  TrainSettings.from_options(config.section("engine")), choose_device("cpu"), threads=1)
    with pytest.raises(PluginError) as raised:
        RayFolds(RayOptions(max_retries=0)).run(job, data, [FoldTask(Fold(4, np.arange(3), np.arange(3, 6)), 4)],
                                                lambda t, o: None, SilentProgress())
    assert str(raised.value).startswith("fold 5, first batch: ") and "fold 5: fold 5" not in str(raised.value)

