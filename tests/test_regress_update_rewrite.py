"""``merbench regress --update`` rewrites only what it measured: what a lab wrote stays (comments, defaults, keys,
indentation), it never writes what its own next ``--update`` refuses, and a new baseline can be started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from test_regress_baseline_checks import ROUNDED_AWAY, fake_runs, refused, regress, write

BASELINES = sorted((Path(__file__).parent.parent / "benchmarks" / "baselines").glob("*.yaml"))


def test_update_with_seeds_writes_no_alias_and_can_update_its_own_file(run_cli, tmp_path, monkeypatch):
    """Every entry's ``derived.threads`` is the same list: written once each, never as ``&id001`` / ``*id001``."""
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}, {"model": "ststnet"}])
    for _ in range(2):  # the second --update reads what the first wrote
        result = regress(run_cli, baseline, "--update", "--seeds", "2", "--threads", "auto,1")
        assert result.code == 0, result.out + result.err
        text = baseline.read_text()
        assert "&id" not in text and "*id" not in text
        assert [entry["derived"]["threads"] for entry in yaml.safe_load(text)["entries"]] == [["auto", "1"]] * 2


def test_a_new_file_written_by_update_has_no_alias(tmp_path):
    from merbench.regress import load_baseline, write_baseline

    shared = ["auto", "2"]
    path = tmp_path / "new.yaml"
    write_baseline(path, {"version": 1, "defaults": {}, "entries": [
        {"model": "lbptop-svm", "derived": {"threads": shared}}, {"model": "ststnet", "derived": {"threads": shared}}]})
    assert "&id" not in path.read_text()
    load_baseline(path, update=True)  # not refused


@pytest.mark.parametrize("path", BASELINES, ids=[path.name for path in BASELINES])
def test_the_shipped_baselines_can_be_updated(path):
    """The documented re-derive command (``--update --seeds 3``) is not refused for the file's own layout, and a
    rewrite with the file's own values changes no line of it."""
    from merbench.regress import load_baseline
    from merbench.yaml_update import updated_yaml_text

    assert load_baseline(path, update=True).entries
    text = path.read_text()
    assert updated_yaml_text(text, yaml.safe_load(text)) == text


COMMENTS = """\
version: 1
defaults:
    profile: quick
    set: {protocol.n_splits: 3, dataset.subjects: 4, dataset.clips_per_subject: 6}
entries:   # one entry per model
  - model: lbptop-svm
    metrics:
        uf1: {expected: 0.3, tolerance: 0.05}   # from Table 2
  # ststnet: added 2026-11
  - model: ststnet
    metrics:
        uf1: 0.3   # first guess
        uar: 0.3
# end of lab baseline
"""


def test_end_of_line_comments_stay_on_their_lines_and_the_file_stays_valid(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = tmp_path / "lab.yaml"
    baseline.write_text(COMMENTS)
    result = regress(run_cli, baseline, "--update", "--seeds", "2", "--threads", "auto")
    assert result.code == 0, result.out + result.err
    lines = baseline.read_text().splitlines()
    assert lines[:5] == COMMENTS.splitlines()[:5]  # 4-space mappings, the comment on entries' own line
    assert any(line.startswith("        uf1: {expected: 0.3027, tolerance: 0.03} ") and line.endswith(" # from Table 2")
               for line in lines), lines
    assert lines[lines.index("  # ststnet: added 2026-11") + 1] == "  - model: ststnet"
    assert any(line.startswith("        uf1:") and line.endswith("# first guess") for line in lines), lines
    assert lines[-1] == "# end of lab baseline"
    assert regress(run_cli, baseline).code == 0  # it reads back


def test_a_rewrite_that_would_not_read_back_is_written_plainly(tmp_path, monkeypatch):
    import merbench.regress
    from merbench.regress import write_baseline

    path = tmp_path / "b.yaml"
    path.write_text("version: 1\nentries: []\n")
    monkeypatch.setattr(merbench.regress, "updated_yaml_text", lambda original, document: "entries: -\n  broken")
    document = {"version": 1, "defaults": {}, "entries": [{"model": "ststnet", "metrics": {"uf1": 0.5}}]}
    write_baseline(path, document)
    assert yaml.safe_load(path.read_text()) == document


def test_a_tolerance_high_inherited_from_the_defaults_is_kept(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, ROUNDED_AWAY)
    defaults = {"profile": "quick", "set": {"protocol.n_splits": 3},
                "metrics": {"uf1": {"tolerance": 0.05, "tolerance_high": 0.2}}}
    for extra in ([], ["--seeds", "2", "--threads", "auto"]):
        baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}], defaults)
        assert regress(run_cli, baseline, "--update", *extra).code == 0
        assert yaml.safe_load(baseline.read_text())["entries"][0]["metrics"]["uf1"]["tolerance_high"] == 0.2


LAB = """\
version: 1
defaults: {profile: quick, set: {protocol.n_splits: 3, dataset.subjects: 4, dataset.clips_per_subject: 6}}
entries:
  - model: lbptop-svm
    seed: 0
    tolerance: 0.04
    metrics:
      uf1: 0.30
      accuracy: 0.38
  # ststnet: added 2026-11, see issue 12
  - model: ststnet
    metrics:
      - uf1
# end of lab baseline
"""


def test_update_keeps_comments_keys_defaults_and_indentation(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = tmp_path / "lab.yaml"
    baseline.write_text(LAB)
    result = regress(run_cli, baseline, "--update")
    assert result.code == 0, result.out + result.err
    text = baseline.read_text()
    lines = text.splitlines()
    assert lines[1] == LAB.splitlines()[1]  # no built-in default added to the user's defaults
    assert lines[lines.index("  # ststnet: added 2026-11, see issue 12") + 1] == "  - model: ststnet"
    assert lines[-1] == "# end of lab baseline"
    assert "    seed: 0" in lines and "    tolerance: 0.04" in lines  # the user's keys, as written
    assert "      uf1: 0.3027" in lines and "      accuracy: 0.4865" in lines  # a number stays a number
    document = yaml.safe_load(text)
    assert document["entries"][1]["metrics"] == {"uf1": {"expected": 0.3027, "tolerance": 0.06}}

    derived = regress(run_cli, baseline, "--update", "--seeds", "2", "--threads", "auto")  # numbers become bands
    assert derived.code == 0, derived.out + derived.err
    lines = baseline.read_text().splitlines()
    assert lines[lines.index("  # ststnet: added 2026-11, see issue 12") + 1] == "  - model: ststnet"
    assert lines[-1] == "# end of lab baseline"
    assert yaml.safe_load(baseline.read_text())["entries"][0]["metrics"]["uf1"]["expected"] == 0.3027


def test_update_with_seeds_keeps_a_hand_set_tolerance_high_and_widens_a_narrow_one(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm", "metrics": {
        "uf1": {"expected": 0.3, "tolerance": 0.05, "tolerance_high": 0.2},
        "uar": {"expected": 0.3, "tolerance": 0.05, "tolerance_high": 0.01}}}])
    result = regress(run_cli, baseline, "--update", "--seeds", "2", "--threads", "auto")
    assert result.code == 0, result.out + result.err
    metrics = yaml.safe_load(baseline.read_text())["entries"][0]["metrics"]
    assert metrics["uf1"]["tolerance_high"] == 0.2
    assert metrics["uar"]["tolerance_high"] == metrics["uar"]["tolerance"] == 0.03  # the floor: std is 0
    assert "uar.tolerance_high 0.01 is narrower than the derived tolerance 0.03; widened to it" in " ".join(result.out.split())


@pytest.mark.parametrize("defaults", [False, True])
@pytest.mark.parametrize("metrics", [[{"uf1": 0.3}], ["uf1", ["uar"]], ["uf1", None]])
def test_a_metrics_list_holding_something_else_than_names_is_refused(run_cli, tmp_path, metrics, defaults):
    entry = {"model": "lbptop-svm"} if defaults else {"model": "lbptop-svm", "metrics": metrics}
    baseline = write(tmp_path / "b.yaml", [entry], {"profile": "quick", **({"metrics": metrics} if defaults else {})})
    err = refused(regress(run_cli, baseline))
    assert "'metrics' lists" in err and "not a metric name" in err and "metrics: {uf1: 0.3}" in err
    assert ("defaults" in err) == defaults and ("entry 1" in err) != defaults


@pytest.mark.parametrize("key, value", [("model", "ststnet"), ("derived", 5), ("derived", {"k": 3})])
def test_entry_only_keys_are_refused_as_defaults(run_cli, tmp_path, key, value):
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}], {"profile": "quick", key: value})
    err = refused(regress(run_cli, baseline))
    assert f"'{key}' cannot be a default" in err and "move it under the entry" in err


def test_update_add_missing_starts_a_baseline_that_does_not_exist(run_cli, tmp_path, monkeypatch):
    from merbench.registry import get_registry
    from merbench.testing import conformance_names

    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = tmp_path / "new.yaml"
    told = refused(regress(run_cli, baseline))
    assert f"create one with `merbench regress --baseline {baseline} --update --add-missing`" in told
    result = regress(run_cli, baseline, "--update", "--add-missing")
    assert result.code == 0, result.out + result.err
    document = yaml.safe_load(baseline.read_text())
    assert [entry["model"] for entry in document["entries"]] == conformance_names(get_registry())
    # the built-in defaults, written out for the user to edit, but the default profile: a quick band guards nothing
    assert document["defaults"]["profile"] == "default" and document["defaults"]["device"] == "cpu"
    checked = regress(run_cli, baseline)
    assert checked.code == 0  # and the file checks
    assert "measured at the quick profile" not in checked.out


def test_a_band_measured_at_the_quick_profile_is_warned_of(run_cli, tmp_path, monkeypatch):
    """docs/results.md says the check warns of a quick-profile band; before 2026-12-07 nothing did."""
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm"}, {"model": "ststnet", "profile": "default"}],
                     {"profile": "quick"})
    assert regress(run_cli, baseline, "--update").code == 0
    checked = regress(run_cli, baseline)
    said = " ".join(checked.out.split())
    assert checked.code == 0, checked.out + checked.err
    assert ("Warning: entry 1 (lbptop-svm · synthetic · subject-10fold (quick, seed 0)): its band was measured at "
            "the quick profile, where every model scores near chance") in said, said
    end = said.index("measured at the quick profile")
    warning = said[said.rindex("Warning: ", 0, end):end]
    assert "entry 2" not in warning, "the default-profile entry is not named"
    assert "write profile: default under defaults:" in said


def test_add_missing_with_leaky_defaults_says_why_it_cannot_add_them(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = write(tmp_path / "b.yaml", [{"model": "lbptop-svm", "leaky": True}],
                     {"profile": "quick", "protocol": "sample-10fold"})
    err = refused(regress(run_cli, baseline, "--update", "--add-missing"))
    assert "entry 2 (added by --add-missing)" in err
    assert "'leaky' cannot be a default. Write the entry by hand with 'leaky: true'" in err


def test_leaky_entries_are_marked_in_the_verdicts_and_the_json(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = write(tmp_path / "b.yaml", [
        {"model": "lbptop-svm", "metrics": {"uf1": 0.3027}},
        {"model": "lbptop-svm", "protocol": "sample-10fold", "leaky": True, "metrics": {"uf1": 0.3027}}])
    monkeypatch.setenv("COLUMNS", "80")
    result = regress(run_cli, baseline, "--json", str(tmp_path / "v.json"))
    assert result.code == 0, result.out + result.err
    rows = [line for line in result.out.splitlines() if line.startswith("lbptop-svm")]
    assert len(rows) == 2 and "⚠" not in rows[0] and rows[1].startswith("lbptop-svm #2 ⚠")
    assert rows[0].startswith("lbptop-svm #1 "), "a model's entries are told apart where Setting does not fit"
    assert "⚠: a leaky entry (leaky: true): its scores are inflated" in " ".join(result.out.split())
    assert [entry["leaky"] for entry in json.loads((tmp_path / "v.json").read_text())["entries"]] == [False, True]
