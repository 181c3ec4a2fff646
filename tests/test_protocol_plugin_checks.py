"""A protocol plugin's folds and declarations are checked before anything trains, and every message about them names
the plugin with its distribution, what is wrong and the fix: a sample tested in two folds, a position repeated in a
part, two folds with one index, an empty part, a sample on both sides of a fold, an ``expand`` that returns something
else than a ``Dataset``; ``subject_independent`` that is not a bool, or ``False`` without a warning; a hook function
without its ``register`` argument. A protocol that declares subject-independence but splits subjects is named, and a
protocol's own warning is what the leakage panel says. CONTRIBUTING.md's protocol example runs as written."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from protocol_sources import HALVES

from merbench.contracts import Fold, ModelPlugin
from merbench.errors import PluginError, RunFailed
from merbench.registry import Registry

REPO = Path(__file__).resolve().parents[1]

PROTOCOLS = HALVES + '''

def twice(labels, subjects, seed, options, domains):
    a, b = _halves(subjects)
    return [Fold(0, a, b), Fold(1, b, a), Fold(2, a, b)]


def dupe(labels, subjects, seed, options, domains):
    a, b = _halves(subjects)
    return [Fold(0, a, np.concatenate([b, b[:2]])), Fold(1, b, a)]


def sameidx(labels, subjects, seed, options, domains):
    a, b = _halves(subjects)
    return [Fold(0, a, b), Fold(0, b, a)]


def overlap(labels, subjects, seed, options, domains):
    a, b = _halves(subjects)
    return [Fold(0, np.concatenate([a, b[:3]]), b), Fold(1, b, a)]


def hollow(labels, subjects, seed, options, domains):
    a, b = _halves(subjects)
    return [Fold(0, a, b), Fold(1, np.arange(len(labels)), np.array([], dtype=int))]


def leak(labels, subjects, seed, options, domains):
    positions = np.arange(len(labels))
    return [Fold(0, positions[positions % 2 == 0], positions[positions % 2 == 1]),
            Fold(1, positions[positions % 2 == 1], positions[positions % 2 == 0])]


def halves(labels, subjects, seed, options, domains):
    a, b = _halves(subjects)
    return [Fold(0, a, b), Fold(1, b, a)]


def reorder(labels, subjects, seed, options, domains):
    a, b = _halves(subjects)
    return [Fold(1, a, b), Fold(0, b, a)]


def fromone(labels, subjects, seed, options, domains):
    a, b = _halves(subjects)
    return [Fold(1, a, b), Fold(2, b, a)]


def drifting(labels, subjects, seed, options, domains):
    positions = np.random.default_rng().permutation(len(labels))  # not seeded: each call splits anew
    return [Fold(0, np.sort(positions[::2]), np.sort(positions[1::2]))]


def as_list(dataset, options):
    return list(dataset.samples)


@hookimpl
def merbench_register_protocols(register):
    for name in ("twice", "dupe", "sameidx", "overlap", "hollow", "leak", "reorder", "fromone", "drifting"):
        register(ProtocolPlugin(name=f"p-{name}", split=globals()[name], description="d", subject_independent=True))
    register(ProtocolPlugin(name="p-expandlist", split=halves, description="d", subject_independent=True,
                            expand=as_list))
    register(ProtocolPlugin(name="p-declared", split=halves, description="d", subject_independent=False,
                            warning="p-declared keeps the halves apart but promises nothing: scores may be inflated"))
'''

DECLARATIONS = '''
import numpy as np

from merbench.contracts import Fold, ProtocolPlugin
from merbench.hookspecs import hookimpl


def split(labels, subjects, seed, options, domains):
    positions = np.arange(len(labels))
    return [Fold(0, positions[::2], positions[1::2])]


@hookimpl
def merbench_register_protocols(register):
    register(ProtocolPlugin(name="r-text", split=split, description="d", subject_independent="False",
                            warning="splits samples"))
    register(ProtocolPlugin(name="r-nowarn", split=split, description="d", subject_independent=False))
    register(ProtocolPlugin(name="r-honest", split=split, description="d", subject_independent=False,
                            warning="splits samples: scores are inflated"))
'''

NO_ARGUMENT = '''
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models():
    pass
'''

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=4", "dataset.size=32", "dataset.frames=8"]
PLUGIN = "protocol plugin '{}' (merbench-protos 0.1)"
FIX = "fix the protocol plugin's split() or report it to the plugin's author"


@pytest.fixture
def protos(install_plugin):
    install_plugin("merbench-protos", "protos", "merbench_protos_checks", PROTOCOLS)


def _run(run_cli, protocol, *extra):
    return run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--protocol",
                   protocol, *TINY, "--quiet", *extra)


def _refusal(run_cli, tmp_path, protocol):
    result = _run(run_cli, protocol, "--store", str(tmp_path / "s.sqlite"))
    assert result.code == 2, result.out + result.err
    errors = [line for line in result.err.splitlines() if line.startswith("merbench: error:")]
    assert len(errors) == 1 and "Traceback" not in result.err, result.err
    assert "Leakage audit" not in result.out  # nothing trained
    assert not (tmp_path / "s.sqlite").exists()  # nor recorded
    return " ".join(errors[0].split())


# ----------------------------------------------------------------------------- finding 1: folds that score wrongly


@pytest.mark.parametrize("protocol, says", [
    ("p-twice", "sample position 8 is in the test part of folds 1 and 3; each sample is tested in one fold at most"),
    ("p-dupe", "fold 1's test part repeats position 8 (2 times); each sample is in a part once"),
    ("p-sameidx", "folds 1 and 2 both have index 0"),
])
def test_folds_that_would_score_a_sample_twice_are_refused_before_training(protos, run_cli, tmp_path, protocol, says):
    error = _refusal(run_cli, tmp_path, protocol)
    assert error.startswith(f"merbench: error: {PLUGIN.format(protocol)}: {says}"), error
    assert error.endswith(FIX), error


def test_fold_indices_must_be_integers_from_zero():
    from merbench.splits import check_fold_contract

    train, test = np.arange(0, 4), np.arange(4, 8)
    for index in (-1, 1.0, True, "0"):
        with pytest.raises(PluginError, match=r"^who: fold 1's index is .*, not an integer from 0"):
            check_fold_contract([Fold(index, train, test)], 8, "who")


@pytest.mark.parametrize("indices", [(1, 0), (1, 2), (0, 2), (np.int64(3), 0)])
def test_fold_indices_are_the_folds_places_in_the_list(indices):
    """Per-fold records (subject overlaps, results) are matched by index: folds out of order put one fold's leak on
    another, and a gap or a start at 1 crashed the run with an IndexError."""
    from merbench.splits import check_fold_contract

    train, test = np.arange(0, 4), np.arange(4, 8)
    folds = [Fold(indices[0], train, test), Fold(indices[1], test, train)]
    with pytest.raises(PluginError, match=r"^who: the fold at place \d of the list \(counting from 0\) has index \d+; "
                                          r"the indices are the folds' "
                                          r"places in the list, 0, 1, 2, \.\.\."):
        check_fold_contract(folds, 8, "who")


def test_numpy_integer_fold_indices_become_ints():
    """np.int64 indices (easy to get from a loop over numpy values) reached training, which refused them with an
    error blaming merbench and the model."""
    from merbench.splits import check_fold_contract

    train, test = np.arange(0, 4), np.arange(4, 8)
    folds = [Fold(np.int64(0), train, test), Fold(np.int32(1), test, train)]
    check_fold_contract(folds, 8, "who")
    assert [type(fold.index) for fold in folds] == [int, int] and [fold.index for fold in folds] == [0, 1]


@pytest.mark.parametrize("protocol, says", [
    ("p-reorder", "the fold at place 0 of the list (counting from 0) has index 1; the indices are the folds' places in the list, 0, 1, 2, ..."),
    ("p-fromone", "the fold at place 0 of the list (counting from 0) has index 1; the indices are the folds' places in the list"),
    ("p-drifting", "its split() gave other folds when called again with the same data and seed (0); merbench splits "
                   "before the run and again in it, and a seed must give one set of folds: draw from "
                   "np.random.default_rng(seed), never the global random state"),
])
def test_folds_out_of_order_or_drawn_without_the_seed_are_refused_before_the_run(run_cli, protos, tmp_path,
                                                                                 protocol, says):
    """Out of order, the stored per-fold leakage landed on the wrong fold; from 1, the run crashed with a raw
    IndexError and left a failed run; unseeded, one --seed gave other folds and other scores on every run."""
    error = _refusal(run_cli, tmp_path, protocol)
    assert error.startswith(f"merbench: error: {PLUGIN.format(protocol)}: {says}"), error
    assert error.endswith(FIX), error


def test_the_runner_never_overwrites_a_prediction():
    from merbench.contracts import Dataset, Sample
    from merbench.runner import TrainedFolds, _keep_predictions

    samples = tuple(Sample(id=f"s{i}/c", subject=f"s{i}", label=0, domain="d", frames=(Path("f.png"),), onset=0,
                           apex=None, offset=0) for i in range(4))
    dataset = Dataset("d", ("a", "b"), samples)
    trained = TrainedFolds(np.full(4, -1), np.full(4, -1), [])
    _keep_predictions(trained, Fold(0, np.array([0, 1]), np.array([2, 3])), np.array([1, 0]), dataset, "p")
    with pytest.raises(RunFailed, match="fold 2 of protocol 'p' tests sample s3/c, which fold 1 predicted already"):
        _keep_predictions(trained, Fold(1, np.array([0, 1]), np.array([3, 0])), np.array([0, 0]), dataset, "p")
    assert trained.predictions.tolist() == [-1, -1, 1, 0] and trained.fold_of.tolist() == [-1, -1, 0, 0]


# ------------------------------------------------------------------ finding 10: empty part, a sample on both sides


@pytest.mark.parametrize("protocol, says", [
    ("p-hollow", "fold 2's test part is empty; every fold needs samples to train on and samples to test"),
    ("p-overlap", "sample position 8 (subject s03) is in both the training and the test part of fold 1 "
                  "(2 other samples too); a fold never trains on a sample it tests"),
])
def test_an_empty_part_or_a_shared_sample_names_the_plugin_the_part_and_the_fix(protos, run_cli, tmp_path, protocol,
                                                                                 says):
    error = _refusal(run_cli, tmp_path, protocol)
    assert error == f"merbench: error: {PLUGIN.format(protocol)}: {says}; {FIX}", error


def test_check_folds_names_who_it_is_told():
    from merbench.splits import check_folds

    subjects = np.array(["a", "a", "b", "b"])
    with pytest.raises(PluginError, match=r"^protocol plugin 'x' \(dist 1\): fold 1's train part is empty"):
        check_folds([Fold(0, np.array([], dtype=int), np.arange(4))], subjects, "x", "protocol plugin 'x' (dist 1)")
    with pytest.raises(PluginError, match=r"^protocol 'nosuch': sample position 1 \(subject a\) is in both"):
        check_folds([Fold(0, np.array([0, 1]), np.array([1, 2, 3]))], subjects, "nosuch")


# --------------------------------------------------------------------------------- finding 8: expand()'s output


def test_an_expand_returning_something_else_than_a_dataset_is_blamed_on_expand(protos, run_cli, tmp_path):
    error = _refusal(run_cli, tmp_path, "p-expandlist")
    assert error == (f"merbench: error: {PLUGIN.format('p-expandlist')}: its expand() returned list, not a "
                     "merbench.contracts.Dataset (e.g. dataclasses.replace(dataset, samples=...)); fix the protocol "
                     "plugin's expand() or report it to the plugin's author"), error
    assert "split()" not in error


def test_an_expanded_dataset_is_checked_as_a_loaded_one(monkeypatch):
    from merbench.contracts import Dataset, ProtocolPlugin, Sample
    from merbench.splits import protocol_dataset

    sample = Sample(id="s1/c", subject="s1", label=0, domain="d", frames=(Path("f.png"),), onset=0, apex=None,
                    offset=0)
    dataset = Dataset("d", ("a", "b"), (sample,))
    spec = ProtocolPlugin(name="p", split="x:y", description="d", subject_independent=True,
                          expand=lambda data, options: dataclasses.replace(data, samples=(sample, sample)))
    with pytest.raises(PluginError, match=r"^who: its expand\(\)'s dataset: 2 samples have the id 's1/c'.*: fix the "
                                          r"protocol plugin's expand\(\) or report it to the plugin's author$"):
        protocol_dataset(dataset, spec, {}, "who")


# --------------------------------------------------------------- finding 7: a subject-independent claim that leaks


def test_a_protocol_claiming_independence_that_splits_subjects_is_named_with_the_fix(protos, run_cli, tmp_path):
    target = tmp_path / "leak.json"
    result = _run(run_cli, "p-leak", "--no-store", "--json", str(target))
    assert result.code == 0, result.err
    said = " ".join(result.out.split() + result.err.split())
    expected = (f"{PLUGIN.format('p-leak')} declares subject_independent=True but put subject s01 in training and "
                "test of fold 1 (2 of 2 folds share subjects): scores are inflated; fix its split() to keep each "
                "subject on one side, or declare subject_independent=False with a warning")
    assert expected in said, said
    assert "one person under two subject ids" not in said
    data = json.loads(target.read_text())
    assert expected in data["warnings"] and data["subject_independent"] is False


def test_subjects_shared_across_domains_are_still_explained_by_the_data():
    from merbench.runner import shared_subjects_warning

    subjects = np.array(["s1", "s1", "s2", "s2"])
    domains = np.array(["a", "b", "a", "b"])
    folds = [Fold(0, np.array([0, 2]), np.array([1, 3]))]  # train on domain a, test on domain b
    said = shared_subjects_warning("cross-dataset", "protocol plugin 'cross-dataset' (merbench 0.1.0)", folds,
                                   [["s1", "s2"]], subjects, domains)
    assert said.startswith("cross-dataset is subject-independent by design, but the data puts subjects in training "
                           "and test of 1 of 1 folds (first: fold 1, subjects s1, s2): the same subject id is in two "
                           "domains"), said
    assert shared_subjects_warning("x", "y", folds, [[]], subjects, domains) is None


# ---------------------------------------------------------------- finding 15: the protocol's own warning is shown


def test_a_declared_protocols_own_warning_is_what_the_leakage_panel_says(protos, run_cli, tmp_path):
    from merbench.report import leakage_warnings
    from merbench.result import RunResult

    target = tmp_path / "declared.json"
    result = _run(run_cli, "p-declared", "--no-store", "--json", str(target))
    assert result.code == 0, result.err
    data = json.loads(target.read_text())
    assert data["leakage"]["subject_overlap_folds"] == 0 and data["leakage"]["leaks"] == ["subjects"]
    own = "p-declared keeps the halves apart but promises nothing: scores may be inflated"
    [said, _] = leakage_warnings(RunResult.from_dict(data))
    assert said == (f"This protocol is NOT subject-independent: {own}. In this run no fold happened to share a "
                    "subject (0 of 2 folds), which another seed or dataset does not promise."), said
    panel = " ".join(result.out.split())
    assert f"This protocol is NOT subject-independent: {own}." in panel and "it splits clips" not in panel
    shared = dict(data, leakage={**data["leakage"], "subject_overlap_folds": 2})
    [said, _] = leakage_warnings(RunResult.from_dict(shared))
    assert said.endswith(f"(2 of 2 folds). Its protocol says: {own}."), said


# ------------------------------------------------------------------------ finding 11: the honesty declaration


def test_a_protocol_declaration_that_is_not_a_bool_or_lacks_its_warning_is_refused(install_plugin, run_cli):
    install_plugin("merbench-decl", "decl", "merbench_decl_checks", DECLARATIONS)
    registry = Registry()
    assert registry.names("protocols").count("r-honest") == 1
    assert "r-text" not in registry.names("protocols") and "r-nowarn" not in registry.names("protocols")
    who = "from plugin 'decl' (merbench-decl 0.1) refused:"
    assert (f"protocol 'r-text' {who} its subject_independent is 'False' (str), not True or False; declare "
            "subject_independent=True only when no subject is ever in both training and test of a fold, else "
            "subject_independent=False with a warning") in registry.problems
    assert (f"protocol 'r-nowarn' {who} it declares subject_independent=False without a warning; give "
            "warning='...' saying what leaks between training and test (e.g. 'clips of one subject are in training "
            "and test: scores are inflated'), shown with every run of it") in registry.problems
    listed = run_cli("list", "protocols")
    assert listed.code == 0 and "r-text" not in listed.out.replace("plugin problem", "")
    refused = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--protocol", "r-text", "--quiet")
    assert refused.code == 2 and "protocol 'r-text' was refused when plugin 'decl'" in refused.err, refused.err


# ---------------------------------------------------------------------- finding 12: a hook without its argument


def test_a_hook_taking_no_argument_is_told_to_name_it_register(install_plugin, run_cli):
    install_plugin("merbench-noarg", "noarg", "merbench_noarg_checks", NO_ARGUMENT)
    registry = Registry()
    [problem] = [p for p in registry.problems if "noarg" in p]
    assert problem == ("plugin 'noarg' (merbench-noarg 0.1) could not be registered: merbench_register_models() in "
                       "module merbench_noarg_checks takes no 'register' argument, which the hook passes: name the "
                       "argument 'register' (def merbench_register_models(register))")
    shown = run_cli("plugins")
    assert "TypeError" not in shown.out + shown.err and "unexpected keyword" not in shown.out + shown.err


# ------------------------------------------------------------------------------------ finding 15: CONTRIBUTING.md


def _block(section: str) -> str:
    """The one python block under the CONTRIBUTING.md heading ``section``."""
    text = (REPO / "CONTRIBUTING.md").read_text()
    start = text.index(f"\n### {section}\n")
    body = text[start:text.index("\n##", start + 5)]
    [block] = re.findall(r"```python\n(.*?)```", body, re.S)
    return block


def test_the_contributing_protocol_example_runs_as_written(install_plugin, run_cli, tmp_path):
    install_plugin("merbench-groups", "groups", "merbench_subject_groups", _block("A protocol plugin"))
    assert Registry().problems == []
    target = tmp_path / "groups.json"
    result = _run(run_cli, "subject-groups", "--no-store", "--json", str(target))
    assert result.code == 0, result.err
    data = json.loads(target.read_text())
    assert len(data["folds"]) == 3 and data["subject_independent"] is True and data["leakage"]["leaks"] == []
    assert sum(fold["n_test"] for fold in data["folds"]) == data["n_samples"] == 16
    too_many = _run(run_cli, "subject-groups", "--no-store", "--set", "protocol.n_splits=5")
    assert too_many.code == 2 and "protocol.n_splits=5 is more than the dataset's 4 subjects" in too_many.err


def test_the_hook_table_lists_the_spec_fields_in_their_order():
    text = (REPO / "CONTRIBUTING.md").read_text()
    [listed] = re.findall(r"`ModelPlugin\(([^)]*)\)`", text[text.index("## 3. Hook reference"):])
    names = [name.strip() for name in listed.split(",") if name.strip() != "..."]
    fields = [field.name for field in dataclasses.fields(ModelPlugin)]
    assert names == fields[:len(names)], (names, fields)
