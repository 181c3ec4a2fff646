"""``conformance_names(distribution=...)`` of a distribution whose model family lists no ``examples``: it says so
and how to fix it, rather than that the distribution registers no model."""

from __future__ import annotations

import pytest

from merbench.registry import Registry
from merbench.testing import ConformanceError, conformance_names

PLUGIN = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="lab:", build="x:y", description="a family", input="flow-uvs"))
'''


def test_a_family_without_examples_is_named_with_the_fix(install_plugin):
    install_plugin("merbench-lab", "lab", "merbench_lab_family", PLUGIN)
    with pytest.raises(ConformanceError) as caught:
        conformance_names(Registry(), distribution="merbench-lab")
    message = str(caught.value)
    assert message.startswith("model family 'lab:' of the distribution 'merbench-lab' lists no examples=(...) to "
                              "check; add a few members, e.g. ModelPlugin(name='lab:', ..., examples=(")
    assert "registers no model" not in message
