"""The plugin's own test: merbench's conformance suite on every model it registers."""

import pytest

from merbench.testing import assert_conformant, conformance_names

NAMES = conformance_names(distribution="merbench-plugin-example")


def test_the_plugin_registers_its_model():
    assert NAMES == ["example-tinycnn"]


@pytest.mark.parametrize("name", NAMES)
def test_model_conforms(name):
    assert_conformant(name)
