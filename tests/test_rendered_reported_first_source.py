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


def test_the_first_listed_source_is_shown_as_compare_shows_it():
    registry = registry_of(ReportedScore("megc2019", "megc2019", "uf1", 80.0, "Paper A 2023"),
                           ReportedScore("megc2019", "megc2019", "uar", 78.0, "Paper A 2023"),
                           ReportedScore("megc2019", "megc2019", "uf1", 70.0, "Paper B 2024"),
                           ReportedScore("megc2019", "megc2019", "uar", 68.0, "Paper B 2024"))
    assert _reported("ststnet", registry) == "80.00 / 78.00"


def test_only_the_megc2019_protocols_scores_fill_the_column():
    registry = registry_of(ReportedScore("megc2019", "loso", "uf1", 91.0, "Paper C"),
                           ReportedScore("megc2019", "megc2019", "uf1", 73.53, "Paper A"),
                           ReportedScore("megc2019", "megc2019", "uar", 75.0, "Paper A"),
                           ReportedScore("megc2019", "loso", "uar", 92.0, "Paper C"))
    assert _reported("ststnet", registry) == "73.53 / 75.00"
    assert _reported("ststnet", registry_of(ReportedScore("megc2019", "loso", "uf1", 91.0, "Paper C"),
                                            ReportedScore("megc2019", "loso", "uar", 92.0, "Paper C"))) == "—"
