"""``merbench tune --config FILE``: the options a file fixes, which a space may not search too. A run's result
(``merbench run --json``) fixes what its run changed, not the profile's values it records with them."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("optuna")

from merbench.errors import UsageError  # noqa: E402
from merbench.registry import get_registry  # noqa: E402
from merbench.tuning import TuneRequest, prepare  # noqa: E402


def request(space: Path, config: Path) -> TuneRequest:
    return TuneRequest(model=None, dataset=None, space=space, trials=1, config_file=config)


def test_a_run_result_as_config_fixes_what_its_run_changed_not_the_profiles_values(run_cli, tmp_path):
    recorded = tmp_path / "recorded.json"
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--quiet", "--json", str(recorded), "--set", "dataset.subjects=4", "dataset.clips_per_subject=4",
                     "protocol.n_splits=2", "engine.epochs=1", "model.dropout=0.3")
    assert result.code == 0, result.err
    registry = get_registry()
    profile_values = tmp_path / "lr.yaml"
    profile_values.write_text("engine.lr: {type: float, low: 0.0005, high: 0.02, log: true}\n"
                              "engine.weight_decay: {type: float, low: 0.001, high: 0.2, log: true}\n")
    base, space = prepare(request(profile_values, recorded), registry)
    assert space.keys() == ["engine.lr", "engine.weight_decay"] and base.section("model")["dropout"] == 0.3
    assert base.profile == "quick" and base.section("engine")["epochs"] == 1, "the recorded run's settings apply"

    searches_dropout = tmp_path / "dropout.yaml"
    searches_dropout.write_text("model.dropout: {type: float, low: 0.0, high: 0.5}\n")
    with pytest.raises(UsageError, match=r"dropout\.yaml: model\.dropout: also set with --set/--config/--epochs"):
        prepare(request(searches_dropout, recorded), registry)


def test_every_option_of_a_yaml_config_is_fixed(tmp_path):
    options = tmp_path / "run.yaml"
    options.write_text("model: ststnet\ndataset: synthetic\nprofile: quick\nengine:\n  lr: 0.001\n")
    space = tmp_path / "lr.yaml"
    space.write_text("engine.lr: {type: float, low: 0.0005, high: 0.02, log: true}\n")
    with pytest.raises(UsageError, match=r"lr\.yaml: engine\.lr: also set with --set/--config/--epochs"):
        prepare(request(space, options), get_registry())
