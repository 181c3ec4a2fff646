"""The dataset conformance suite (``merbench.testing.check_dataset``) catches a loader whose samples come in a fixed
order but whose classes, labels or subjects follow set order (``classes = tuple(set(names))``, a sample labelled by
its place there): each run then scores other classes, so the same seed gives other scores. It compares the classes
and each sample's subject, label and domain with those of loads in processes with other hash seeds."""

from __future__ import annotations

import re

import pytest

from merbench.registry import Registry
from merbench.testing import ConformanceError, assert_dataset_conformant, check_dataset

SET_CLASSES = '''
import dataclasses

from merbench.contracts import DatasetPlugin
from merbench.hookspecs import hookimpl
from merbench_plugins.datasets.synthetic import load as synthetic_load

TINY = {"preset": "real", "subjects": 4, "clips_per_subject": 6, "size": 32, "frames": 8, "seed": 0, "domains": 3}


def relabelled(dataset, classes, order):
    """``dataset`` with ``classes``, each sample labelled by its class's place in ``order``."""
    samples = tuple(dataclasses.replace(sample, label=order.index(dataset.classes[sample.label]))
                    for sample in dataset.samples)
    return dataclasses.replace(dataset, classes=classes, samples=samples)


def load_set_classes(root, options, cache_dir):
    dataset = synthetic_load(root, options, cache_dir)
    classes = tuple(set(dataset.classes))
    return relabelled(dataset, classes, classes)


def load_set_labels(root, options, cache_dir):
    dataset = synthetic_load(root, options, cache_dir)
    return relabelled(dataset, dataset.classes, list(set(dataset.classes)))


def load_set_subjects(root, options, cache_dir):
    dataset = synthetic_load(root, options, cache_dir)
    subjects = list(set(sample.subject for sample in dataset.samples))
    samples = tuple(dataclasses.replace(sample, subject=f"sub{subjects.index(sample.subject)}")
                    for sample in dataset.samples)
    return dataclasses.replace(dataset, samples=samples)


def load_sorted_classes(root, options, cache_dir):
    dataset = synthetic_load(root, options, cache_dir)
    classes = tuple(sorted(set(dataset.classes)))
    return relabelled(dataset, classes, classes)


@hookimpl
def merbench_register_datasets(register):
    for name, load in (("set-classes", load_set_classes), ("set-labels", load_set_labels),
                       ("set-subjects", load_set_subjects), ("sorted-classes", load_sorted_classes)):
        register(DatasetPlugin(name=name, load=load, description="synthetic clips", options=TINY, needs_root=False,
                               reads_root=False))
'''

TUPLE = r"\('\w+', '\w+', '\w+'\)"


@pytest.fixture
def registry(install_plugin):
    install_plugin("merbench-class-order", "class_order", "merbench_class_order_plugin", SET_CLASSES)
    return Registry()


def failed_order(name: str, registry: Registry) -> str:
    """The detail of the failed "sample order" finding of dataset ``name``, whose load itself passed."""
    findings = {finding.check: finding for finding in check_dataset(name, registry=registry)}
    assert findings["load"].passed, findings["load"].detail
    assert not findings["sample order"].passed
    return findings["sample order"].detail


def test_classes_in_set_order_fail_naming_both_orders(registry):
    detail = failed_order("set-classes", registry)
    assert re.fullmatch(rf"load\(\) returned its classes in another order in a process with PYTHONHASHSEED=[12]: "
                        rf"{TUPLE} here, {TUPLE} there; give them in a fixed order, e\.g\. sorted; .+", detail), detail
    here, there = re.findall(TUPLE, detail)
    assert here != there and sorted(here) == sorted(there)
    with pytest.raises(ConformanceError, match=r"dataset 'set-classes' failed 1 conformance check:\n  - sample order"):
        assert_dataset_conformant("set-classes", registry=registry)


@pytest.mark.parametrize(("name", "field"), [("set-labels", "label"), ("set-subjects", "subject")])
def test_a_sample_field_in_set_order_fails_naming_the_sample(registry, name, field):
    detail = failed_order(name, registry)
    assert re.fullmatch(rf"load\(\) gave sample '[^']+' another {field} in a process with PYTHONHASHSEED=[12]: "
                        rf".+ here, .+ there; derive it from the data alone, .+", detail), detail


def test_classes_in_a_fixed_order_pass(registry):
    findings = assert_dataset_conformant("sorted-classes", registry=registry)
    assert [(f.check, f.passed) for f in findings] == [("load", True), ("sample order", True)], findings
    assert "24 samples in the same order in 3 processes" in findings[1].detail
