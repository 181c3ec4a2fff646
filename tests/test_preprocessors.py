"""Frame steps (crop, apex, magnify), apex-frame, chain order and the model/chain representation check."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from merbench.contracts import ClipFrames, Sample
from merbench.errors import DataError, UsageError
from merbench.preprocess import build_chain, compute_sample
from merbench.registry import get_registry
from merbench_plugins.preprocessors.flow import FlowPreprocessor
from merbench_plugins.preprocessors import crop as crop_module
from merbench_plugins.preprocessors.apex import ApexPreprocessor
from merbench_plugins.preprocessors.apex_frame import ApexFramePreprocessor
from merbench_plugins.preprocessors.crop import CropPreprocessor, centre_box, square_box
from merbench_plugins.preprocessors.magnify import MagnifyPreprocessor

from motion_images import shifted, stretched, texture


def clip_of(frames: list[np.ndarray], onset: int = 0, apex: int | None = None, offset: int | None = None):
    """A Sample over fake paths and a read_frame that counts reads."""
    paths = tuple(Path(f"/nonexistent/f{i:03d}.png") for i in range(len(frames)))
    lookup = dict(zip(paths, frames))
    reads: list[Path] = []

    def read(path: Path) -> np.ndarray:
        reads.append(path)
        return lookup[path]

    sample = Sample("clip", "s01", 0, "test", paths, onset, apex, len(frames) - 1 if offset is None else offset)
    return sample, read, reads


def crop_options(**overrides) -> dict:
    base = {"detector": "auto", "fallback": "centre", "margin": 0.2, "min_face": 0.3, "cascade": ""}
    base.update(overrides)
    return base


# ------------------------------------------------------------------------------ crop


def test_square_box_grows_by_the_margin_and_stays_inside_the_frame():
    assert square_box(20, 20, 20, 20, 0.25, 64, 64) == (15, 15, 30)
    assert square_box(10, 20, 20, 30, 0.2, 64, 64) == (0, 14, 42)  # pushed right at the left border
    assert square_box(0, 0, 100, 80, 0.5, 64, 48) == (16, 0, 48)  # never larger than the frame
    assert centre_box(64, 48) == (8, 0, 48)


@pytest.fixture
def fake_cascade(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cascade.xml"
    path.write_text("<opencv_storage/>")
    monkeypatch.setattr(crop_module, "load_cascade", lambda path, given: object())  # the step loads it when built
    return path


def test_crop_box_is_found_once_on_the_onset_frame_and_cuts_every_frame(fake_cascade, monkeypatch):
    frames = [texture(seed=i) for i in range(6)]
    sample, read, _ = clip_of(frames, onset=1, apex=3, offset=5)
    seen: list[np.ndarray] = []

    def detect(self, frame):
        seen.append(frame)
        return [(8, 10, 20, 20), (30, 30, 30, 30)]  # the larger face wins

    monkeypatch.setattr(CropPreprocessor, "detect", detect)
    crop = CropPreprocessor(crop_options(cascade=str(fake_cascade), margin=0.0))
    assert crop.method == "haar"
    assert crop.inputs(sample) == [sample.frames[1]]
    clip = crop(sample, read, None)
    assert len(seen) == 1 and np.array_equal(seen[0], frames[1])
    for index in range(6):
        np.testing.assert_array_equal(clip.read(index), frames[index][30:60, 30:60])
    assert clip.notes["crop"] == "haar" and clip.notes["crop_box"] == [30, 30, 30]
    assert clip.apex == 3


@pytest.mark.parametrize("fallback,expected", [("centre", (slice(0, 48), slice(8, 56))), ("none", (slice(0, 48), slice(0, 64)))])
def test_crop_falls_back_when_no_face_is_found(fake_cascade, monkeypatch, fallback, expected):
    monkeypatch.setattr(CropPreprocessor, "detect", lambda self, frame: [])
    frame = np.arange(48 * 64, dtype=np.uint32).reshape(48, 64).astype(np.uint8)
    sample, read, _ = clip_of([frame, frame])
    clip = CropPreprocessor(crop_options(cascade=str(fake_cascade), fallback=fallback))(sample, read, None)
    np.testing.assert_array_equal(clip.read(1), frame[expected])
    assert clip.notes["crop"] == f"{fallback} (no face found)"


def test_crop_without_an_installed_cascade(monkeypatch):
    monkeypatch.setattr(crop_module, "installed_cascade", lambda: None)
    auto = CropPreprocessor(crop_options())
    assert auto.method == "centre"
    assert "no Haar cascade installed" in auto.run_details([])["crop_detector"]
    with pytest.raises(UsageError, match="crop.cascade=PATH"):
        CropPreprocessor(crop_options(detector="haar"))
    with pytest.raises(UsageError, match="crop.cascade=/nope.xml"):
        CropPreprocessor(crop_options(cascade="/nope.xml"))
    frame = texture()[:, :48]
    sample, read, _ = clip_of([frame, frame])
    assert auto(sample, read, None).read(0).shape == (48, 48)
    none = CropPreprocessor(crop_options(detector="none"))(sample, read, None)
    assert none.read(0) is frame


@pytest.mark.skipif(crop_module.installed_cascade() is None, reason="this OpenCV ships no Haar cascade (pyproject asks for opencv<5)")
def test_installed_haar_cascade_finds_synthetic_faces():
    from merbench_plugins.datasets import synthetic_faces

    crop = CropPreprocessor(crop_options())
    assert crop.method == "haar", "the OpenCV 4 wheel ships haarcascade_frontalface_default.xml; auto must use it"
    found = 0
    for index in range(5):
        clip = synthetic_faces.make_clip(synthetic_faces.make_subject(0, index), 0, seed=0, size=128)
        sample, read, _ = clip_of(list(clip.frames[:3]))
        result = crop(sample, read, None)
        found += result.notes["crop"] == "haar"
        x, y, side = result.notes["crop_box"]
        assert result.read(2).shape == (side, side) and 0 <= x and 0 <= y and side <= 128
    assert found >= 3, f"the face detector found only {found} of 5 synthetic faces"


def test_crop_params_change_with_options(fake_cascade):
    assert CropPreprocessor(crop_options(margin=0.1)).cache_params() != CropPreprocessor(crop_options(margin=0.3)).cache_params()
    haar = CropPreprocessor(crop_options(cascade=str(fake_cascade))).cache_params()
    fake_cascade.write_text("<opencv_storage><x/></opencv_storage>")
    assert CropPreprocessor(crop_options(cascade=str(fake_cascade))).cache_params() != haar


# ------------------------------------------------------------------------------ apex


def rising_and_falling(peak: int, n: int = 10, amplitude: float = 0.25, drift: float = 0.0) -> list[np.ndarray]:
    """A clip with a local expansion that grows to frame ``peak`` and fades, plus a steady head drift."""
    base = texture(seed=5)
    profile = [amplitude * max(0.0, 1.0 - abs(t - peak) / peak) for t in range(n)]
    return [shifted(stretched(base, a, sigma=10.0), drift * t) if t else base.copy() for t, a in enumerate(profile)]


@pytest.mark.parametrize("measure,drift", [("flow", 0.0), ("flow", 0.1), ("difference", 0.0)])
@pytest.mark.parametrize("peak", [3, 7])
def test_motion_peak_finds_the_frame_with_most_motion(measure, drift, peak):
    # The flow measure removes the median flow, so a steady head drift does not move the peak.
    frames = rising_and_falling(peak, drift=drift)
    sample, read, _ = clip_of(frames, onset=0, apex=None, offset=9)
    apex = ApexPreprocessor({"rule": "motion-peak", "measure": measure, "override": False})
    assert apex.inputs(sample) == list(sample.frames)
    clip = apex(sample, read, None)
    assert clip.apex == peak
    assert clip.notes["apex"] == peak and clip.notes["apex_rule"] == f"motion-peak ({measure})"
    # flow after the apex step uses the chosen apex, not the middle frame
    flow = FlowPreprocessor({"method": "dis", "size": 32, "channels": ["u", "v"], "subtract_median": True})
    annotated, read_annotated, _ = clip_of(frames, onset=0, apex=peak, offset=9)
    np.testing.assert_array_equal(flow(sample, read, clip), flow(annotated, read_annotated, None))


@pytest.mark.parametrize("lighting", ["brighter", "gain"])
def test_difference_measure_ignores_a_light_change_over_the_whole_frame(lighting):
    # The peak is at frame 3; the light rises 1.5 % per frame (gain: before frames were compared at the onset's mean
    # and contrast, the last frame was the "peak") or 2 grey levels per frame (brightness, which did not count before
    # either).
    frames = rising_and_falling(3, n=12, amplitude=0.1)
    lit = [np.clip(f.astype(np.float32) * (1 + 0.015 * t) if lighting == "gain" else f.astype(np.float32) + 2.0 * t,
                   0, 255).astype(np.uint8) for t, f in enumerate(frames)]
    sample, read, _ = clip_of(lit, onset=0, apex=None, offset=11)
    apex = ApexPreprocessor({"rule": "motion-peak", "measure": "difference", "override": False})
    assert apex(sample, read, None).apex == 3
    flow_keyed = ApexPreprocessor({"rule": "motion-peak", "measure": "flow", "override": False}).cache_params()
    assert "frames" not in flow_keyed and apex.cache_params()["frames"] == "standardised", "a new key for the new scores"


@pytest.mark.parametrize("size", [(10, 10), (40, 6)])
@pytest.mark.parametrize("step", ["flow", "apex"])
def test_frames_too_small_for_dis_flow_are_refused_naming_the_fix(step, size):
    # OpenCV's DIS refuses frames with a side under 8 pixels, or both under 12; the error was OpenCV's, "report it to
    # the plugin's author", though the step is built in and another option works.
    width, height = size
    frames = [texture(seed=seed)[:height, :width] for seed in (1, 2, 3)]
    sample, read, _ = clip_of(frames, onset=0, apex=None if step == "apex" else 1, offset=2)
    if step == "flow":
        run = FlowPreprocessor({"method": "dis", "size": 8, "channels": ["u", "v"], "subtract_median": True})
        fix = "--set flow.method=farneback"
    else:
        run = ApexPreprocessor({"rule": "motion-peak", "measure": "flow", "override": False})
        fix = "--set apex.measure=difference"
    with pytest.raises(DataError, match=f"sample clip .*its frames are {width}×{height} pixels, and DIS optical flow"
                       ) as error:
        run(sample, read, None)
    assert fix in str(error.value)
    farneback = FlowPreprocessor({"method": "farneback", "size": 8, "channels": ["u", "v"], "subtract_median": True})
    assert farneback(sample, read, None).shape == (2, 8, 8), "the advised method works at that size"


def test_apex_middle_rule_and_annotated_apex():
    frames = rising_and_falling(7)
    sample, read, _ = clip_of(frames, onset=0, apex=None, offset=9)
    middle = ApexPreprocessor({"rule": "middle", "measure": "flow", "override": False})
    assert middle.inputs(sample) == [sample.frames[0], sample.frames[4]], "the key holds the frame it chooses"
    assert middle(sample, read, None).apex == 4 == (0 + 9) // 2
    annotated, read2, _ = clip_of(frames, onset=0, apex=2, offset=9)
    peak = ApexPreprocessor({"rule": "motion-peak", "measure": "flow", "override": False})
    assert peak(annotated, read2, None).apex == 2, "an annotated apex is kept"
    assert peak.run_details([annotated])["apex_rule"] == "annotated"
    forced = ApexPreprocessor({"rule": "motion-peak", "measure": "flow", "override": True})
    assert forced(annotated, read2, None).apex == 7
    assert forced.run_details([annotated, sample])["apex_rule"] == "motion-peak (flow) for 2 of 2 clips (all)"
    with pytest.raises(UsageError, match="apex.rule=peak"):
        ApexPreprocessor({"rule": "peak", "measure": "flow", "override": False})


# --------------------------------------------------------------------------- magnify


def test_magnify_increases_a_small_motion():
    base = cv2.GaussianBlur(texture(seed=2), (0, 0), 1.5)
    profile = [0.0, 0.1, 0.25, 0.4, 0.5, 0.4, 0.25, 0.1, 0.0, 0.0]
    frames = [shifted(base, d) for d in profile]
    sample, read, _ = clip_of(frames, onset=0, apex=4, offset=9)
    flow = FlowPreprocessor({"method": "dis", "size": 64, "channels": ["u"], "subtract_median": False})
    centre = (0, slice(16, 48), slice(16, 48))
    plain = float(np.median(flow(sample, read, None)[centre]))
    magnify = MagnifyPreprocessor({"alpha": 4.0, "band": [0.05, 0.5], "sigma": 1.0})
    magnified_clip = magnify(sample, read, None)
    magnified = float(np.median(flow(sample, read, magnified_clip)[centre]))
    assert plain == pytest.approx(0.5, abs=0.15)
    assert magnified > 2.0 * plain, (plain, magnified)
    assert magnified_clip.read(4).dtype == np.uint8
    none = MagnifyPreprocessor({"alpha": 0.0, "band": [0.05, 0.5], "sigma": 1.0})(sample, read, None)
    assert np.abs(none.read(4).astype(int) - frames[4].astype(int)).max() <= 1


@pytest.mark.parametrize("n_frames", [1, 2])
def test_magnify_notes_a_clip_too_short_for_its_band(n_frames):
    # 2 frames hold the frequencies 0 and 0.5 only: the default band 0.05-0.4 keeps none, and the clip came out
    # unchanged while the run counted it as "alpha 8, band 0.05-0.4".
    frames = [shifted(texture(seed=3), 0.3 * t) for t in range(n_frames)]
    sample, read, _ = clip_of(frames, onset=0, apex=n_frames - 1, offset=n_frames - 1)
    clip = MagnifyPreprocessor({"alpha": 8.0, "band": [0.05, 0.4], "sigma": 2.0})(sample, read, None)
    held = "frame holds" if n_frames == 1 else "frames hold"
    assert clip.notes["magnify"] == f"unchanged: {n_frames} {held} no frequency of band 0.05-0.4"
    np.testing.assert_array_equal(clip.read(n_frames - 1), frames[-1])
    if n_frames == 2:  # the band the docs advise for an onset and apex pair does magnify it
        wide = MagnifyPreprocessor({"alpha": 8.0, "band": [0.05, 0.5], "sigma": 2.0})(sample, read, None)
        assert wide.notes["magnify"] == "alpha 8, band 0.05-0.5"
        assert np.abs(wide.read(1).astype(int) - frames[1].astype(int)).max() > 0
    assert get_registry().get("preprocessors", "magnify").version == "2", "cached entries hold the old note"


def test_preprocess_says_how_many_clips_magnify_left_unchanged(run_cli, fresh_cache, tmp_path):
    from realtrees import build_manifest_frames

    build_manifest_frames(tmp_path / "root")
    done = run_cli("preprocess", "--dataset", "manifest", "--root", str(tmp_path / "root"), "--set",
                   "dataset.manifest=frames.csv", "preprocess=magnify,flow", "flow.method=dis")
    assert done.code == 0, done.err
    assert "  magnify: unchanged: 2 frames hold no frequency of band 0.05-0.4 (9 clips)" in done.out, done.out


@pytest.mark.parametrize("band", [[0.4, 0.1], [0.1, 0.9], ["a", "b"], [0.1]])
def test_magnify_rejects_a_bad_band(band):
    with pytest.raises(UsageError, match="magnify.band"):
        MagnifyPreprocessor({"alpha": 4.0, "band": band, "sigma": 1.0})


# ------------------------------------------------------------------------ apex-frame


def test_apex_frame_channels_and_scaling():
    onset = texture(seed=1)
    apex = shifted(onset, 3.0)
    sample, read, _ = clip_of([onset, onset, apex], onset=0, apex=2)
    out = ApexFramePreprocessor({"size": 32, "channels": ["onset", "apex", "difference"]})(sample, read, None)
    assert out.shape == (3, 32, 32) and out.dtype == np.float32
    assert 0.0 <= out[:2].min() and out[:2].max() <= 1.0
    np.testing.assert_allclose(out[2], out[1] - out[0], atol=1e-6)
    np.testing.assert_allclose(out[1], cv2.resize(apex.astype(np.float32) / 255, (32, 32), interpolation=cv2.INTER_AREA), atol=1e-6)
    with pytest.raises(UsageError, match="apex-frame.channels"):
        ApexFramePreprocessor({"size": 32, "channels": ["rgb"]})


# ----------------------------------------------------------------- chains and checks


def chain(names: str, **options):
    registry = get_registry()
    specs = [registry.get("preprocessors", name) for name in names.split(",")]
    sections = {spec.name: {**spec.options, **options.get(spec.name.replace("-", "_"), {})} for spec in specs}
    return build_chain(specs, sections)


def test_a_full_chain_runs_and_notes_what_it_chose(tmp_path):
    frames = rising_and_falling(6)
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"img_{i:03d}.png")
        cv2.imwrite(str(paths[-1]), frame)
    sample = Sample("clip", "s01", 0, "test", tuple(paths), 0, None, 9)
    built = chain("crop,apex,magnify,flow", apex={"rule": "motion-peak"}, flow={"method": "dis", "size": 28})
    assert built.produces == "flow-uvs"
    output, notes = compute_sample(built, sample, {})
    assert output.shape == (3, 28, 28) and output.dtype == np.float32
    assert notes["apex"] == 6 and notes["apex_rule"] == "motion-peak (flow)"
    assert notes["crop"] in ("haar", "centre", "centre (no face found)")
    assert notes["magnify"].startswith("alpha 8")


@pytest.mark.parametrize("order", ["flow,crop", "apex-frame,magnify"])
def test_a_chain_in_the_wrong_order_is_refused(order):
    with pytest.raises(UsageError, match="takes 'frames' but 'flow|takes 'frames' but 'apex-frame"):
        chain(order)


@pytest.mark.parametrize("order", ["crop,crop,flow", "flow,flow"])
def test_a_step_given_twice_is_refused(order, run_cli):
    with pytest.raises(UsageError, match="is given twice; give each step once"):
        chain(order)
    result = run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--set", f"preprocess={order}")
    assert result.code == 2 and "is given twice" in result.err


@pytest.mark.parametrize("key", ["flow.channels=u,u", "apex-frame.channels=difference,difference"])
def test_a_channel_given_twice_is_refused(key, run_cli):
    chain_name = key.split(".")[0]
    result = run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--set", f"preprocess={chain_name}",
                     key)
    assert result.code == 2 and "is given twice; give each once" in result.err


def test_a_chain_ending_in_frames_cannot_feed_a_model():
    sample, read, _ = clip_of([texture(), texture()])
    built = chain("crop")
    assert built.produces == "frames"
    with pytest.raises(UsageError, match="ends in a frame step"):
        compute_sample(built, sample, {Path(p): cv2.imencode(".png", texture())[1].tobytes() for p in sample.frames})


def test_run_refuses_a_model_whose_input_the_chain_does_not_produce(run_cli, fresh_cache):
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick",
                     "--set", "preprocess=crop,apex-frame")
    assert result.code == 2
    message = " ".join(result.err.split())
    assert "model 'convmixer' expects input 'flow-uvs'" in message
    assert "crop,apex-frame produces 'apex-grey'" in message
    assert not (fresh_cache / "synthetic").exists() and not (fresh_cache / "preprocess").exists(), "work was done before the check"


def test_clip_frames_default_apex_rule():
    frames = [texture(seed=i) for i in range(5)]
    sample, read, reads = clip_of(frames, onset=0, apex=None, offset=4)
    clip = ClipFrames.of(sample, read, None)
    assert clip.apex == 2 and clip.notes == {"apex": 2, "apex_rule": "middle"}
    clip.read(2), clip.read(2)
    assert reads == [sample.frames[2]], "frames are decoded once per clip"
