"""A grid on Ray interrupted, then run again with ``--stored``: each interrupted cell starts again in its interrupted
run (a Ray cell stores its folds with its result, so that run has none), instead of a new run beside a dead one.
Ray itself is replaced by running each cell's task here (``run_cell_detached``, what a Ray task runs)."""

from __future__ import annotations

import json

import pytest

import merbench.grid as grid
from merbench.store import ResultStore

GRID = ("grid", "--models", "lbptop-svm", "--datasets", "synthetic", "--profile", "quick", "--protocols", "loso",
        "--set", "dataset.subjects=4", "--quiet", "--executor", "ray")


def _interrupted(self, cells, n_seeds, on_done, say=None):
    raise KeyboardInterrupt  # Ctrl-C while the cells' tasks run


def _here(self, cells, n_seeds, on_done, say=None):
    for i, cell in enumerate(cells):
        on_done(i, grid.run_cell_detached(cell.config, n_seeds, 1, 0))


@pytest.fixture
def ray_here(monkeypatch):
    monkeypatch.setattr(grid, "join_cluster", lambda options, say=None, device=None: None)

    def use(run):
        monkeypatch.setattr(grid.RayCells, "run", run)

    return use


def _runs(path):
    with ResultStore(path, create=False) as store:
        return [(run.id, run.status, run.folds_done) for run in store.list_runs()]


def test_an_interrupted_ray_cell_starts_again_in_its_run(ray_here, run_cli, tmp_path):
    store = tmp_path / "grid.sqlite"
    ray_here(_interrupted)
    stopped = run_cli(*GRID, "--store", str(store))
    assert stopped.code == 130
    assert "on Ray an interrupted cell starts again from its first fold, in its stored run" in " ".join(
        stopped.err.split())
    [(interrupted, status, folds)] = _runs(store)
    assert status == "interrupted" and folds == 0
    ray_here(_here)
    again = run_cli(*GRID, "--store", str(store), "--stored", "--json", "-")
    assert again.code == 0, again.err
    assert f"its interrupted run {interrupted} starts again" in " ".join(again.err.split())
    assert _runs(store) == [(interrupted, "complete", 4)], "one run of the cell: the interrupted one, now complete"
    [cell] = json.loads(again.out)["cells"]
    assert cell["run_id"] == interrupted and cell["status"] == "complete"


def test_without_stored_a_new_run_is_started(ray_here, run_cli, tmp_path):
    store = tmp_path / "grid.sqlite"
    ray_here(_interrupted)
    assert run_cli(*GRID, "--store", str(store)).code == 130
    ray_here(_here)
    assert run_cli(*GRID, "--store", str(store)).code == 0
    assert sorted(status for _, status, _ in _runs(store)) == ["complete", "interrupted"]


def test_an_interrupted_run_with_folds_is_left_to_resume(ray_here, run_cli, tmp_path, monkeypatch):
    """An interrupted run that kept folds (interrupted on the local executor) is not thrown away: a Ray cell cannot
    continue it, so it runs anew and the message says how to continue that run instead."""
    store = tmp_path / "grid.sqlite"
    ray_here(_interrupted)
    assert run_cli(*GRID, "--store", str(store)).code == 130
    [(kept, _, _)] = _runs(store)
    monkeypatch.setattr(ResultStore, "folds_stored", lambda self, run_id: 2 if run_id == kept else 0)
    ray_here(_here)
    again = run_cli(*GRID, "--store", str(store), "--stored")
    assert again.code == 0, again.err
    text = " ".join(again.err.split())
    assert f"its interrupted run {kept} kept 2 folds, which a Ray cell cannot continue: it runs anew" in text
    assert f"merbench run --resume {kept}" in text
    statuses = {run_id: status for run_id, status, _ in _runs(store)}
    assert statuses[kept] == "interrupted" and sorted(statuses.values()) == ["complete", "interrupted"]
