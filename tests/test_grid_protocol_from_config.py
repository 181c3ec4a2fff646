"""A grid without ``--protocols`` runs under the protocol that ``--config`` or ``--set`` names, as ``merbench run``
does, else subject-10fold (before: it filled in subject-10fold first, then refused the named protocol as
disagreeing with a ``--protocols subject-10fold`` that was never typed). A generated dataset's ``--root`` is
quoted as the grid's ``--root NAME=DIR``."""

from __future__ import annotations

import json

import pytest

from result_samples import minimal_dict

GRID = ("grid", "--models", "ststnet", "--datasets", "synthetic", "--no-store", "--quiet")
TINY = {"subjects": 4, "clips_per_subject": 6, "size": 32, "frames": 8}
TINY_SET = [f"dataset.{key}={value}" for key, value in TINY.items()]


def loso_yaml(tmp_path):
    """A config file naming the quick profile, LOSO and a tiny synthetic dataset."""
    path = tmp_path / "c6.yaml"
    path.write_text("profile: quick\nprotocol: loso\ndataset: {subjects: 4, clips_per_subject: 6, size: 32, frames: 8}\n")
    return path


def loso_result(tmp_path):
    """A stored LOSO run's result JSON (``merbench show ID --json``), read as its settings by ``--config``."""
    config = {"model": "ststnet", "dataset": "synthetic", "protocol": "loso", "profile": "quick", "seed": 0,
              "options": {"model": {}, "dataset": dict(TINY), "protocol": {}}}
    path = tmp_path / "run1.json"
    path.write_text(json.dumps(minimal_dict(model="ststnet", dataset="synthetic", config=config)))
    return path


@pytest.mark.parametrize("given", ["yaml", "set", "result"])
def test_the_grid_runs_the_protocol_that_config_or_set_names(run_cli, tmp_path, given):
    extra = {"yaml": ["--config", str(loso_yaml(tmp_path))],
             "set": ["--profile", "quick", "--set", "protocol=loso", *TINY_SET],
             "result": ["--config", str(loso_result(tmp_path))]}[given]
    result = run_cli(*GRID, *extra)
    assert result.code == 0, result.err
    assert "synthetic · loso" in result.out
    assert "subject-10fold" not in result.out + result.err


def test_protocols_naming_another_protocol_than_the_config_is_refused(run_cli, tmp_path):
    result = run_cli(*GRID, "--protocols", "subject-10fold", "--config", str(loso_yaml(tmp_path)))
    assert result.code == 2 and "Traceback" not in result.err
    assert ("--protocols subject-10fold and protocol=loso (in --set/--config) disagree; give the name once"
            in " ".join(result.err.split()))


def test_no_protocol_anywhere_is_subject_10fold(run_cli):
    result = run_cli(*GRID, "--profile", "quick", "--set", "protocol.n_splits=99", *TINY_SET)
    assert result.code == 2  # refused before training, by the default protocol's own cell
    assert ("grid cell ststnet × synthetic × subject-10fold: subject-10fold needs at least 99 subjects"
            in " ".join(result.err.split()))


@pytest.mark.parametrize("root", ["synthetic={}", "{}"])
def test_a_root_for_a_generated_dataset_is_quoted_as_the_grid_takes_it(run_cli, tmp_path, root):
    result = run_cli(*GRID, "--profile", "quick", "--root", root.format(tmp_path))
    assert result.code == 2 and "Traceback" not in result.err
    message = " ".join(result.err.split())
    assert (f"--root synthetic={tmp_path}: dataset 'synthetic' is generated and reads no folder; drop --root"
            in message), message
    assert f"--root {tmp_path}:" not in message
