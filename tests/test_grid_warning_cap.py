"""``grid`` prints at most ``SHOWN_WARNINGS`` leakage warnings under its table and counts the rest, as ``compare``
does (a year's store gave 1,201 lines); the table marks every leaky cell and ``--json`` keeps every warning."""

from __future__ import annotations

import json

import merbench.commands.compare as compare_command

GRID = ["grid", "--models", "lbptop-svm", "--datasets", "synthetic", "--protocols", "sample-10fold,frame-10fold",
        "--profile", "quick", "--quiet", "--no-store", "--set", "dataset.subjects=4", "dataset.clips_per_subject=6",
        "protocol.n_splits=3"]


def test_grid_warnings_beyond_the_cap_are_counted_not_printed(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(compare_command, "SHOWN_WARNINGS", 1)
    target = tmp_path / "grid.json"
    capped = run_cli(*GRID, "--json", str(target))
    assert capped.code == 0, capped.err
    printed = [line for line in capped.out.splitlines() if line.startswith("⚠ leakage:")]
    assert len(printed) == 2, capped.out  # one warning of 3, then the count of the rest
    assert "and 2 more leaky cells (marked ⚠ in the table; the grid's --json FILE lists every warning)" in " ".join(
        capped.out.split())
    assert len(json.loads(target.read_text())["comparison"]["warnings"]) == 3
