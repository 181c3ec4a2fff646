"""``merbench datasets check`` counts the clips whose apex is unknown as a run does (the middle frame stands in):
from the samples, also for a loader that keeps no count of its own (the synthetic data)."""

from __future__ import annotations

import re

from merbench.cache import cache_root
from merbench.dataset_check import load_for_check
from merbench.registry import get_registry


def test_the_apex_unknown_count_is_that_of_the_samples(run_cli):
    sets = {"dataset.subjects": 6, "dataset.clips_per_subject": 8}
    dataset, _ = load_for_check(get_registry(), "synthetic", None, dict(sets), cache_root(create=False))
    unknown = sum(sample.apex is None for sample in dataset.samples)
    assert 0 < unknown < len(dataset.samples)  # the synthetic data leaves some apexes unknown, as real sheets do
    result = run_cli("--format", "plain", "datasets", "check", "synthetic", "--set",
                     *(f"{key}={value}" for key, value in sets.items()))
    assert result.code == 0, result.out + result.err
    shown = re.search(r"apex unknown → middle frame\s+(\d+)", result.out)
    assert shown is not None and int(shown.group(1)) == unknown, result.out
