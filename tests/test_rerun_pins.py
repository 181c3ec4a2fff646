"""``run --config result.json`` reads what the recorded run read and trains as it trained: the manifest file it
read (not one of the same name in the working folder) and its torch threads per fold."""

from __future__ import annotations

import json

import pytest

from merbench.config import resolve_config
from merbench.registry import get_registry
from result_samples import minimal_dict


def manifest_result(path, manifest_read, manifest_option="labels.csv"):
    """A manifest run's result at ``path`` that was given ``dataset.manifest=manifest_option`` and read
    ``manifest_read``."""
    config = {"model": "ststnet", "dataset": "manifest", "protocol": "loso", "profile": "quick", "seed": 0,
              "options": {"model": {}, "dataset": {"manifest": manifest_option}}}
    path.write_text(json.dumps(minimal_dict(model="ststnet", dataset="manifest", config=config,
                                            dataset_summary={"manifest": str(manifest_read)})))
    return path


@pytest.fixture
def two_folders(tmp_path, monkeypatch):
    """Folder A, where the run read its labels.csv, and folder B, the working folder, with another labels.csv."""
    first, second = tmp_path / "A", tmp_path / "B"
    for folder, label in ((first, "a"), (second, "b")):
        folder.mkdir()
        (folder / "labels.csv").write_text(f"subject,label,path\ns01,{label},x.png\n")
    monkeypatch.chdir(second)
    return first, second


def test_a_rerun_reads_the_manifest_the_recorded_run_read_not_the_working_folders(two_folders):
    first, _ = two_folders
    result = manifest_result(first / "a.json", first / "labels.csv")
    config = resolve_config(get_registry(), model=None, dataset=None, root=first, config_file=result)
    assert config.section("dataset")["manifest"] == str(first / "labels.csv")


def test_a_manifest_given_with_set_still_wins_even_where_the_recorded_one_is_gone(two_folders):
    first, second = two_folders
    result = manifest_result(first / "a.json", first / "gone.csv")
    config = resolve_config(get_registry(), model=None, dataset=None, root=first, config_file=result, sets={"dataset.manifest": "labels.csv"})
    assert config.section("dataset")["manifest"] == "labels.csv"


def test_a_result_that_recorded_a_relative_manifest_keeps_it(two_folders):
    first, _ = two_folders
    result = manifest_result(first / "a.json", "labels.csv")  # written before merbench recorded the absolute path
    config = resolve_config(get_registry(), model=None, dataset=None, root=first, config_file=result)
    assert config.section("dataset")["manifest"] == "labels.csv"


def test_a_rerun_whose_recorded_manifest_is_gone_is_refused_naming_it(run_cli, two_folders):
    first, _ = two_folders
    result = manifest_result(first / "a.json", first / "gone.csv")
    outcome = run_cli("run", "--no-store", "--root", str(first), "--config", str(result))
    assert outcome.code == 2, outcome.err
    message = " ".join(outcome.err.split())
    assert (f"--config {result}: the recorded run read dataset.manifest {first / 'gone.csv'}, which is no longer "
            "there; put it back, or give the file to read with --set dataset.manifest=FILE") in message
    assert "Traceback" not in outcome.err


def threads_result(path, device="cpu", plan_threads=2, given_threads=0, environment_threads=None):
    """A synthetic run's result at ``path`` given ``engine.threads=given_threads`` whose folds trained on ``device``
    with ``plan_threads`` torch threads each (its engine plan; ``None``: a result without one)."""
    config = {"model": "ststnet", "dataset": "synthetic", "protocol": "loso", "profile": "quick", "seed": 0,
              "options": {"model": {}, "engine": {"threads": given_threads}}}
    environment = {"device": device, **({"torch_threads": environment_threads} if environment_threads else {})}
    plan = {"engine_plan": {"executor": "SequentialFolds", "threads_per_fold": plan_threads}} if plan_threads else {}
    path.write_text(json.dumps(minimal_dict(model="ststnet", dataset="synthetic", config=config,
                                            environment=environment, **plan)))
    return path


def threads_of(result, **given):
    """The engine.threads a run of `--config result` with `--set given` trains with."""
    return resolve_config(get_registry(), model=None, dataset=None, config_file=result, sets=given).section(
        "engine")["threads"]


def test_a_rerun_trains_with_the_recorded_threads_per_fold(tmp_path):
    assert threads_of(threads_result(tmp_path / "a.json")) == 2
    assert threads_of(threads_result(tmp_path / "b.json", plan_threads=None, environment_threads="3")) == 3


def test_threads_given_with_set_or_in_the_recorded_options_win_and_a_gpu_run_pins_none(tmp_path):
    assert threads_of(threads_result(tmp_path / "a.json"), **{"engine.threads": 1}) == 1
    assert threads_of(threads_result(tmp_path / "b.json", given_threads=4)) == 4
    assert threads_of(threads_result(tmp_path / "c.json", device="cuda", plan_threads=16)) == 0


def batched_result(path, executor="BatchedFolds", group=2, mode="vmap", given_folds="auto", device="cpu"):
    """A synthetic run's result at ``path`` given ``engine.parallel_mode=mode`` and ``parallel_folds=given_folds``
    whose plan trained its folds with ``executor`` in groups of ``group``."""
    config = {"model": "convmixer", "dataset": "synthetic", "protocol": "loso", "profile": "quick", "seed": 0,
              "options": {"model": {}, "engine": {"parallel_mode": mode, "parallel_folds": given_folds}}}
    plan = {"executor": executor, "threads_per_fold": 2, "group_size": group if executor == "BatchedFolds" else None}
    path.write_text(json.dumps(minimal_dict(model="convmixer", dataset="synthetic", config=config,
                                            environment={"device": device}, engine_plan=plan)))
    return path


def parallel_folds_of(result, **given):
    """The engine.parallel_folds a run of `--config result` with `--set given` trains with."""
    return resolve_config(get_registry(), model=None, dataset=None, config_file=result, sets=given).section(
        "engine")["parallel_folds"]


def test_a_rerun_batches_the_folds_the_recorded_run_batched_together(tmp_path):
    assert parallel_folds_of(batched_result(tmp_path / "a.json", group=3)) == "3"  # not what this machine would pick
    # vmap that memory limited to one fold at a time: fold by fold again, where more memory would batch
    assert parallel_folds_of(batched_result(tmp_path / "c.json", executor="SequentialFolds")) == "1"


def test_a_given_group_or_an_unbatched_run_pins_no_group(tmp_path):
    assert parallel_folds_of(batched_result(tmp_path / "a.json", group=3), **{"engine.parallel_folds": 2}) == "2"
    assert parallel_folds_of(batched_result(tmp_path / "b.json", group=3, given_folds="4")) == "4"
    assert parallel_folds_of(batched_result(tmp_path / "c.json", executor="ProcessFolds", mode="auto")) == "auto"
    assert parallel_folds_of(batched_result(tmp_path / "d.json", executor="SequentialFolds", mode="auto")) == "auto"


def test_a_gpu_runs_group_is_not_pinned(tmp_path):
    """A GPU's batched group, given to a re-run on the CPU, would start that many worker processes (26 for a LOSO
    run an H100 batched); another GPU does not repeat the arithmetic anyway."""
    gpu = "cuda (NVIDIA H100, mixed precision bfloat16; CUDA found)"
    assert parallel_folds_of(batched_result(tmp_path / "a.json", device=gpu, group=26, mode="auto")) == "auto"
    assert parallel_folds_of(batched_result(tmp_path / "b.json", device=gpu, executor="SequentialFolds",
                                            mode="vmap")) == "auto"
