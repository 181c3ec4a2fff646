"""A ``regress`` row's numbers give its verdict: where one decimal would round a value across an edge of the band,
the row shows two (before: ``54.7 ±6.0 48.7 -6.0 low`` and ``40.0 ±6.7 46.7 +6.7 high``, rows that read as inside
their band)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from merbench.commands.regress import _shown
from merbench.regress import Check, check_entry


def _check(expected: float, tolerance: float, measured: float):
    entry = SimpleNamespace(label="ststnet", expectations=[SimpleNamespace(metric="uf1", expected=expected,
                                                                          tolerance=tolerance, above=tolerance)])
    (check,) = check_entry(entry, SimpleNamespace(pooled={"uf1": measured}, run_id="r"))
    assert isinstance(check, Check)
    return check


@pytest.mark.parametrize("expected, tolerance, measured, status, row", [
    (0.5466, 0.06, 0.4865, "low", ("54.66", "±6.00", "48.65", "-6.01")),
    (0.4, 0.0666, 0.4668, "high", ("40.00", "±6.66", "46.68", "+6.68")),
    (0.5466, 0.06, 0.4871, "ok", ("54.7", "±6.0", "48.7", "-6.0")),  # no rounding across an edge: one decimal
    (0.5, 0.05, 0.5, "ok", ("50.0", "±5.0", "50.0", "0.0")),
    # within the written rounding's slack of the edge: two decimals still read high, three show it within
    (0.7064, 0.0433, 0.74975, "ok", ("70.640", "±4.330", "74.975", "+4.335")),
])
def test_a_row_shows_as_many_decimals_as_its_verdict_needs(expected, tolerance, measured, status, row):
    check = _check(expected, tolerance, measured)
    assert check.status == status
    assert _shown(check) == row
