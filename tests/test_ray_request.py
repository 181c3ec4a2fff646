"""A Ray task no node can run is refused (merbench's own local instance) or announced (a cluster that may grow),
never waited for in silence; and the grid's "this table again" command prints the grid's own table."""

from __future__ import annotations

import argparse

import pytest

from merbench.errors import UsageError
from merbench.ray_cluster import RayOptions, check_request


class FakeRay:
    """``ray.nodes()`` of a cluster: one dict per node, as Ray gives them."""

    def __init__(self, *resources: dict, dead: dict | None = None):
        self._nodes = [{"Alive": True, "Resources": r} for r in resources]
        if dead is not None:
            self._nodes.append({"Alive": False, "Resources": dead})

    def nodes(self):
        return self._nodes


@pytest.fixture(autouse=True)
def no_request_checked_yet(monkeypatch):
    """Each test starts in a process that has checked no request (``check_request`` checks each once)."""
    import merbench.ray_cluster

    monkeypatch.setattr(merbench.ray_cluster, "_requests_checked", set())


@pytest.fixture
def started_here(monkeypatch):
    import merbench.ray_cluster

    monkeypatch.setattr(merbench.ray_cluster, "_started_here", True)


def test_a_request_no_node_of_merbenchs_own_instance_can_run_is_refused(started_here):
    with pytest.raises(UsageError) as raised:
        check_request(FakeRay({"CPU": 2.0}, dead={"CPU": 64.0}), RayOptions(num_cpus=4))
    assert str(raised.value) == ("executor.num_cpus=4: no node of the Ray cluster has that much (its largest has 2 CPUs "
                                 "and 0 GPUs); the local Ray instance merbench started cannot grow. Ask for less: "
                                 "--set executor.num_cpus=2")
    with pytest.raises(UsageError, match=r"executor.num_gpus=1: .* Ask for less: --set executor.num_cpus=1 executor.num_gpus=0"):
        check_request(FakeRay({"CPU": 2.0}), RayOptions(num_cpus=1, num_gpus=1))


def test_a_request_that_fits_one_node_passes(started_here):
    check_request(FakeRay({"CPU": 2.0}, {"CPU": 8.0, "GPU": 1.0}), RayOptions(num_cpus=4, num_gpus=0.5))
    check_request(FakeRay({"CPU": 2.0}), RayOptions(num_cpus=2))


def test_on_a_cluster_merbench_did_not_start_it_is_said_not_refused(monkeypatch):
    import merbench.ray_cluster

    monkeypatch.setattr(merbench.ray_cluster, "_started_here", False)
    said = []
    check_request(FakeRay({"CPU": 2.0}), RayOptions(num_cpus=4), said.append)
    assert len(said) == 1 and said[0].startswith("Warning: executor.num_cpus=4: no node")
    assert "autoscaler" in said[0] and "Ctrl-C" in said[0]


def test_the_grids_compare_command_repeats_its_metric_statistic_and_store():
    from merbench.commands.grid import compare_command

    plain = argparse.Namespace(store=None, metric="uf1", stat="fold")
    assert compare_command(plain, "A B") == "merbench compare A B"
    other = argparse.Namespace(store="my runs.sqlite", metric="uar", stat="pooled")
    assert compare_command(other, "A B") == "merbench compare --store 'my runs.sqlite' --metric uar --stat pooled A B"


def test_without_ray_the_message_says_how_to_install_it_from_a_release_and_in_a_checkout(monkeypatch):
    import sys

    from merbench.ray_cluster import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError, as where it is not installed
    with pytest.raises(UsageError) as excinfo:
        import_ray()
    message = str(excinfo.value)
    assert message.startswith("executor.name=ray needs Ray, which is not installed"), message
    assert 'pip install "merbench[ray]"' in message and 'pip install -e ".[ray]"' in message, message


@pytest.mark.parametrize("command", [["run", "--model", "ststnet", "--dataset", "synthetic"],
                                     ["grid", "--models", "ststnet", "--datasets", "synthetic"]])
def test_without_ray_a_ray_run_is_refused_before_it_is_recorded(command, monkeypatch, run_cli, tmp_path):
    import sys

    from merbench.store import ResultStore

    monkeypatch.setitem(sys.modules, "ray", None)
    store = tmp_path / "results.sqlite"
    with ResultStore(store):
        pass
    result = run_cli(*command, "--profile", "quick", "--executor", "ray", "--store", str(store))
    assert result.code == 2, result.err
    assert "needs Ray, which is not installed" in result.err and "Traceback" not in result.err
    with ResultStore(store) as opened:
        assert opened.list_runs() == [], "a run was recorded (as failed) before the missing Ray was noticed"


def test_a_request_is_checked_and_said_once_per_process():
    said: list[str] = []
    cluster = FakeRay({"CPU": 2.0})
    for _ in range(2):  # run's preflight, then its fold executor; a tune, then its trials' executors
        check_request(cluster, RayOptions(num_cpus=4), said.append)
    assert len(said) == 1 and said[0].startswith("Warning: executor.num_cpus=4: no node of the Ray cluster")
