"""A bad ``seed:`` or ``profile:`` in ``--config FILE`` is said with the file before it, as a bad section option is
(before: 'seed=x: must be …' and "unknown profile 'fast'" did not say they came from the file)."""

from __future__ import annotations

import pytest

CASES = [("seed: x\n", "seed=x: must be an integer in [0, 4294967295] (default 0)"),
         ("seed: -3\n", "seed=-3: must be an integer in [0, 4294967295] (default 0)"),
         ("profile: fast\n", "unknown profile 'fast': choose one of quick, default, paper"),
         ("profile: {name: fast}\n", "unknown profile 'fast': choose one of quick, default, paper")]


@pytest.mark.parametrize("command", [("run", "--model", "ststnet", "--dataset", "synthetic", "--no-store"),
                                     ("grid", "--models", "ststnet", "--datasets", "synthetic", "--no-store")])
@pytest.mark.parametrize("text, said", CASES)
def test_a_bad_seed_or_profile_in_config_names_the_file(run_cli, tmp_path, command, text, said):
    config = tmp_path / "c5.yaml"
    config.write_text(text)
    result = run_cli(*command, "--quiet", "--config", str(config))
    assert result.code == 2 and "Traceback" not in result.err
    assert f"--config {config}: {said}" in " ".join(result.err.split()), result.err


@pytest.mark.parametrize("text, given, said", [
    ("seed: 1\n", ["--set", "seed=x"], "error: seed=x: must be an integer"),  # --set wins over the file
    ("profile: quick\n", ["--set", "profile=fast"], "error: unknown profile 'fast'"),
    ("seed: 1\n", ["--profile", "fast"], "error: unknown profile 'fast'")])
def test_the_same_mistake_outside_a_file_names_no_file(run_cli, tmp_path, text, given, said):
    config = tmp_path / "c5.yaml"
    config.write_text(text)
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--no-store", "--quiet",
                     "--config", str(config), *given)
    assert result.code == 2 and said in result.err and "--config" not in result.err, result.err
