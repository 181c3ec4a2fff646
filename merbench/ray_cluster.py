"""Ray: connecting to a cluster, task options, and waiting for tasks; it knows nothing of folds or grids.

``executor.name=ray`` (``--executor ray``) sends work to Ray:
``merbench.folds.ray.RayFolds`` trains each fold of a run as one Ray task,
``merbench.grid.RayCells`` runs each cell of a ``merbench grid`` as one. Every task asks for ``executor.num_cpus`` CPUs and
``executor.num_gpus`` GPUs and is retried up to ``executor.max_retries`` times
when its worker dies or it raises an unexpected exception; merbench's own
errors (bad options, a diverging loss) are not retried, since they would fail
again. Results come back to this process, which writes them into the results
store as they arrive, so finished work survives a later failure.

Ray is optional (``pip install "merbench[ray]"``) and imported only here, and only
when an executor needs it.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

from merbench.errors import UsageError

RAY_MISSING = ('executor.name=ray needs Ray, which is not installed: pip install "merbench[ray]" '
               '(in a checkout: pip install -e ".[ray]")')
# A wrong address makes ray.init retry for minutes; a plain TCP probe answers in seconds.
CONNECT_PROBE_S = 5.0
QUIET = {"logging_level": "WARNING", "include_dashboard": False}


def import_ray() -> Any:
    """The ``ray`` module, or a ``UsageError`` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(RAY_MISSING) from None
    return ray


def _split_address(address: str, setting: str = "executor.address") -> tuple[str, int]:
    """``HOST:PORT`` or ``ray://HOST:PORT`` as (host, port); ``UsageError`` for anything else."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "ray") or not parts.hostname or port is None:
        raise UsageError(
            f"{setting}={address}: expected auto, HOST:PORT (a cluster's head, e.g. 10.0.0.5:6379) "
            "or ray://HOST:PORT (a Ray client server, e.g. ray://10.0.0.5:10001)"
        )
    return parts.hostname, port


def _unreachable(host: str, port: int) -> OSError | None:
    """Why nothing accepts a TCP connection at ``host:port`` within ``CONNECT_PROBE_S``, or ``None`` when it does."""
    try:
        socket.create_connection((host, port), timeout=CONNECT_PROBE_S).close()
    except OSError as exc:
        return exc
    return None


def named_ray_address() -> str | None:
    """The cluster ``RAY_ADDRESS`` names, or ``None`` (unset, ``auto`` or ``local``: merbench's ``auto`` applies)."""
    named = os.environ.get("RAY_ADDRESS", "").strip()
    return named if named and named not in ("auto", "local") else None


def probe(address: str, setting: str = "executor.address") -> None:
    """Fail fast, with a fix, when nothing listens at ``address`` (named ``setting`` in messages); imports no Ray."""
    host, port = _split_address(address, setting)
    exc = _unreachable(host, port)
    if exc is not None:
        start = (f"`ray start --head` on {host} (its Ray client server listens on port 10001 unless "
                 "--ray-client-server-port says otherwise)" if address.startswith("ray://")
                 else f"`ray start --head --port {port}` on {host}")
        raise UsageError(
            f"{setting}={address}: cannot reach a Ray cluster there ({exc}). Start one with {start}, check the "
            "address and firewall, or "
            + ("unset RAY_ADDRESS" if setting == "RAY_ADDRESS" else "use executor.address=auto")
            + " for a local Ray instance"
        ) from None


def connect(address: str = "auto", say: Callable[[str], None] | None = None) -> Any:
    """Connect this process to Ray and return the ``ray`` module.

    An already initialised Ray (a test's ``ray.init(num_cpus=2)``) is reused
    as it is. ``auto`` joins the cluster named by ``RAY_ADDRESS`` or started
    with ``ray start`` on this machine, else starts a local Ray instance (and
    ``say``s so): never another program's private instance that happens to run
    on this machine (Ray's own ``address="auto"`` would join it, and the run
    would die with it). ``HOST:PORT`` and ``ray://HOST:PORT`` connect there.
    Raises ``UsageError`` when Ray is missing or the cluster cannot be reached.
    Ray's start-up replaces this process's SIGTERM handler; merbench's is put
    back (a terminated run exits 143 and is recorded as interrupted).
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    address = str(address).strip() or "auto"
    if address != "auto":
        return _join(ray, address, "executor.address")
    named = named_ray_address()
    if named is not None:
        return _join(ray, named, "RAY_ADDRESS")
    started = ray_start_address()
    if started is not None and _listening(started):  # Ray leaves the record of a cluster that stopped unexpectedly
        try:
            with _signal_handlers_kept():
                ray.init(address=started, **QUIET)
            return ray
        except ConnectionError:  # the cluster `ray start` recorded has stopped without `ray stop`
            pass
    if say is not None:
        say("Ray: no cluster to join (RAY_ADDRESS is not set and no `ray start` cluster runs on this machine); "
            "starting a local Ray instance")
    global _started_here
    with _signal_handlers_kept():
        ray.init(address="local", **QUIET)
    _started_here = True
    return ray


def _listening(address: str) -> bool:
    """Whether something accepts connections at ``HOST:PORT`` (Ray's record of a ``ray start`` cluster)."""
    host, _, port = address.rpartition(":")
    return port.isdigit() and _unreachable(host, int(port)) is None


def ray_start_address() -> str | None:
    """The address of the cluster ``ray start`` last started on this machine, as Ray records it, or ``None``."""
    try:
        from ray._private.utils import read_ray_address  # Ray's own record, the one `ray status` reads
    except ImportError:
        return None
    return read_ray_address() or None


@contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """Put back this process's SIGTERM and SIGINT handlers after Ray's start-up, which replaces SIGTERM's with its
    own (a stack dump and exit 1)."""
    kept = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            for number, handler in kept.items():
                if handler is not None:
                    signal.signal(number, handler)


_started_here = False
"""Whether ``connect`` started a local Ray instance in this process: one that can never grow."""
_requests_checked: set[tuple[int, float]] = set()
"""The (CPUs, GPUs) task requests ``check_request`` passed or warned about in this process (Ray stays joined)."""


def check_request(ray: Any, options: RayOptions, say: Callable[[str], None] | None = None,
                  device: str | None = None) -> None:
    """Refuse tasks no node of the cluster can run (``executor.num_cpus=4`` on a 2-CPU machine), which Ray would
    keep waiting for without end. On a cluster merbench did not start, an autoscaler may still add such a node:
    that is only said (``say``), with how to stop. ``device``: the run's ``--device`` (``None``: not known here),
    which the fix names where no node has a GPU (``smaller_request``)."""
    request = (options.num_cpus, options.num_gpus)
    if request in _requests_checked:  # already checked in this process (preflight, then the executor): said once
        return
    nodes = [node.get("Resources") or {} for node in ray.nodes() if node.get("Alive")]
    if not nodes or any(node.get("CPU", 0) >= options.num_cpus and node.get("GPU", 0) >= options.num_gpus
                        for node in nodes):
        _requests_checked.add(request)
        return
    largest = max(nodes, key=lambda node: (node.get("CPU", 0), node.get("GPU", 0)))
    asked = f"executor.num_cpus={options.num_cpus}" + (f" executor.num_gpus={options.num_gpus:g}" if options.num_gpus else "")
    problem = (f"{asked}: no node of the Ray cluster has that much (its largest has {largest.get('CPU', 0):g} CPUs "
               f"and {largest.get('GPU', 0):g} GPUs)")
    fix = smaller_request(options, largest, any(node.get("GPU", 0) > 0 for node in nodes), device)
    if _started_here:
        raise UsageError(f"{problem}; the local Ray instance merbench started cannot grow. {fix}")
    if say is not None:
        say(f"Warning: {problem}; the tasks wait until the cluster's autoscaler adds such a node (Ctrl-C stops "
            f"them). To run on the nodes there are: {fix}")
    _requests_checked.add(request)


def smaller_request(options: RayOptions, largest: Mapping[str, Any], has_gpu: bool, device: str | None = None) -> str:
    """How to ask for a task the ``largest`` node of the cluster can run: the CPUs asked for where they fit (they
    set the threads, and so the scores), else that node's; its GPUs. Where no node has a GPU (``has_gpu``), GPU
    tasks are out of reach: a ``device`` of ``cuda`` must become ``auto`` or ``cpu`` as well (on Ray it would need
    ``executor.num_gpus`` above 0 again), and an unknown one (``None``) is told so."""
    cpus = options.num_cpus if largest.get("CPU", 0) >= options.num_cpus else max(int(largest.get("CPU", 0)), 1)
    fix = f"--set executor.num_cpus={cpus}" + (f" executor.num_gpus={largest.get('GPU', 0):g}" if options.num_gpus
                                               else "")
    if options.num_gpus and not has_gpu and str(device).startswith("cuda"):
        return f"No node has a GPU for --device {device}: train on the CPU with --device auto (or cpu) and {fix}"
    if options.num_gpus and not has_gpu and device is None:
        return f"Ask for less: {fix} (no node has a GPU: with --device cuda, give --device auto or cpu as well)"
    return f"Ask for less: {fix}"


def join_cluster(options: RayOptions, say: Callable[[str], None] | None = None, device: str | None = None) -> Any:
    """``connect`` to the cluster ``options`` name and ``check_request`` their task request (for ``device``, where
    known) against it; returns the ``ray`` module. What every Ray executor does first, and ``run``/``regress``/
    ``leakage``'s preflight and ``tune`` before anything is recorded (the check is made and said once per process)."""
    ray = connect(options.address, say)
    check_request(ray, options, say, device)
    return ray


def _join(ray: Any, address: str, setting: str) -> Any:
    """Join the cluster at ``address`` (named ``setting`` in messages), or raise a ``UsageError`` with a fix."""
    probe(address, setting)
    try:
        with _signal_handlers_kept():
            ray.init(address=address, **({"logging_level": "WARNING"} if address.startswith("ray://") else QUIET))
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError or its own errors here
        raise UsageError(
            f"{setting}={address}: could not join the Ray cluster ({type(exc).__name__}: {exc}). Check that "
            "the cluster runs the same Ray and Python versions as this machine (`ray status` on the head node); "
            "a cluster with token authentication also needs RAY_AUTH_MODE=token and its token here "
            "(RAY_AUTH_TOKEN, or ~/.ray/auth_token; `ray get-auth-token` on the head node prints it)"
        ) from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """The ``executor`` section as Ray task options."""

    address: str = "auto"
    num_cpus: int = 1
    num_gpus: float = 0.0
    max_retries: int = 2

    @classmethod
    def from_section(cls, executor: Mapping[str, Any]) -> "RayOptions":
        """Read ``executor.address``, ``num_cpus``, ``num_gpus`` and ``max_retries``."""
        return cls(str(executor.get("address", "auto")), int(executor.get("num_cpus", 1)),
                   float(executor.get("num_gpus", 0.0)), int(executor.get("max_retries", 2)))

    def task_options(self) -> dict[str, Any]:
        """``.options(...)`` of every task: its resources and retries (unexpected exceptions too)."""
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "max_retries": self.max_retries,
                "retry_exceptions": True}

    @property
    def resources(self) -> str:
        """What each task asks for, in words."""
        gpus = f", {self.num_gpus:g} GPU" if self.num_gpus else ""
        return f"{self.num_cpus} CPU{gpus} each, up to {self.max_retries} retries"


@lru_cache(maxsize=None)
def remote_function(function: Callable[..., Any]) -> Any:
    """``function`` as a Ray remote function (made once per process)."""
    return import_ray().remote(function)


def failure_text(exc: BaseException) -> str:
    """What went wrong in a Ray task, in one line."""
    ray = import_ray()
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = getattr(exc, "cause", None)
        if cause is not None:
            return f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}"
    lost = tuple(getattr(ray.exceptions, name) for name in ("WorkerCrashedError", "NodeDiedError", "OwnerDiedError")
                 if hasattr(ray.exceptions, name))  # not every Ray version has all of them
    if isinstance(exc, lost):
        return ("its Ray worker died (out of memory, or its node was lost); --set executor.max_retries=N retries a "
                "task more often")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def cancel(ray: Any, refs: Sequence[Any]) -> None:
    """Cancel Ray tasks, ignoring those already finished or gone."""
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:  # already finished or gone: nothing to cancel
            pass


def as_completed(ray: Any, pending: dict) -> Iterator[tuple[Any, Any]]:
    """``(ref, key)`` of each task of ``pending`` (ref -> key) as it finishes.

    When the caller stops early (an error, Ctrl-C), the tasks still pending are cancelled.
    """
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield ref, pending.pop(ref)
    except BaseException:  # GeneratorExit too: the caller's loop ended with an exception
        cancel(ray, list(pending))
        raise
