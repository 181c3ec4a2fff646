"""``report --leakage FILE --format csv`` without ``--output``: the file format was dropped in silence (the terminal
table, exit 0); it is now refused as ``report --format md`` of stored runs without ``--output`` is."""

from __future__ import annotations

from pathlib import Path

import pytest

SUMMARY = Path(__file__).resolve().parents[1] / "benchmarks" / "leakage" / "synthetic-default-ststnet.json"


@pytest.mark.parametrize("fmt", ["csv", "md", "json", "latex", "html"])
def test_a_file_format_without_output_is_refused(run_cli, fmt):
    result = run_cli("report", "--leakage", str(SUMMARY), "--format", fmt)
    said = " ".join(result.err.split())
    assert result.code == 2, result.out
    assert f"--format {fmt} is the format of a file: a leakage summary is written as md, json, html with --output " \
           "FILE (e.g. --output leakage.md)" in said, said
    assert result.out == ""


@pytest.mark.parametrize("fmt", ["plain", "table", "auto"])
def test_a_terminal_format_still_prints_the_table(run_cli, fmt):
    result = run_cli("report", "--leakage", str(SUMMARY), "--format", fmt)
    assert result.code == 0, result.err
    assert "normalise_on=all" in result.out
