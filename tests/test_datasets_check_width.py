"""``merbench datasets check`` in a pipe or log (``… | cat``, ``--format plain``) printed rows of up to 196 columns:
the overview's ``annotation`` and ``frames folder`` rows of a composite, the reasons of rows fixed and of annotation
fixes. Piped output now fits 80 columns (fewer where COLUMNS says so), the same text at any wider COLUMNS: a row too
wide wraps its value or reason at spaces under its column, so that rows stay rows and no id, name or number is cut;
only a word longer than a line (a long path) is wider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.cells import cell_len

import realtrees as rt


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("width")
    rt.build_casme2(root / "casme2")
    rt.build_samm(root / "samm")
    rt.build_official(root / "megc")
    rt.build_casme3(root / "casme3")
    rt.build_mmew(root / "mmew")
    return root


def _checks(trees: Path) -> dict[str, list[str]]:
    megc = trees / "megc"
    return {
        "casme2": ["casme2", "--root", str(trees / "casme2")],
        "samm": ["samm", "--root", str(trees / "samm")],
        "megc2019": ["megc2019", "--set", f"dataset.smic={megc / 'SMIC'}", f"dataset.casme2={megc / 'CASME2'}",
                     f"dataset.samm={megc / 'SAMM'}"],
        "casme3": ["casme3", "--root", str(trees / "casme3")],
        "mmew": ["mmew", "--root", str(trees / "mmew")],
    }


def _check(run_cli, monkeypatch, columns: int, *args: str):
    monkeypatch.setenv("COLUMNS", str(columns))
    result = run_cli(*args)
    assert result.code == 0, result.err
    return result


@pytest.mark.parametrize("dataset", ["casme2", "samm", "megc2019", "casme3", "mmew"])
def test_a_piped_check_fits_80_columns_with_every_word_whole(run_cli, monkeypatch, trees, tmp_path, dataset):
    args = ["datasets", "check", *_checks(trees)[dataset]]
    result = _check(run_cli, monkeypatch, 80, *args, "--json", str(tmp_path / "check.json"))
    piped = result.out
    too_wide = [line for line in piped.splitlines() if cell_len(line) > 80 and len(line.split()) > 1]
    assert not too_wide, piped  # before: 6 to 17 lines wider, up to 196 columns
    assert "…" not in piped
    for line in [*result.err.splitlines()]:  # the warnings on stderr too
        assert cell_len(line) <= 80 or len(line.split()) == 1, result.err
    assert _check(run_cli, monkeypatch, 200, *args).out == piped, "the same text at any wider COLUMNS"
    assert _check(run_cli, monkeypatch, 200, "--format", "plain", *args).out == piped

    record = json.loads((tmp_path / "check.json").read_text())
    said = " ".join(piped.split())
    for entry in [*record["skipped_rows"][:20], *record["fixed_rows"][:20]]:  # --show 20
        row = [entry.get("source", ""), str(entry.get("row") or "-"), entry["sample"], entry.get("reason") or entry["note"]]
        assert " ".join(" ".join(row).split()) in said, row  # a row's cells in order, its text wrapped at spaces
    fixes = record["annotation_fixes"] or {}
    for fix in fixes.get("applied", [])[:20]:
        row = " ".join(str(fix[key]) for key in ("sample", "field", "old", "new", "source"))
        assert " ".join(row.split()) in said, row
    for fix in fixes.get("not_applied", [])[:20]:
        row = " ".join(str(fix[key]) for key in ("sample", "field", "new", "reason"))
        assert " ".join(row.split()) in said, row


def test_a_wide_row_stays_a_row_its_text_wrapped_under_its_column(run_cli, monkeypatch, trees):
    piped = _check(run_cli, monkeypatch, 80, "datasets", "check", *_checks(trees)["megc2019"]).out
    lines = piped.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("annotation "))
    value_at = len(lines[start]) - len(lines[start].split(None, 1)[1])
    assert lines[start].split(None, 1)[1].startswith("smic: (folder names:")
    following = lines[start + 1:lines.index(next(line for line in lines if line.startswith("frames ")))]
    assert following and all(line[:value_at].strip() == "" or len(line.split()) == 1 for line in following), lines
    fixes = lines.index(next(line for line in lines if line.startswith("Known fixes not applied")))
    assert lines[fixes + 1].split() == ["sample", "field", "new", "reason"]
    rows = [line for line in lines[fixes + 2:] if line and not line.startswith(" ")]
    assert rows[0].split()[:4] == ["sub05/EP03_01", "ApexFrame", "68", "the"], lines[fixes:fixes + 6]


def test_a_terminal_check_still_draws_its_tables_as_rich_lays_them_out(run_cli, monkeypatch, trees):
    out = _check(run_cli, monkeypatch, 80, "--format", "table", "datasets", "check", *_checks(trees)["casme3"]).out
    assert "┃ sample          ┃ field  ┃ old  ┃ new  ┃" in out and "│ annotation                       │" in out
    assert max(map(cell_len, out.splitlines())) <= 80
