"""What a process killed with kill -9 between writing a temporary file (or folder) and renaming it into place left
behind is removed by the next write of the same thing, once it is an hour old; the work of a writer running now
(a fresh temporary file) is left alone."""

from __future__ import annotations

import os
import shutil
import time

from merbench.cache import STALE_SECONDS
from merbench.outputs import write_output

TINY = ["--set", "dataset.subjects=2", "dataset.clips_per_subject=3", "dataset.size=32", "dataset.frames=8"]


def aged(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_an_outputs_stale_temporary_file_goes_with_the_next_write_and_a_fresh_one_stays(tmp_path):
    target = tmp_path / "report.html"
    stale = tmp_path / ".report.html.k1ll3d00.tmp"
    stale.write_text("the new content of a write killed before its rename")
    aged(stale, STALE_SECONDS + 60)
    fresh = tmp_path / ".report.html.runn1ng0.tmp"
    fresh.write_text("a writer at work now")
    other = tmp_path / ".other.html.k1ll3d00.tmp"
    other.write_text("not a temporary file of this output")
    aged(other, STALE_SECONDS + 60)
    write_output(target, "<html></html>")
    assert target.read_text() == "<html></html>\n"
    assert not stale.exists() and fresh.exists() and other.exists()


def test_generated_data_left_half_written_by_a_killed_run_goes_when_the_data_is_generated(run_cli, fresh_cache):
    assert run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY).code == 0
    [generated] = [path for path in (fresh_cache / "synthetic").iterdir() if not path.name.startswith(".")]
    stale = fresh_cache / "synthetic" / f".{generated.name}.k1ll3d00"
    (stale / "s01").mkdir(parents=True)
    aged(stale, STALE_SECONDS + 60)
    fresh = fresh_cache / "synthetic" / f".{generated.name}.runn1ng0"
    fresh.mkdir()
    shutil.rmtree(generated)  # generated again by the next run
    assert run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY).code == 0
    assert generated.is_dir() and not stale.exists() and fresh.exists()
