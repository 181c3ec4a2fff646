"""A plugin spec whose True/False fields hold numpy bools (``needs_root=np.False_``, from an array's ``.any()``,
say) registers as if they were plain bools (before: refused with "its needs_root is np.False_ (numpy.bool), not True
or False", a message that contradicts itself to a user)."""

from __future__ import annotations

from merbench.registry import Registry

PLUGIN = '''
import numpy as np

from merbench.contracts import DatasetPlugin, ProtocolPlugin
from merbench.hookspecs import hookimpl


def load(root, options, cache_dir):
    raise AssertionError("not loaded here")


def split(labels, subjects, seed, options, domains):
    raise AssertionError("not split here")


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="npmade", load=load, description="d", needs_root=np.False_, reads_root=np.False_))
    register(DatasetPlugin(name="npclash", load=load, description="d", needs_root=np.True_, reads_root=np.False_))
    register(DatasetPlugin(name="textroot", load=load, description="d", needs_root="no"))


@hookimpl
def merbench_register_protocols(register):
    register(ProtocolPlugin(name="npfolds", split=split, description="d", subject_independent=np.True_,
                            partition=np.True_))
'''


def registry_of(install_plugin) -> Registry:
    """A registry holding the plugin above."""
    install_plugin("merbench-npbools", "npbools", "merbench_npbools_plugin", PLUGIN)
    return Registry()


def test_numpy_bools_register_as_plain_bools(install_plugin):
    registry = registry_of(install_plugin)
    assert "npmade" in registry.names("datasets"), registry.problems
    assert "npfolds" in registry.names("protocols"), registry.problems
    made, folds = registry.get("datasets", "npmade"), registry.get("protocols", "npfolds")
    assert (made.needs_root, made.reads_root) == (False, False)
    assert (folds.subject_independent, folds.partition) == (True, True)
    assert all(type(value) is bool for value in (made.needs_root, made.reads_root, folds.subject_independent,
                                                 folds.partition))
    assert not any("npmade" in problem or "npfolds" in problem for problem in registry.problems)


def test_numpy_bools_are_judged_by_their_value_and_other_values_still_refused(install_plugin):
    registry = registry_of(install_plugin)
    problems = "\n".join(registry.problems)
    assert ("dataset 'npclash' from plugin 'npbools' (merbench-npbools 0.1) refused: it declares reads_root=False "
            "(--root is refused, the loader makes its data) but leaves needs_root=True") in problems, problems
    assert ("dataset 'textroot' from plugin 'npbools' (merbench-npbools 0.1) refused: its needs_root is 'no' (a str), "
            "not True or False; write needs_root=True or needs_root=False") in problems, problems
    assert "np." not in problems and "numpy" not in problems


def test_a_dataset_declared_with_numpy_bools_lists_as_usable(install_plugin, run_cli):
    registry_of(install_plugin)
    listed = run_cli("list", "datasets")
    assert listed.code == 0 and "npmade" in listed.out and "Traceback" not in listed.err
