"""``merbench regress`` words a reported score as ``info`` and ``show`` do: "paper" where the model's own paper
published it, "published" where another source did (before: "paper 58.82 %" for lbptop-svm's MEGC2019 scores,
which the challenge's organisers published, not the 2007 LBP-TOP paper)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from merbench.contracts import ReportedScore
from merbench.registry import get_registry
from merbench.regress import Check, parse_baseline, reported_notes


def entry_of(model: str):
    """A baseline entry of ``model`` on the MEGC2019 composite."""
    document = {"version": 1, "entries": [{"model": model, "dataset": "megc2019", "protocol": "megc2019"}]}
    return parse_baseline(document, Path("b.yaml")).entries[0]


def test_scores_another_source_published_are_not_called_the_papers():
    entry = entry_of("lbptop-svm")
    notes = reported_notes(entry, get_registry(), [Check(entry.label, "uf1", 0.5, 0.412, 0.1, 0.1, "ok")])
    assert [note.split(" (")[0] for note in notes] == [
        "lbptop-svm uf1: measured 41.2 %, published 58.82 %", "lbptop-svm uar: published 57.85 %"]
    assert all(", from See, Yap, Li, Hong, Wang: MEGC 2019" in note for note in notes), notes


def test_a_models_own_paper_is_still_the_paper():
    notes = reported_notes(entry_of("ststnet"), get_registry(), [])
    assert [note.split(" (")[0] for note in notes] == ["ststnet uf1: paper 73.53 %", "ststnet uar: paper 76.05 %"]


def test_each_score_is_worded_by_its_own_source():
    """One model, two sources: its own paper's score is "paper", the other one "published" (the citation's first
    part decides, as ``report.from_own_paper`` does for ``info``)."""
    registry = SimpleNamespace(get=lambda kind, name: SimpleNamespace(
        citation="Own, Author: The Model, Venue 2020; code at example.org", reported=(
            ReportedScore("megc2019", "megc2019", "uf1", 70.0, "Own, Author: The Model, Venue 2020, Table 3"),
            ReportedScore("megc2019", "megc2019", "uar", 60.0, "Other, Group: A Survey, Venue 2023"))))
    notes = reported_notes(entry_of("ststnet"), registry, [])
    assert [note.split(" (")[0] for note in notes] == ["ststnet uf1: paper 70.00 %", "ststnet uar: published 60.00 %"]
