"""LBP-TOP on clips spanning fewer frames than ``lbptop.frames`` uses some frames twice (nearest-frame resampling):
the run records how many clips did so (before: nothing said, though their XT/YT codes compare a frame with itself)."""

from __future__ import annotations

import json
from pathlib import Path

from merbench.contracts import Sample
from merbench_plugins.models.lbptop import LbpTopPreprocessor


def _clip(span: int) -> Sample:
    return Sample(id=f"c{span}", subject="s", label=0, domain="d", frames=tuple(Path(f"{i}.png") for i in range(span)),
                  onset=0, apex=span // 2, offset=span - 1)


def test_clips_shorter_than_the_frames_asked_are_counted():
    step = LbpTopPreprocessor({"size": 16, "frames": 10, "blocks": 2})
    assert step.indices(_clip(2)) == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    details = step.run_details([_clip(2), _clip(5), _clip(12)])
    assert details == {"lbptop_frames": "10 frames evenly spaced from onset to offset; 2 of 3 clips span fewer "
                                        "(fewest 2), so some of their frames are used twice"}
    assert step.run_details([_clip(12)]) == {"lbptop_frames": "10 frames evenly spaced from onset to offset"}


def test_a_run_records_it(run_cli, tmp_path):
    target = tmp_path / "r.json"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--quiet", "--json", str(target), "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
                     "protocol.n_splits=2", "lbptop.frames=64")
    assert result.code == 0, result.err
    recorded = json.loads(target.read_text())["preprocess"]["lbptop_frames"]
    assert recorded.startswith("64 frames evenly spaced from onset to offset; 12 of 12 clips span fewer")
