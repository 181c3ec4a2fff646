"""A grid list given empty is refused, naming the choices (before: ``--protocols ''`` or ``--protocols ,`` ran the
default protocol without a word, and ``--models ''`` said only "a grid needs at least one model, ...")."""

from __future__ import annotations

import pytest

from merbench.registry import get_registry

NAMES = {"--models": ("ststnet", "models"), "--datasets": ("synthetic", "datasets"), "--protocols": ("loso", "protocols")}


@pytest.mark.parametrize("flag, value", [("--protocols", ""), ("--protocols", ","), ("--protocols", " , "),
                                         ("--models", ""), ("--datasets", ",")])
def test_an_empty_list_is_refused_naming_what_to_give(run_cli, tmp_path, flag, value):
    given = {name: default for name, (default, _) in NAMES.items()}
    given[flag] = value
    store = tmp_path / "results.sqlite"
    shown = run_cli("grid", *(word for pair in given.items() for word in pair), "--profile", "quick", "--quiet",
                    "--store", str(store))
    kind = NAMES[flag][1]
    assert shown.code == 2 and "Traceback" not in shown.err
    assert " ".join(shown.err.split()) == (f"merbench: error: {flag} is empty: give one or more of "
                                           f"{', '.join(get_registry().names(kind)).replace('timm:', 'timm:<name>')}, "
                                           f"comma-separated (see `merbench list {kind}`)")
    assert not store.exists()  # refused before the store was opened


def test_a_list_with_a_blank_among_names_still_runs_those_names(monkeypatch, run_cli):
    import merbench.grid as grid

    planned: list[list[str]] = []
    monkeypatch.setattr(grid, "run_grid", lambda cells, *args, **kwargs: planned.append(
        [cell.config.protocol for cell in cells]) or [])
    shown = run_cli("grid", "--models", "ststnet", "--datasets", "synthetic", "--protocols", "loso,,", "--protocols", "",
                    "--profile", "quick", "--quiet", "--no-store", "--set", "dataset.subjects=4")
    assert shown.code == 0, shown.err
    assert planned == [["loso"]]
