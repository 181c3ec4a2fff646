"""``merbench info MODEL`` in a pipe or log (``COLUMNS=80 merbench info ststnet | cat``, ``--format plain``) printed
its citation, notes and the preprocessing chain of each profile on lines of up to 168 columns. Piped output now fits
80 columns (fewer where COLUMNS says so), wrapped at spaces with no name, id or number cut; a terminal's is unchanged."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from merbench.registry import get_registry

MODELS = sorted(get_registry().names("models"))


def _info(run_cli, monkeypatch, columns: int, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = run_cli(*args)
    assert result.code == 0, result.err
    return result.out


def _widest(text: str) -> int:
    return max(cell_len(line) for line in text.splitlines())


@pytest.mark.parametrize("model", MODELS)
def test_piped_info_fits_80_columns_with_every_word_whole(run_cli, monkeypatch, model):
    piped = _info(run_cli, monkeypatch, 80, "info", model)
    assert _widest(piped) <= 80 and "…" not in piped, piped
    assert _info(run_cli, monkeypatch, 200, "info", model) == piped, "a pipe gets the same text at any wider COLUMNS"
    assert _info(run_cli, monkeypatch, 80, "--format", "plain", "info", model) == piped
    spec = get_registry().get("models", model)
    words = piped.split()
    for text in (spec.description, spec.citation or "", *(score.source for score in spec.reported)):
        assert " ".join(text.split()).rstrip(".") in " ".join(words), text  # wrapped at spaces, never inside a word


def test_each_profiles_chain_is_whole_in_a_pipe_and_the_score_rows_stay_rows(run_cli, monkeypatch):
    piped = _info(run_cli, monkeypatch, 80, "info", "ststnet")
    said = " ".join(piped.split())
    chain = "flow(method=auto, size=28, channels=['u', 'v', 'strain'], subtract_median=True, work_size={})"
    for work_size in (64, 128, 0):  # quick, default, paper
        assert said.count(f"Preprocessing: {chain.format(work_size)}") == 1, piped
    assert "Profile: paper Input (C×H×W): flow-uvs 3×28×28 Params: 1.68k FLOPs/sample: 680k" in said
    assert "Option     quick      default    paper" in piped.splitlines(), "rows that fit stay rows"
    assert any(line.startswith("megc2019  megc2019  UF1") for line in piped.splitlines())


@pytest.mark.parametrize("args", [["info"], ["--format", "table", "info"]], ids=["piped", "terminal"])
def test_info_fits_60_columns_piped_and_on_a_terminal(run_cli, monkeypatch, args):
    out = _info(run_cli, monkeypatch, 60, *args, "lbptop-svm")
    assert _widest(out) <= 60, out
    said = " ".join(out.split())
    assert "lbptop-hist 4425×1×1" in said and "Zhao, Pietikäinen: Dynamic Texture Recognition" in said
    if args == ["info"]:  # a terminal this narrow drops the Preprocessing column, saying so
        assert "Preprocessing: lbptop(size=128, frames=16, blocks=5)" in said
