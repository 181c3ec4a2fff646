"""A tune space's ``type: int`` bound above 2**53 is a whole number: the option's own range decides.

Before, ``float(value) != int(value)`` called ``high: 100000000000000000001`` not whole, because
its float is another number (1e20).
"""

from __future__ import annotations

import pytest

from merbench.errors import UsageError
from merbench.tuning_space import load_space
from test_tune import space_file, tune

BIG = 10**20 + 1


def test_a_big_int_bound_is_refused_by_the_options_range_not_as_fractional(run_cli, tmp_path):
    path = space_file(tmp_path, f"model.kernel: {{type: int, low: 1, high: {BIG}}}")
    result, _ = tune(run_cli, tmp_path, space=path)
    message = " ".join(result.err.split())
    assert result.code == 2, result.out + result.err
    assert f"--space {path}: model.kernel={BIG}: must be an integer in [1, 64]" in message, message
    assert "whole number" not in message and "Traceback" not in result.err


def test_big_int_bounds_are_kept_exactly_and_fractions_are_still_refused(tmp_path):
    sections = {"model": {"width": 8, "rate": 0.5}}

    def space(text):
        return load_space(space_file(tmp_path, text), sections, lambda key, value: None)

    (param,) = space(f"model.width: {{type: int, low: {2**53 + 1}, high: {BIG}, step: {BIG - 2**53 - 1}}}").params
    assert (param.low, param.high, param.step) == (2**53 + 1, BIG, BIG - 2**53 - 1)
    assert space("model.width: {type: int, low: 2.0, high: 1.0e+3}").params[0].high == 1000
    with pytest.raises(UsageError, match=r"model.width: low=1.5 must be a whole number for type: int"):
        space("model.width: {type: int, low: 1.5, high: 4}")
    with pytest.raises(UsageError, match=r"model.rate: high=10{400} is too large for type: float"):
        space(f"model.rate: {{type: float, low: 0, high: {10**400}}}")
