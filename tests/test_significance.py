"""``merbench significance``: paired comparison of two runs on the same folds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import wilcoxon

from merbench.errors import DataError
from merbench.result import RunResult
from merbench.significance import compare_runs

FAST = ("--set", "protocol.n_splits=5", "--epochs", "2")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two different models on the same folds, and one on other folds."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("significance")
    made = {}
    for name, extra in {"a": (), "b": ("--set", "model.dim=4", "model.depth=1"), "other": ("--seed", "1")}.items():
        path = folder / f"{name}.json"
        assert main(["run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     *FAST, *extra, "--json", str(path)]) == 0
        made[name] = path
    return made


def load(path):
    return json.loads(path.read_text())


def test_comparison_uses_the_per_fold_scores_and_a_bootstrap_interval(runs):
    a, b = load(runs["a"]), load(runs["b"])
    result = compare_runs(RunResult.from_dict(a), RunResult.from_dict(b), "uf1", n_bootstrap=500)
    fold_a = [f["metrics"]["uf1"] for f in a["folds"]]
    fold_b = [f["metrics"]["uf1"] for f in b["folds"]]
    assert result.fold_scores_a == pytest.approx(fold_a) and result.fold_scores_b == pytest.approx(fold_b)
    if not np.allclose(fold_a, fold_b):
        assert result.p_value == pytest.approx(wilcoxon(fold_b, fold_a).pvalue)
    assert result.pooled_a == pytest.approx(a["pooled"]["uf1"]) and result.pooled_b == pytest.approx(b["pooled"]["uf1"])
    assert result.ci_low <= result.pooled_difference <= result.ci_high
    assert result.ci_low < result.ci_high


def test_a_run_against_itself_shows_no_difference(runs):
    a = load(runs["a"])
    result = compare_runs(RunResult.from_dict(a), RunResult.from_dict(a), "uar", n_bootstrap=200)
    assert result.p_value == 1.0 and result.pooled_difference == 0.0
    assert result.ci_low == result.ci_high == 0.0


def test_runs_on_different_folds_are_refused(runs, run_cli):
    with pytest.raises(DataError, match="same folds"):
        compare_runs(RunResult.from_dict(load(runs["a"])), RunResult.from_dict(load(runs["other"])))
    refused = run_cli("significance", str(runs["a"]), str(runs["other"]))
    assert refused.code == 2 and "same --seed" in refused.err


def test_cli_prints_the_comparison(runs, run_cli):
    shown = run_cli("significance", str(runs["a"]), str(runs["b"]), "--bootstrap", "300")
    assert shown.code == 0, shown.err
    text = " ".join(shown.out.split())
    assert "Wilcoxon signed-rank over folds" in text and "fold mean" in text and "pooled" in text
    # Two runs of one model read apart by what each changed that the other did not, as compare names their rows.
    assert "B (convmixer (model.depth=1, model.dim=4)) vs A (convmixer) on synthetic" in text
    fold_a, fold_b = ([f["metrics"]["uf1"] for f in load(runs[name])["folds"]] for name in "ab")
    n = int(np.count_nonzero(~np.isclose(fold_a, fold_b)))  # tied folds do not count in the signed-rank test
    folds = f"{n} folds" if n == len(fold_a) else f"{n} folds that differ (of {len(fold_a)})"
    few = f"With {folds} it cannot give p below {2 / 2 ** n:.3g}, so it cannot show a difference at 0.05"
    assert (few in text) == (n < 6), text


def test_two_runs_of_equal_predictions_say_no_fold_differs(runs, run_cli, tmp_path):
    """It once said "With 0 folds that differ (of 3) it cannot give p below 2". (The same run twice is refused:
    test_significance_audit_inputs.py; a copy without its run id is another run of equal predictions.)"""
    copy = load(runs["a"])
    copy.pop("run_id", None)
    twin = tmp_path / "twin.json"
    twin.write_text(json.dumps(copy))
    shown = run_cli("significance", str(runs["a"]), str(twin), "--bootstrap", "100")
    text = " ".join(shown.out.split())
    assert shown.code == 0 and "No fold's score differs (all" in text and "p below" not in text, text


def test_one_differing_fold_is_counted_in_the_singular():
    from types import SimpleNamespace

    from merbench.commands.significance import wilcoxon_text

    text = wilcoxon_text(SimpleNamespace(p_value=1.0, wilcoxon_statistic=0.0, wilcoxon_note=None,
                                         fold_scores_a=[0.5, 0.5, 0.5], fold_scores_b=[0.6, 0.5, 0.5]))
    assert "With 1 fold that differs (of 3) it cannot give p below 1," in text


@pytest.mark.parametrize("stored", [0.99, 0.0])
def test_the_fold_scores_come_from_the_predictions_not_the_files_stored_scores(runs, run_cli, tmp_path, stored):
    """An edited per-fold score changes nothing: the test uses what each fold's predictions give (a NaN one is refused
    as a damaged result, test_damaged_stored_scores.py)."""
    honest = compare_runs(RunResult.from_dict(load(runs["a"])), RunResult.from_dict(load(runs["b"])), n_bootstrap=100)
    edited = load(runs["b"])
    for fold in edited["folds"]:
        fold["metrics"]["uf1"] = stored
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))
    again = compare_runs(RunResult.from_dict(load(runs["a"])), RunResult.from_dict(load(path)), n_bootstrap=100)
    assert again.fold_scores_b == honest.fold_scores_b and again.p_value == honest.p_value
    shown = run_cli("significance", str(runs["a"]), str(path), "--bootstrap", "100")
    assert shown.code == 0 and "nan" not in shown.out and "99.0" not in shown.out


def test_runs_on_different_folds_with_the_same_seed_are_told_what_else_differs(runs, run_cli, tmp_path):
    other = load(runs["other"])
    other["seed"] = 0  # same seed, other test samples: another dataset.seed or protocol option made the folds
    path = tmp_path / "other-data.json"
    path.write_text(json.dumps(other))
    refused = run_cli("significance", str(runs["a"]), str(path))
    assert refused.code == 2 and "same --seed" not in refused.err and "dataset.seed" in refused.err


def test_the_difference_column_is_the_difference_of_the_scores_shown(runs, run_cli):
    shown = run_cli("significance", str(runs["a"]), str(runs["b"]), "--bootstrap", "200")
    assert shown.code == 0, shown.err
    for label in ("fold mean", "pooled"):
        cells = next(line for line in shown.out.splitlines() if line.strip().startswith(label)).split()
        a, b, difference = (float(cell) for cell in cells[len(label.split()):][:3])
        assert difference == pytest.approx(round(b - a, 1)), f"{label}: {a} → {b} shown as {difference:+}"


def test_runs_are_given_by_their_stored_ids_too(runs, run_cli, tmp_path):
    from merbench.store import ResultStore

    store = tmp_path / "s.sqlite"
    ids = {"a": "20250611-000001-aaaaaa", "b": "20250611-000002-bbbbbb"}
    with ResultStore(store) as opened:
        for name, run_id in ids.items():
            result = RunResult.from_dict(load(runs[name]))
            opened.begin_run(result.config, 1, {}, run_id=run_id)
            opened.finish_run(run_id, result)
    by_id = run_cli("significance", ids["a"][:17], ids["b"], "--bootstrap", "200", "--store", str(store))
    by_file = run_cli("significance", str(runs["a"]), str(runs["b"]), "--bootstrap", "200")
    assert by_id.code == 0, by_id.err
    assert by_id.out == by_file.out
    unknown = run_cli("significance", "20250611-9", ids["b"], "--store", str(store))
    assert unknown.code == 2 and "20250611-9: no such result file, and not a run of the results store" in unknown.err
    with ResultStore(store) as opened:  # a stored run without a result is named as such, not as "not a run"
        unfinished = opened.begin_run(RunResult.from_dict(load(runs["a"])).config, 1, {})
        opened.mark_stopped(unfinished, "interrupted")
    stopped = run_cli("significance", unfinished, ids["b"], "--store", str(store))
    assert stopped.code == 2 and "not a run of the results store" not in stopped.err
    assert f"run {unfinished} is interrupted" in " ".join(stopped.err.split())


def test_a_summary_given_to_significance_says_to_give_run_ids_not_to_audit(runs, run_cli, tmp_path):
    summary = tmp_path / "leakage.json"
    summary.write_text(json.dumps({"kind": "merbench-leakage", "variants": []}))
    refused = run_cli("significance", str(summary), str(runs["a"]))
    message = " ".join(refused.err.split())
    assert refused.code == 2 and "not a run's result; give `merbench significance` a run's id" in message
    assert "audit" not in message


@pytest.mark.parametrize("count", ["99", "99999999999"])
def test_a_resample_count_out_of_range_is_one_message(runs, run_cli, count):
    """A huge --bootstrap once ended in numpy's MemoryError traceback."""
    refused = run_cli("significance", str(runs["a"]), str(runs["b"]), "--bootstrap", count)
    assert refused.code == 2 and f"--bootstrap {count}: use 100 to 100000 resamples" in refused.err, refused.err


def _by_subject(wrong_subjects, n_subjects=10, clips=6):
    """A LOSO result (2 classes) whose predictions are right except every clip of ``wrong_subjects``."""
    from result_samples import minimal_dict

    rows = [{"id": f"s{s}_{c}", "subject": f"s{s}", "domain": None, "fold": s, "label": c % 2,
             "prediction": (c % 2) ^ (s in wrong_subjects)} for s in range(n_subjects) for c in range(clips)]
    return RunResult.from_dict(minimal_dict(classes=["a", "b"], n_samples=len(rows), n_subjects=n_subjects,
                                            predictions=rows, confusion_matrix=[[1, 0], [0, 1]]))


def test_the_bootstrap_draws_subjects_so_alike_clips_of_one_person_do_not_narrow_the_interval():
    a, b = _by_subject({0, 1, 2, 3}), _by_subject({4})
    by_subject = compare_runs(a, b, "accuracy", n_bootstrap=1000, resample="subjects")
    by_clip = compare_runs(a, b, "accuracy", n_bootstrap=1000, resample="clips")
    assert by_subject.resampled == "subjects" and by_subject.n_units == 10
    assert by_clip.resampled == "clips" and by_clip.n_units == 60
    assert by_subject.pooled_difference == by_clip.pooled_difference == pytest.approx(0.3)
    assert by_subject.ci_high - by_subject.ci_low > 1.5 * (by_clip.ci_high - by_clip.ci_low)


def test_significance_says_what_its_bootstrap_draws():
    from rich.console import Console

    from merbench.commands.significance import comparison_table
    from merbench.tables import print_table

    a, b = _by_subject({0, 1, 2, 3}), _by_subject({4})
    for resample, said in (("subjects", "each drawing 10 of the 10 test subjects with replacement, each with all its "
                                        "clips"),
                           ("clips", "each drawing 60 of the 60 test clips one by one with replacement")):
        console = Console(width=80, record=True, force_terminal=False)
        print_table(console, comparison_table(a, b, compare_runs(a, b, "accuracy", 200, resample=resample), "Accuracy"))
        assert said in " ".join(console.export_text().split())


def test_clip_draws_keep_a_clips_frame_pairs_together_and_a_subject_named_0_is_a_subject():
    from result_samples import minimal_dict

    rows = [{"id": f"s{s}_{c}_p{p}", "subject": s, "domain": None, "fold": s, "label": c % 2, "prediction": p % 2,
             "clip": f"s{s}_{c}"} for s in range(4) for c in range(3) for p in range(5)]  # 5 frame pairs per clip
    result = RunResult.from_dict(minimal_dict(classes=["a", "b"], n_samples=len(rows), n_subjects=4, predictions=rows,
                                              confusion_matrix=[[1, 0], [0, 1]]))
    by_clip = compare_runs(result, result, "accuracy", n_bootstrap=100, resample="clips")
    assert (by_clip.resampled, by_clip.n_units) == ("clips", 12)
    by_subject = compare_runs(result, result, "accuracy", n_bootstrap=100)
    assert (by_subject.resampled, by_subject.n_units) == ("subjects", 4)  # subject 0 too


@pytest.mark.parametrize("n_subjects, said", [(1, "with one test subject every draw is the same, so the interval has "
                                                  "no width: --resample clips draws its clips"),
                                              (3, "with 3 test subjects the draws take few values: read it as rough")])
def test_a_bootstrap_over_few_subjects_says_how_little_it_can_tell(n_subjects, said):
    from rich.console import Console

    from merbench.commands.significance import comparison_table
    from merbench.tables import print_table

    a, b = _by_subject({0}, n_subjects=n_subjects), _by_subject(set(), n_subjects=n_subjects)
    console = Console(width=80, record=True, force_terminal=False)
    print_table(console, comparison_table(a, b, compare_runs(a, b, "accuracy", 200), "Accuracy"))
    assert said in " ".join(console.export_text().split())


def test_significance_json_holds_the_figures_the_table_shows(runs, run_cli, tmp_path):
    shown = run_cli("significance", str(runs["a"]), str(runs["b"]), "--bootstrap", "300", "--json", "-")
    assert shown.code == 0, shown.err
    document = json.loads(shown.out)  # stdout is the JSON alone; the table went to stderr
    assert "Wilcoxon signed-rank over folds" in " ".join(shown.err.split())
    result = compare_runs(RunResult.from_dict(load(runs["a"])), RunResult.from_dict(load(runs["b"])), "uf1",
                          n_bootstrap=300)
    assert document["kind"] == "merbench-significance" and document["metric"] == "uf1"
    assert (document["a"]["given"], document["b"]["model"]) == (str(runs["a"]), "convmixer")
    assert document["fold_scores_a"] == pytest.approx(result.fold_scores_a)
    assert document["pooled_difference"] == pytest.approx(result.pooled_difference)
    interval = document["interval"]
    assert (interval["low"], interval["high"]) == pytest.approx((result.ci_low, result.ci_high))
    assert (interval["resamples"], interval["resampled"], interval["confidence"]) == (300, "subjects", 0.95)
    assert document["wilcoxon"]["p_value"] == result.p_value

    refused = run_cli("significance", str(runs["a"]), str(runs["b"]), "--json", str(runs["b"]))
    assert refused.code == 2 and "run B's result file" in refused.err
    assert load(runs["b"])["model"] == "convmixer", "the compared file is kept"


def test_the_p_value_is_exact_when_few_of_many_loso_folds_differ():
    """26 LOSO folds of which 5 differ: scipy's wilcoxon, given the 21 zeros too, used its normal approximation
    and printed p=0.0431 under a caption saying p cannot fall below 0.0625 with 5 differing folds."""
    from types import SimpleNamespace

    from merbench.commands.significance import wilcoxon_text

    a, b = _by_subject({0, 1, 2, 3, 4}, n_subjects=26, clips=4), _by_subject(set(), n_subjects=26, clips=4)
    comparison = compare_runs(a, b, "accuracy", n_bootstrap=200)
    assert comparison.p_value == pytest.approx(2 / 2 ** 5) and comparison.wilcoxon_statistic == 0
    text = wilcoxon_text(SimpleNamespace(p_value=comparison.p_value, wilcoxon_statistic=0.0, wilcoxon_note=None,
                                         fold_scores_a=comparison.fold_scores_a,
                                         fold_scores_b=comparison.fold_scores_b))
    assert "p=0.0625. With 5 folds that differ (of 26) it cannot give p below 0.0625" in text, text


def test_the_signed_rank_test_agrees_with_scipys_exact_and_complete_permutation_p_values():
    from scipy.stats import PermutationMethod

    from merbench.significance import signed_rank_test

    rng = np.random.default_rng(0)
    for _ in range(150):  # ties and zeros, few folds: scipy's permutation over every sign flip
        differences = rng.integers(-3, 4, size=int(rng.integers(2, 12))).astype(float)
        differing = differences[differences != 0]
        if len(differing) < 2:
            continue
        expected = wilcoxon(differing, method=PermutationMethod(n_resamples=np.inf))
        assert signed_rank_test(differences) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-12)
    for n in (2, 7, 20, 40):  # no ties: scipy's exact distribution
        differences = rng.normal(size=n)
        expected = wilcoxon(differences, method="exact")
        assert signed_rank_test(differences) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-12)
    with_ties = np.array([0.1] * 30 + [-0.1] * 3 + [0.0] * 5)  # above 13 folds with ties: exact, not approximated
    assert signed_rank_test(with_ties)[1] == pytest.approx(2 * sum(__import__("math").comb(33, k)
                                                                   for k in range(4)) / 2 ** 33)


def test_runs_with_the_same_folds_numbered_otherwise_are_compared_fold_by_fold():
    """LOSO with another seed tests the same subjects in another order: the same folds, other numbers (before:
    refused as 'not made on the same folds')."""
    a = _by_subject({0, 1}, n_subjects=8, clips=4)
    renumbered = RunResult.from_dict({**a.to_dict(), "predictions": [
        {**row, "fold": 7 - row["fold"]} for row in a.to_dict()["predictions"]]})
    b = _by_subject({0, 1, 2}, n_subjects=8, clips=4)
    same = compare_runs(a, b, "accuracy", n_bootstrap=200)
    other_numbers = compare_runs(renumbered, b, "accuracy", n_bootstrap=200)
    assert (other_numbers.p_value, other_numbers.pooled_difference) == (same.p_value, same.pooled_difference)
    assert sorted(other_numbers.fold_scores_a) == sorted(same.fold_scores_a)
