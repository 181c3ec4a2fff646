"""What one draw of a paired bootstrap picks, for ``merbench significance`` and ``merbench leakage``: test subjects,
each with all its samples (clips of one person are alike, so drawing them one by one usually gives a narrower interval than
the data support), or clips one by one."""

from __future__ import annotations

from typing import Sequence

import numpy as np

RESAMPLE_UNITS = ("subjects", "clips")
"""The units a draw may pick, as ``--resample`` names them."""


def unit_indices(keys: Sequence[str]) -> np.ndarray:
    """For each sample (or clip), the index of its key among the distinct keys in order of first appearance: the
    unit one bootstrap draw picks as a whole (a subject, or a clip). First appearance, not ``np.unique``'s sorted
    order: the clip draws of a result with one sample per clip then pick what they picked before draws weighted
    units."""
    index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    return np.array([index[key] for key in keys], dtype=np.int64)
