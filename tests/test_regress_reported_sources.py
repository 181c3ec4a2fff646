"""``merbench regress`` names the source beside each reported score, so two sources of one setting are told
apart (before: "paper 80.00 %" and "paper 70.00 %", both "(synthetic · subject-10fold; same data and protocol)"),
and calls "paper" only a score from the model's own paper, the others "published"."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from merbench.contracts import ReportedScore
from merbench.regress import Check, parse_baseline, reported_notes
from merbench.tables import print_item

PAPER_B = ("Someone, Else: A Much Longer Title of a Second Paper on Micro-expression Recognition, "
           "Journal of Things 12(3), 2024, doi:10.1000/xyz.2024.123")


def notes_of_two_sources() -> list[str]:
    """The notes of a ststnet entry on synthetic · subject-10fold, which its own Paper A and ``PAPER_B`` published."""
    registry = SimpleNamespace(get=lambda kind, name: SimpleNamespace(citation="Paper A 2023", reported=(
        ReportedScore("synthetic", "subject-10fold", "uf1", 80.0, "Paper A 2023."),
        ReportedScore("synthetic", "subject-10fold", "uf1", 70.0, PAPER_B))))
    entry = parse_baseline({"version": 1, "entries": [{"model": "ststnet", "dataset": "synthetic",
                                                       "protocol": "subject-10fold"}]}, Path("b.yaml")).entries[0]
    return reported_notes(entry, registry, [Check(entry.label, "uf1", 0.5, 0.412, 0.1, 0.1, "ok")])


def test_each_published_score_names_its_source():
    assert notes_of_two_sources() == [
        "ststnet uf1: measured 41.2 %, paper 80.00 % (synthetic · subject-10fold; same data and protocol), "
        "from Paper A 2023",
        "ststnet uf1: measured 41.2 %, published 70.00 % (synthetic · subject-10fold; same data and protocol), "
        f"from {PAPER_B}"]


def test_at_80_columns_the_notes_wrap_at_spaces_cutting_no_name_or_number():
    console = Console(width=80, force_terminal=True, soft_wrap=False, record=True)
    for note in notes_of_two_sources():
        print_item(console, f"  {note}")
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert " ".join(" ".join(lines).split()) == " ".join(
        f"ststnet uf1: measured 41.2 %, {by} {value} % (synthetic · subject-10fold; same data and protocol), from "
        f"{source}" for by, value, source in (("paper", "80.00", "Paper A 2023"), ("published", "70.00", PAPER_B)))


def test_a_run_on_part_of_the_official_list_is_not_called_comparable_with_the_paper():
    """The same rule as run, compare and report (``report.comparability``): a MEGC2019 entry measured on 14 of the
    442 listed samples, or with other folds, is "not comparable" (before: "same data and protocol" whenever the
    dataset and protocol names matched)."""
    from result_samples import minimal_result

    registry = SimpleNamespace(get=lambda kind, name: SimpleNamespace(citation="Paper", reported=(
        ReportedScore("megc2019", "megc2019", "uf1", 73.53, "Paper"),)))
    entry = parse_baseline({"version": 1, "entries": [{"model": "ststnet", "dataset": "megc2019",
                                                       "protocol": "megc2019"}]}, Path("b.yaml")).entries[0]
    checks = [Check(entry.label, "uf1", 0.5, 0.095, 0.1, 0.1, "ok")]
    partial = minimal_result(dataset="megc2019", protocol="megc2019",
                             dataset_summary={"official_list": {"found": 14, "listed": 442}})
    [note] = reported_notes(entry, registry, checks, partial)
    assert ("(megc2019 · megc2019; same data and protocol, not comparable: measured on 14 of the 442 samples of the "
            "official list (the rest are not in your copies))") in note
    whole = minimal_result(dataset="megc2019", protocol="megc2019",
                           dataset_summary={"official_list": {"found": 442, "listed": 442}})
    [note] = reported_notes(entry, registry, checks, whole)
    assert "(megc2019 · megc2019; same data and protocol), from Paper" in note
    folds = minimal_result(dataset="megc2019", protocol="megc2019", settings_changed=["protocol.n_splits=3"])
    [note] = reported_notes(entry, registry, checks, folds)
    assert "not comparable: measured with protocol.n_splits=3" in note
