"""``merbench tune --executor ray``: trials' inner folds and the refits as Ray tasks on a local 2-CPU instance."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("optuna")
ray = pytest.importorskip("ray")

from test_tune import TINY, space_file  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """One local Ray instance for the module (started after the session's cache is set, so workers share it)."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    if started:
        ray.shutdown()


@pytest.mark.slow  # starting Ray workers that import torch takes about 20 s on a 2-core machine
def test_tune_on_ray_runs_every_trial_and_scores_every_sample_once(run_cli, tmp_path):
    target = tmp_path / "tune.json"
    result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--trials", "2", "--space", str(space_file(tmp_path)), "--storage", str(tmp_path / "t.sqlite"),
                     "--executor", "ray", "--workers", "2", "--json", str(target), *TINY)
    assert result.code == 0, result.err
    summary = json.loads(target.read_text())
    assert summary["search"]["executor"] == "ray" and summary["search"]["workers"] == 2
    assert summary["config"]["options"]["executor"]["name"] == "ray"
    assert [sum(f["trial_counts"].values()) for f in summary["folds"]] == [2, 2]
    assert summary["compute"]["inner_fits"] == 2 * 2 * 3
    ids = [row["id"] for row in summary["predictions"]]
    assert len(ids) == len(set(ids)) == summary["n_samples"]
