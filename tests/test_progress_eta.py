"""A stage's ETA is timed from the pace of its work, not from a quick start of cached clips: with stderr piped, a
megc2019 run where 145 of 442 clips were cached said ``148/442, elapsed 0:00:05, ETA 0:00:10`` where about 11
minutes were left, and ``273/442, elapsed 0:03:23, ETA 0:02:05`` where 7:38 were. A terminal's bar (Rich's own
column) said the same for 30 seconds after the cached clips, and nothing for steps longer than 30 seconds."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from merbench.progress import RichProgress

CACHED, TOTAL, CLIP = 145, 442, 2.2  # seconds a clip takes to compute


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _clock_seconds(text: str) -> int:
    hours, minutes, seconds = map(int, text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def _preprocess(progress: RichProgress, clock: Clock, computed: int) -> None:
    """What ``preprocess_dataset`` reports: the cached clips one by one in a few milliseconds each, then each
    computed clip after ``CLIP`` seconds."""
    progress.start("preprocess", TOTAL, "Preprocessing megc2019 (flow)")
    clock.now += 0.3  # the clips' keys
    for _ in range(CACHED):
        clock.now += 0.004
        progress.advance("preprocess", 1)
    for _ in range(computed):
        clock.now += CLIP
        progress.advance("preprocess", 1)


def _piped_etas(computed: int) -> dict[int, int]:
    console = Console(file=io.StringIO(), width=80)
    clock = Clock()
    with RichProgress(console, clock=clock) as progress:
        _preprocess(progress, clock, computed)
    lines = console.file.getvalue().splitlines()
    found = [re.fullmatch(r"Preprocessing megc2019 \(flow\): (\d+)/442, elapsed [\d:]+, ETA ([\d:]+)", line)
             for line in lines]
    return {int(match[1]): _clock_seconds(match[2]) for match in found if match}


def test_a_piped_eta_after_cached_clips_is_the_time_the_clips_left_take():
    etas = _piped_etas(TOTAL - CACHED - 1)
    assert etas, "the lines show an ETA"
    assert min(etas) <= CACHED + 5, "the first lines after the cached clips show one"
    for done, eta in etas.items():
        left = (TOTAL - done) * CLIP
        assert 0.9 * left <= eta <= 1.1 * left, (done, eta, left)  # before: ETA 0:00:10 at 148/442 for 10:50


def test_a_piped_eta_of_steady_work_is_unchanged():
    console = Console(file=io.StringIO(), width=80)
    clock = Clock()
    progress = RichProgress(console, clock=clock)
    progress.start("folds", 10, "Folds (loso)")
    for fold in range(10):
        clock.now += 2 + (fold % 2)  # 2 and 3 seconds in turn
        progress.advance("folds", 1)
    lines = console.file.getvalue().splitlines()
    assert "Folds (loso): 4/10, elapsed 0:00:10, ETA 0:00:15" in lines, lines  # elapsed / done * left, as before


def _bar(progress: RichProgress, width: int = 100) -> str:
    console = Console(width=width, record=True, force_terminal=True, color_system=None, file=io.StringIO())
    console.print(progress._progress.get_renderable())
    return console.export_text()


@pytest.mark.parametrize("computed", [3, 10])
def test_a_bars_eta_after_cached_clips_is_the_time_the_clips_left_take(computed):
    console = Console(width=100, force_terminal=True, color_system=None, file=io.StringIO())
    clock = Clock()
    progress = RichProgress(console, clock=clock)
    _preprocess(progress, clock, computed)
    bar = _bar(progress)
    done = CACHED + computed
    assert f"{done}/442" in bar, bar
    eta = _clock_seconds(re.findall(r"\d+:\d\d:\d\d", bar)[-1])  # the bar shows elapsed, then the ETA
    left = (TOTAL - done) * CLIP
    assert 0.9 * left <= eta <= 1.1 * left, (bar, left)  # before: 0:00:15 after 3 clips, 0:00:43 after 10


def test_a_bars_eta_counts_steps_longer_than_30_seconds_and_finished_is_zero():
    console = Console(width=100, force_terminal=True, color_system=None, file=io.StringIO())
    clock = Clock()
    progress = RichProgress(console, clock=clock)
    progress.start("folds", 5, "Folds (loso)")
    clock.now += 60
    progress.advance("folds", 1)
    clock.now += 60
    progress.advance("folds", 1)
    assert "0:02:00 0:03:00" in _bar(progress)  # before: -:--:--, Rich's pace forgets samples older than 30 s
    for _ in range(3):
        clock.now += 60
        progress.advance("folds", 1)
    assert "0:05:00 0:00:00" in _bar(progress)
