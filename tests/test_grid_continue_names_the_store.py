"""A grid cell stopped around its folds names the grid's ``--store`` in the ``merbench run --resume ID`` it
advises, as ``merbench run`` does (before: after ``grid ... --store PATH`` the hint read ``merbench run --resume ID``,
which failed with "no run 'ID' in the results store ~/.local/...", and with such a store the grid's own advice, to
run it again with ``--stored``, was lost)."""

from __future__ import annotations

import shlex

from merbench.errors import FoldsLost
from merbench.grid import continue_in_grid
from merbench.recording import how_to_continue
from merbench.store import ResultStore


def test_a_store_of_its_own_is_named_in_both_hints(tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_STORE", str(tmp_path / "default.sqlite"))
    with ResultStore(tmp_path / "my runs" / "grid.sqlite") as store:
        stopped = how_to_continue(FoldsLost("a fold worker process died"), "RUN1", store)
        advice = str(continue_in_grid(stopped, "RUN1", store))
    assert advice == ("a fold worker process died; the completed folds are kept in the results store: run the same "
                      "grid command with --stored to continue the cell from them (`merbench run --resume RUN1 --store "
                      f"{shlex.quote(str(tmp_path / 'my runs' / 'grid.sqlite'))}` continues this cell alone)")


def test_the_default_store_is_not_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_STORE", str(tmp_path / "default.sqlite"))
    with ResultStore(tmp_path / "default.sqlite") as store:
        stopped = how_to_continue(FoldsLost("a fold worker process died"), "RUN1", store)
        advice = str(continue_in_grid(stopped, "RUN1", store))
    assert advice.endswith("with --stored to continue the cell from them (`merbench run --resume RUN1` continues "
                           "this cell alone)")
