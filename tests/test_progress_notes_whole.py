"""A stage's note (a grid cell's label) is shown with every word whole, or not at all, at any terminal width: a
note column narrower than its longest word was cut at the console's right edge (``subject-10fol`` at 80 columns)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from merbench.progress import RichProgress

NOTES = ["convmixer × synthetic × subject-10fold", "dual-inception × megc2019 × megc2019 failed",
         "timm:resnet18 × casme3 × cross-dataset", "offapexnet × samm × loso"]
STAGES = [("Preprocessing casme2 (flow)", 255, None), ("Folds (subject-10fold)", 10, None),
          ("Fold 10/10 epochs", 100, "loss 0.123")]


def bar_lines(width: int, note: str) -> list[str]:
    console = Console(width=width, record=True, force_terminal=True, color_system=None, file=io.StringIO())
    progress = RichProgress(console)
    progress.start("cells", 12, "Grid cells")
    progress.advance("cells", 3, note=note)
    for name, total, stage_note in STAGES:
        progress.start(name, total, name)
        progress.advance(name, 1, note=stage_note)
    console.print(progress._progress.get_renderable())
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", range(60, 101, 2))
def test_a_note_is_shown_whole_or_not_at_all(width):
    for note in NOTES:
        lines = bar_lines(width, note)
        words = set(re.findall(r"\S+", "\n".join(lines)))
        shown = [word for word in note.split() if word != "×" and word in words]
        assert shown in ([], [word for word in note.split() if word != "×"]), (note, lines)
        assert max(len(line) for line in lines) <= width, lines
        assert all("0:00:00 -:--:--" in line for line in lines if "━" in line), lines  # times never cropped


@pytest.mark.parametrize("width", [70, 80, 100])
def test_a_cell_label_is_shown_where_its_longest_word_fits(width):
    lines = bar_lines(width, NOTES[0])
    assert "subject-10fold" in " ".join(lines).split(), lines
