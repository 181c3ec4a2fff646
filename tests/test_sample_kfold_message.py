"""sample-10fold's refusal of a rare class gives one minimum, then a fix that works: fewer folds, or (one sample)
more samples, since no number of folds helps."""

from __future__ import annotations

import numpy as np
import pytest

from merbench.errors import UsageError
from merbench_plugins.protocols import sample_kfold


def _refusal(counts: list[int], n_splits: int = 10) -> str:
    labels = np.repeat(np.arange(len(counts)), counts)
    with pytest.raises(UsageError) as raised:
        sample_kfold(labels, np.arange(len(labels)).astype(str), 0, {"n_splits": n_splits})
    return str(raised.value)


def test_one_sample_of_a_class_says_fewer_folds_do_not_help():
    message = _refusal([12, 12, 1])
    assert message.startswith("sample-10fold with 10 folds (protocol.n_splits) needs at least 10 samples of every "
                              "class; class 2 has 1: fewer folds do not help (even 2 folds need 2 samples")
    assert "at least 2 samples to be split" not in message


def test_a_few_samples_of_a_class_suggest_that_many_folds():
    assert _refusal([12, 3, 12]).endswith("class 1 has 3: use --set protocol.n_splits=3")
