"""A regression band that a model predicting one class would pass is named: such a check guards nothing."""

from __future__ import annotations

import pytest

from merbench.one_class import blind_bands, one_class_scores

BASELINE = """version: 1
defaults: {{dataset: synthetic, profile: quick, device: cpu, metrics: [uf1],
           set: {{dataset.subjects: 6, protocol.n_splits: 3, engine.parallel_folds: 1}}}}
entries:
  - model: ststnet
    metrics: {{uf1: {{expected: {expected}, tolerance: {tolerance}}}}}
"""


def test_one_class_scores_are_the_best_constant_prediction_per_metric():
    scores = one_class_scores([[5, 0], [0, 15]])  # 5 samples of class 0, 15 of class 1
    assert scores["accuracy"] == pytest.approx(0.75)  # always class 1
    assert scores["uar"] == pytest.approx(0.5)  # any one class: recall 1 for it, 0 for the other
    assert scores["uf1"] == pytest.approx((2 * 15 / (15 + 20)) / 2)  # class 1's F1, halved by class 0's 0
    assert one_class_scores([[0, 0], [0, 0]]) == {}


def test_only_bands_reaching_the_one_class_score_are_named():
    matrix = [[10, 0, 0], [0, 10, 0], [0, 0, 10]]  # a one-class model: UF1 1/6, accuracy 1/3
    notes = blind_bands("m · d · p", [("uf1", 0.60, 0.10), ("accuracy", 0.40, 0.10), ("uar", None, 0.1)], matrix)
    assert len(notes) == 1 and notes[0].startswith("m · d · p: the accuracy band 40.0 ± 10.0 reaches down to 30.0")
    assert "not above the 33.3 that a model predicting one class scores" in notes[0]


def test_regress_warns_of_a_band_a_dead_model_would_pass_and_not_of_a_tight_one(run_cli, tmp_path):
    store = ("--store", str(tmp_path / "s.sqlite"))
    wide = tmp_path / "wide.yaml"
    wide.write_text(BASELINE.format(expected=0.4, tolerance=0.35))
    checked = run_cli("regress", "--baseline", str(wide), "--quiet", *store)
    text = " ".join(checked.out.split())
    assert checked.code == 0, checked.err
    assert "the uf1 band 40.0 ± 35.0 reaches down to 5.0, not above the" in text
    assert "it cannot catch a model that stopped learning; derive it again from more seeds" in text
    measured = next(line.split()[4] for line in checked.out.splitlines() if line.lstrip().startswith("ststnet"))
    tight = tmp_path / "tight.yaml"  # the same run, a band just around its score
    tight.write_text(BASELINE.format(expected=float(measured) / 100, tolerance=0.03))
    again = run_cli("regress", "--baseline", str(tight), "--quiet", "--stored", *store)
    assert again.code == 0 and "cannot catch" not in again.out, again.out + again.err


def test_two_entries_of_one_model_are_told_apart_in_the_notes(run_cli, tmp_path):
    baseline = tmp_path / "two.yaml"
    baseline.write_text(BASELINE.format(expected=0.4, tolerance=0.5)
                        + "  - model: ststnet\n    set: {engine.epochs: 2}\n"
                          "    metrics: {uf1: {expected: 0.4, tolerance: 0.5}}\n")
    checked = run_cli("regress", "--baseline", str(baseline), "--quiet", "--no-store")
    lines = [" ".join(line.split()) for line in checked.out.splitlines()]
    assert checked.code == 0, checked.err
    assert [line[:22] for line in lines if line.startswith("entry ") and "paper" in line] == [
        "entry 1: ststnet uf1: ", "entry 1: ststnet uar: ", "entry 2: ststnet uf1: ", "entry 2: ststnet uar: "]
    assert sum(line.startswith(("Warning: entry 1 (ststnet", "Warning: entry 2 (ststnet"))
               and "measured at the quick profile" not in line for line in lines) == 2
