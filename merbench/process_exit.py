"""How merbench's processes end: without a last garbage collection over everything torch loaded."""

from __future__ import annotations

import atexit
import gc


def skip_final_collection() -> None:
    """Let this process exit without a last garbage collection over everything torch and its libraries loaded.

    That collection took 1.5–2 s at the end of every process that imported
    torch (measured at the end of ``merbench run``, and in the fold workers'
    fork server, which ends when the run does). ``gc.freeze`` moves every
    object to the permanent generation, which the collector skips; it runs as
    the last exit handler when this is called before the others are registered
    (exit handlers run in reverse), and the operating system frees the memory
    anyway. Calling it again keeps one handler.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
