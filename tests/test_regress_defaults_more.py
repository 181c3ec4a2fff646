"""``merbench regress`` defaults: an empty baseline file starts as a missing one does, an empty ``--threads`` is
refused rather than replaced by the default layouts, and a bad ``metrics:`` under ``defaults:`` is blamed on the
defaults, not on an entry."""

from __future__ import annotations

import pytest
import yaml

from test_regress_baseline_checks import ROUNDED_AWAY, fake_runs, refused, regress, write


@pytest.mark.parametrize("text", ["", "# to be filled by --update\n", "version: 1\nentries: []\n"],
                         ids=["empty", "comment", "no-entries"])
def test_update_add_missing_starts_an_empty_file_like_a_missing_one(run_cli, tmp_path, monkeypatch, text):
    runs = fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = tmp_path / "new.yaml"
    baseline.write_text(text)
    result = regress(run_cli, baseline, "--update", "--add-missing")
    assert result.code == 0, result.out + result.err
    document = yaml.safe_load(baseline.read_text())
    assert document["defaults"]["profile"] == "default" and document["entries"]
    assert {config.profile for config in runs} == {"default"}


def test_a_file_with_defaults_keeps_them_when_entries_are_added(tmp_path):
    from merbench.regress import load_baseline

    baseline = write(tmp_path / "b.yaml", [], {"profile": "quick"})
    loaded = load_baseline(baseline, update=True, start_new=True)
    assert loaded.defaults["profile"] == "quick" and loaded.written_defaults == {"profile": "quick"}


@pytest.mark.parametrize("threads", ["", " ", ","])
def test_an_empty_threads_option_is_refused(run_cli, tmp_path, monkeypatch, threads):
    runs = fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}])
    before = baseline.read_text()
    err = refused(regress(run_cli, baseline, "--update", "--seeds", "2", "--threads", threads))
    assert "--threads: give at least one layout, e.g. --threads auto,2" in err
    assert runs == [] and baseline.read_text() == before


@pytest.mark.parametrize("metrics", ["uf1", 3, True])
def test_bad_default_metrics_are_blamed_on_the_defaults(run_cli, tmp_path, metrics):
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}], {"profile": "quick", "metrics": metrics})
    err = refused(regress(run_cli, baseline))
    assert (f"--baseline {baseline}: defaults: 'metrics' must be a list of names or a mapping name: "
            "{expected, tolerance}") in err
    assert "entry" not in err
