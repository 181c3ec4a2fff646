"""Training keeps freed memory for the next step (merbench.allocator): after a fold, freeing and re-allocating
megabyte-sized buffers no longer page-faults, as it does in a process that has not trained."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from merbench.allocator import _set_by_user

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")

# Eight 2 MB buffers allocated, then all freed: 16 MB free at the top of the heap, beyond glibc's default trim
# threshold, as a training step frees its activations.
FAULTS = """
import resource
import numpy as np

def churn(rounds=20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        buffers = [np.ones(2**19, np.float32) for _ in range(8)]
        del buffers
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
"""

TRAIN_A_FOLD = """
import numpy as np
import torch
from torch import nn
from merbench.contracts import Fold
from merbench.engine import TrainSettings, choose_device, train_fold

settings = TrainSettings(epochs=1, batch_size=4, lr=0.01, weight_decay=0.0, label_smoothing=0.0, class_weighting="none")
inputs, labels = torch.randn(12, 2, 8, 8), torch.arange(12) % 3
build = lambda: nn.Sequential(nn.Flatten(), nn.Linear(128, 3))
train_fold(build, inputs, labels, Fold(0, np.arange(8), np.arange(8, 12)), 3, settings, choose_device("cpu"), seed=0)
"""


def _faults(*setup: str, env: dict[str, str] | None = None) -> int:
    script = "\n".join(textwrap.dedent(part) for part in (FAULTS, *setup)) + "\nchurn(2)\nprint(churn())\n"
    clean = {name: value for name, value in os.environ.items() if not name.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**clean, **(env or {})})
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


@glibc_only
def test_a_process_that_trained_a_fold_reuses_freed_memory():
    untouched = _faults()
    trained = _faults(TRAIN_A_FOLD)
    assert untouched > 20 * 1000, f"the churn should fault on fresh pages by default ({untouched} faults)"
    assert trained < untouched / 20, f"{trained} page faults after training a fold vs {untouched} without"


@glibc_only
def test_glibc_settings_from_the_environment_are_left_alone():
    kept = _faults("from merbench.allocator import keep_freed_memory\nassert keep_freed_memory()")
    assert kept < 1000
    theirs = _faults("from merbench.allocator import keep_freed_memory\nassert not keep_freed_memory()",
                     env={"MALLOC_ARENA_MAX": "2"})
    assert theirs > 20 * 1000, "with the user's own malloc settings the default behaviour stays"


def test_user_settings_are_recognised():
    assert _set_by_user({"MALLOC_TRIM_THRESHOLD_": "1"}) and _set_by_user({"MALLOC_ARENA_MAX": "2"})
    assert _set_by_user({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"})
    assert not _set_by_user({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F", "MALLOC": "x"})
