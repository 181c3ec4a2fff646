"""A third-party protocol whose folds follow set order (``list(set(subjects))``, shuffled with the seed) gave other
folds, so other scores, for one ``--seed`` in each run: Python's string hashing differs from process to process, and
preflight split twice in the same process, where a set iterates alike. Preflight now splits a third-party protocol
once more in a second process with another ``PYTHONHASHSEED`` and refuses it, naming the plugin, the first fold that
differs and the cause; a protocol that sorts the subjects first passes, and merbench's own protocols start no second
process."""

from __future__ import annotations

import pytest

PROTOCOLS = '''
import os

import numpy as np

from merbench.contracts import Fold, ProtocolPlugin
from merbench.hookspecs import hookimpl


def _one_subject_per_fold(order, subjects, seed):
    shuffled = np.random.default_rng(seed).permutation(np.array(order))
    return [Fold(i, np.flatnonzero(subjects != subject), np.flatnonzero(subjects == subject))
            for i, subject in enumerate(shuffled)]


def set_order(labels, subjects, seed, options, domains):
    return _one_subject_per_fold(list(set(subjects)), subjects, seed)


def sorted_order(labels, subjects, seed, options, domains):
    return _one_subject_per_fold(sorted(set(subjects)), subjects, seed)


def here_only(labels, subjects, seed, options, domains):
    if "PYTHONHASHSEED" in os.environ:
        raise RuntimeError("no split where PYTHONHASHSEED is set")
    return sorted_order(labels, subjects, seed, options, domains)


def chatty(labels, subjects, seed, options, domains):
    print("splitting", len(subjects), "clips")  # a plugin's own output never reaches the folds read back
    return sorted_order(labels, subjects, seed, options, domains)


print("merbench_hashorder_checks imported")


@hookimpl
def merbench_register_protocols(register):
    for name, split in (("h-set", set_order), ("h-sorted", sorted_order), ("h-here", here_only), ("h-chatty", chatty),
                        ("h-lambda", lambda *given: set_order(*given))):
        register(ProtocolPlugin(name=name, split=split, description="d", subject_independent=True))
'''

TINY = ["--set", "dataset.subjects=8", "dataset.clips_per_subject=3", "dataset.size=32", "dataset.frames=8",
        "engine.parallel_folds=1"]
"""8 subjects: two hash seeds give one set order of them about once in 40,000 tries."""

PLUGIN = "protocol plugin '{}' (merbench-hashorder 0.1)"
FIX = "fix the protocol plugin's split() or report it to the plugin's author"
CAUSE = ("iterating over a set (list(set(subjects))) or over a dict keyed by such things follows Python's string "
         "hashing, which differs from process to process: sort the subjects first (sorted(set(subjects))) and draw "
         "only from np.random.default_rng(seed)")


@pytest.fixture
def protocols(install_plugin, monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    install_plugin("merbench-hashorder", "hashorder", "merbench_hashorder_checks", PROTOCOLS)


def _run(run_cli, tmp_path, protocol):
    return run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--protocol",
                   protocol, *TINY, "--quiet", "--store", str(tmp_path / "s.sqlite"))


def _error(result) -> str:
    """The one error line of a refused run, on one line."""
    assert result.code == 2, result.out + result.err
    errors = [line for line in result.err.splitlines() if line.startswith("merbench: error:")]
    assert len(errors) == 1 and "Traceback" not in result.err, result.err
    return " ".join(result.err[result.err.index("merbench: error:"):].split())


def test_folds_in_set_order_are_refused_before_the_run(protocols, run_cli, tmp_path):
    result = _run(run_cli, tmp_path, "h-set")
    error = _error(result)
    assert error.startswith(f"merbench: error: {PLUGIN.format('h-set')}: its split() gave other folds in two Python "
                            "processes with the same data and seed (0), so two runs of one --seed train and score "
                            "other folds: fold 1 tests subjects s0"), error
    assert error.endswith(f"in the other process; {CAUSE}; {FIX}"), error
    assert "Leakage audit" not in result.out and not (tmp_path / "s.sqlite").exists()  # nothing trained or recorded


def test_folds_of_sorted_subjects_pass(protocols, run_cli, tmp_path):
    result = _run(run_cli, tmp_path, "h-sorted")
    assert result.code == 0, result.err


def test_a_split_that_fails_in_the_second_process_is_named_with_what_it_said(protocols, run_cli, tmp_path):
    error = _error(_run(run_cli, tmp_path, "h-here"))
    assert error == (f"merbench: error: {PLUGIN.format('h-here')}: its split() failed in a second Python process "
                     "(PYTHONHASHSEED=1) given the same data and seed, where it worked in this one: RuntimeError: no "
                     f"split where PYTHONHASHSEED is set; {CAUSE}; {FIX}"), error


def test_merbench_own_protocols_are_split_in_this_process_only(run_cli, tmp_path, monkeypatch):
    """Built-in protocols are deterministic: no second process slows the start of their runs."""
    from merbench import preflight

    def refuse(*args):
        raise AssertionError("a built-in protocol was split in a second process")

    monkeypatch.setattr(preflight, "split_elsewhere", refuse)
    result = _run(run_cli, tmp_path, "loso")
    assert result.code == 0, result.err


def test_the_second_process_uses_another_hash_seed(monkeypatch):
    from merbench.preflight import other_hash_seed

    monkeypatch.setenv("PYTHONHASHSEED", "1")
    assert other_hash_seed() == "2"
    monkeypatch.delenv("PYTHONHASHSEED")
    assert other_hash_seed() == "1"


def test_a_split_that_prints_runs(protocols, run_cli, tmp_path):
    result = _run(run_cli, tmp_path, "h-chatty")
    assert result.code == 0, result.err  # before: its print was read back as the folds and the run refused


def test_a_split_registered_as_a_lambda_is_checked_in_the_second_process_too(protocols, run_cli, tmp_path):
    error = _error(_run(run_cli, tmp_path, "h-lambda"))  # before: a lambda cannot be pickled, so it went unchecked
    assert f"{PLUGIN.format('h-lambda')}: its split() gave other folds in two Python processes" in error, error
