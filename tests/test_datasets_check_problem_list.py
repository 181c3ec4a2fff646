"""The "Missing or unusable files" table of ``merbench datasets check``: cut at ``--show N`` with a note of how many
more there are, as every other table is, and the problems that leave a clip out listed before those that do not, so
that a short list never hides one behind an offset frame that the default chain does not read."""

from __future__ import annotations

import re

import pytest

import realtrees as rt
from merbench.cache import cache_root
from merbench.dataset_check import load_for_check
from merbench.registry import get_registry


@pytest.fixture
def damaged(tmp_path):
    """A CASME II tree whose first clip has an empty offset frame and whose last clip has an empty apex frame."""
    root = tmp_path / "casme2"
    rt.build_casme2(root)
    samples, _ = load_for_check(get_registry(), "casme2", root, {}, cache_root(create=False))
    first, last = samples.samples[0], samples.samples[-1]
    offset, apex = first.frames[first.offset], last.frames[last.apex]
    offset.write_bytes(b"")
    apex.write_bytes(b"")
    return root, first.id, last.id


def _problem_rows(out: str) -> list[str]:
    table = out.split("Missing or unusable files", 1)[1]
    rows = re.split(r"\n(?! )", table)  # a row too wide for a pipe goes on over lines indented under its file
    return [" ".join(row.split()) for row in rows if "unreadable" in row]


def test_a_cut_list_says_how_many_more_and_shows_the_problem_that_leaves_a_clip_out(run_cli, damaged):
    root, offset_clip, apex_clip = damaged
    cut = run_cli("datasets", "check", "casme2", "--root", str(root), "--quiet", "--show", "1")
    assert cut.code == 0, cut.err
    rows = _problem_rows(cut.out)
    assert len(rows) == 1 and apex_clip in rows[0] and "apex unreadable" in rows[0], cut.out
    assert "1 more not shown (--show N)" in cut.out


def test_the_whole_list_has_the_clips_left_out_first(run_cli, damaged):
    root, offset_clip, apex_clip = damaged
    whole = run_cli("datasets", "check", "casme2", "--root", str(root), "--quiet")
    rows = _problem_rows(whole.out)
    assert [apex_clip in rows[0], offset_clip in rows[1]] == [True, True], whole.out
    assert "more not shown" not in whole.out
