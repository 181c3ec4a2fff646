"""Frames one pixel high or wide: optical strain (``numpy.gradient`` of the flow) needs at least 2 pixels each way,
so such a clip is a data problem naming the sample, its file and the frames' size, skipped like other unusable clips
(one clear error under ``dataset.strict``), and ``merbench datasets check`` counts its frames as unusable. Before, the
run stopped with the plugin blamed ("ValueError: Shape of array too small to calculate a numerical gradient ...;
report it to the plugin's author") while the check called the tree usable. TV-L1 and Farneback flow themselves take
frames from 1×1 up, and so do the other channels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import realtrees as rt
from merbench.contracts import Sample
from merbench.errors import DataError
from merbench_plugins.preprocessors.flow import FlowPreprocessor

MANIFEST = "dataset.manifest=frames.csv"
STRAIN = "optical strain (flow.channels holds strain, as by default) needs at least 2 pixels each way"


def _noise(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)


def _clip(height: int, width: int) -> tuple[Sample, dict[Path, np.ndarray]]:
    paths = (Path("/data/p0/onset.png"), Path("/data/p0/apex.png"))
    sample = Sample(id="p0/c0", subject="p0", label=0, domain="test", frames=paths, onset=0, apex=1, offset=1)
    return sample, {path: _noise(height, width, seed) for seed, path in enumerate(paths)}


def _flow(sample: Sample, frames: dict, method: str, channels=("u", "v", "strain"), work_size: int = 0) -> np.ndarray:
    options = {"method": method, "size": 8, "channels": list(channels), "subtract_median": True,
               "work_size": work_size}
    return FlowPreprocessor(options)(sample, frames.__getitem__, None)


@pytest.mark.parametrize("method", ["tvl1", "farneback"])
@pytest.mark.parametrize("height, width", [(1, 40), (40, 1), (1, 1)])
def test_frames_one_pixel_thin_are_a_data_error_naming_sample_file_and_size(method, height, width):
    sample, frames = _clip(height, width)
    with pytest.raises(DataError) as refused:
        _flow(sample, frames, method)
    assert str(refused.value) == (
        f"sample p0/c0 (/data/p0/onset.png): its frames are {width}×{height} pixels, and {STRAIN}: leave strain out of "
        "a run (--set flow.channels=u,v), or use larger frames, or set dataset.strict=false to skip its clip")


@pytest.mark.parametrize("method", ["tvl1", "farneback"])
def test_two_by_two_frames_give_strain_and_thin_ones_give_the_other_channels(method):
    assert _flow(*_clip(2, 2), method).shape == (3, 8, 8)
    out = _flow(*_clip(1, 40), method, channels=("u", "v", "magnitude", "apex"))
    assert out.shape == (4, 8, 8) and np.isfinite(out).all()


def test_the_fix_names_the_other_channels_given():
    sample, frames = _clip(1, 40)
    with pytest.raises(DataError, match=r"leave strain out of a run \(--set flow.channels=u,v,apex\)"):
        _flow(sample, frames, "farneback", channels=("u", "v", "strain", "apex"))


def test_frames_the_work_size_makes_thin_name_both_sizes_and_the_option():
    sample, frames = _clip(2, 500)
    with pytest.raises(DataError) as refused:
        _flow(sample, frames, "farneback", work_size=64)
    assert ("its frames are 500×2 pixels, shrunk by flow.work_size=64 to 64×1 pixels, and optical strain"
            in str(refused.value)), refused.value
    assert "or keep their size (--set flow.work_size=0)" in str(refused.value)
    assert _flow(sample, frames, "farneback", work_size=0).shape == (3, 8, 8)


def _thin_tree(root: Path, height: int = 1, width: int = 40) -> Path:
    """The 9-clip frame manifest whose clip p0/c0 has frames of ``height`` × ``width`` pixels; its onset file."""
    rt.build_manifest_frames(root)
    folder = root / "clips" / "p0" / "c0"
    for seed, name in enumerate(("onset.png", "apex.png")):
        assert cv2.imwrite(str(folder / name), _noise(height, width, seed))
    return folder / "onset.png"


@pytest.mark.parametrize("extra", [[], ["flow.method=tvl1"], ["flow.method=farneback"], ["preprocess=crop,flow"],
                                   ["preprocess=magnify,flow"]])
def test_preprocessing_skips_the_thin_clip_and_strict_is_one_clear_error(run_cli, tmp_path, fresh_cache, extra):
    onset = _thin_tree(tmp_path / "m")
    common = ("preprocess", "--dataset", "manifest", "--root", str(tmp_path / "m"), "--profile", "quick", "--quiet",
              "--set", MANIFEST, *extra)
    done = run_cli(*common)
    said = " ".join((done.out + done.err).split())
    assert done.code == 0, done.err
    assert f"skipped 1 clip with unusable frames (dataset.strict is off); sample clips/p0/c0/apex.png ({onset}): " \
           f"its frames" in said, said
    assert STRAIN in said and "plugin's author" not in said and "numerical gradient" not in said, said
    strict = run_cli(*common, "dataset.strict=true")
    assert strict.code == 2 and "Traceback" not in strict.err, strict.err
    assert strict.err.startswith(f"merbench: error: sample clips/p0/c0/apex.png ({onset}): its frames"), strict.err
    assert STRAIN in strict.err and "or set dataset.strict=false to skip its clip" in strict.err, strict.err


def test_a_run_leaves_the_thin_clip_out_and_the_check_counts_its_frames_unusable(run_cli, tmp_path, fresh_cache):
    onset = _thin_tree(tmp_path / "m")
    ran = run_cli("run", "--model", "ststnet", "--dataset", "manifest", "--root", str(tmp_path / "m"), "--profile",
                  "quick", "--epochs", "1", "--no-store", "--quiet", "--set", MANIFEST, "protocol.n_splits=3")
    assert ran.code == 0, ran.err
    assert "· 8 clips, 3 subjects" in ran.out, ran.out
    checked = run_cli("datasets", "check", "manifest", "--root", str(tmp_path / "m"), "--set", MANIFEST, "--quiet")
    said = " ".join((checked.out + checked.err).split())
    assert checked.code == 0, checked.err
    assert "files opened 18 (2 missing or unusable)" in said, said
    assert (f"first: sample clips/p0/c0/apex.png: {onset} onset is 40×1 pixels, and {STRAIN}: leave strain out of a "
            "run (--set flow.channels=u,v), or use larger frames") in said, said
    assert "usable: 8 samples, 3 subjects, 1 clip with missing or unusable files left out" in said, said
    strict = run_cli("datasets", "check", "manifest", "--root", str(tmp_path / "m"), "--set", MANIFEST, "--strict")
    assert strict.code == 2 and "2 files a run reads first" in strict.err and STRAIN in strict.err, strict.err
