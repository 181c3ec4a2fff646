"""A grid's fold worker processes: the fork server starts before the first cell, as for `merbench run`."""

from __future__ import annotations

import pytest

import merbench.grid as grid
import merbench.preflight as preflight

GRID = ("grid", "--models", "ststnet", "--datasets", "synthetic", "--profile", "quick", "--protocols", "loso",
        "--set", "dataset.subjects=4", "--no-store", "--quiet")


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


def test_a_cell_whose_fold_worker_died_is_interrupted_as_stored_and_continued_with_stored(run_cli, monkeypatch,
                                                                                          tmp_path):
    """Before, such a cell was 'failed' in the grid's lines and --json while the store had it 'interrupted', and it
    was told to continue with `merbench run --resume ID` rather than the grid's own --stored."""
    import json

    import merbench.runner
    from merbench.errors import FoldsLost
    from merbench.store import ResultStore

    original = merbench.runner.run_with_seeds

    dies = [True]

    def worker_dies_for_ststnet(config, *args, **kwargs):
        if config.model == "ststnet" and dies[0]:
            raise FoldsLost("a fold worker process died (test)")
        return original(config, *args, **kwargs)

    monkeypatch.setattr(merbench.runner, "run_with_seeds", worker_dies_for_ststnet)
    store, target = tmp_path / "results.sqlite", tmp_path / "grid.json"
    grid_command = [arg for arg in GRID if arg != "--no-store"]
    grid_command[grid_command.index("ststnet")] = "ststnet,offapexnet"
    result = run_cli(*grid_command, "--store", str(store), "--json", str(target))
    assert result.code == 1
    with ResultStore(store) as results:
        statuses = {run.model: (run.status, run.id) for run in results.list_runs()}
    status, run_id = statuses["ststnet"]
    assert status == "interrupted" and statuses["offapexnet"][0] == "complete"
    document = json.loads(target.read_text())
    assert [cell["status"] for cell in document["cells"]] == ["interrupted", "complete"]
    said = " ".join((result.out + result.err).split())
    assert f"Cell ststnet × synthetic × loso interrupted (stored run {run_id}): a fold worker process died" in said
    assert f"interrupted: ststnet × synthetic × loso (stored run {run_id})" in said
    assert ("the completed folds are kept in the results store: run the same grid command with --stored to continue "
            f"the cell from them (`merbench run --resume {run_id} --store {store}` continues this cell alone)") in said
    assert "1 of 2 cells interrupted" in said
    assert document["cells"][0]["error"].endswith("continues this cell alone)")
    dies[0] = False
    again = run_cli(*grid_command, "--store", str(store), "--stored")
    assert again.code == 0, again.err
    assert f"stored as run {run_id}, continued from where it was interrupted" in " ".join(again.err.split())
