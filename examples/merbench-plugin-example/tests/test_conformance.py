"""The plugin's own test: merbench's conformance suite on every model it registers."""

import pytest

from merbench.testing import assert_conformant, cache_at, conformance_names

NAMES = conformance_names(distribution="merbench-plugin-example")


@pytest.fixture(autouse=True)
def temporary_cache(tmp_path):
    """Whatever these tests make merbench cache goes into a throw-away folder, never your real cache."""
    with cache_at(tmp_path / "merbench-cache"):
        yield


def test_the_plugin_registers_its_model():
    assert NAMES == ["example-tinycnn"]


@pytest.mark.parametrize("name", NAMES)
def test_model_conforms(name):
    assert_conformant(name)
