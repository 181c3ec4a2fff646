"""The README's models table shows a model's MEGC2019 UF1 / UAR from the first source its plugin lists, as
``merbench compare`` does, and only scores published under the MEGC2019 protocol (before: with two sources for one
setting the last one listed was shown, and a megc2019 score under another protocol could take the column)."""

from __future__ import annotations

from types import SimpleNamespace

from merbench.contracts import ReportedScore
from merbench.rendered_tables import _reported


def registry_of(*scores: ReportedScore) -> SimpleNamespace:
    """A registry whose every model reports ``scores``."""
    return SimpleNamespace(get=lambda kind, name: SimpleNamespace(reported=scores))


def published(uf1: float, uar: float, source: str, protocol: str = "megc2019") -> tuple[ReportedScore, ReportedScore]:
    """The UF1 and UAR ``source`` published on the MEGC2019 composite data under ``protocol``."""
    return (ReportedScore("megc2019", protocol, "uf1", uf1, source),
            ReportedScore("megc2019", protocol, "uar", uar, source))


def test_the_first_listed_source_is_shown_as_compare_shows_it():
    registry = registry_of(*published(80.0, 78.0, "Paper A 2023"), *published(70.0, 68.0, "Paper B 2024"))
    assert _reported("ststnet", registry) == "80.00 / 78.00"


def test_only_the_megc2019_protocols_scores_fill_the_column():
    loso_uf1, loso_uar = published(91.0, 92.0, "Paper C", protocol="loso")
    registry = registry_of(loso_uf1, *published(73.53, 75.0, "Paper A"), loso_uar)
    assert _reported("ststnet", registry) == "73.53 / 75.00"
    assert _reported("ststnet", registry_of(loso_uf1, loso_uar)) == "—"
