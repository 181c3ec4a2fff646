"""A grid's fold worker processes: the fork server starts before the first cell, as for `merbench run`."""

from __future__ import annotations

import pytest

import merbench.grid as grid
import merbench.preflight as preflight

GRID = ("grid", "--models", "ststnet", "--datasets", "synthetic", "--profile", "quick", "--protocols", "loso", "--set", "dataset.subjects=4",
        "--no-store", "--quiet")


@pytest.mark.parametrize("sets, started", [((), True), (("--set", "engine.parallel_folds=1"), False)])
def test_the_fork_server_starts_before_the_first_cell_when_folds_may_train_in_workers(run_cli, monkeypatch, sets,
                                                                                         started):
    """Before, it started only when a cell's run began, so in the first cell it was still importing torch when the
    workers were launched, and Ctrl-C then waited for it (8-12 s)."""
    calls: list[str] = []
    monkeypatch.setattr(preflight, "start_worker_server", lambda: calls.append("fork server"))
    monkeypatch.setattr(grid, "run_grid", lambda *args, **kwargs: calls.append("cells") or [])
    result = run_cli(*GRID, *sets)
    assert result.code == 0, result.err
    assert calls[-1] == "cells" and ("fork server" in calls) is started, calls
