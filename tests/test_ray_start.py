"""How merbench starts or joins Ray, with a stand-in for the ``ray`` module (no Ray instance is started here).

* ``executor.address=auto`` joins a cluster ``ray start`` started (Ray's record of it, when something listens there),
  else starts merbench's own instance: never another program's private instance running on the machine, which Ray's
  own ``address="auto"`` joined (the run then died with that program, exit 1, no message).
* Ray's start-up replaces the process's SIGTERM handler (a stack dump, exit 1, the run recorded as failed): merbench's
  is put back; and a SIGTERM that a library turns into a plain ``KeyboardInterrupt`` (``ray.wait`` does) still exits
  143.
* ``run --executor ray`` refuses a request no node can meet before the run is recorded (before: recorded, then
  failed after preprocessing).
"""

from __future__ import annotations

import signal
import socket

import pytest

import merbench.ray_cluster as ray_cluster
from merbench.ray_cluster import connect


class StandInRay:
    """``ray`` as ``connect`` uses it: ``init`` is recorded and, as Ray's does, installs its own SIGTERM handler."""

    def __init__(self, cpus: float = 2.0):
        self.inits: list[dict] = []
        self.cpus = cpus

    def is_initialized(self) -> bool:
        return bool(self.inits)

    def init(self, **kwargs):
        self.inits.append(kwargs)
        signal.signal(signal.SIGTERM, lambda *_: None)

    def nodes(self):
        return [{"Alive": True, "Resources": {"CPU": self.cpus}}]


@pytest.fixture
def stand_in(monkeypatch):
    ray = StandInRay()
    monkeypatch.setattr(ray_cluster, "import_ray", lambda: ray)
    monkeypatch.setattr(ray_cluster, "_started_here", False)
    monkeypatch.setattr(ray_cluster, "_requests_checked", set())
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    kept = signal.getsignal(signal.SIGTERM)
    yield ray
    signal.signal(signal.SIGTERM, kept)


def test_auto_starts_merbenchs_own_instance_unless_ray_start_recorded_a_live_cluster(stand_in, monkeypatch):
    monkeypatch.setattr(ray_cluster, "ray_start_address", lambda: None)
    said: list[str] = []
    connect("auto", said.append)
    assert stand_in.inits[-1]["address"] == "local" and ray_cluster._started_here
    assert said and "starting a local Ray instance" in said[0] and "no `ray start` cluster runs" in said[0]


def test_auto_joins_the_cluster_ray_start_recorded_when_it_listens(stand_in, monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        monkeypatch.setattr(ray_cluster, "ray_start_address", lambda: address)
        connect("auto", lambda text: None)
    assert stand_in.inits[-1]["address"] == address and not ray_cluster._started_here


def test_a_stale_record_of_a_stopped_cluster_starts_merbenchs_own_instance(stand_in, monkeypatch):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{unused.getsockname()[1]}"  # nothing listens there
    monkeypatch.setattr(ray_cluster, "ray_start_address", lambda: address)
    connect("auto", lambda text: None)
    assert stand_in.inits[-1]["address"] == "local"


def test_rays_start_up_leaves_merbenchs_sigterm_handler_in_place(stand_in, monkeypatch):
    monkeypatch.setattr(ray_cluster, "ray_start_address", lambda: None)

    def merbenchs(signum, frame):
        raise AssertionError("not called here")

    signal.signal(signal.SIGTERM, merbenchs)
    connect("auto")
    assert stand_in.inits and signal.getsignal(signal.SIGTERM) is merbenchs


def test_an_unreachable_ray_address_from_the_environment_says_to_unset_it(monkeypatch, run_cli, tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    store = tmp_path / "runs.sqlite"
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--executor", "ray", "--store", str(store))
    said = " ".join(result.err.split())
    assert result.code == 2 and f"RAY_ADDRESS=127.0.0.1:{port}: cannot reach a Ray cluster there" in said, said
    assert "or unset RAY_ADDRESS for a local Ray instance" in said
    assert not store.exists(), "refused before the run was recorded"


def test_a_request_no_node_can_meet_is_refused_before_the_run_is_recorded(stand_in, monkeypatch, run_cli, tmp_path):
    monkeypatch.setattr(ray_cluster, "ray_start_address", lambda: None)
    store = tmp_path / "runs.sqlite"
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--executor", "ray", "--set", "executor.num_cpus=3", "--store", str(store))
    said = " ".join(result.err.split())
    assert result.code == 2 and "executor.num_cpus=3: no node of the Ray cluster has that much" in said, said
    assert not store.exists(), "refused before the run was recorded (before: a failed run after preprocessing)"


def test_a_sigterm_a_library_turned_into_a_plain_interrupt_still_exits_143(run_cli, monkeypatch):
    import merbench.cli as cli
    import merbench.recording as recording

    kept = signal.getsignal(signal.SIGTERM)

    def stopped_as_ray_stops(self, *args, **kwargs):
        try:
            cli._terminate(signal.SIGTERM, None)
        except cli.Terminated:
            pass
        raise KeyboardInterrupt()  # what ray.wait raises when the handler raised: no trace of the Terminated

    monkeypatch.setattr(recording.RunRecorder, "fold_done", stopped_as_ray_stops)
    try:
        result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet")
    finally:
        signal.signal(signal.SIGTERM, kept)
    assert result.code == 143 and "merbench: terminated (SIGTERM)" in result.err, result.err


def test_an_unreachable_ray_client_address_says_how_to_start_the_head_not_a_head_on_the_client_port():
    from merbench.errors import UsageError
    from merbench.ray_cluster import probe

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(UsageError) as refused:
        probe(f"ray://127.0.0.1:{port}")
    said = str(refused.value)
    assert "Start one with `ray start --head` on 127.0.0.1 (its Ray client server listens on port 10001" in said
    assert f"--port {port}" not in said, said  # before: `ray start --head --port PORT`, the client server's port


def test_a_lost_worker_says_how_to_retry_more_often():
    ray = pytest.importorskip("ray")
    from merbench.ray_cluster import failure_text

    said = failure_text(ray.exceptions.WorkerCrashedError())
    assert said.startswith("its Ray worker died") and "--set executor.max_retries=N" in said



def test_every_outer_folds_objective_shares_the_tunes_relay(monkeypatch):
    """A relay per objective said Ray's 'N fold tasks submitted' once per outer fold: 20 lines in a tune of 10."""
    import numpy as np

    import merbench.tuning as tuning

    context = tuning.TuneContext.__new__(tuning.TuneContext)  # what make_objective reads when it is made
    context.labels, context.subjects = np.zeros(4, int), np.array(["a", "a", "b", "b"])
    context.relay = object()

    def no_new_relay(progress):
        raise AssertionError("an objective made its own relay")

    monkeypatch.setattr(tuning, "_Relay", no_new_relay)
    for _ in range(2):
        assert callable(tuning.make_objective(context, None, None, np.arange(4), []))


def test_a_run_on_ray_says_its_folds_trained_as_ray_tasks():
    from rich.console import Console

    from merbench.report import print_result
    from result_samples import minimal_result

    plan = {"executor": "RayFolds", "description": "Ray tasks (1 CPU each, up to 2 retries), cluster auto",
            "threads_per_fold": 1, "workers": None, "group_size": None}
    console = Console(width=200, record=True, force_terminal=False)
    print_result(console, minimal_result(engine_plan=plan))
    text = console.export_text()
    assert "Folds trained as Ray tasks (1 CPU each, up to 2 retries), cluster auto, 1 torch thread per fold" in text
