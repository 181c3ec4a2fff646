"""A whole ``quick``-profile run (convmixer on synthetic, subject-10fold) with a warm cache.

The warm-up round generates the synthetic clips and fills the preprocessing
cache; the timed rounds then measure what a user waits for on a repeated
``merbench run --profile quick``: loading, cached preprocessing, 10 folds of
training and evaluation, and the metrics.
"""

from __future__ import annotations

import math

from merbench.config import resolve_config
from merbench.metrics import METRIC_KEYS
from merbench.result import as_json
from merbench.runner import run_benchmark


def test_quick_run(benchmark, registry):
    config = resolve_config(registry, model="convmixer", dataset="synthetic", profile="quick")

    result = benchmark.pedantic(run_benchmark, args=(config, registry), rounds=3, iterations=1, warmup_rounds=1)

    assert result.model == "convmixer" and result.protocol == "subject-10fold"
    assert result.subject_independent is True
    assert set(METRIC_KEYS) <= set(result.pooled) and set(METRIC_KEYS) <= set(result.fold_mean)
    assert all(0.0 <= result.pooled[key] <= 1.0 for key in METRIC_KEYS)
    assert len(result.folds) == 10
    assert result.n_tested == result.n_samples
    assert all(math.isfinite(fold.final_train_loss) for fold in result.folds)
    matrix = result.confusion_matrix
    assert len(matrix) == len(result.classes) and sum(map(sum, matrix)) == result.n_samples
    if benchmark.enabled:  # the warm-up round filled the cache, so nothing was recomputed
        assert result.preprocess["computed"] == 0
        assert result.preprocess["cached"] == result.n_samples
        benchmark.extra_info["seconds_per_run"] = round(benchmark.stats.stats.mean, 3)
    benchmark.extra_info.update(
        {
            "n_samples": result.n_samples,
            "epochs": config.section("engine")["epochs"],
            "seconds_breakdown": {key: round(value, 3) for key, value in as_json(result.seconds).items()},
            "device": result.environment.get("device"),
        }
    )
