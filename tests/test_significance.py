"""``merbench significance``: paired comparison of two runs on the same folds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import wilcoxon

from merbench.errors import DataError
from merbench.result import RunResult
from merbench.significance import compare_runs

FAST = ("--set", "protocol.n_splits=5", "--epochs", "2")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two different models on the same folds, and one on other folds."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("significance")
    made = {}
    for name, extra in {"a": (), "b": ("--set", "model.dim=4", "model.depth=1"), "other": ("--seed", "1")}.items():
        path = folder / f"{name}.json"
        assert main(["run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     *FAST, *extra, "--json", str(path)]) == 0
        made[name] = path
    return made


def load(path):
    return json.loads(path.read_text())


def test_comparison_uses_the_per_fold_scores_and_a_bootstrap_interval(runs):
    a, b = load(runs["a"]), load(runs["b"])
    result = compare_runs(RunResult.from_dict(a), RunResult.from_dict(b), "uf1", n_bootstrap=500)
    fold_a = [f["metrics"]["uf1"] for f in a["folds"]]
    fold_b = [f["metrics"]["uf1"] for f in b["folds"]]
    assert result.fold_scores_a == fold_a and result.fold_scores_b == fold_b
    if not np.allclose(fold_a, fold_b):
        assert result.p_value == pytest.approx(wilcoxon(fold_b, fold_a).pvalue)
    assert result.pooled_a == pytest.approx(a["pooled"]["uf1"]) and result.pooled_b == pytest.approx(b["pooled"]["uf1"])
    assert result.ci_low <= result.pooled_difference <= result.ci_high
    assert result.ci_low < result.ci_high


def test_a_run_against_itself_shows_no_difference(runs):
    a = load(runs["a"])
    result = compare_runs(RunResult.from_dict(a), RunResult.from_dict(a), "uar", n_bootstrap=200)
    assert result.p_value == 1.0 and result.pooled_difference == 0.0
    assert result.ci_low == result.ci_high == 0.0


def test_runs_on_different_folds_are_refused(runs, run_cli):
    with pytest.raises(DataError, match="same folds"):
        compare_runs(RunResult.from_dict(load(runs["a"])), RunResult.from_dict(load(runs["other"])))
    refused = run_cli("significance", str(runs["a"]), str(runs["other"]))
    assert refused.code == 2 and "same --seed" in refused.err


def test_cli_prints_the_comparison(runs, run_cli):
    shown = run_cli("significance", str(runs["a"]), str(runs["b"]), "--bootstrap", "300")
    assert shown.code == 0, shown.err
    text = " ".join(shown.out.split())
    assert "Wilcoxon signed-rank over folds" in text and "fold mean" in text and "pooled" in text
