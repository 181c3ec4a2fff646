"""``merbench regress`` interrupted and continued, and how its lines name an entry.

An interrupted check says which entries are stored and that ``--stored`` goes on (exit 130 on Ctrl-C, 143 on
SIGTERM); ``--stored`` continues the interrupted entry's run from its finished folds, to the scores of an
uninterrupted check; ``--update`` without ``--seeds`` leaves no stale ``derived:`` block; progress lines and the
verdict tell two entries of one model apart; the paper's scores are in % as the table's.
"""

from __future__ import annotations

import json

import pytest
import yaml

from interrupting import stopped_after_folds
from merbench.store import ResultStore
from merbench.wording import percent

TINY_SET = {"dataset.subjects": 4, "dataset.clips_per_subject": 6, "dataset.size": 32, "dataset.frames": 8,
            "protocol.n_splits": 3, "engine.epochs": 1}
TWO_STSTNETS = [{"model": "ststnet"}, {"model": "ststnet", "set": {"model.dropout": 0.3}}]


def write(path, entries, tolerance=0.05):
    """A baseline of ``entries`` on tiny synthetic data, quick profile."""
    path.write_text(yaml.safe_dump({"version": 1, "defaults": {"profile": "quick", "set": TINY_SET,
                                                               "tolerance": tolerance}, "entries": entries}))
    return path


def said(text: str) -> str:
    """Output with every run of white space as one space (a wrapped line reads whole)."""
    return " ".join(text.split())


def statuses(store) -> dict[str, str]:
    """Every stored run's status, by id."""
    with ResultStore(store) as opened:
        return {run.id: run.status for run in opened.list_runs()}


@pytest.mark.parametrize(("signal", "code"), [("ctrl-c", 130), ("sigterm", 143)])
def test_an_interrupted_update_says_which_entries_are_stored_and_how_to_go_on(run_cli, monkeypatch, tmp_path, signal,
                                                                               code):
    from merbench.cli import Terminated

    baseline = write(tmp_path / "b.yaml", TWO_STSTNETS)
    before = baseline.read_text()
    args = ["regress", "--baseline", str(baseline), "--update", "--quiet", "--store", str(tmp_path / "s.sqlite")]
    # entry 1's three folds, then entry 2's first
    stopped, _ = stopped_after_folds(run_cli, monkeypatch, args, 4, Terminated if signal == "sigterm" else KeyboardInterrupt)
    assert stopped.code == code, stopped.err
    assert ("1 of 2 entries finished and is stored (entry 1); run the same command with --stored to keep it, "
            "continue the interrupted entry 2 (ststnet · synthetic · subject-10fold) from its finished folds and run "
            f"the rest; the baseline {baseline} is not updated") in said(stopped.err)
    assert said(stopped.err).endswith("merbench: interrupted" if code == 130 else "merbench: terminated (SIGTERM)")
    assert baseline.read_text() == before


def test_an_interrupted_check_with_no_entry_finished_says_so(run_cli, monkeypatch, tmp_path):
    baseline = write(tmp_path / "b.yaml", TWO_STSTNETS)
    stopped, _ = stopped_after_folds(run_cli, monkeypatch, ["regress", "--baseline", str(baseline), "--quiet", "--store",
                                                    str(tmp_path / "s.sqlite")], 1)
    assert stopped.code == 130
    assert ("No entry finished; run the same command with --stored to continue the interrupted entry 1 (ststnet · "
            "synthetic · subject-10fold) from its finished folds and run the rest") in said(stopped.err)
    assert "not updated" not in stopped.err  # a plain check writes no file


def test_stored_continues_the_interrupted_entry_to_the_scores_of_an_uninterrupted_check(run_cli, monkeypatch, tmp_path):
    baseline = write(tmp_path / "b.yaml", TWO_STSTNETS)
    store = tmp_path / "s.sqlite"
    args = ["regress", "--baseline", str(baseline), "--quiet", "--store", str(store)]
    stopped, stored_folds = stopped_after_folds(run_cli, monkeypatch, args, 4)
    assert stopped.code == 130
    first, left = stored_folds[0], stored_folds[-1]
    assert statuses(store) == {first: "complete", left: "interrupted"}

    again = run_cli(*args, "--stored", "--json", str(tmp_path / "again.json"))
    assert again.code in (0, 1), again.err
    assert statuses(store) == {first: "complete", left: "complete"}  # continued, not trained anew beside it
    assert (f"Running entry 2: ststnet · synthetic · subject-10fold (quick, seed 0; model.dropout=0.3), continuing its "
            f"interrupted run {left}") in said(again.err)
    assert (f"entry 2: ststnet · synthetic · subject-10fold (quick, seed 0; model.dropout=0.3): stored as run {left}, "
            "continued from where it was interrupted (1 fold kept)") in said(again.err)

    clean = run_cli("regress", "--baseline", str(baseline), "--quiet", "--store", str(tmp_path / "clean.sqlite"),
                    "--json", str(tmp_path / "clean.json"))
    assert clean.code in (0, 1), clean.err

    def measured(name: str) -> list:
        entries = json.loads((tmp_path / name).read_text())["entries"]
        return [(entry["set"], [(c["metric"], c["measured"]) for c in entry["checks"]]) for entry in entries]

    assert measured("again.json") == measured("clean.json")
    assert json.loads((tmp_path / "again.json").read_text())["entries"][1]["run_id"] == left


def test_stored_continues_an_interrupted_seed_of_an_update_with_seeds(run_cli, monkeypatch, tmp_path):
    baseline = write(tmp_path / "b.yaml", [{"model": "ststnet"}])
    store = tmp_path / "s.sqlite"
    args = ["regress", "--baseline", str(baseline), "--update", "--seeds", "2", "--threads", "auto", "--quiet",
            "--store", str(store)]
    stopped, stored_folds = stopped_after_folds(run_cli, monkeypatch, args, 4)  # seed 0's three folds, then seed 1's first
    assert stopped.code == 130
    assert ("1 of the 2 runs of entry 1 is stored; run the same command with --stored to keep it, continue the "
            "interrupted entry 1 (ststnet · synthetic · subject-10fold) from its finished folds and run the rest; "
            f"the baseline {baseline} is not updated") in said(stopped.err)

    again = run_cli(*args, "--stored")
    assert again.code == 0, again.err
    left = stored_folds[-1]
    assert statuses(store) == {stored_folds[0]: "complete", left: "complete"}
    assert (f"entry 1: ststnet · synthetic · subject-10fold (quick, seed 1), threads auto (2/2): stored as run {left}, "
            "continued from where it was interrupted (1 fold kept)") in said(again.err)
    [entry] = yaml.safe_load(baseline.read_text())["entries"]
    assert entry["derived"]["runs"] == 2 and entry["derived"]["seeds"] == [0, 1]


def test_an_update_without_seeds_removes_the_derived_block_of_earlier_runs(run_cli, tmp_path):
    baseline = tmp_path / "b.yaml"
    baseline.write_text(
        "version: 1\n"
        f"defaults:\n  profile: quick\n  tolerance: 0.05\n  set: {json.dumps(TINY_SET)}\n"
        "entries:\n"
        "# the reference model\n"
        "- model: ststnet\n"
        "  metrics:\n"
        "    uf1: {expected: 0.7, tolerance: 0.04}\n"
        "  derived:\n"
        "    rule: expected = mean of the runs\n"
        "    runs: 6\n"
        "    values: {uf1: [0.71, 0.69, 0.7, 0.72, 0.68, 0.7]}\n"
        "    date: '2026-12-03'\n"
        "    command: merbench regress --baseline b.yaml --update --seeds 3\n"
        "# kept beside the entry\n")
    result = run_cli("regress", "--baseline", str(baseline), "--update", "--quiet", "--store", str(tmp_path / "s.sqlite"))
    assert result.code == 0, result.err
    text = baseline.read_text()
    [entry] = yaml.safe_load(text)["entries"]
    assert "derived" not in entry, "a derived: block of other runs would contradict the new expected value"
    assert entry["metrics"]["uf1"]["tolerance"] == 0.04 and entry["metrics"]["uf1"]["expected"] != 0.7
    assert "# the reference model" in text and "# kept beside the entry" in text
    assert (f"Note: {baseline}, entry 1 (ststnet · synthetic · subject-10fold): its derived: block, which recorded the "
            "6 runs of 2026-12-03 behind the old expected values, is removed (the expected values are now one run's, "
            "the tolerances kept); `merbench regress --update --seeds N` derives the band and writes derived: "
            "again.") in said(result.out)


@pytest.fixture
def two_entries_of_one_model(run_cli, tmp_path):
    """Two ststnet entries (the second with its own ``set:``) whose bands they miss, run once: (args, result)."""
    entries = [{**entry, "metrics": {"uf1": {"expected": 0.99, "tolerance": 0.01}}} for entry in TWO_STSTNETS]
    baseline = write(tmp_path / "b.yaml", entries)
    args = ["regress", "--baseline", str(baseline), "--quiet", "--store", str(tmp_path / "s.sqlite")]
    return args, run_cli(*args, "--json", str(tmp_path / "first.json"))


def test_progress_lines_and_the_verdict_tell_two_entries_of_one_model_apart(two_entries_of_one_model, run_cli,
                                                                            tmp_path):
    args, first = two_entries_of_one_model
    assert first.code == 1, first.err
    assert "Running entry 1: ststnet · synthetic · subject-10fold (quick, seed 0)\n" in first.err
    assert "Running entry 2: ststnet · synthetic · subject-10fold (quick, seed 0; model.dropout=0.3)\n" in first.err
    assert ("FAILED: 2 of 2 metrics outside their band: ststnet uf1 low (entry 1), ststnet uf1 low (entry 2)"
            in said(first.out))
    ids = [entry["run_id"] for entry in json.loads((tmp_path / "first.json").read_text())["entries"]]
    again = run_cli(*args, "--stored")
    assert f"Reusing stored run {ids[0]} for entry 1: ststnet · synthetic · subject-10fold (quick, seed 0)\n" in again.err
    assert (f"Reusing stored run {ids[1]} for entry 2: ststnet · synthetic · subject-10fold (quick, seed 0; "
            "model.dropout=0.3)\n") in again.err


def test_a_model_with_one_entry_is_named_by_its_model_alone_in_the_verdict(run_cli, tmp_path):
    baseline = write(tmp_path / "b.yaml", [{"model": "ststnet", "metrics": {"uf1": {"expected": 0.99,
                                                                                       "tolerance": 0.01}}}])
    result = run_cli("regress", "--baseline", str(baseline), "--quiet", "--no-store")
    assert result.code == 1 and "FAILED: 1 of 1 metric outside their band: ststnet uf1 low" in said(result.out)


def test_a_metric_without_an_expected_value_fails_as_new_not_as_outside_a_band(run_cli, tmp_path):
    """`FAILED: 1 of 1 metric outside their band: ststnet uf1 new` named a band the metric does not have yet."""
    baseline = write(tmp_path / "b.yaml", [{"model": "ststnet", "metrics": ["uf1"]}])
    result = run_cli("regress", "--baseline", str(baseline), "--quiet", "--no-store")
    assert result.code == 1
    assert ("FAILED: 1 of 1 metric did not pass: ststnet uf1 new; new: no expected value yet: `merbench regress "
            f"--baseline {baseline} --update` records the measured values") in said(result.out)
    assert "outside their band" not in said(result.out)
    both = write(tmp_path / "c.yaml", [{"model": "ststnet", "metrics": {"uf1": {"expected": 0.99, "tolerance": 0.01},
                                                                        "uar": None}}])
    result = run_cli("regress", "--baseline", str(both), "--quiet", "--no-store")
    assert result.code == 1
    assert "FAILED: 2 of 2 metrics did not pass: ststnet uar new, ststnet uf1 low; new: no expected value yet" in said(
        result.out)
    assert "records the measured values" not in said(result.out), "an update would accept the low uf1 as well"


def test_the_papers_scores_are_in_percent_as_the_table(two_entries_of_one_model, tmp_path):
    _, first = two_entries_of_one_model
    document = json.loads((tmp_path / "first.json").read_text())
    measured = document["entries"][1]["checks"][0]["measured"]
    shown = said(first.out)
    line = (f"entry 2: ststnet uf1: measured {percent(measured)} %, paper 73.53 % (megc2019 · megc2019; "
            "different data and protocol)")
    assert line in shown, shown
    assert "Reported scores in % (orientation only" in shown
    assert document["entries"][1]["reported"][0].startswith(line.removeprefix("entry 2: ") + ", from Liong, Gan, ")
    assert "paper 0.7353" not in shown


def test_the_interruption_line_without_a_store_or_after_the_last_entry():
    from pathlib import Path

    from merbench.commands.regress import interrupted_note
    from merbench.regress import parse_baseline

    first, second = parse_baseline({"version": 1, "entries": TWO_STSTNETS}, Path("b.yaml")).entries
    assert interrupted_note([first], second, 2, 0, 1, 1, False, Path("b.yaml")) == (
        "Interrupted in entry 2 (ststnet · synthetic · subject-10fold); nothing is stored (--no-store), so the same "
        "command trains every entry again; the baseline b.yaml is not updated")
    assert interrupted_note([first, second], None, 2, 0, 1, 1, True, None) == (
        "2 of 2 entries finished and are stored (entries 1, 2); run the same command with --stored to reuse them")
    assert interrupted_note([first], second, 2, 3, 2, 2, True, None) == (
        "1 of 2 entries finished and is stored (entry 1), and 3 of the 4 runs of entry 2; run the same command with "
        "--stored to keep them, continue the interrupted entry 2 (ststnet · synthetic · subject-10fold) from its "
        "finished folds and run the rest")


def test_a_papers_whole_number_score_shows_with_two_decimals_as_info_prints_it():
    """convmixer's paper gives F1 99 and precision 97.3: regress said "paper 99 %", info "99.00"."""
    from pathlib import Path

    from merbench.registry import get_registry
    from merbench.regress import parse_baseline, reported_notes

    entry = parse_baseline({"version": 1, "entries": [{"model": "convmixer", "dataset": "synthetic"}]},
                           Path("b.yaml")).entries[0]
    notes = reported_notes(entry, get_registry(), [])
    assert any(" f1: paper 99.00 % (" in note for note in notes), notes
    assert any(" precision: paper 97.30 % (" in note for note in notes), notes


def test_a_papers_precision_recall_and_f1_sit_beside_the_measured_macro_scores():
    """regress paired only accuracy, UF1 and UAR with the paper's: precision, recall and F1 showed "paper 97.30 %"
    with no measured value, though the entry checked macro_precision (compare and show pair them)."""
    from pathlib import Path

    from merbench.registry import get_registry
    from merbench.regress import Check, parse_baseline, reported_notes

    entry = parse_baseline({"version": 1, "entries": [{"model": "convmixer", "dataset": "samm"}]},
                           Path("b.yaml")).entries[0]
    checks = [Check(entry.label, metric, 0.5, value, 0.1, 0.1, "ok") for metric, value in
              (("macro_precision", 0.204), ("macro_f1", 0.253), ("accuracy", 0.611))]
    notes = reported_notes(entry, get_registry(), checks)
    assert any("convmixer precision: measured 20.4 %, paper 97.30 %" in note for note in notes), notes
    assert any("convmixer f1: measured 25.3 %, paper 99.00 %" in note for note in notes), notes
    assert any("convmixer accuracy: measured 61.1 %, paper 99.73 %" in note for note in notes), notes
