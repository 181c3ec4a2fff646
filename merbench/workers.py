"""Worker processes shared by preprocessing and fold-parallel training.

Workers start from a ``forkserver`` on Linux: they fork from a clean server
process, not from one that already runs torch or OpenCV threads, and the server
is started once per process, not per run.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from typing import Any


def usable_cores() -> int:
    """The number of CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes of memory available for new work, or ``None`` where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# What the fork server imports once for every worker it forks (it is started once per process,
# so preprocessing and fold training share one list).
# torch._dynamo is imported by the first optimizer a process builds (~1.5 s): preloading it
# keeps that out of every worker's first fold.
WORKER_PRELOAD = ["merbench.preprocess", "merbench.folds", "torch._dynamo"]


def process_context() -> multiprocessing.context.BaseContext:
    """A multiprocessing context whose workers fork from a server that imported ``WORKER_PRELOAD``, else ``spawn``."""
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(WORKER_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def picklable(*objects: Any) -> bool:
    """Whether ``objects`` can be sent to a worker process (a plugin made of lambdas or local classes cannot)."""
    try:
        pickle.dumps(objects)
    except Exception:
        return False
    return True


def peak_memory() -> dict[str, float | None]:
    """Peak resident memory (MiB) of this process so far (worker processes are not included).

    Resident memory counts the shared libraries a process maps (torch alone is
    several hundred MiB of them, shared between processes);
    ``benchmarks/peak_memory.py`` measures a run's whole process tree.
    """
    try:
        import resource
    except ImportError:  # not on a Unix
        return {"process_peak_rss_mib": None}
    scale = 1024 if sys.platform == "darwin" else 1  # ru_maxrss is in bytes on macOS, KiB elsewhere
    return {"process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale / 1024, 1)}


def start_worker_server() -> None:
    """Start the fork server now, without waiting: it imports ``WORKER_PRELOAD`` while this process works."""
    if process_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def exit_with(pid: int, poll_s: float = 1.0) -> None:
    """Make this worker process exit soon after process ``pid`` (the run that started it) is gone.

    Worker processes hold both ends of their task queue, so a run killed
    without clean-up (SIGKILL, SIGTERM) would leave them waiting forever.
    """
    import threading
    import time

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # exists, owned by someone else: not ours, but alive
                pass

    threading.Thread(target=watch, name="merbench-parent-watch", daemon=True).start()
