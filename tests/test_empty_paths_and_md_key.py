"""An empty path value is refused as empty, not read as the current folder ("."); ``regress --baseline -`` is
refused instead of suggesting a file named '-'; a Markdown report says what its bold cells and † mean."""

from __future__ import annotations

import pytest

from merbench.compare import build_comparison
from merbench.export import to_latex, to_markdown
from result_samples import minimal_result

GRID = ["grid", "--models", "convmixer", "--datasets", "synthetic"]
RUN = ["run", "--model", "ststnet", "--dataset", "synthetic"]


def _error(result) -> str:
    assert result.code == 2, (result.code, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    return " ".join(result.err.split())


@pytest.mark.parametrize("args, option, advice", [
    (["report", "--output", ""], "--output", "give a file name, or - for standard output"),
    ([*GRID, "--json", ""], "--json", "give a file name, or - for standard output"),
    (["regress", "--baseline", "s.yaml", "--json", ""], "--json", "give a file name, or - for standard output"),
    (["regress", "--baseline", ""], "--baseline", "give a baseline file name, e.g. --baseline baseline.yaml"),
    ([*GRID, "--config", ""], "--config", "give a YAML file of options"),
    (["report", "--leakage", ""], "--leakage", "give a summary written by merbench leakage --json"),
    (["runs", "--store", ""], "--store", "give a results store file"),
    ([*RUN, "--store", ""], "--store", "give a results store file"),
    ([*RUN, "--config", ""], "--config", "give a YAML file of options or a result JSON"),
    (["leakage", "--model", "ststnet", "--dataset", "synthetic", "--config", ""], "--config", "give a YAML file"),
    (["preprocess", "--dataset", "synthetic", "--config", ""], "--config", "give a YAML file of options"),
    (["tune", "--model", "ststnet", "--dataset", "synthetic", "--space", ""], "--space", "give a YAML file of the"),
    ([*GRID, "--store", ""], "--store", "give a results store file"),
])
def test_an_empty_path_is_refused_as_empty_not_taken_for_the_current_folder(run_cli, tmp_path, monkeypatch, args,
                                                                             option, advice):
    monkeypatch.chdir(tmp_path)
    text = _error(run_cli(*args))
    assert f"argument {option}: empty; {advice}" in text, text
    assert " .:" not in text and "is a folder" not in text, text
    assert list(tmp_path.iterdir()) == [], "nothing is written"


def test_a_baseline_on_standard_input_is_refused_without_suggesting_a_file_named_dash(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = _error(run_cli("regress", "--baseline", "-"))
    assert "argument --baseline: '-' (standard input) is not supported: a baseline is a file merbench reads" in text
    assert "--baseline - --update" not in text, text
    assert list(tmp_path.iterdir()) == []


def test_a_markdown_report_says_what_bold_and_the_dagger_mean_as_the_latex_caption_does():
    leaky = minimal_result(run_id="20250611-000001-000001", model="convmixer", protocol="sample-10fold",
                           subject_independent=False,
                           reported=[{"dataset": "d", "protocol": "sample-10fold", "metric": "uf1", "value": 99.4,
                                      "source": "Paper A"}])
    better = {"accuracy": 0.75, "uf1": 0.75, "uar": 0.75}
    honest = [minimal_result(run_id="20250611-000002-000002", model="ststnet"),
              minimal_result(run_id="20250611-000003-000003", model="convmixer", pooled=better, fold_mean=better)]
    comparison = build_comparison([leaky, *honest])
    assert any(cell.best for cell in comparison.cells.values())
    notes = to_markdown(comparison).split("\n\n", 1)[1].splitlines()
    assert notes[0] == "Best per column in **bold**; †: leakage warning.  ", notes
    assert r"Best per column in bold; $^\dagger$: leakage warning." in to_latex(comparison)


def test_a_markdown_report_without_marks_has_no_key():
    comparison = build_comparison([minimal_result(run_id="20250611-000002-000002", model="ststnet")])
    cells = comparison.cells.values()
    if any(cell.best or cell.warnings for cell in cells):
        pytest.skip("a single run's cell is marked")
    assert "Best per column" not in to_markdown(comparison)
