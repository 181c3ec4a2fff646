"""One rounding rule for every score shown: a value shows the same digits in run/show, runs, compare, regress,
the rendered README tables and the tuning report, and a baseline just derived shows no delta against its run."""

import math

import numpy as np
import pytest

from merbench.wording import percent


@pytest.mark.parametrize("value, shown", [(0.5125, "51.3"), (0.5625, "56.3"), (0.4865, "48.7"), (0.48653, "48.7"),
                                          (0.538461, "53.8"), (0.7925, "79.3"), (1.0, "100.0"), (0.0, "0.0"),
                                          (-0.00001, "0.0"), (-0.0125, "-1.3")])
def test_percent_rounds_half_up_from_the_decimal_digits(value, shown):
    assert percent(value) == shown


def test_percent_keeps_a_sign_when_asked_and_shows_nan_as_itself():
    assert percent(0.0125, signed=True) == "+1.3" and percent(-0.0001, signed=True) == "+0.0"
    assert percent(math.nan) == "nan"


@pytest.mark.parametrize("value, shown", [(0.5125, "51.3"), (0.5625, "56.3")])
def test_every_place_a_score_is_shown_uses_the_same_digits(value, shown):
    from merbench.commands.regress import _points
    from merbench.compare import pct
    from merbench.rendered_tables import _pct as rendered
    from merbench.report import _pct as in_run
    from merbench.report import shown_difference
    from merbench.tuning_report import _pct as tuned

    assert {pct(value), rendered(value), in_run(value), tuned(value), str(_points(value))} == {shown}
    assert shown_difference(0.5, value) == f"+{float(shown) - 50:.1f}"


def test_an_expected_value_is_written_with_the_decimals_that_keep_its_percentage():
    from merbench.regress import written_value

    assert written_value(0.538461) == 0.53846  # 0.5385 would show 53.9 where its run shows 53.8
    assert percent(written_value(0.538461)) == percent(0.538461) == "53.8"
    assert written_value(0.5605) == 0.5605 and written_value(0.302712) == 0.3027


def test_the_one_class_warning_adds_up_as_printed():
    from merbench.one_class import blind_bands

    confusion = np.array([[7, 0], [6, 0]])  # a one-class model scores 53.8 % accuracy here
    notes = blind_bands("entry 1", [("accuracy", 0.5385, 0.05)], confusion)
    assert len(notes) == 1
    assert "the accuracy band 53.9 ± 5.0 reaches down to 48.9," in notes[0], notes[0]


def test_arithmetic_noise_does_not_decide_the_last_digit():
    from merbench.regress import written_value

    assert percent(0.7174999999999999) == percent(0.7175) == "71.8"  # the mean of [0.7175] * 6, as summed
    assert written_value(0.7174999999999999) == 0.7175


def test_the_fold_figures_mean_is_the_tables_mean():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from merbench.figures import _draw_folds
    from result_samples import minimal_result

    result = minimal_result(fold_mean={"accuracy": 0.5, "uf1": 0.5125, "uar": 0.5})
    figure = _draw_folds(plt, result, "uf1")
    try:
        assert [line.get_label() for line in figure.axes[0].get_lines()] == ["mean 51.3"]
    finally:
        plt.close(figure)


def test_infos_gap_sentence_adds_up_as_printed():
    from types import SimpleNamespace

    from merbench.commands.info import gap_note
    from merbench.contracts import ReportedScore

    rows = [SimpleNamespace(protocol="sample-10fold", mean={"uf1": 0.5125}),
            SimpleNamespace(protocol="subject-10fold", mean={"uf1": 0.4})]
    note = gap_note(rows, [ReportedScore("samm", "sample-10fold", "accuracy", 99.73, "Paper")])
    assert "UF1 51.3 % under sample-10fold and 40.0 % under subject-10fold" in note
    assert "changes UF1 by +11.3 points here" in note, note


def test_the_one_class_warning_never_contradicts_itself():
    from merbench.one_class import blind_bands

    confusion = np.array([[7065, 0], [2935, 0]])  # a one-class model scores 70.65 % accuracy, shown 70.7
    said = blind_bands("entry 1", [("accuracy", 0.7565, 0.0496)], confusion)  # the band reaches down to 70.7 as shown
    assert said and "reaches down to 70.7, not above the 70.7" in said[0], said
    above = blind_bands("entry 1", [("accuracy", 0.7575, 0.0496)], confusion)  # 70.8 as shown: above 70.7
    assert above == []
