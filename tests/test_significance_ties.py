"""``merbench significance`` ties folds whose scores differ only by floating-point noise."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import wilcoxon

from merbench.result import RunResult
from merbench.significance import _wilcoxon, compare_runs
from result_samples import minimal_dict

LABELS = [0, 0, 1, 1, 2, 2]
CLEAR = [  # folds where B is right more often than A, by a different margin in each
    ([1, 0, 1, 2, 0, 2], LABELS), ([1, 2, 0, 1, 2, 2], LABELS), ([0, 1, 2, 0, 1, 2], [0, 0, 1, 1, 2, 0]),
    ([2, 2, 0, 0, 1, 1], [0, 0, 1, 1, 2, 1]), ([1, 1, 1, 1, 1, 1], [0, 0, 1, 0, 2, 2])]
TIE_LABELS, TIE_A, TIE_B = [1, 2, 0, 1, 0, 0], [1, 2, 0, 2, 2, 2], [0, 2, 2, 1, 0, 2]
"""A fold where A's and B's UF1 are the same per-class F1s in another order: 0.5222...21 vs 0.5222...23."""


def _run(model: str, folds: list[tuple[list[int], list[int]]]) -> dict:
    """A result of ``model`` whose fold ``i`` has labels ``folds[i][0]`` and predictions ``folds[i][1]``."""
    rows = [{"id": f"f{fold}_{i}", "subject": f"s{fold}", "fold": fold, "label": label, "prediction": prediction}
            for fold, (labels, predictions) in enumerate(folds) for i, (label, prediction) in
            enumerate(zip(labels, predictions))]
    return minimal_dict(model=model, predictions=rows, n_samples=len(rows), leakage={"leaks": []})


def _pair() -> tuple[dict, dict]:
    """Runs A and B: B better on five folds, and the sixth tied up to the last bit of its UF1."""
    a = _run("model-a", [(LABELS, predictions) for predictions, _ in CLEAR] + [(TIE_LABELS, TIE_A)])
    b = _run("model-b", [(LABELS, predictions) for _, predictions in CLEAR] + [(TIE_LABELS, TIE_B)])
    return a, b


def test_a_fold_tied_but_for_the_last_bit_is_a_tie():
    a, b = _pair()
    comparison = compare_runs(RunResult.from_dict(a), RunResult.from_dict(b), "uf1", n_bootstrap=50)
    differences = np.subtract(comparison.fold_scores_b, comparison.fold_scores_a)
    assert 0 < abs(differences[-1]) < 1e-15  # the noise this is about: not an exact zero
    assert comparison.p_value == wilcoxon(differences[:-1]).pvalue == 0.0625


def test_the_caption_and_the_p_value_agree(run_cli, tmp_path):
    paths = []
    for name, result in zip("ab", _pair()):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(result))
    result = run_cli("significance", *map(str, paths))
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "p=0.0625. With 5 folds that differ (of 6) it cannot give p below 0.0625" in text


@pytest.mark.parametrize("width", range(40, 101, 3))
def test_a_wrapped_caption_keeps_the_p_value_with_its_number(width):
    import io

    from rich.console import Console

    from merbench.commands.significance import comparison_table
    from merbench.tables import print_table

    a, b = (RunResult.from_dict(result) for result in _pair())
    comparison = compare_runs(a, b, "uf1", n_bootstrap=50)
    console = Console(width=width, force_terminal=True, color_system=None, file=io.StringIO())
    print_table(console, comparison_table(a, b, comparison, "UF1"))
    lines = [line.rstrip() for line in console.file.getvalue().splitlines()]
    assert any("p=0.0625." in line for line in lines), lines  # before, at 80 columns: "... statistic 0, p =" / "0.0625."


def test_differences_equal_but_for_noise_share_their_rank():
    # +0.3 and -(0.1 + 0.2) = -0.30000000000000004 are one size: ranks 3.5 each, so the negative sum is 3.5, not 4
    statistic, p_value, _ = _wilcoxon([0.0, 0.1 + 0.2, 0.0, 0.0], [0.3, 0.0, 0.1, 0.2])
    assert statistic == wilcoxon([0.3, -0.3, 0.1, 0.2]).statistic == 3.5
    assert p_value == wilcoxon([0.3, -0.3, 0.1, 0.2]).pvalue
