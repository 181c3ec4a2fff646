"""Fold-parallel training: worker processes give the same predictions as fold by fold; options are checked."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

import merbench.folds as folds
import merbench.folds.local as local
import merbench.folds.plan as plan

SAME_THREADS = ("engine.threads=1",)


def _predictions(result: dict) -> list[tuple[str, int]]:
    return [(row["id"], row["prediction"]) for row in result["predictions"]]


def _losses(result: dict) -> list[float]:
    return [fold["final_train_loss"] for fold in result["folds"]]


def _run(quick_run, model: str, *sets: str) -> dict:
    return quick_run("--model", model, "--set", *SAME_THREADS, *sets)


@pytest.mark.parametrize("model", ["ststnet", "lbptop-svm"])
def test_worker_processes_predict_what_fold_by_fold_predicts(quick_run, model):
    sequential = _run(quick_run, model, "engine.parallel_folds=1")
    parallel = _run(quick_run, model, "engine.parallel_folds=2")
    assert sequential["engine_plan"]["executor"] == "SequentialFolds"
    assert parallel["engine_plan"]["executor"] == "ProcessFolds"
    assert parallel["engine_plan"]["workers"] == 2
    assert _predictions(parallel) == _predictions(sequential)
    assert _losses(parallel) == pytest.approx(_losses(sequential), rel=1e-6, abs=1e-7)
    assert [f["fold"] for f in parallel["folds"]] == list(range(len(parallel["folds"])))
    assert parallel["pooled"] == sequential["pooled"]


def test_auto_moves_the_remaining_folds_to_workers_when_they_take_long_enough(quick_run, monkeypatch):
    import threading

    taken: list[tuple[str, int]] = []  # (who took the fold: this process's main thread or the worker feed, fold)
    real_take = local._TaskQueue.take
    real_train = folds.train_task

    def spying_take(queue):
        task = real_take(queue)
        if task is not None:
            who = "main" if threading.current_thread() is threading.main_thread() else "workers"
            taken.append((who, task.fold.index))
        return task

    def slow_train(*args, **kwargs):  # this process trains slowly, so the workers are up before it is done
        time.sleep(0.4)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(local, "PARALLEL_WORTH_S", 0.0)
    monkeypatch.setattr(local._TaskQueue, "take", spying_take)
    monkeypatch.setattr(local, "train_task", slow_train)
    monkeypatch.setattr(plan, "usable_cores", lambda: 2)
    auto = _run(quick_run, "ststnet", "engine.parallel_folds=auto")
    assert auto["engine_plan"]["executor"] == "ProcessFolds"
    assert auto["engine_plan"]["workers"] == 2, "two folds at once on two cores: this process and one worker"
    assert taken[0] == ("main", 0), "the first fold trains in this process"
    worker_folds = [fold for who, fold in taken if who == "workers"]
    assert worker_folds, "after the first fold's first epoch the folds not yet started should go to the worker too"
    assert sorted(fold for _, fold in taken) == list(range(len(auto["folds"]))), "each fold is taken exactly once"
    assert [f["fold"] for f in auto["folds"]] == list(range(len(auto["folds"])))
    sequential = _run(quick_run, "ststnet", "engine.parallel_folds=1")
    assert _predictions(auto) == _predictions(sequential)


def test_this_process_keeps_training_beside_the_workers(quick_run, monkeypatch):
    """Once the workers are up, this process goes on taking folds: it is one of the folds at once, not a waiter.

    The worker pool is replaced by a thread pool whose folds are slow, so this
    process must train most folds, also after the worker took its first (in the
    earlier design the workers took every fold left at once and this process waited).
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    taken: list[str] = []
    real_take = local._TaskQueue.take

    def spying_take(queue):
        task = real_take(queue)
        if task is not None:
            taken.append("main" if threading.current_thread() is threading.main_thread() else "workers")
        return task

    def thread_pool(job, data, workers, n_tasks, created=None):
        tensors = folds.DeviceTensors(data, job.choice.device)

        def slow_worker_train(task):
            time.sleep(0.3)
            return task, folds.train_task(job, tensors, task)

        monkeypatch.setattr(local, "_worker_train", slow_worker_train)
        return local._Pool(ThreadPoolExecutor(max_workers=workers), min(workers, n_tasks))

    monkeypatch.setattr(local, "PARALLEL_WORTH_S", 0.0)
    monkeypatch.setattr(local._TaskQueue, "take", spying_take)
    monkeypatch.setattr(local.ProcessFolds, "_start", staticmethod(thread_pool))
    monkeypatch.setattr(plan, "usable_cores", lambda: 2)
    auto = _run(quick_run, "ststnet", "engine.parallel_folds=auto")
    assert auto["engine_plan"]["executor"] == "ProcessFolds"
    assert "workers" in taken, "the worker should have taken folds"
    first_worker_fold = taken.index("workers")
    assert "main" in taken[first_worker_fold + 1:], f"this process stopped taking folds once the worker was up: {taken}"
    assert sorted(f["fold"] for f in auto["folds"]) == list(range(len(taken))), "every fold reported once"
    # Predictions are not compared here: threads share torch's global random generator, processes do not
    # (test_auto_moves_the_remaining_folds_to_workers_when_they_take_long_enough compares them).


def test_auto_keeps_short_protocols_in_this_process(quick_run, monkeypatch):
    monkeypatch.setattr(local, "PARALLEL_WORTH_S", 1e9)
    monkeypatch.setattr(local, "_WorkerFeed", lambda *args: pytest.fail("no worker should start"))
    monkeypatch.setattr(plan, "usable_cores", lambda: 2)
    result = _run(quick_run, "convmixer", "engine.parallel_folds=auto")
    assert result["engine_plan"]["threads_per_fold"] == 1


def test_each_fold_gets_cores_divided_by_folds_at_once_whatever_parallel_folds_is(monkeypatch):
    import numpy as np

    from merbench.engine import TrainSettings, choose_device

    monkeypatch.setattr(plan, "usable_cores", lambda: 8)
    monkeypatch.setattr(plan, "available_memory", lambda: 64 * 2**30)
    recipe = folds.ModelRecipe("merbench_plugins.models.ststnet:build_model",
                               {"filters": [3, 5, 8], "kernel": 3, "batchnorm": True, "dropout": 0.2}, 3, 3, 28)
    job = folds.FoldJob(recipe, TrainSettings(1, 8, 0.01, 0.0, 0.0, "none"), choose_device("cpu"))
    data = folds.FoldData(np.zeros((8, 3, 28, 28), np.float32), np.zeros(8, int), np.arange(8))
    engine = {"parallel_folds": "auto", "parallel_mode": "auto", "threads": 0}
    executor, planned = folds.plan_executor(engine, {"name": "local"}, job, data, n_folds=4)
    assert (type(executor).__name__, executor.workers, planned.threads) == ("ProcessFolds", 4, 2)
    assert "this process and 3 worker processes" in executor.description
    assert "this process and 1 worker process " in local.ProcessFolds(2, adaptive=True).description, "no '(es)'"
    executor, planned = folds.plan_executor({**engine, "parallel_folds": "1"}, {"name": "local"}, job, data, 4)
    assert (type(executor).__name__, planned.threads) == ("SequentialFolds", 2), "same threads as fold-parallel"
    executor, planned = folds.plan_executor(engine, {"name": "local"}, job, data, n_folds=1)
    assert (type(executor).__name__, planned.threads) == ("SequentialFolds", 8), "one fold gets every core"
    monkeypatch.setattr(plan, "available_memory", lambda: 1 * 2**30)  # room for one worker only
    executor, planned = folds.plan_executor(engine, {"name": "local"}, job, data, n_folds=4)
    assert (type(executor).__name__, executor.workers) == ("ProcessFolds", 2), "this process and the one worker"
    monkeypatch.setattr(plan, "available_memory", lambda: 2**29)  # room for no worker
    executor, planned = folds.plan_executor(engine, {"name": "local"}, job, data, n_folds=4)
    assert type(executor).__name__ == "SequentialFolds"


def test_compile_option_compiles_the_model_once_for_all_folds(quick_run, monkeypatch):
    import torch

    import merbench.compiled_models as compiled_models
    import merbench.engine as engine

    compiled = []

    def fake_compile(model, *args, **kwargs):
        compiled.append(type(model).__name__)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr(engine, "COMPILED", cache := compiled_models.CompiledModels())
    result = _run(quick_run, "convmixer", "engine.compile=true", "engine.parallel_folds=1")
    assert compiled == ["CabmConvMixer"], "one compilation per architecture and process, not one per fold"
    assert cache.reuses == len(result["folds"]) - 1
    assert result["config"]["options"]["engine"]["compile"] is True


@pytest.mark.parametrize(
    "setting, message",
    [
        ("engine.parallel_folds=0", "use auto or a whole number"),
        ("engine.parallel_folds=many", "use auto or a whole number"),
        ("engine.parallel_mode=threads", "choose one of auto, processes, vmap"),
        ("executor.name=slurm", "choose one of local, ray"),
        ("engine.compile=maybe", "expected true or false"),
    ],
)
def test_bad_parallel_settings_are_refused_before_any_work(run_cli, setting, message):
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--set", setting)
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err


def test_a_bad_parallel_folds_from_a_config_file_names_the_file(run_cli, tmp_path):
    config = tmp_path / "my run.yaml"
    config.write_text("engine:\n  parallel_folds: banana\n")
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--config", str(config))
    assert result.code == 2
    assert f"--config {config}: engine.parallel_folds=banana: use auto" in " ".join(result.err.split())


def test_vmap_mode_refuses_estimators(run_cli):
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--set", "engine.parallel_mode=vmap")
    assert result.code == 2
    assert "engine.parallel_mode=processes" in result.err


def test_a_killed_run_leaves_no_worker_processes(tmp_path):
    """Workers hold their own task queue open, so without a watch on the run they would wait forever."""
    import os
    import signal
    import subprocess
    import sys

    psutil = pytest.importorskip("psutil")
    env = {**os.environ, "MERBENCH_CACHE": str(tmp_path / "cache")}
    run = subprocess.Popen([sys.executable, "-m", "merbench", "run", "--model", "ststnet", "--dataset", "synthetic",
                            "--protocol", "loso", "--no-store", "--quiet", "--epochs", "200",
                            "--set", "engine.parallel_folds=2"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers: list = []
        deadline = time.monotonic() + 60
        while len(workers) < 3 and time.monotonic() < deadline:  # fork server + 2 fold workers
            time.sleep(0.5)
            workers = psutil.Process(run.pid).children(recursive=True)
        assert len(workers) >= 3, "the run should have started its worker processes"
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    gone, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"worker processes outlived the killed run: {[p.pid for p in alive]}"


def test_auto_trains_here_and_names_the_main_guard_when_workers_die_while_starting(run_cli, tmp_path, monkeypatch):
    from merbench.errors import FoldsLost

    def dies_while_starting(*args, **kwargs):  # as ProcessFolds._start reports workers that died while starting
        raise FoldsLost(local.WORKER_DIED)

    monkeypatch.setattr(local, "PARALLEL_WORTH_S", 0.0)
    monkeypatch.setattr(local.ProcessFolds, "_start", staticmethod(dies_while_starting))
    monkeypatch.setattr(plan, "usable_cores", lambda: 2)
    target = tmp_path / "result.json"
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--json", str(target),
                     "--set", *SAME_THREADS, "engine.parallel_folds=auto")
    assert result.code == 0, result.err
    message = " ".join(result.err.split())
    assert "fold worker processes did not start (they died while starting; every worker imports the script" in message
    assert "the folds were trained in this process" in message
    assert len(json.loads(target.read_text())["folds"]) >= 2


def test_compile_trains_fold_by_fold_on_cuda_and_is_refused_with_explicit_vmap(monkeypatch):
    """Batched (vmap) folds run eagerly: engine.compile=true on CUDA trains fold by fold instead (measured on an H200:
    with auto it batched the folds and compiled nothing), and an explicit vmap with compile is a usage error."""
    import numpy as np
    import torch

    from merbench.engine import DeviceChoice, TrainSettings
    from merbench.errors import UsageError

    monkeypatch.setattr(plan, "_auto_group", lambda *args: 4)  # free GPU memory for 4 batched folds
    recipe = folds.ModelRecipe("merbench_plugins.models.ststnet:build_model",
                               {"filters": [3, 5, 8], "kernel": 3, "batchnorm": True, "dropout": 0.2}, 3, 3, 28)
    cuda = DeviceChoice(torch.device("cuda"), torch.bfloat16, "cuda (stand-in)")
    settings = TrainSettings(1, 8, 0.01, 0.0, 0.0, "none")
    data = folds.FoldData(np.zeros((8, 3, 28, 28), np.float32), np.zeros(8, int), np.arange(8))
    engine = {"parallel_folds": "auto", "parallel_mode": "auto", "threads": 0}
    eager = folds.FoldJob(recipe, settings, cuda)
    compiled = folds.FoldJob(recipe, dataclasses.replace(settings, compile=True), cuda)
    assert type(folds.plan_executor(engine, {"name": "local"}, eager, data, 4)[0]).__name__ == "BatchedFolds"
    assert type(folds.plan_executor(engine, {"name": "local"}, compiled, data, 4)[0]).__name__ == "SequentialFolds"
    with pytest.raises(UsageError, match="engine.compile=true is not applied to batched folds"):
        folds.plan_executor({**engine, "parallel_mode": "vmap"}, {"name": "local"}, compiled, data, 4)


def test_threads_are_said_per_fold_or_for_a_batched_group():
    from merbench.result import threads_phrase

    assert threads_phrase({"executor": "ProcessFolds", "threads_per_fold": 1}) == "1 torch thread per fold"
    assert threads_phrase({"executor": "SequentialFolds", "threads_per_fold": 0}) == "the default torch threads per fold"
    assert threads_phrase({"executor": "BatchedFolds", "threads_per_fold": 16}) == "16 torch threads for the whole group"


def test_the_run_says_and_records_the_same_thread_count(run_cli, tmp_path):
    """A batched run said '2 torch threads for the whole group' while it ran and recorded 'the default torch
    threads': the result records the count used."""
    target = tmp_path / "vmap.json"
    ran = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                  "--json", str(target), "--set", "engine.parallel_mode=vmap", "engine.parallel_folds=2")
    assert ran.code == 0, ran.err
    plan = json.loads(target.read_text())["engine_plan"]
    said = " ".join((ran.out + ran.err).split())
    assert plan["threads_per_fold"] >= 1
    phrase = f"{plan['threads_per_fold']} torch thread{'' if plan['threads_per_fold'] == 1 else 's'} for the whole group"
    assert said.count(phrase) == 2, said  # while it ran, and in the summary


def test_compile_with_explicit_vmap_is_refused_before_a_run_is_stored(run_cli, tmp_path):
    store = tmp_path / "store.sqlite"
    refused = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--store", str(store),
                      "--set", "engine.compile=true", "engine.parallel_mode=vmap")
    assert refused.code == 2 and "engine.compile=true is not applied to batched folds" in refused.err
    assert not store.exists() or "failed" not in run_cli("runs", "--store", str(store)).out, "no failed run row"


def test_the_recorded_torch_threads_are_those_the_folds_trained_with(quick_run, monkeypatch):
    """The folds set their own thread count (the plan's); the environment recorded this process's count at the end
    instead, so a re-run from the record with that count trained differently."""
    import torch

    monkeypatch.setattr(plan, "usable_cores", lambda: 2)
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # this process's count, which no fold trains with here
    try:
        result = quick_run("--model", "ststnet", "--set", "engine.parallel_folds=1")
    finally:
        torch.set_num_threads(before)
    threads = result["engine_plan"]["threads_per_fold"]
    assert threads in (1, 2)
    assert result["environment"]["torch_threads"] == str(threads)
