"""``merbench datasets list`` in a pipe or log (``… | cat``, ``--format plain``) printed rows of up to 277 columns, a
dataset's description and options on one line. Piped output now fits 80 columns (fewer where COLUMNS says so), the
same text at any wider COLUMNS: each row stays a row, its description, then its options, wrapped at spaces under the
description's column, every ``key=value`` whole on one line; a terminal's table is unchanged."""

from __future__ import annotations

import json

import pytest
from rich.cells import cell_len

from piped_rows import piped_row


def _listed(run_cli, monkeypatch, columns: int, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = run_cli(*args)
    assert result.code == 0, result.err
    return result.out


@pytest.mark.parametrize("columns", [80, 60])
def test_a_piped_datasets_list_fits_its_width_with_every_option_whole(run_cli, monkeypatch, columns):
    piped = _listed(run_cli, monkeypatch, columns, "datasets", "list")
    lines = piped.splitlines()
    assert max(map(cell_len, lines)) <= columns and "…" not in piped, piped  # before: up to 277 columns
    if columns == 80:
        assert _listed(run_cli, monkeypatch, 200, "datasets", "list") == piped, "the same text at any wider COLUMNS"
        assert _listed(run_cli, monkeypatch, 200, "--format", "plain", "datasets", "list") == piped
    records = json.loads(_listed(run_cli, monkeypatch, 80, "datasets", "list", "--json"))["datasets"]
    words = {word for line in lines for word in line.split()}
    for record in records:
        row = piped_row(piped, record["name"])
        assert row.split()[:2] == [record["name"], "yes" if record["needs_root"] else "no"], row
        options = [f"{key}={value if value not in ('', []) else '(unset)'}" for key, value in record["options"].items()]
        assert row.endswith(f"{' '.join(record['description'].split())} {', '.join(options)}"), row
        assert all(option in words or f"{option}," in words for option in options), options  # each on one line


def test_each_datasets_options_start_a_line_under_its_description(run_cli, monkeypatch):
    lines = _listed(run_cli, monkeypatch, 80, "datasets", "list").splitlines()
    assert lines[1:3] == ["Name       Needs --root  Description",
                          " " * 25 + "Options (--set dataset.KEY=VALUE, defaults)"], lines
    start = lines.index(next(line for line in lines if line.startswith("casme3 ")))
    assert lines[start].split()[:4] == ["casme3", "yes", "CAS(ME)3", "Part"]
    options = next(i for i in range(start, len(lines)) if lines[i].lstrip().startswith("classes=7,"))
    assert " ".join(" ".join(lines[start:options]).split()).endswith("7, 4 or 3 classes")
    assert all(line.startswith(" " * 25) and not line[25].isspace() for line in lines[start + 1:options + 2])
    assert " ".join(" ".join(lines[options:options + 2]).split()) == \
        "classes=7, frames=auto, frames_folder=(unset), fixes=known, occluded=keep, strict=False"


def test_a_terminal_datasets_list_is_still_drawn_by_rich(run_cli, monkeypatch):
    out = _listed(run_cli, monkeypatch, 300, "--format", "table", "datasets", "list")
    row = next(line for line in out.splitlines() if line.startswith("│ casme3 "))
    assert "│ yes " in row and "frames_folder=(unset), fixes=known, occluded=keep, strict=False" in row, out
