"""An interrupted grid's note names the grid's ``--store`` in the commands it advises, on Ray as a local cell's
hint does (before: after ``grid --executor ray ... --store PATH`` the note advised ``merbench runs --status
interrupted`` and ``merbench run --resume ID``, which looked in the default store: "no run 'ID' in the results store
~/.local/..."). Since 2026-12-07 the note advises no --resume on Ray: ``--stored`` starts an interrupted cell again in
its own run (``test_grid_ray_interrupted_rows.py``)."""

from __future__ import annotations

import shlex
from types import SimpleNamespace

import merbench.grid as grid
from merbench.commands.grid import interrupted_note
from merbench.store import ResultStore

GRID = ("grid", "--models", "ststnet,offapexnet", "--datasets", "synthetic", "--profile", "quick", "--protocols",
        "loso", "--set", "dataset.subjects=4", "--quiet", "--executor", "ray")


def _interrupted(cells, registry, seeds, store, progress, report, **options):
    """``run_grid`` stopped by Ctrl-C after its first cell ended."""
    report(SimpleNamespace(result=object(), error=None, reused=False, run_id=None))
    raise KeyboardInterrupt


def test_a_ray_grid_interrupted_with_a_store_of_its_own_names_it(run_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("MERBENCH_STORE", str(tmp_path / "default.sqlite"))
    monkeypatch.setattr(grid, "run_grid", _interrupted)
    store = tmp_path / "my runs" / "grid.sqlite"
    shown = run_cli(*GRID, "--store", str(store))
    assert shown.code == 130
    option = f"--store {shlex.quote(str(store))}"
    assert (f"1 finished cell is stored; run the same command with --stored to keep it and run the rest: on Ray an "
            f"interrupted cell starts again from its first fold, in its stored run (merbench runs --status "
            f"interrupted {option} lists them)") in " ".join(shown.err.split())


def test_the_default_store_is_not_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_STORE", str(tmp_path / "default.sqlite"))
    with ResultStore(tmp_path / "default.sqlite") as store:
        note = interrupted_note([], "ray", 2, store=store)
    assert note.endswith("in its stored run (merbench runs --status interrupted lists them)")


def test_a_grid_without_a_store_says_its_finished_cells_were_not_kept(run_cli, monkeypatch):
    """Before: Ctrl-C in `grid --no-store` printed only "merbench: interrupted", the finished cells lost without a
    word."""
    monkeypatch.setattr(grid, "run_grid", _interrupted)
    shown = run_cli(*GRID, "--no-store")
    assert shown.code == 130
    assert ("1 finished cell was not kept (--no-store): an interrupted grid without a store starts from its first "
            "cell again; run it without --no-store to keep each cell as it ends") in " ".join(shown.err.split())

