"""A third-party dataset plugin that reports the rows it left out or repaired the documented way
(``summary={"skipped_rows": [...], "fixed_rows": [...]}``, no counts): ``datasets check`` counts them in its overview
as in its tables."""

from __future__ import annotations

import re

import pytest

PLUGIN = '''
import dataclasses

from merbench.contracts import DatasetPlugin
from merbench.hookspecs import hookimpl
from merbench_plugins.datasets.synthetic import load as load_synthetic


def load(root, options, cache_dir):
    dataset = load_synthetic(None, {"preset": "easy", "subjects": 8, "clips_per_subject": 6, "size": 32,
                                    "frames": 8, "seed": 0, "domains": 1}, cache_dir)
    left_out, repaired = dataset.samples[0], dataset.samples[1]
    summary = {"annotation": "labels.csv",
               "skipped_rows": [{"row": 2, "sample": left_out.id, "reason": "emotion 'others' is not a class"}],
               "fixed_rows": [{"row": 3, "sample": repaired.id, "note": "apex after the offset: set to the offset"}]}
    return dataclasses.replace(dataset, name="rowcorpus", samples=dataset.samples[1:], summary=summary)


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="rowcorpus", load=load, description="synthetic clips, one row skipped, one fixed",
                           options={"strict": False}, needs_root=False))
'''


@pytest.fixture
def rowcorpus(install_plugin):
    install_plugin("merbench-rowcorpus", "rowcorpus", "merbench_rowcorpus", PLUGIN)


def _overview(out: str, fact: str) -> str:
    return next(re.sub(r"\s+", " ", line).strip() for line in out.splitlines() if line.strip().startswith(fact))


def test_check_counts_a_plugin_s_skipped_and_fixed_rows_in_its_overview(rowcorpus, run_cli):
    result = run_cli("datasets", "check", "rowcorpus")
    assert result.code == 0, result.err
    assert _overview(result.out, "rows skipped") == "rows skipped 1"
    assert _overview(result.out, "rows fixed") == "rows fixed 1"
    assert "Rows skipped (1)" in result.out and "Rows fixed (1)" in result.out
    assert "usable: 47 samples, 8 subjects, 1 row skipped" in result.out
