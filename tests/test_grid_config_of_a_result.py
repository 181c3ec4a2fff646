"""``grid --config result.json`` reads a run result as ``run --config result.json`` does: the manifest file the
recorded run read, refused once in ``run``'s words when it is gone, and a ``--set dataset.manifest`` still wins
(before: the refusal came as one cell's, 'grid cell ststnet × manifest × …: --config …', and the grid's own checks
read the file without the --set keys)."""

from __future__ import annotations

import json

import pytest

from result_samples import minimal_dict

GRID = ("grid", "--datasets", "manifest", "--protocols", "loso", "--profile", "quick", "--no-store", "--quiet")


def manifest_result(path, manifest_read):
    """A manifest run's result at ``path`` that was given ``dataset.manifest=labels.csv`` and read ``manifest_read``."""
    config = {"model": "ststnet", "dataset": "manifest", "protocol": "loso", "profile": "quick", "seed": 0,
              "options": {"model": {}, "dataset": {"manifest": "labels.csv"}}}
    path.write_text(json.dumps(minimal_dict(model="ststnet", dataset="manifest", config=config,
                                            dataset_summary={"manifest": str(manifest_read)})))
    return path


@pytest.mark.parametrize("models", ["ststnet", "ststnet,offapexnet"])
def test_a_gone_recorded_manifest_is_refused_as_run_refuses_it(run_cli, tmp_path, monkeypatch, models):
    monkeypatch.chdir(tmp_path)
    result = manifest_result(tmp_path / "a.json", tmp_path / "gone.csv")
    ran = run_cli("run", "--no-store", "--root", str(tmp_path), "--config", str(result))
    gridded = run_cli(*GRID, "--models", models, "--root", str(tmp_path), "--config", str(result))
    assert ran.code == gridded.code == 2, gridded.err
    message = " ".join(gridded.err.split())
    assert message == " ".join(ran.err.split())
    assert (f"merbench: error: --config {result}: the recorded run read dataset.manifest {tmp_path / 'gone.csv'}, "
            "which is no longer there; put it back, or give the file to read with --set dataset.manifest=FILE") in message
    assert "grid cell" not in message and "Traceback" not in gridded.err


def test_a_manifest_given_with_set_is_read_though_the_recorded_one_is_gone(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = manifest_result(tmp_path / "a.json", tmp_path / "gone.csv")
    gridded = run_cli(*GRID, "--models", "ststnet", "--root", str(tmp_path), "--config", str(result),
                      "--set", "dataset.manifest=other.csv")
    assert gridded.code == 2 and "other.csv" in gridded.err and "no longer there" not in gridded.err, gridded.err
