"""A space that searches two options the model checks together: a bound refused only beside the other option's
value in the base configuration is accepted when the space's own range of that option allows it."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

from merbench.errors import UsageError  # noqa: E402
from merbench.registry import get_registry  # noqa: E402
from merbench.tuning import TuneRequest, prepare  # noqa: E402


def prepared(tmp_path, text: str):
    space = tmp_path / "space.yaml"
    space.write_text(text)
    return space, prepare(TuneRequest(model="convmixer", dataset="synthetic", space=space, trials=1, profile="quick"),
                          get_registry())


def test_a_bound_refused_only_beside_the_base_value_of_another_searched_option_is_accepted(tmp_path):
    base, space = prepared(tmp_path, "model.depth: {type: int, low: 2, high: 6}\n"
                                     "model.attention_every: {type: int, low: 1, high: 3}\n")[1]
    assert base.section("model")["depth"] < 3, "the quick profile's depth refuses attention_every=3 on its own"
    assert space.keys() == ["model.depth", "model.attention_every"]


def test_a_bound_no_searched_value_allows_is_still_refused(tmp_path):
    with pytest.raises(UsageError, match=r"space\.yaml: model\.attention_every=8 exceeds model\.depth="):
        prepared(tmp_path, "model.attention_every: {type: int, low: 1, high: 8}\n"
                           "model.depth: {type: int, low: 2, high: 6}\n")
