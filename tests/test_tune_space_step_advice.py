"""The fix a refused ``step`` suggests is accepted when followed (before, a step wider than the range got
"use high: LOW", which was then refused: low must be below high)."""

from __future__ import annotations

import re

import pytest

from merbench.errors import UsageError
from merbench.tuning_space import load_space

SECTIONS = {"model": {"C": 1.0, "kernel": 3}}


def load(tmp_path, text: str):
    path = tmp_path / "space.yaml"
    path.write_text(text + "\n")
    return load_space(path, SECTIONS, lambda key, value, *others: value)


def suggested(message: str) -> list[tuple[str, str]]:
    """The fields and values the message's advice (after "; use") names."""
    advice = message.rsplit("; use ", 1)[1]
    return re.findall(r"\b(high|step): (-?[\d.]+)", advice)


@pytest.mark.parametrize("spec", [
    "model.C: {type: float, low: 0.5, high: 1.0, step: 1.0}",  # the step is wider than the range
    "model.C: {type: float, low: 0.1, high: 0.3, step: 0.25}",
    "model.C: {type: float, low: 0, high: 0.45, step: 0.1}",
    "model.kernel: {type: int, low: 2, high: 3, step: 5}",
    "model.kernel: {type: int, low: 2, high: 7, step: 2}",
])
def test_every_suggested_fix_of_a_step_is_accepted(tmp_path, spec):
    with pytest.raises(UsageError, match="does not divide high - low") as refused:
        load(tmp_path, spec)
    fixes = suggested(str(refused.value))
    assert fixes, str(refused.value)
    for field, value in fixes:
        fixed = re.sub(rf"\b{field}: [^,}}]+", f"{field}: {value}", spec)
        space = load(tmp_path, fixed)  # raises when the advice is refused
        assert getattr(space.params[0], field) == float(value), fixed


def test_a_step_wider_than_the_range_is_offered_the_higher_bound_or_the_range_as_step(tmp_path):
    with pytest.raises(UsageError) as refused:
        load(tmp_path, "model.C: {type: float, low: 0.5, high: 1.0, step: 1.0}")
    said = str(refused.value)
    assert "use high: 1.5, or step: 0.5" in said and "high: 0.5 " not in said, said
