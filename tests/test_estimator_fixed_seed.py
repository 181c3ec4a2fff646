"""An estimator whose plugin fixes ``random_state`` does not follow ``--seed``: merbench keeps the plugin's value,
says so (``fixed_seed_warning``), and the conformance suite's "seed" check fails it with the fix."""

from __future__ import annotations

import json

import pytest

from merbench.estimator import fixed_random_states, fixed_seed_warning, seeded
from merbench.registry import Registry
from merbench.testing import check_model

PLUGIN = '''
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def fixed(options, in_channels, n_classes, input_size):
    return RandomForestClassifier(n_estimators=5, random_state=0)


def unset(options, in_channels, n_classes, input_size):
    return make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5))


@hookimpl
def merbench_register_models(register):
    for name, build in (("forest-fixed", fixed), ("forest-unset", unset)):
        register(ModelPlugin(name=name, build=build, description="test model", input="flow-uvs",
                             citation="original work", profiles={"quick": {}, "default": {}, "paper": {}}))
'''


@pytest.fixture
def forests(install_plugin):
    install_plugin("merbench-forests", "forests", "merbench_forests", PLUGIN)
    return Registry()


def _findings(registry, name):
    return {f.check: f for f in check_model(name, registry, profiles=("quick",), run=False)}


def test_the_suite_fails_an_estimator_that_fixes_its_random_state(forests):
    findings = _findings(forests, "forest-fixed")
    assert sorted(check for check, f in findings.items() if not f.passed) == ["[quick] seed"]
    detail = findings["[quick] seed"].detail
    assert "build() fixes random_state=0" in detail and "leave random_state unset (None)" in detail


def test_the_suite_passes_an_estimator_that_leaves_random_state_to_the_seed(forests):
    findings = _findings(forests, "forest-unset")
    assert all(f.passed for f in findings.values()), findings
    assert findings["[quick] seed"].detail == "random_state is unset or absent: it follows the fold's seed"


def test_a_fixed_random_state_is_kept_and_named_in_a_warning():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fixed = make_pipeline(StandardScaler(), RandomForestClassifier(random_state=0))
    assert seeded(fixed, 7).get_params()["randomforestclassifier__random_state"] == 0
    assert fixed_random_states(fixed) == ["randomforestclassifier__random_state"]
    warning = fixed_seed_warning(fixed, "forest")
    assert warning.startswith("forest's estimator fixes randomforestclassifier__random_state=0, so --seed does not "
                              "change it")
    unset = RandomForestClassifier()
    assert fixed_seed_warning(unset, "forest") is None
    assert seeded(unset, 7).random_state == 7



@pytest.mark.parametrize("model, warned", [("forest-fixed", True), ("forest-unset", False)])
def test_a_run_of_an_estimator_that_fixes_its_random_state_keeps_a_warning(forests, run_cli, tmp_path, model, warned):
    target = tmp_path / "result.json"
    result = run_cli("run", "--model", model, "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--set", "protocol.n_splits=2", "--json", str(target))
    assert result.code == 0, result.err
    kept = json.loads(target.read_text())["warnings"]
    said = [warning for warning in kept if "so --seed does not change it" in warning]
    assert bool(said) == warned, kept
    if warned:
        assert said[0].startswith("forest-fixed's estimator fixes random_state=0")
