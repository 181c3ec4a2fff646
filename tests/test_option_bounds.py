"""Sizes a typo makes absurd are refused before anything runs (exit 2), a list or mapping given for a one-value
option says so, and running out of memory anyway is one message, not a traceback."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("setting, says", [
    ("engine.threads=100000", "engine.threads=100000: must be an integer in [0, 4096]"),
    ("engine.epochs=99999999999", "engine.epochs=99999999999: must be an integer in [1, 100000]"),
    ("engine.weight_decay=1e30", "engine.weight_decay=1e30: must be a finite number in [0, 10]"),
    ("executor.num_gpus=1e300", "executor.num_gpus=1e300: must be a finite number in [0, 1024]"),
    ("executor.num_cpus=100000", "executor.num_cpus=100000: must be an integer in [1, 4096]"),
    ("dataset.size=30000", "dataset.size=30000: must be an integer in [16, 512]"),
    ("dataset.frames=100000", "dataset.frames=100000: must be an integer in [6, 300]"),
    ("dataset.subjects=5000", "dataset.subjects=5000: must be an integer in [2, 1000]"),
])
def test_absurd_sizes_are_refused_before_anything_runs(run_cli, tmp_path, setting, says):
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick",
                     "--store", str(tmp_path / "s.sqlite"), "--set", setting)
    assert result.code == 2 and says in result.err, result.err
    assert not (tmp_path / "s.sqlite").exists()  # refused before the run was recorded


@pytest.mark.parametrize("yaml_value, says", [
    ("epochs: [1]", "engine.epochs=[1]: expected one value, not a list (default 3)"),
    ("batch_size: {a: 1}", "engine.batch_size={'a': 1}: expected one value, not a mapping (default 32)"),
])
def test_a_list_or_mapping_for_a_one_value_option_says_so(run_cli, tmp_path, yaml_value, says):
    config = tmp_path / "c.yaml"
    config.write_text(f"model: ststnet\ndataset: synthetic\nprofile: quick\nengine:\n  {yaml_value}\n")
    result = run_cli("run", "--config", str(config), "--no-store")
    assert result.code == 2 and says in result.err, result.err


def test_running_out_of_memory_is_one_message(run_cli, monkeypatch):
    import merbench.registry

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 13.4 GiB for an array with shape (2, 30000, 30000)")

    monkeypatch.setattr(merbench.registry, "get_registry", exhausted)
    result = run_cli("list", "models")
    assert result.code == 1 and "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert " ".join(result.err.split()).startswith(
        "merbench: error: out of memory (Unable to allocate 13.4 GiB for an array with shape (2, 30000, 30000)): this "
        "machine could not hold what the command asked for; use smaller sizes"), lines
