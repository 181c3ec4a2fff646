"""A leakage study whose honest protocol is named by ``--config`` or ``--set protocol=``."""

from __future__ import annotations

import pytest

from merbench.errors import UsageError
from merbench.leakage import plan_study
from merbench.registry import get_registry

SMALL = {"dataset.subjects": 4, "dataset.clips_per_subject": 6, "protocol.n_splits": 4}


def _protocols(study) -> dict[str, str]:
    """Each run of the study by name (``honest`` for the honest one) with the protocol it resolved to."""
    return {variant.name if variant else "honest": config.protocol for variant, config in study.configs()}


def _plan(**given):
    """``plan_study`` for lbptop-svm on a small synthetic set, with ``given`` (protocol, sets, config_file)."""
    arguments = dict(model="lbptop-svm", dataset="synthetic", protocol=None, profile="quick", seed=None, seeds=1,
                     device="cpu", root=None, epochs=None, sets=SMALL)
    return plan_study(get_registry(), **{**arguments, **given})


@pytest.mark.parametrize("text", ["protocol: loso\n", "protocol:\n  name: loso\n"])
def test_a_config_files_protocol_is_the_honest_one_and_variants_keep_theirs(tmp_path, text):
    config = tmp_path / "study.yaml"
    config.write_text(text)
    assert _protocols(_plan(config_file=config)) == {
        "honest": "loso", "sample-10fold": "sample-10fold", "frame-10fold": "frame-10fold",
        "select_on=test": "loso", "normalise_on=all": "loso"}


@pytest.mark.parametrize("key", ["protocol", "protocol.name"])
def test_a_set_protocol_is_the_honest_one_and_variants_keep_theirs(key):
    study = _plan(sets={**SMALL, key: "loso"})
    assert _protocols(study)["honest"] == "loso" and _protocols(study)["sample-10fold"] == "sample-10fold"
    assert _protocols(study)["normalise_on=all"] == "loso"


def test_a_config_naming_the_default_protocol_with_flags_for_the_rest(tmp_path):
    config = tmp_path / "c4.yaml"
    config.write_text("protocol: subject-10fold\n")
    assert _protocols(_plan(config_file=config))["honest"] == "subject-10fold"


def test_a_protocol_flag_and_a_different_set_protocol_are_still_refused_naming_what_was_given():
    with pytest.raises(UsageError, match="--protocol loso and protocol=subject-10fold"):
        _plan(protocol="loso", sets={**SMALL, "protocol": "subject-10fold"})


def test_the_cli_runs_a_study_whose_config_names_the_protocol(run_cli, tmp_path):
    config = tmp_path / "c2.yaml"
    config.write_text("model: lbptop-svm\ndataset: synthetic\nprotocol: loso\nprofile: quick\n")
    result = run_cli("leakage", "--config", str(config), "--quiet", "--no-store", "--set", "dataset.subjects=4",
                     "dataset.clips_per_subject=6", "protocol.n_splits=4")
    assert result.code == 0, result.err
    assert "honest loso vs leaky variants" in result.out and "disagree" not in result.err
