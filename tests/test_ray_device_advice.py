"""A GPU task on a Ray cluster without GPUs is refused with a fix that can be followed: for ``--device cuda``, train
on the CPU (``--device auto`` or ``cpu``), not ``executor.num_gpus=0`` alone, which the grid's CUDA check refuses
again by asking for ``executor.num_gpus=1``."""

from __future__ import annotations

import pytest

from merbench.errors import UsageError
from merbench.ray_cluster import RayOptions, check_request, smaller_request

GRID = ("grid", "--models", "lbptop-svm,ststnet", "--datasets", "synthetic", "--protocols", "loso", "--profile",
        "quick", "--executor", "ray", "--no-store")
NO_GPU = {"CPU": 2.0}


class FakeRay:
    """``ray.nodes()`` of a cluster of live nodes with ``resources``."""

    def __init__(self, *resources: dict):
        self._nodes = [{"Alive": True, "Resources": r} for r in resources]

    def nodes(self):
        return self._nodes


@pytest.fixture(autouse=True)
def merbenchs_own_instance(monkeypatch):
    """A process that started its own local Ray instance (which cannot grow) and has checked no request yet."""
    import merbench.ray_cluster

    monkeypatch.setattr(merbench.ray_cluster, "_requests_checked", set())
    monkeypatch.setattr(merbench.ray_cluster, "_started_here", True)


def test_without_a_gpu_anywhere_a_cuda_run_is_told_to_train_on_the_cpu():
    assert smaller_request(RayOptions(num_cpus=1, num_gpus=1), NO_GPU, False, "cuda") == (
        "No node has a GPU for --device cuda: train on the CPU with --device auto (or cpu) and "
        "--set executor.num_cpus=1 executor.num_gpus=0")
    assert smaller_request(RayOptions(num_cpus=1, num_gpus=1), NO_GPU, False, "cuda:1").startswith(
        "No node has a GPU for --device cuda:1: train on the CPU with --device auto (or cpu)")


@pytest.mark.parametrize("device, has_gpu, options, expected", [
    ("auto", False, RayOptions(num_cpus=1, num_gpus=1), "Ask for less: --set executor.num_cpus=1 executor.num_gpus=0"),
    (None, False, RayOptions(num_cpus=1, num_gpus=1),
     "Ask for less: --set executor.num_cpus=1 executor.num_gpus=0 (no node has a GPU: with --device cuda, give "
     "--device auto or cpu as well)"),
    ("cuda", True, RayOptions(num_cpus=4, num_gpus=1), "Ask for less: --set executor.num_cpus=2 executor.num_gpus=0"),
    ("cuda", False, RayOptions(num_cpus=4), "Ask for less: --set executor.num_cpus=2"),
])
def test_other_requests_keep_asking_for_less(device, has_gpu, options, expected):
    assert smaller_request(options, NO_GPU, has_gpu, device) == expected


def test_check_request_names_the_device_it_is_given():
    with pytest.raises(UsageError) as raised:
        check_request(FakeRay(NO_GPU, {"CPU": 1.0}), RayOptions(num_cpus=1, num_gpus=1), device="cuda")
    assert str(raised.value) == (
        "executor.num_cpus=1 executor.num_gpus=1: no node of the Ray cluster has that much (its largest has 2 CPUs "
        "and 0 GPUs); the local Ray instance merbench started cannot grow. No node has a GPU for --device cuda: "
        "train on the CPU with --device auto (or cpu) and --set executor.num_cpus=1 executor.num_gpus=0")


def test_a_cuda_grid_on_a_cluster_without_gpus_is_told_to_train_on_the_cpu(run_cli, monkeypatch):
    import merbench.ray_cluster

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(merbench.ray_cluster, "connect", lambda address, say=None: FakeRay(NO_GPU))
    result = run_cli(*GRID, "--device", "cuda", "--set", "executor.num_gpus=1")
    assert result.code == 2 and "Traceback" not in result.err
    message = " ".join(result.err.split())
    assert ("No node has a GPU for --device cuda: train on the CPU with --device auto (or cpu) and --set "
            "executor.num_cpus=1 executor.num_gpus=0") in message


def test_the_grids_cuda_check_names_the_cpu_as_well(run_cli):
    result = run_cli(*GRID, "--device", "cuda")
    assert result.code == 2
    message = " ".join(result.err.split())
    assert "needs a GPU per cell: --set executor.num_gpus=1" in message
    assert "to train on the CPU of a cluster without GPUs, give --device auto or cpu instead" in message


def test_a_cuda_run_on_a_cluster_without_gpus_is_told_to_train_on_the_cpu(run_cli, monkeypatch):
    import merbench.ray_cluster

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(merbench.ray_cluster, "connect", lambda address, say=None: FakeRay(NO_GPU))
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--device",
                     "cuda", "--no-store", "--set", "executor.name=ray", "executor.num_gpus=1")
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert "No node has a GPU for --device cuda: train on the CPU with --device auto (or cpu)" in " ".join(
        result.err.split()), result.err
