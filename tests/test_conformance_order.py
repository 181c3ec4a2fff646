"""The dataset conformance suite (``merbench.testing.check_dataset``) catches a loader whose samples come in another
order each time (set or hash order: other folds, so other scores for the same seed), by loading it in processes with
other hash seeds; a loader with a fixed order passes."""

from __future__ import annotations

import pytest

from merbench.registry import Registry
from merbench.testing import TINY_DATA, ConformanceError, assert_dataset_conformant, check_dataset

SET_ORDER = '''
import dataclasses

from merbench.contracts import DatasetPlugin
from merbench.hookspecs import hookimpl
from merbench_plugins.datasets.synthetic import load as synthetic_load

TINY = {"preset": "real", "subjects": 4, "clips_per_subject": 6, "size": 32, "frames": 8, "seed": 0, "domains": 3}


def load_set_order(root, options, cache_dir):
    dataset = synthetic_load(root, options, cache_dir)
    by_id = {sample.id: sample for sample in dataset.samples}
    return dataclasses.replace(dataset, samples=tuple(by_id[i] for i in set(by_id)))


def load_sorted(root, options, cache_dir):
    dataset = load_set_order(root, options, cache_dir)
    return dataclasses.replace(dataset, samples=tuple(sorted(dataset.samples, key=lambda sample: sample.id)))


@hookimpl
def merbench_register_datasets(register):
    for name, load in (("set-order", load_set_order), ("sorted-order", load_sorted)):
        register(DatasetPlugin(name=name, load=load, description="synthetic clips", options=TINY, needs_root=False,
                               reads_root=False))
'''


@pytest.fixture
def registry(install_plugin):
    install_plugin("merbench-order", "order", "merbench_order_plugin", SET_ORDER)
    return Registry()


def test_a_loader_returning_set_order_fails_the_sample_order_check(registry):
    findings = {finding.check: finding for finding in check_dataset("set-order", registry=registry)}
    assert findings["load"].passed, findings["load"].detail
    order = findings["sample order"]
    assert not order.passed
    assert "load() returned its samples in another order the second time" in order.detail
    assert "sort them, e.g. by id; the folds and so the scores depend on the order" in order.detail
    assert "PYTHONHASHSEED=" in order.detail
    with pytest.raises(ConformanceError, match=r"dataset 'set-order' failed 1 conformance check:\n  - sample order"):
        assert_dataset_conformant("set-order", registry=registry)


def test_the_same_samples_sorted_and_the_builtin_synthetic_pass(registry):
    for name, sets in (("sorted-order", {}), ("synthetic", TINY_DATA)):
        findings = assert_dataset_conformant(name, sets=sets, registry=registry)
        assert [(f.check, f.passed) for f in findings] == [("load", True), ("sample order", True)], findings
        assert "24 samples in the same order in 3 processes" in findings[1].detail


def test_a_loader_that_fails_is_one_failed_load_finding(registry):
    findings = check_dataset("synthetic", sets={"dataset.size": 2}, registry=registry)
    assert [(f.check, f.passed) for f in findings] == [("load", False)]
    assert "dataset.size" in findings[0].detail
