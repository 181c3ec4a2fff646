"""``merbench list [KIND]`` in a pipe or log (``merbench list | cat``, ``--format plain``) printed rows of up to 280
columns: 35 lines wider than 80 for ``list``. Piped output now fits 80 columns (fewer where COLUMNS says so), the same
text at any wider COLUMNS: a row too wide stays a row, its description, input, options and provider each wrapped at
spaces under the description's column, so that no name, number or option is cut; a terminal's tables are unchanged."""

from __future__ import annotations

import json

import pytest
from rich.cells import cell_len

from piped_rows import piped_row

KINDS = ["models", "datasets", "preprocessors", "protocols"]


def _list(run_cli, monkeypatch, columns: int, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = run_cli(*args)
    assert result.code == 0, result.err
    return result.out


def _words_whole(piped: str, records: dict, kind: str) -> None:
    """Each record's name, description, numbers, options and provider in its row, every word whole and in order."""
    for name, record in records.items():
        row = piped_row(piped, name if kind != "models" else name.replace("timm:", "timm:<name>", 1))
        provider = f"{record['provider']['distribution']} {record['provider']['version']}"
        cells = [record["description"], provider]
        if kind == "models" and record["params"] is not None:
            cells += [f"{record['params']:,}", record["input"]]
        if kind == "preprocessors":
            cells.append(record["produces"])
        if kind == "protocols":
            cells.append(", ".join(f"protocol.{key}={value}" for key, value in record["options"].items()) or "-")
        for cell in cells:
            assert f" {' '.join(cell.split())} " in f" {row} ", (cell, row)


@pytest.mark.parametrize("kind", KINDS)
def test_a_piped_listing_fits_80_columns_with_every_word_whole(run_cli, monkeypatch, kind):
    piped = _list(run_cli, monkeypatch, 80, "list", kind)
    assert max(map(cell_len, piped.splitlines())) <= 80 and "…" not in piped, piped  # before: up to 280 columns
    assert _list(run_cli, monkeypatch, 200, "list", kind) == piped, "the same text at any wider COLUMNS"
    assert _list(run_cli, monkeypatch, 200, "--format", "plain", "list", kind) == piped
    records = {record["name"]: record for record in json.loads(_list(run_cli, monkeypatch, 80, "list", kind,
                                                                     "--json"))[kind]}
    _words_whole(piped, records, kind)


def test_a_wide_row_stays_a_row_each_text_column_on_lines_of_its_own(run_cli, monkeypatch):
    lines = _list(run_cli, monkeypatch, 80, "list", "protocols").splitlines()
    assert lines[:4] == ["Protocols", "Name            Subject independent  Description",
                         " " * 37 + "Options", " " * 37 + "Provider"], lines
    start = lines.index(next(line for line in lines if line.startswith("frame-10fold ")))
    assert lines[start].split()[:3] == ["frame-10fold", "no", "Leaky:"]
    row = lines[start:start + 5]
    assert row[-2:] == [" " * 37 + "protocol.n_splits=10, protocol.pairs=5", " " * 37 + "merbench 0.1.0"], row
    assert lines[-1] == "Options: their defaults; change one with --set protocol.NAME=VALUE."


def test_a_listing_fits_60_columns_piped(run_cli, monkeypatch):
    piped = _list(run_cli, monkeypatch, 60, "list")
    assert max(map(cell_len, piped.splitlines())) <= 60, piped
    for kind in KINDS:
        records = {record["name"]: record for record in json.loads(_list(run_cli, monkeypatch, 60, "list", kind,
                                                                         "--json"))[kind]}
        _words_whole(piped.split(kind.capitalize(), 1)[1], records, kind)


def test_a_terminal_listing_still_draws_its_tables_as_rich_lays_them_out(run_cli, monkeypatch):
    out = _list(run_cli, monkeypatch, 200, "--format", "table", "list", "protocols")
    assert any(line.startswith("┃ Name ") and "┃ Options " in line for line in out.splitlines()), out
    assert any("protocol.n_splits=10, protocol.pairs=5" in line and line.startswith("│ frame-10fold ")
               for line in out.splitlines()), out


UNBUILDABLE = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    raise TypeError("no input size for a model of this very long and descriptive kind")


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="unbuildable", build=build, description="a throw-away test model", input="flow-uvs"))
'''


def test_a_piped_listings_model_error_is_wrapped_at_spaces(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-unbuildable", "unbuildable", "merbench_unbuildable_plugin", UNBUILDABLE)
    monkeypatch.setenv("COLUMNS", "200")
    result = run_cli("list", "models")
    assert result.code == 0, result.err
    assert max(map(cell_len, [*result.out.splitlines(), *result.err.splitlines()])) <= 80, result.err
    assert ("model 'unbuildable' cannot be built: TypeError: no input size for a model of this very long and "
            "descriptive kind (`merbench info unbuildable` shows its options; `merbench plugins` shows where it "
            "comes from)") in " ".join(result.err.split())
    assert "error" in piped_row(result.out, "unbuildable").split()
