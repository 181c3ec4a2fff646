"""A frame file cut short gets merbench's message alone: OpenCV's own log line (``[ WARN:0@0.128] global
grfmt_png.cpp:793 readFromStreamOrBuffer PNG input buffer is incomplete``) no longer leaks onto stderr before it,
neither in the command's process nor in the preprocessing worker processes, which import OpenCV themselves."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import realtrees as rt

OPENCV_WARNING = "PNG input buffer is incomplete"
MANIFEST = "dataset.manifest=frames.csv"


def _tree_with_a_cut_apex(root: Path) -> Path:
    """16 clips (4 subjects) whose fifth clip's apex PNG is cut to half its bytes; that apex file."""
    rt.build_manifest_frames(root, subjects=4, per_subject=4)
    apex = root / "clips" / "p1" / "c0" / "apex.png"
    blob = apex.read_bytes()
    apex.write_bytes(blob[: len(blob) // 2])
    return apex


def _merbench(tmp_path: Path, *args: str, script: Path | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "MERBENCH_STORE": str(tmp_path / "store.sqlite"),
                   "MERBENCH_CACHE": str(tmp_path / "cache"), "COLUMNS": "80"}
    start = [str(script)] if script else ["-m", "merbench"]
    return subprocess.run([sys.executable, *start, *args], capture_output=True, text=True, env=environment,
                          timeout=300)


def test_datasets_check_of_a_cut_frame_prints_merbenchs_message_only(tmp_path):
    apex = _tree_with_a_cut_apex(tmp_path / "m")
    checked = _merbench(tmp_path, "datasets", "check", "manifest", "--root", str(tmp_path / "m"), "--set", MANIFEST,
                        "--quiet")
    said = " ".join(checked.stderr.split())
    assert checked.returncode == 0, checked.stderr
    assert f"first: sample clips/p1/c0/apex.png: {apex} apex unreadable (the file is not a readable image)" in said
    assert OPENCV_WARNING not in checked.stderr and "[ WARN" not in checked.stderr, checked.stderr


def test_preprocessing_workers_decoding_a_cut_frame_print_merbenchs_message_only(tmp_path):
    """The fifth clip goes to a worker process (this process takes the first four and then clips from the back)."""
    apex = _tree_with_a_cut_apex(tmp_path / "m")
    script = tmp_path / "eager_workers.py"
    script.write_text(textwrap.dedent("""\
        import sys

        if __name__ == "__main__":
            import merbench.preprocess
            from merbench.cli import main

            merbench.preprocess.PARALLEL_WORTH_S = 0.0  # start the workers whatever the clips cost
            sys.exit(main(sys.argv[1:]))
        """))
    done = _merbench(tmp_path, "preprocess", "--dataset", "manifest", "--root", str(tmp_path / "m"), "--set", MANIFEST,
                     "engine.preprocess_workers=2", "--quiet", script=script)
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 0, done.stderr
    assert ", 2 workers)" in said, said
    assert (f"skipped 1 clip with unusable frames (dataset.strict is off); sample clips/p1/c0/apex.png: cannot decode "
            f"frame {apex}: the file is not a readable image; replace it with the original frame") in said, said
    assert OPENCV_WARNING not in done.stderr and "[ WARN" not in done.stderr, done.stderr
