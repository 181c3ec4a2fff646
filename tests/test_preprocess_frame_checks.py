"""Frame problems the preprocessing chain must name, not work around: a strict run refuses an unreadable clip that a
non-strict run cached as skipped; frames of another size or of more than 8 bits are refused naming the file; a clip
without apex of 2 frames (middle = onset) is skipped with its reason; ``apex_frames`` names files; ``crop.margin``
keys only the Haar crop; an interrupted ``merbench preprocess`` says what it kept; a preprocessor plugin whose
``build`` or ``cache_params`` gives the wrong thing, or whose output is empty or changes shape, is named."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import realtrees as rt

QUICK = ["--profile", "quick", "--quiet"]


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def casme2(tmp_path) -> Path:
    """A CASME II tree of usable rows only (a strict load keeps every clip)."""
    return rt.build_casme2(tmp_path / "CASME2", rows=[row for row in rt.CASME2_ROWS if row[3] == "ok"])


def clip_of(root: Path, sample_id: str = "sub01/EP02_01f"):
    from merbench_plugins.datasets import casme2

    part = casme2.read_part(root, "5")
    return next(sample for sample in part.samples() if sample.id == sample_id)


def preprocess(run_cli, root: Path, dataset: str, *sets: str, json_out: Path | None = None):
    extra = ["--json", str(json_out)] if json_out is not None else []
    return run_cli("preprocess", "--dataset", dataset, "--root", str(root), *QUICK, *extra, "--set", *sets)


# ------------------------------------------------------------------ strict and the cache


def test_a_strict_run_refuses_an_unreadable_clip_that_a_non_strict_run_cached_as_skipped(run_cli, casme2, fresh_cache):
    sample = clip_of(casme2)
    broken = Path(sample.frames[sample.apex])
    broken.write_text("not an image")
    first = preprocess(run_cli, casme2, "casme2", "dataset.strict=true")
    assert first.code == 2 and f"cannot decode frame {broken}" in one_line(first.err)
    lenient = preprocess(run_cli, casme2, "casme2", "flow.size=16")
    assert lenient.code == 0
    assert "skipped 1 clip with unusable frames (dataset.strict is off)" in one_line(lenient.err)

    again = preprocess(run_cli, casme2, "casme2", "dataset.strict=true")
    said = one_line(again.err)
    assert again.code == 2, again.out + again.err
    assert f"cannot decode frame {broken}: the file is not a readable image; replace it with the original frame, or " \
           "set dataset.strict=false to skip its clip" in said
    assert "strict is off" not in said
    assert preprocess(run_cli, casme2, "casme2", "flow.size=16").code == 0, "the non-strict run still uses its index"


# ------------------------------------------------------------------ frames of another size


def test_frames_of_another_size_in_one_clip_are_refused_naming_the_file_and_both_sizes(run_cli, casme2, fresh_cache):
    sample = clip_of(casme2)
    for path in sample.frames:
        assert cv2.imwrite(str(path), cv2.resize(cv2.imread(str(path)), (48, 32)))
    apex = Path(sample.frames[sample.apex])
    assert cv2.imwrite(str(apex), cv2.imread(str(apex))[:4, :4])
    onset = Path(sample.frames[sample.onset])

    options = {"crop": ["crop.detector=centre"], "apex": ["apex.rule=motion-peak", "apex.override=true"]}
    for chain in ("crop,flow", "flow", "magnify,flow", "apex,flow", "apex-frame"):
        steps = [option for step in chain.split(",") for option in options.get(step, [])]
        strict = preprocess(run_cli, casme2, "casme2", f"preprocess={chain}", *steps, "dataset.strict=true")
        said = one_line(strict.err)
        assert strict.code == 2, (chain, strict.out + strict.err)
        assert f"sample sub01/EP02_01f: frame {apex} is 4×4 pixels but the onset frame {onset} is 48×32; " \
               "every frame of a clip must have one size" in said, (chain, said)
        assert said.endswith("replace it with the original frame, or set dataset.strict=false to skip its clip"), said
        assert "plugin's author" not in said and "OpenCV" not in said

    lenient = preprocess(run_cli, casme2, "casme2", "preprocess=crop,flow", "crop.detector=centre")
    said = one_line(lenient.err)
    assert lenient.code == 0 and "skipped 1 clip with unusable frames" in said
    assert f"frame {apex} is 4×4 pixels" in said and "dataset.strict=false" not in said


def test_a_frame_of_another_size_inside_the_clip_is_refused_by_a_chain_that_reads_it(run_cli, casme2, fresh_cache):
    sample = clip_of(casme2)
    inside = Path(sample.frames[sample.onset + 1])
    assert inside != Path(sample.frames[sample.apex])
    assert cv2.imwrite(str(inside), cv2.resize(cv2.imread(str(inside)), (48, 40)))
    refused = preprocess(run_cli, casme2, "casme2", "preprocess=magnify,flow", "dataset.strict=true")
    assert refused.code == 2 and f"frame {inside} is 48×40 pixels but the onset frame" in one_line(refused.err)
    assert preprocess(run_cli, casme2, "casme2", "preprocess=flow", "dataset.strict=true").code == 0, \
        "a chain that reads only onset and apex does not need that frame"


# ------------------------------------------------------------------ bit depth


@pytest.mark.parametrize("scale", [16, 257])
def test_16_bit_frames_are_refused_naming_the_file_not_reduced_to_their_high_byte(run_cli, casme2, fresh_cache, scale):
    sample = clip_of(casme2)
    for path in sample.frames:  # 12-bit camera data (0..4095) or the full 16-bit range, as PNG
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * scale
        assert cv2.imwrite(str(Path(path).with_suffix(".png")), grey)
        Path(path).unlink()
    onset = Path(clip_of(casme2).frames[sample.onset])
    assert onset.suffix == ".png" and cv2.imread(str(onset), cv2.IMREAD_UNCHANGED).dtype == np.uint16

    refused = preprocess(run_cli, casme2, "casme2", "dataset.strict=true")
    said = one_line(refused.err)
    assert refused.code == 2, refused.out + refused.err
    low, high = (int(v) for v in (cv2.imread(str(onset), cv2.IMREAD_UNCHANGED).min(),
                                   cv2.imread(str(onset), cv2.IMREAD_UNCHANGED).max()))
    assert f"sample {sample.id}: frame {onset} is a 16-bit image (values {low}..{high})" in said  # whose frame
    assert "convert the clip's frames to 8-bit grey, scaled by the camera's bit depth (12-bit: divide by 16), or set " \
           "dataset.strict=false to skip its clip" in said
    lenient = preprocess(run_cli, casme2, "casme2", "flow.size=16")
    assert lenient.code == 0 and "is a 16-bit image" in one_line(lenient.err)


def test_8_bit_colour_and_grey_png_frames_decode_as_before(tmp_path):
    from merbench.preprocess import decode_frame

    colour = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    for image in (colour, colour[..., 0]):
        blob = cv2.imencode(".png", image)[1].tobytes()
        expected = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_GRAYSCALE)
        frame = decode_frame(tmp_path / "f.png", blob)
        assert frame.dtype == np.uint8 and np.array_equal(frame, expected)


# ------------------------------------------------------------------ a middle apex that is the onset


def test_a_two_frame_smic_clip_is_skipped_since_its_middle_frame_is_its_onset(tmp_path):
    from merbench_plugins.datasets import smic

    root = rt.build_smic(tmp_path / "SMIC", ("HS",))
    clip = root / "HS" / "s1" / "micro" / "negative" / "s1_ne_01"
    for frame in sorted(clip.iterdir())[2:]:
        frame.unlink()
    part = smic.read_part(root)
    assert "s1/s1_ne_01" not in [entry.id for entry in part.entries]
    reason = next(row["reason"] for row in part.log.skipped if row["sample"] == "s1/s1_ne_01")
    assert "no apex annotated and only 2 frames" in reason and "would be the onset itself" in reason, reason


def test_a_sheet_row_without_apex_and_two_frames_is_skipped_and_three_are_kept(tmp_path):
    from merbench_plugins.datasets.common import SkipRow, place_clip

    folder = tmp_path / "sub01" / "EP01"
    rt.write_frames(folder, np.zeros((4, 8, 8), np.uint8), (f"img{n}.jpg" for n in range(10, 14)))
    with pytest.raises(SkipRow, match=r"no apex annotated and only 2 frames \(onset 10..offset 11\)"):
        place_clip(folder, tmp_path, 10, None, 11)
    placed = place_clip(folder, tmp_path, 10, None, 12)
    assert (placed.onset, placed.apex, placed.offset) == (0, None, 2)
    assert place_clip(folder, tmp_path, 10, 11, 11).apex == 1, "an annotated apex is the annotation's choice"


# ------------------------------------------------------------------ apex_frames


def test_apex_frames_name_the_chosen_file(run_cli, tmp_path, fresh_cache):
    root = rt.build_smic(tmp_path / "SMIC", ("HS",))
    (root / "HS" / "s1" / "micro" / "negative" / "s1_ne_01" / "image000123.bmp").unlink()
    target = tmp_path / "out.json"
    result = preprocess(run_cli, root, "smic", "preprocess=apex,flow", json_out=target)
    assert result.code == 0, result.err
    frames = json.loads(target.read_text())["details"]["apex_frames"]
    assert frames["s1/s1_ne_01"] == "image000124.bmp", "the middle of the 7 files on disk, by name"
    assert frames["s1/s1_po_01"] == "image000126.bmp"  # image000123..130: the middle file


# ------------------------------------------------------------------ crop.margin in the key


@pytest.mark.parametrize("detector", ["centre", "none"])
def test_crop_margin_is_no_part_of_the_key_where_no_face_is_detected(detector):
    from merbench_plugins.preprocessors.crop import CropPreprocessor

    def params(margin: float) -> dict:
        options = {"detector": detector, "fallback": "centre", "margin": margin, "min_face": 0.3, "cascade": ""}
        return CropPreprocessor(options).cache_params()

    assert params(0.2) == params(0.5) == {"method": detector}


def test_crop_margin_keys_the_haar_crop():
    from merbench_plugins.preprocessors.crop import CropPreprocessor, installed_cascade

    if installed_cascade() is None:
        pytest.skip("this OpenCV ships no Haar cascade")
    options = {"detector": "haar", "fallback": "centre", "min_face": 0.3, "cascade": ""}
    assert CropPreprocessor({**options, "margin": 0.2}).cache_params()["margin"] == 0.2
    assert CropPreprocessor({**options, "margin": 0.2}).cache_params() != CropPreprocessor(
        {**options, "margin": 0.5}).cache_params()


# ------------------------------------------------------------------ interrupted


def test_an_interrupted_preprocess_says_the_finished_clips_are_kept(run_cli, monkeypatch, fresh_cache):
    import merbench.preprocess as preprocessing

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(preprocessing, "preprocess_dataset", interrupted)
    result = run_cli("preprocess", "--dataset", "synthetic", *QUICK)
    assert result.code == 130
    said = one_line(result.err)
    assert "The clips finished so far are cached; run the same command again to compute only the rest" in said
    assert said.endswith("merbench: interrupted")


# ------------------------------------------------------------------ preprocessor plugins

PLUGIN = '''
import numpy as np

from merbench.contracts import PreprocessorPlugin
from merbench.hookspecs import hookimpl


class Step:
    def __init__(self, kind):
        self.kind = kind

    def cache_params(self):
        if self.kind == "cp-raises":
            raise RuntimeError("cache_params boom")
        if self.kind == "cp-object":
            return {"size": object()}
        if self.kind == "cp-list":
            return ["size", 16]
        return {"kind": self.kind}

    def inputs(self, sample):
        return [sample.frames[sample.onset]]

    def __call__(self, sample, read_frame, upstream):
        read_frame(sample.frames[sample.onset])
        if self.kind == "empty":
            return np.zeros((1, 0, 0), np.float32)
        side = 8 if self.kind == "varying" and sample.id.endswith("2") else 16
        return np.ones((1, side, side), np.float32)


class NoInputs:
    def cache_params(self):
        return {}

    def __call__(self, sample, read_frame, upstream):
        return None


def factory(kind):
    if kind == "build-none":
        return lambda options: None
    if kind == "build-noinputs":
        return lambda options: NoInputs()
    return lambda options: Step(kind)


@hookimpl
def merbench_register_preprocessors(register):
    for kind in ("build-none", "build-noinputs", "cp-raises", "cp-object", "cp-list", "empty", "varying"):
        register(PreprocessorPlugin(name=f"y-{kind}", build=factory(kind), description=kind, produces="y-rep"))
'''

SYNTHETIC = ["dataset.subjects=3", "dataset.clips_per_subject=2", "dataset.size=32", "dataset.frames=8"]


@pytest.fixture
def steps(install_plugin):
    install_plugin("merbench-ysteps", "ysteps", "merbench_ysteps_plugin", PLUGIN)


@pytest.mark.parametrize("kind, problem", [
    ("build-none", "its build(options) returned None; it must return the preprocessor, an object with "
                   "cache_params(), inputs(sample) and __call__(sample, read_frame, upstream)"),
    ("build-noinputs", "its build(options) returned a NoInputs without inputs(); it must return the preprocessor"),
    ("cp-raises", "its cache_params() raised RuntimeError: cache_params boom; it must return a dict"),
    ("cp-object", "its cache_params() returned a dict that is not JSON (TypeError: Object of type object is not JSON "
                  "serializable)"),
    ("cp-list", "its cache_params() returned a list, not a dict"),
])
def test_a_preprocessor_that_builds_no_step_or_gives_unusable_cache_params_is_named(steps, run_cli, fresh_cache,
                                                                                     kind, problem):
    result = run_cli("preprocess", "--dataset", "synthetic", *QUICK, "--set", f"preprocess=y-{kind}", *SYNTHETIC)
    said = one_line(result.err)
    assert (result.code, "Traceback" in result.err) == (2, False), result.err
    assert f"preprocessor plugin 'y-{kind}' (merbench-ysteps 0.1): {problem}" in said, said
    assert "report it to the plugin's author" in said
    assert not list(fresh_cache.rglob("index/*.npy")), "refused before any clip is computed"


def test_an_empty_preprocessor_output_is_named_not_blamed_on_the_model(steps, run_cli, fresh_cache):
    result = run_cli("preprocess", "--dataset", "synthetic", *QUICK, "--set", "preprocess=y-empty", *SYNTHETIC)
    said = one_line(result.err)
    assert result.code == 2, result.err
    assert "preprocessor plugin 'y-empty' (merbench-ysteps 0.1) returned an empty array of shape (1, 0, 0) for " \
           "sample" in said and "fix the preprocessor or report it to the plugin's author" in said


def test_a_preprocessed_shape_that_changes_names_the_preprocessor(steps, run_cli, fresh_cache):
    result = run_cli("preprocess", "--dataset", "synthetic", *QUICK, "--set", "preprocess=y-varying", *SYNTHETIC)
    said = one_line(result.err)
    assert result.code == 2, result.err
    assert "preprocessor plugin 'y-varying' (merbench-ysteps 0.1), the last step of preprocess=y-varying: sample " \
           in said
    assert "preprocessed shape (1, 8, 8) differs from (1, 16, 16)" in said
    assert said.endswith("the chain must produce one size for every clip: fix the preprocessor or report it to the "
                         "plugin's author")
