"""Protocols ``subject-10fold`` and ``sample-10fold`` (docs/design.md, Metrics and protocols)."""

from __future__ import annotations

import numpy as np
import pytest

from merbench.contracts import Fold, ProtocolPlugin, resolve_factory
from merbench.errors import UsageError
from merbench.registry import get_registry
from merbench_plugins.protocols import sample_kfold, subject_kfold

TEN = {"n_splits": 10}


def mixed_dataset(seed: int = 0, n_subjects: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Subjects with 4-8 clips each and mixed, imbalanced labels (about 50/30/20 %)."""
    rng = np.random.default_rng(seed)
    labels: list[int] = []
    subjects: list[str] = []
    for s in range(n_subjects):
        n = int(rng.integers(4, 9))
        labels += rng.choice(3, size=n, p=[0.5, 0.3, 0.2]).tolist()
        subjects += [f"s{s:02d}"] * n
    return np.array(labels), np.array(subjects)


def single_label_dataset() -> tuple[np.ndarray, np.ndarray]:
    """40 subjects with 3 clips each, all of one class: 20 subjects of class 0, 10 of 1, 10 of 2."""
    subject_labels = [0] * 20 + [1] * 10 + [2] * 10
    labels = np.repeat(subject_labels, 3)
    subjects = np.repeat([f"p{s:02d}" for s in range(40)], 3)
    return labels, subjects


def parts_tested(folds: list[Fold]) -> list[tuple[int, ...]]:
    return [tuple(sorted(fold.test.tolist())) for fold in folds]


def assert_partition(folds: list[Fold], n_samples: int) -> None:
    """Every sample is tested exactly once and each fold's train is the complement of its test."""
    tested = np.concatenate([fold.test for fold in folds])
    assert sorted(tested.tolist()) == list(range(n_samples))
    for fold in folds:
        assert len(np.intersect1d(fold.train, fold.test)) == 0
        assert sorted(np.concatenate([fold.train, fold.test]).tolist()) == list(range(n_samples))


# ------------------------------------------------------------------ subject-10fold


def test_subject_kfold_gives_ten_folds_indexed_in_order():
    labels, subjects = mixed_dataset()
    folds = subject_kfold(labels, subjects, 0, TEN)
    assert len(folds) == 10
    assert [fold.index for fold in folds] == list(range(10))
    assert all(isinstance(fold, Fold) and len(fold.test) > 0 for fold in folds)


def test_subject_kfold_tests_every_sample_exactly_once():
    labels, subjects = mixed_dataset()
    assert_partition(subject_kfold(labels, subjects, 0, TEN), len(labels))


def test_subject_kfold_never_puts_a_subject_in_train_and_test():
    labels, subjects = mixed_dataset()
    for fold in subject_kfold(labels, subjects, 3, TEN):
        train_subjects = set(subjects[fold.train])
        test_subjects = set(subjects[fold.test])
        assert not train_subjects & test_subjects, f"fold {fold.index} leaks {train_subjects & test_subjects}"


def test_subject_kfold_tests_each_subject_in_one_fold_only():
    labels, subjects = mixed_dataset()
    folds = subject_kfold(labels, subjects, 1, TEN)
    seen: dict[str, int] = {}
    for fold in folds:
        for subject in set(subjects[fold.test]):
            assert subject not in seen, f"{subject} tested in folds {seen[subject]} and {fold.index}"
            seen[subject] = fold.index
    assert set(seen) == set(subjects)  # and every subject is tested somewhere


def test_subject_kfold_is_stratified():
    # Single-label subjects: a stratified grouped split can (and should) give every
    # test fold 2 subjects of class 0 and 1 each of classes 1 and 2 -> 6/3/3 clips.
    labels, subjects = single_label_dataset()
    for seed in (0, 1, 2):
        for fold in subject_kfold(labels, subjects, seed, TEN):
            assert np.bincount(labels[fold.test], minlength=3).tolist() == [6, 3, 3]


def test_subject_kfold_is_roughly_stratified_on_mixed_subjects():
    labels, subjects = mixed_dataset()
    overall = np.bincount(labels, minlength=3) / len(labels)
    for fold in subject_kfold(labels, subjects, 0, TEN):
        share = np.bincount(labels[fold.test], minlength=3) / len(fold.test)
        assert (share > 0).all(), f"fold {fold.index} misses a class"
        assert np.abs(share - overall).max() < 0.2


def test_subject_kfold_same_seed_same_folds_other_seed_other_folds():
    labels, subjects = mixed_dataset()
    first = subject_kfold(labels, subjects, 42, TEN)
    again = subject_kfold(labels, subjects, 42, TEN)
    other = subject_kfold(labels, subjects, 43, TEN)
    assert parts_tested(first) == parts_tested(again)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(np.sort(a.train), np.sort(b.train))
    assert parts_tested(first) != parts_tested(other)
    assert set(parts_tested(first)) != set(parts_tested(other))  # not just the same folds reordered


def test_subject_kfold_with_too_few_subjects_suggests_n_splits():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    subjects = np.array(["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"])  # 5 subjects
    with pytest.raises(UsageError) as excinfo:
        subject_kfold(labels, subjects, 0, TEN)
    message = str(excinfo.value)
    assert "protocol.n_splits=5" in message
    assert "10" in message


def test_subject_kfold_honours_n_splits_option():
    labels, subjects = mixed_dataset()
    folds = subject_kfold(labels, subjects, 0, {"n_splits": 5})
    assert len(folds) == 5
    assert_partition(folds, len(labels))


@pytest.mark.parametrize("split", [subject_kfold, sample_kfold])
def test_n_splits_below_two_is_a_usage_error(split):
    labels, subjects = mixed_dataset()
    with pytest.raises(UsageError, match="n_splits"):
        split(labels, subjects, 0, {"n_splits": 1})


# ------------------------------------------------------------------- sample-10fold


def test_sample_kfold_tests_every_sample_exactly_once():
    labels, subjects = mixed_dataset()
    folds = sample_kfold(labels, subjects, 0, TEN)
    assert len(folds) == 10
    assert [fold.index for fold in folds] == list(range(10))
    assert_partition(folds, len(labels))


def test_sample_kfold_puts_subjects_in_train_and_test():
    labels, subjects = mixed_dataset()
    folds = sample_kfold(labels, subjects, 0, TEN)
    leaking = [fold.index for fold in folds if set(subjects[fold.train]) & set(subjects[fold.test])]
    # With 4-8 clips per subject, clips of the same person end up on both sides.
    assert len(leaking) >= 8


def test_sample_kfold_is_stratified_over_samples():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    subjects = np.array([f"s{i % 7}" for i in range(len(labels))])
    for fold in sample_kfold(labels, subjects, 0, TEN):
        # 100 samples in 10 folds: each test fold gets 5/3/2 of classes 0/1/2.
        assert np.bincount(labels[fold.test], minlength=3).tolist() == [5, 3, 2]


def test_sample_kfold_same_seed_same_folds_other_seed_other_folds():
    labels, subjects = mixed_dataset()
    assert parts_tested(sample_kfold(labels, subjects, 5, TEN)) == parts_tested(sample_kfold(labels, subjects, 5, TEN))
    assert set(parts_tested(sample_kfold(labels, subjects, 5, TEN))) != set(parts_tested(sample_kfold(labels, subjects, 6, TEN)))


def test_sample_kfold_with_a_rare_class_suggests_n_splits():
    labels = np.array([0] * 20 + [1] * 20 + [2] * 3)  # class 2 has only 3 samples
    subjects = np.array([f"s{i % 12}" for i in range(len(labels))])
    with pytest.raises(UsageError) as excinfo:
        sample_kfold(labels, subjects, 0, TEN)
    message = str(excinfo.value)
    assert "protocol.n_splits=3" in message
    assert "class 2" in message


# ------------------------------------------------------------------------ registry


def test_registered_protocol_specs():
    registry = get_registry()
    assert {"subject-10fold", "sample-10fold"} <= set(registry.names("protocols"))

    subject = registry.get("protocols", "subject-10fold")
    assert isinstance(subject, ProtocolPlugin)
    assert subject.subject_independent is True
    assert subject.options["n_splits"] == 10
    assert not subject.warning

    sample = registry.get("protocols", "sample-10fold")
    assert isinstance(sample, ProtocolPlugin)
    assert sample.subject_independent is False
    assert sample.options["n_splits"] == 10
    assert sample.warning.strip()


def test_registered_split_functions_honour_their_subject_independence_flag():
    labels, subjects = mixed_dataset()
    registry = get_registry()
    for name in ("subject-10fold", "sample-10fold"):
        spec = registry.get("protocols", name)
        folds = resolve_factory(spec.split)(labels, subjects, 0, dict(spec.options))
        assert len(folds) == 10
        leaks = any(set(subjects[f.train]) & set(subjects[f.test]) for f in folds)
        assert leaks is (not spec.subject_independent), name


def test_loso_has_one_fold_per_subject_and_no_subject_in_two_folds():
    from merbench_plugins.protocols import leave_one_subject_out

    subjects = np.repeat([f"s{i:02d}" for i in range(7)], 4)
    labels = np.tile([0, 1, 2, 0], 7)
    folds = leave_one_subject_out(labels, subjects, 0, {})
    assert len(folds) == 7
    tested = []
    for fold in folds:
        test_subjects = set(subjects[fold.test])
        assert len(test_subjects) == 1
        assert not test_subjects & set(subjects[fold.train])
        assert len(fold.train) + len(fold.test) == len(labels)
        tested += list(test_subjects)
    assert sorted(tested) == sorted(set(subjects))
    with pytest.raises(UsageError, match="at least 2 subjects"):
        leave_one_subject_out(labels[:4], subjects[:4], 0, {})


def test_loso_is_registered_as_subject_independent():
    spec = get_registry().get("protocols", "loso")
    assert spec.subject_independent is True and spec.warning == ""


def test_megc2019_needs_several_domains_and_is_loso():
    from merbench_plugins.protocols import megc2019_loso

    subjects = np.repeat([f"s{i}" for i in range(6)], 3)
    labels = np.tile([0, 1, 2], 6)
    domains = np.repeat(["casme2", "samm"], 9)
    folds = megc2019_loso(labels, subjects, 0, {}, domains)
    assert len(folds) == 6 and all(len(set(subjects[f.test])) == 1 for f in folds)
    with pytest.raises(UsageError, match="--protocol loso"):
        megc2019_loso(labels, subjects, 0, {}, np.array(["samm"] * 18))


def test_cross_dataset_trains_on_one_domain_and_tests_on_another():
    from merbench_plugins.protocols import cross_dataset

    labels = np.tile([0, 1, 2], 6)
    subjects = np.repeat([f"s{i}" for i in range(6)], 3)
    domains = np.repeat(["casme2", "samm", "smic"], 6)
    (fold,) = cross_dataset(labels, subjects, 0, {"train": "casme2", "test": "samm"}, domains)
    assert set(domains[fold.train]) == {"casme2"} and set(domains[fold.test]) == {"samm"}
    assert len(fold.train) == len(fold.test) == 6
    with pytest.raises(UsageError, match="choose a domain of the dataset: casme2, samm, smic"):
        cross_dataset(labels, subjects, 0, {"train": "casme", "test": "samm"}, domains)
    with pytest.raises(UsageError, match="two different domains"):
        cross_dataset(labels, subjects, 0, {"train": "samm", "test": "samm"}, domains)
    with pytest.raises(UsageError, match="every sample comes from synthetic; use a dataset with two domains"):
        cross_dataset(labels, subjects, 0, {"train": "", "test": ""}, np.repeat(["synthetic"], 18))


def test_megc2019_on_one_domain_says_how_to_give_the_synthetic_data_domains():
    from merbench_plugins.protocols import megc2019_loso

    with pytest.raises(UsageError, match=r"synthetic with --set dataset\.domains=3\), or --protocol loso"):
        megc2019_loso(np.tile([0, 1, 2], 4), np.repeat(["s0", "s1", "s2", "s3"], 3), 0, {}, np.repeat(["synthetic"], 12))


def test_sample_kfold_with_a_class_of_one_sample_suggests_no_impossible_n_splits():
    labels = np.array([0] * 20 + [1] * 20 + [2])
    subjects = np.array([f"s{i % 12}" for i in range(len(labels))])
    with pytest.raises(UsageError) as excinfo:
        sample_kfold(labels, subjects, 0, TEN)
    message = str(excinfo.value)
    assert "class 2 has 1" in message and "n_splits=1" not in message and "even 2 folds need 2 samples of every class" in message
