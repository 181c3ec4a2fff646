"""Worker processes shared by preprocessing and fold-parallel training.

Workers start from a ``forkserver`` on Linux: they fork from a clean server
process, not from one that already runs torch or OpenCV threads, and the server
is started once per process, not per run.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import pickle
import signal
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from merbench.errors import RunFailed


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


WORKER_START_HINT = ("every worker imports the script that started the run, so a script calling merbench "
                     "must do so under `if __name__ == \"__main__\":`, and a script read from standard input cannot start workers")
"""Why a worker may die while it starts, in the messages of preprocessing and fold workers."""

# What the fork server imports once for every worker it forks (it is started once per process,
# so preprocessing and fold training share one list).
# torch._dynamo is imported by the first optimizer a process builds (~1.5 s): preloading it
# keeps that out of every worker's first fold.
WORKER_PRELOAD = ["merbench.workers", "merbench.preprocess", "merbench.folds", "torch._dynamo"]


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
    """Start the fork server now, without waiting: it imports ``WORKER_PRELOAD`` while this process works.

    The server starts with Ctrl-C blocked, as Python's resource tracker does:
    Ctrl-C reaches the whole process group, and a server still starting
    (Python's own start-up, then its preloads) would die with a traceback.
    The server ignores Ctrl-C, then unblocks it (``_arm_fork_server``); this
    process unblocks it at once, so a Ctrl-C that came meanwhile reaches it then.
    """
    if process_context().get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver, resource_tracker

    resource_tracker.ensure_running()  # it unblocks Ctrl-C after starting its own process: started first
    blocked = _block_ctrl_c()
    try:
        forkserver.ensure_running()
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _block_ctrl_c() -> set[signal.Signals] | None:
    """Block SIGINT in this thread (the processes it starts inherit that); returns the mask to restore, ``None``
    where signals cannot be blocked."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_POLL_S = 0.2
"""How often a worker checks that the run that started it is still there."""


def _kill_me_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent exits; ``False`` where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def process_gone(pid: int | None) -> bool:
    """Whether process ``pid`` has exited (a zombie, killed but not yet reaped, counts as gone). On Windows, where
    ``os.kill(pid, 0)`` would stop the process, it cannot be told: not gone (``--resume ID --force`` takes a run)."""
    if os.name == "nt":
        return False
    if pid is None:  # a row that names no process (changed by hand): nothing runs it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state in (b"Z", b"X")


def process_started(pid: int) -> str | None:
    """When process ``pid`` started: this boot's id and its start time in clock ticks since boot (``/proc``, field
    22 of its ``stat``), e.g. ``0f3c…:123456``; ``None`` where that cannot be read (no such process, not Linux).

    A process number is reused once its process is gone (after a reboot, or in a restarted container where the run
    was process 1), so a stored number alone cannot tell the run's process from a new one: this can."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            started = stat.read().rpartition(b")")[2].split()[19].decode("ascii")
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            return f"{boot.read().strip()}:{started}"
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def pid_namespace() -> str | None:
    """This process's PID namespace, e.g. ``pid:[4026531836]`` (``None`` where it cannot be read: not Linux).

    Process numbers are those of a namespace: a container has its own, and its process 1 is another process than
    the host's process 1."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def exit_with(pid: int, poll_s: float = WATCH_POLL_S) -> None:
    """Make this worker process exit as soon as process ``pid`` (the run that started it) or its own parent is gone.

    Worker processes hold both ends of their task queue, so a run killed
    without clean-up (SIGKILL, SIGTERM) would leave them waiting forever. On
    Linux the kernel kills this process with its parent (``PR_SET_PDEATHSIG``;
    a worker's parent is the fork server, which exits with the run); a thread
    that polls every ``poll_s`` seconds covers the other systems and a run that
    is gone while its fork server is not.
    """
    _kill_me_with_parent()
    parent = os.getppid()
    if process_gone(pid) or process_gone(parent):
        os._exit(1)
    _watch(lambda: os.getppid() != parent or process_gone(pid), poll_s)


def _watch(gone: Callable[[], bool], poll_s: float) -> None:
    import threading
    import time

    def watch() -> None:
        while not gone():
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="merbench-parent-watch", daemon=True).start()


def stop_workers(executor: Any, grace_s: float = 1.0) -> None:
    """Shut a ``ProcessPoolExecutor`` down now: cancel its waiting tasks and end its processes, even mid-task.

    ``shutdown(wait=False)`` alone lets each worker finish the fold it is
    training, and the interpreter waits for them when this process exits, so
    Ctrl-C would take as long as the slowest fold.

    The processes are read once ``shutdown`` has returned: it waits for a
    launch in progress (another thread's ``submit``), whose process, missed,
    would stay idle on the task queue, and the pool's manager thread, which
    this process waits for as it exits, would wait for that process forever.
    """
    table = getattr(executor, "_processes", None)  # the pool's own dict: shutdown() drops the pool's reference
    executor.shutdown(wait=False, cancel_futures=True)
    processes = list((table or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(grace_s)


def stop_workers_soon(executor: Any) -> None:
    """``stop_workers``, without waiting while a worker process is being launched.

    A launch holds the pool's lock (``submit``) until the fork server has forked
    the worker: seconds while the server still imports torch, and the pool's
    shutdown waits for that lock. Then a background thread stops the workers once
    the launch is done, and a run that ends meanwhile takes them with it (``exit_with``).
    """
    lock = getattr(executor, "_shutdown_lock", None)
    if lock is not None and lock.locked():
        import threading

        threading.Thread(target=stop_workers, args=(executor,), name="merbench-stop-workers", daemon=True).start()
    else:
        stop_workers(executor)


# ------------------------------------------------------------------ one pool of worker processes


def start_pool(workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes of this run, each set up by ``initializer(*initargs)``.

    Every worker ignores Ctrl-C (the run handles it and stops the pool) and exits
    with the run (``exit_with``). The processes start with the first task.
    """
    start_worker_server()  # the pool's first worker would start it otherwise, open to Ctrl-C while it starts
    return ProcessPoolExecutor(max_workers=workers, mp_context=process_context(), initializer=_start_worker,
                               initargs=(initializer, initargs, os.getpid()))


def _start_worker(initializer: Callable[..., None], initargs: tuple[Any, ...], run_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run handles Ctrl-C and cancels the rest
    if hasattr(signal, "pthread_sigmask"):  # blocked while a spawned worker started (submit): now ignored instead
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    exit_with(run_pid)
    initializer(*initargs)


def submit(executor: ProcessPoolExecutor, function: Callable[..., Any], *args: Any) -> Future:
    """``executor.submit(function, *args)``; a worker that died while the fork server launched it is ``BrokenProcessPool``.

    That death surfaces as a ``BrokenPipeError`` from the launch (e.g. the worker
    could not import the script that started the run), which ``running`` and
    the callers then report like any dead worker.

    A worker this call starts itself (``spawn``: macOS, Windows) starts with
    Ctrl-C blocked until ``_start_worker`` ignores it: a Ctrl-C while it imports
    torch would kill it with a traceback, and this process, still writing the
    worker's start-up data to it, would wait for it forever.
    """
    blocked = _block_ctrl_c()
    try:
        return executor.submit(function, *args)
    except BrokenPipeError:
        raise BrokenProcessPool("a worker process died while it was being started") from None
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def exit_codes(executor: Any, wait_s: float = 5.0) -> dict[int, int | None]:
    """The exit code of each process of a broken ``ProcessPoolExecutor`` by process id (``None``: still running).

    Read once the pool's manager thread has ended the other workers (at most ``wait_s`` seconds): a negative code is
    the signal that ended the process, and the workers the pool itself stopped have ``-SIGTERM``. Call it before
    ``stop_workers``, which drops the pool's table of processes.
    """
    import threading

    manager = getattr(executor, "_executor_manager_thread", None)
    if manager is not None and manager is not threading.current_thread():
        manager.join(wait_s)
    table = getattr(executor, "_processes", None) or {}
    return {pid: process.exitcode for pid, process in list(table.items())}


def result_of(future: Future, broken: str, error: type[RunFailed] = RunFailed) -> Any:
    """A worker's result; a worker process that died (``BrokenProcessPool``) is ``error(broken)``."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise error(broken) from None


@contextmanager
def running(executor: Any, broken: str, error: type[RunFailed] = RunFailed) -> Iterator[Any]:
    """Use a pool: shut down when the block ends; stopped at once (``stop_workers``) when it fails.

    A worker process that died is ``error(broken)``, one clear message with what to do.
    """
    try:
        yield executor
        executor.shutdown(wait=True)  # inside: a Ctrl-C while waiting for the workers stops them too
    except BrokenProcessPool:
        stop_workers(executor)
        raise error(broken) from None
    except BaseException:
        stop_workers(executor)
        raise


def _quiet_when_run_gone(run_pid: int, wait_s: float = 10.0) -> Callable[..., None]:
    """An excepthook for processes forked by the fork server: silent when the run that owns them ends.

    It sees only errors of a worker's start (reading its start-up data from
    the run); later errors are handled by multiprocessing. A worker still
    starting when its run stops (Ctrl-C, kill) fails that way (its data cut
    short, ``SemLock._rebuild``: FileNotFoundError, EOFError): not an error to
    show. A worker that cannot start while its run goes on makes the run fail
    with its own message, and the run then ends too; the traceback is printed
    only if the run is still there after ``wait_s`` seconds.
    """
    default = sys.excepthook

    def hook(kind, value, trace) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if process_gone(run_pid):
                return
            time.sleep(0.05)
        default(kind, value, trace)

    return hook


def _arm_fork_server() -> None:
    """In the fork server (this module is among its preloads): exit with the run, at once, and keep its children quiet.

    The fork server is exec'ed by the run, so neither the kernel's parent-death
    signal (its parent may be a short-lived thread of the run) nor its own
    accept loop (it is busy preloading torch for seconds) can be relied on
    alone: a watch thread ends it within ``WATCH_POLL_S`` of the run.
    """
    forkserver = sys.modules.get("multiprocessing.forkserver")
    if forkserver is None:
        return
    frame = sys._getframe()
    while frame is not None and frame.f_code is not forkserver.main.__code__:
        frame = frame.f_back
    if frame is None:  # an ordinary import, not the fork server's preload
        return
    # Ctrl-C reaches the whole process group: the run handles it. Python's fork server ignores it only once its
    # preloads (torch: seconds) are imported; its workers ignore it too (_start_worker). The server started with
    # Ctrl-C blocked (start_worker_server): ignored now, a Ctrl-C pending since then is dropped as it is unblocked.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    run_pid = os.getppid()
    sys.excepthook = _quiet_when_run_gone(run_pid)
    atexit.register(_end_at_once)
    _watch(lambda: os.getppid() != run_pid or process_gone(run_pid), WATCH_POLL_S)


def _end_at_once() -> None:
    """The fork server's exit handler: end now, without tearing down what its preloads imported.

    The server exits when its run does (or its watch thread ends it), and it
    holds the run's output: a pipe from ``merbench run`` ends only when the
    server has gone. Its interpreter's teardown (modules, then a last garbage
    collection over everything torch loaded) took 0.4–1.1 s after each run.
    Registered by the first preload, this runs after the handlers the later
    preloads registered and skips the earlier ones (multiprocessing's own
    clean-up): the server has nothing to save, its forked children are not its
    to wait for, and the run removes the server's socket folder.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(0)


_arm_fork_server()
