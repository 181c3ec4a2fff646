"""A third-party preprocessor's mistakes are named on the step that made them, with what to fix (``PluginError``,
exit 2), not on the next step, the dataset, the cache, or as a traceback:

* a frame step whose frames cannot be read (an index past what it kept), whose apex lies outside the clip, that
  returns an array instead of ``ClipFrames``, or whose frames are colour or float (before: blamed on ``flow``, which
  read them, or passed without a word);
* ``inputs(sample)`` listing frame numbers or bytes (before: a raw TypeError), or a file that does not exist or a
  folder (before: "check the dataset tree");
* ``cache_params()`` with a key that is no text (before: a TypeError inside the cache key);
* a last step giving complex numbers (before: cast to real with a numpy warning);
* a misspelt ``build=`` string (before: "the plugin's factory ... cannot be loaded", naming no plugin).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from merbench.contracts import Dataset, Sample
from merbench.errors import DataError, PluginError
from merbench.preprocess import build_chain, preprocess_dataset
from merbench.registry import Registry

PLUGIN = '''
import numpy as np

from merbench.contracts import ClipFrames, PreprocessorPlugin
from merbench.hookspecs import hookimpl


class Frames:
    """A frame step; ``mode`` chooses its mistake."""

    def __init__(self, options):
        self.mode = options["mode"]

    def cache_params(self):
        return {}

    def inputs(self, sample):
        return list(sample.frames)

    def __call__(self, sample, read_frame, upstream):
        clip = ClipFrames.of(sample, read_frame, upstream)
        if self.mode == "halve":  # keeps every second frame, then indexes as if it kept them all
            kept = [clip.read(i) for i in range(0, len(sample.frames), 2)]
            return clip.derive(read=lambda i: kept[i])
        if self.mode == "apex":
            return clip.derive(apex=len(sample.frames) + 5)
        if self.mode == "array":
            return np.zeros((1, 8, 8), np.float32)
        if self.mode == "colour":
            return clip.derive(read=lambda i: np.zeros((16, 16, 3), np.uint8))
        if self.mode == "float":
            return clip.derive(read=lambda i: np.zeros((3, 3), np.float32))
        if self.mode == "numpy-apex":  # an apex found with np.argmax, and a score beside it
            return clip.derive(apex=np.int64(2), peak=np.float32(0.5))
        if self.mode == "object-note":
            return clip.derive(found=object())
        return clip.derive(read=lambda i: clip.read(i) // 2)


class Diff:
    """Apex minus onset; ``mode`` chooses a mistake in its inputs, parameters or output."""

    def __init__(self, options):
        self.mode = options["mode"]

    def cache_params(self):
        return {1: 2} if self.mode == "intkey" else {"mode": self.mode}

    def inputs(self, sample):
        listed = [sample.frames[sample.onset], sample.frames[sample.apex]]
        if self.mode == "numbers":
            return [sample.onset, sample.apex]
        if self.mode == "bytes":
            return [str(path).encode() for path in listed]
        if self.mode == "missing":
            return listed + [sample.frames[0].parent / "landmarks.json"]
        if self.mode == "folder":
            return listed + [sample.frames[0].parent]
        return listed

    def __call__(self, sample, read_frame, upstream):
        clip = ClipFrames.of(sample, read_frame, upstream)
        out = (clip.read(clip.apex).astype(np.float32) - clip.read(sample.onset))[None]
        return out.astype(np.complex64) if self.mode == "complex" else out


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="frames", build=Frames, description="d", produces="frames",
                                options={"mode": "ok"}))
    register(PreprocessorPlugin(name="diff", build=Diff, description="d", produces="diff", options={"mode": "ok"}))
    register(PreprocessorPlugin(name="misspelt", build="merbench_blame_plugin:Nope", description="d",
                                produces="diff"))
'''

FRAMES_STEP = "preprocessor plugin 'frames' (merbench-blame 0.1)"
DIFF_STEP = "preprocessor plugin 'diff' (merbench-blame 0.1)"


@pytest.fixture
def registry(install_plugin):
    install_plugin("merbench-blame", "blame", "merbench_blame_plugin", PLUGIN)
    return Registry()


@pytest.fixture
def dataset(tmp_path):
    """One clip of six 16×16 grey frames (onset 1, apex 3, offset 5)."""
    folder = tmp_path / "data" / "s1" / "c1"
    folder.mkdir(parents=True)
    frames = []
    for i in range(6):
        path = folder / f"img{i}.png"
        cv2.imwrite(str(path), np.full((16, 16), 40 * i, np.uint8))
        frames.append(path)
    sample = Sample("s1_c1", "s1", 0, "d", tuple(frames), 1, 3, 5)
    return Dataset("blame", ("a",), (sample,))


def run_chain(registry, dataset, tmp_path, names, **modes):
    """Preprocess ``dataset`` through the chain ``names`` (``modes``: each step's ``mode`` option)."""
    specs = [registry.get("preprocessors", name) for name in names]
    sections = {spec.name: {**spec.options, **({"mode": modes[spec.name]} if spec.name in modes else {})}
                for spec in specs}
    labels = [registry.label("preprocessors", name) for name in names]
    builtin = [registry.provider("preprocessors", name).builtin for name in names]
    chain = build_chain(specs, sections, labels, builtin)
    return preprocess_dataset(dataset, chain, cache_dir=tmp_path / "cache", workers=1)


def refusal(registry, dataset, tmp_path, names, **modes) -> str:
    """The message of the ``PluginError`` the chain stops with, on one line."""
    with pytest.raises(PluginError) as caught:
        run_chain(registry, dataset, tmp_path, names, **modes)
    return " ".join(str(caught.value).split())


def test_a_working_frame_step_before_flow_still_runs(registry, dataset, tmp_path):
    result = run_chain(registry, dataset, tmp_path, ["frames", "flow"])
    assert result.inputs.shape[0] == 1 and np.isfinite(result.inputs).all()


def test_a_frame_read_that_fails_inside_the_next_step_is_the_frame_steps(registry, dataset, tmp_path):
    error = refusal(registry, dataset, tmp_path, ["frames", "flow"], frames="halve")
    assert error.startswith(f"{FRAMES_STEP} failed on sample s1_c1 (step 1 of preprocess=frames,flow): the read(3) "
                            "of the frames it returned, called by step 2 ('flow'), raised IndexError: list index out "
                            "of range; its read(i) must give frame i of sample.frames"), error
    assert "'flow' (merbench" not in error


def test_a_frame_steps_apex_outside_the_clip_is_refused_on_it(registry, dataset, tmp_path):
    error = refusal(registry, dataset, tmp_path, ["frames", "flow"], frames="apex")
    assert error.startswith(f"{FRAMES_STEP} returned the apex 11 for sample s1_c1 (step 1 of preprocess=frames,flow), "
                            "which is not an index of its 6 frames (0 to 5)"), error


def test_a_frame_step_returning_an_array_is_refused_on_it(registry, dataset, tmp_path):
    error = refusal(registry, dataset, tmp_path, ["frames", "flow"], frames="array")
    assert error.startswith(f"{FRAMES_STEP} returned an array of shape (1, 8, 8) (float32) for sample s1_c1 (step 1 "
                            "of preprocess=frames,flow), not a ClipFrames; a frame step (it produces 'frames') "
                            "returns ClipFrames.of(sample, read_frame, upstream)"), error


@pytest.mark.parametrize("mode, given", [("colour", "an array of shape (16, 16, 3) (uint8)"),
                                         ("float", "an array of shape (3, 3) (float32)")])
def test_frames_that_are_not_grey_uint8_are_refused_on_the_frame_step(registry, dataset, tmp_path, mode, given):
    error = refusal(registry, dataset, tmp_path, ["frames", "diff"], frames=mode)
    assert error.startswith(f"{FRAMES_STEP} gave frame 1 of sample s1_c1 (step 1 of preprocess=frames,diff) as "
                            f"{given}; "), error
    assert "grey uint8 array shaped (H, W)" in error


@pytest.mark.parametrize("mode, listed", [("numbers", "1 (int)"), ("bytes", "b'")])
def test_inputs_that_are_not_paths_are_refused_on_the_step(registry, dataset, tmp_path, mode, listed):
    error = refusal(registry, dataset, tmp_path, ["diff"], diff=mode)
    assert error.startswith(f"{DIFF_STEP}: inputs(sample) listed {listed}"), error
    assert ("not a file path, for sample s1_c1 (step 1 of preprocess=diff); it must return the frame files it reads "
            "(sample.frames[i])") in error


@pytest.mark.parametrize("mode, what", [("missing", "does not exist"), ("folder", "is a folder")])
def test_a_listed_file_that_is_none_of_the_frames_and_no_file_is_the_steps(registry, dataset, tmp_path, mode, what):
    error = refusal(registry, dataset, tmp_path, ["frames", "diff"], diff=mode)
    assert error.startswith(f"{DIFF_STEP}: inputs(sample) listed {tmp_path / 'data' / 's1' / 'c1'}"), error
    assert f"(step 2 of preprocess=frames,diff), which {what} and is not one of the sample's frames" in error
    assert "dataset tree" not in error and "cache" not in error


def test_a_missing_frame_of_the_dataset_keeps_the_dataset_message(registry, dataset, tmp_path):
    dataset.samples[0].frames[3].unlink()
    with pytest.raises(DataError, match=r"sample s1_c1: cannot read frame .*img3\.png .*check the dataset tree"):
        run_chain(registry, dataset, tmp_path, ["diff"])


def test_cache_params_with_a_key_that_is_not_text_is_refused(registry, dataset, tmp_path):
    error = refusal(registry, dataset, tmp_path, ["diff"], diff="intkey")
    assert error.startswith(f"{DIFF_STEP}: its cache_params() returned a dict with the key 1 (int), not text; the "
                            "keys name the options"), error


def test_complex_output_is_refused_on_the_step(registry, dataset, tmp_path):
    error = refusal(registry, dataset, tmp_path, ["diff"], diff="complex")
    assert error.startswith(f"{DIFF_STEP} returned complex numbers (complex64) for sample s1_c1; model input must be "
                            "real numbers"), error
    assert not list((tmp_path / "cache").rglob("*.npy"))


def test_a_misspelt_build_string_names_the_step(registry, dataset, tmp_path):
    error = refusal(registry, dataset, tmp_path, ["misspelt"])
    assert error.startswith("preprocessor plugin 'misspelt' (merbench-blame 0.1): its build= factory "
                            "'merbench_blame_plugin:Nope' cannot be loaded: AttributeError"), error


def test_the_command_line_exits_2_naming_the_frame_step(registry, run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    result = run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--set",
                     "preprocess=frames,flow", "frames.mode=halve", "dataset.subjects=2",
                     "dataset.clips_per_subject=1", "dataset.size=32", "dataset.frames=8")
    error = " ".join(result.err.split())
    assert result.code == 2, result.out + result.err
    assert f"{FRAMES_STEP} failed on sample" in error and "called by step 2 ('flow')" in error, error
    assert "Traceback" not in result.err


def test_a_frame_step_noting_numpy_numbers_is_stored_with_plain_ones(registry, dataset, tmp_path):
    result = run_chain(registry, dataset, tmp_path, ["frames", "flow"], frames="numpy-apex")
    assert np.isfinite(result.inputs).all()  # before: a TypeError traceback when its notes were stored as JSON
    again = run_chain(registry, dataset, tmp_path, ["frames", "flow"], frames="numpy-apex")
    assert np.array_equal(result.inputs, again.inputs)


def test_a_frame_step_noting_what_json_cannot_hold_is_refused_on_it(registry, dataset, tmp_path):
    error = refusal(registry, dataset, tmp_path, ["frames", "flow"], frames="object-note")
    assert error.startswith(f"{FRAMES_STEP} returned notes for sample s1_c1 (step 1 of preprocess=frames,flow) that "
                            "cannot be stored (TypeError: Object of type object is not JSON serializable)"), error
