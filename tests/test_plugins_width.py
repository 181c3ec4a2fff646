"""``merbench plugins`` in a pipe or log (``… | cat``, ``--format plain``) printed rows of up to 160 columns, and its
errors and notes on one line each. Piped output now fits 80 columns (fewer where COLUMNS says so), the same text at any
wider COLUMNS: the entry point, target and distribution leave what a plugin registers no room beside them, so each
plugin prints as one block of ``header: value`` lines, a long value wrapped at spaces; errors and notes wrap at
spaces. A terminal's table is unchanged."""

from __future__ import annotations

import json

import pytest
from rich.cells import cell_len

from piped_rows import piped_row

BROKEN = "raise RuntimeError('the licence server at licence.example.org:27000 did not answer within 30 seconds')\n"


def _plugins(run_cli, monkeypatch, columns: int, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = run_cli(*args)
    assert result.code == 0, result.err
    return result.out


@pytest.mark.parametrize("columns", [80, 60])
def test_piped_plugins_fit_their_width_with_every_name_whole(install_plugin, run_cli, monkeypatch, columns):
    install_plugin("merbench-licensed", "licensed", "merbench_licensed_plugin", BROKEN)
    monkeypatch.setenv("MERBENCH_DISABLE_PLUGINS", "synthetic,nosuch")
    piped = _plugins(run_cli, monkeypatch, columns, "plugins")
    assert max(map(cell_len, piped.splitlines())) <= columns and "…" not in piped, piped  # before: up to 160
    if columns == 80:
        assert _plugins(run_cli, monkeypatch, 200, "plugins") == piped, "the same text at any wider COLUMNS"
        assert _plugins(run_cli, monkeypatch, 200, "--format", "plain", "plugins") == piped
    said = " ".join(piped.split())
    for record in json.loads(_plugins(run_cli, monkeypatch, 80, "plugins", "--json"))["plugins"]:
        provider = record["provider"]
        row = piped_row(piped, provider["entry_point"])
        registers = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in record["registered"].items()) or "—"
        assert row == (f"Entry point: {provider['entry_point']} Target: {provider['target']} Distribution: "
                       f"{provider['distribution']} {provider['version']} Registers: {registers} "
                       f"Status: {'error' if record['errors'] or record['problems'] else 'ok'}"), row
        for error in record["errors"]:
            assert f"error: {error}" in said
    assert "failed to import merbench_licensed_plugin: RuntimeError: the licence server at " \
           "licence.example.org:27000 did not answer within 30 seconds" in said
    assert "No installed entry point is called nosuch: check the names in MERBENCH_DISABLE_PLUGINS against the " \
           "Entry point column" in said


def test_a_terminal_plugins_table_is_still_drawn_by_rich(run_cli, monkeypatch):
    out = _plugins(run_cli, monkeypatch, 200, "--format", "table", "plugins")
    row = next(line for line in out.splitlines() if line.startswith("│ convmixer "))
    assert "│ merbench_plugins.models.convmixer " in row and "models: convmixer, convmixer-256-8" in row, out
