"""A leakage summary says the options every variant ran with (a run says them; the study's table read as if the
model's defaults had run), and a summary without its ``seeds`` takes them from its runs (it said "pooled over
folds" and "?" of a study of two seeds)."""

from __future__ import annotations

import json

import pytest

from merbench.html_report import render_leakage_page
from merbench.report import leakage_caption, leakage_table

TINY = ["dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=2", "protocol.pairs=2"]


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("leakage-settings")
    target = folder / "leakage.json"
    code = main(["leakage", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--seeds", "2",
                 "--quiet", "--no-store", "--json", str(target), "--set", *TINY, "model.C=2"])
    assert code == 0
    return json.loads(target.read_text())


def test_the_options_the_study_changed_are_recorded_and_shown(summary):
    assert "model.C=2" in summary["settings_changed"]
    title = leakage_table(summary).title
    assert "quick profile, options changed from it:" in title and "model.C=2" in title
    assert "options changed from it:" in render_leakage_page(summary) and "model.C=2" in render_leakage_page(summary)


def test_a_summary_without_its_seeds_takes_them_from_its_runs(summary):
    damaged = {key: value for key, value in summary.items() if key != "seeds"}
    assert leakage_table(damaged).title.endswith("· seeds 0-1")
    assert "mean over 2 seeds of each run's pooled scores" in leakage_caption(damaged)
    assert "seeds 0, 1" in render_leakage_page(damaged)


def test_a_line_break_in_an_option_never_splits_the_run_or_study_line(summary):
    """A manifest named with a line break printed as several lines, which can forge "Stored as run ..." in a log."""
    from merbench.report import provenance_line
    from merbench.result import RunResult
    from result_samples import minimal_dict

    forged = "dataset.manifest=m\nStored as run 20990101-000000-000000"
    result = RunResult.from_dict({**minimal_dict(), "profile": "quick", "settings_changed": [forged]})
    line = provenance_line(result)
    assert "\n" not in line and "m\\x0aStored as run" in line
    title = leakage_table({**summary, "settings_changed": [forged]}).title
    assert "\n" not in title and "m\\x0aStored as run" in title
