"""A protocol plugin's broken ``split`` is one message naming the plugin, exit 2, before anything trains: it raises,
returns no folds or something else than ``Fold``, or positions that are not integers within the dataset.
A negative position, which numpy would wrap round to a test sample, is refused, never trained on."""

from __future__ import annotations

import pytest

from protocol_sources import HALVES

PROTOCOLS = HALVES + '''

def raises(labels, subjects, seed, options, domains):
    raise ZeroDivisionError("split broke")


def empty(labels, subjects, seed, options, domains):
    return []


def tuples(labels, subjects, seed, options, domains):
    train, test = _halves(subjects)
    return [(train, test)]


def floats(labels, subjects, seed, options, domains):
    train, test = _halves(subjects)
    return [Fold(0, train.astype(float), test)]


def beyond(labels, subjects, seed, options, domains):
    train, test = _halves(subjects)
    return [Fold(0, train, np.append(test, len(labels) + 2))]


def negative(labels, subjects, seed, options, domains):
    train, test = _halves(subjects)
    return [Fold(0, np.append(train, test[:3] - len(labels)), test)]


def masks(labels, subjects, seed, options, domains):
    train, _ = _halves(subjects)
    mask = np.zeros(len(labels), dtype=bool)
    mask[train] = True
    return [Fold(0, mask, ~mask)]


def hollow(labels, subjects, seed, options, domains):
    train, _ = _halves(subjects)
    return [Fold(0, train, np.array([]))]


def fine(labels, subjects, seed, options, domains):
    train, test = _halves(subjects)
    return [Fold(0, train, test), Fold(1, test, train)]


@hookimpl
def merbench_register_protocols(register):
    for name in ("p-raises", "p-empty", "p-tuples", "p-floats", "p-beyond", "p-negative", "p-masks", "p-hollow",
                 "p-fine"):
        register(ProtocolPlugin(name=name, split=globals()[name[2:]], description="d", subject_independent=True))
'''

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=4", "dataset.size=32", "dataset.frames=8"]
PLUGIN = "protocol plugin '{}' (merbench-protos 0.1)"


@pytest.fixture
def protos(install_plugin):
    install_plugin("merbench-protos", "protos", "merbench_protos_plugin", PROTOCOLS)


@pytest.mark.parametrize("name, says", [
    ("p-raises", "its split() raised ZeroDivisionError: split broke; check the protocol.* settings given"),
    ("p-empty", "its split() returned no folds; fix the protocol plugin's split()"),
    ("p-tuples", "its split() returned tuple as fold 1, expected merbench.contracts.Fold(index, train, test)"),
    ("p-floats", "fold 1's train part holds float64 values; give integer sample positions"),
    ("p-beyond", "fold 1's test part holds position 18; the dataset has 16 samples (positions 0..15)"),
    ("p-negative", "fold 1's train part holds position -"),
    ("p-masks", "fold 1's train part is a boolean mask; give integer sample positions (np.flatnonzero(mask))"),
])
def test_a_broken_split_is_one_message_naming_the_plugin(protos, run_cli, tmp_path, name, says):
    _refused_naming_the_plugin(run_cli, tmp_path, name, says)


def test_an_empty_part_is_called_empty_whatever_its_dtype(protos, run_cli, tmp_path):
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--protocol",
                     "p-hollow", *TINY, "--no-store")
    assert result.code == 2 and "fold 1's test part is empty; every fold needs samples" in result.err, result.err


def _refused_naming_the_plugin(run_cli, tmp_path, name, says):
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--protocol",
                     name, *TINY, "--store", str(tmp_path / "s.sqlite"))
    assert result.code == 2, result.out + result.err
    error = [line for line in result.err.splitlines() if line.startswith("merbench: error:")]
    assert len(error) == 1 and "Traceback" not in result.err
    assert error[0].startswith(f"merbench: error: {PLUGIN.format(name)}: ") and says in error[0], error[0]
    assert "Leakage audit" not in result.out  # nothing trained


def test_a_sound_protocol_plugin_runs(protos, run_cli, tmp_path):
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--protocol",
                     "p-fine", *TINY, "--no-store")
    assert result.code == 0, result.out + result.err
    assert "pooled" in result.out
