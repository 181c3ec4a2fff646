"""A tune on data whose samples carry a domain reports each domain's pooled outer scores, as ``merbench run``
does (before, its summary had no ``per_domain`` and the report no "Per domain" table)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("optuna")

from merbench.metrics import classification_metrics  # noqa: E402


def test_a_tune_under_megc2019_scores_each_domain_of_its_outer_predictions(run_cli, tmp_path):
    target = tmp_path / "tune.json"
    result = run_cli("tune", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick",
                     "--trials", "1", "--space", "benchmarks/spaces/lbptop-svm.yaml", "--inner-folds", "2",
                     "--set", "dataset.subjects=6", "dataset.domains=3", "dataset.preset=real",
                     "--protocol", "megc2019", "--storage", str(tmp_path / "t.sqlite"), "--json", str(target))
    assert result.code == 0, result.err
    summary = json.loads(target.read_text())
    rows = summary["predictions"]
    domains = sorted({row["domain"] for row in rows})
    assert len(domains) == 3 and sorted(summary["per_domain"]) == domains
    for domain in domains:
        mine = [row for row in rows if row["domain"] == domain]
        expected = classification_metrics(np.array([row["label"] for row in mine]),
                                          np.array([row["prediction"] for row in mine]), len(summary["classes"]))
        assert summary["per_domain"][domain] == pytest.approx({key: expected[key] for key in ("uf1", "uar", "accuracy")})
    printed = result.out + result.err
    assert "Per domain (pooled)" in printed
    table = printed.split("Per domain (pooled)", 1)[1]
    for domain in domains:
        uf1 = summary["per_domain"][domain]["uf1"] * 100
        assert domain in table and f"{uf1:.1f}" in table.split(domain, 1)[1].splitlines()[0]
