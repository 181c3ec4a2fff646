"""Fault injection (issue 17): broken model plugins, damaged cache entries, doctored results, unreadable images.

Each case asserts the exit code (2 bad input or plugin, 1 failed run), that no
traceback reaches the user, and that the message names the culprit and the fix.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import realtrees as rt
from merbench.contracts import Fold
from merbench.errors import RunFailed
from merbench.preprocess import damaged_warning, entry_path, index_dir, preprocess_dataset
from merbench.runner import check_fold_predictions, check_predictions

FAULTY_MODELS = '''
import torch
from torch import nn

from merbench.contracts import ModelPlugin, PreprocessorPlugin
from merbench.hookspecs import hookimpl


class Net(nn.Module):
    def __init__(self, in_channels, n_classes, kind):
        super().__init__()
        self.kind = kind
        self.linear = nn.Linear(in_channels, n_classes + 2 if kind == "wide" else n_classes)
        self.eval_linear = nn.Linear(in_channels, n_classes + 2)

    def forward(self, x):
        pooled = x.mean(dim=(2, 3))
        if self.kind == "eval-wide" and not self.training:
            return self.eval_linear(pooled)
        if self.kind == "eval-nan" and not self.training:  # e.g. an overflow only in eval mode
            return self.linear(pooled) * float("nan")
        self.calls = getattr(self, "calls", 0) + 1
        if self.kind == "late-raise" and self.calls == 3:  # fine for the first batch, then a bug
            raise KeyError("late-raise bug")
        if self.kind == "assert":
            assert pooled.shape[-1] == 99, "expected 99 channels"
        scores = self.linear(pooled)
        if self.kind == "flat":
            return scores[:, 0]
        if self.kind == "4d":
            return scores[:, :, None, None]
        if self.kind == "nan":
            return scores * float("nan")
        return scores


class RefusedEstimator:
    """A scikit-learn style estimator whose fit() refuses its hyper-parameter, as LogisticRegression(C=-1) does."""

    def fit(self, X, y):
        raise ValueError("The 'C' parameter must be a float in the range (0, inf). Got -1.0 instead.")

    def predict(self, X):
        return [0] * len(X)


def build(options, in_channels, n_classes, input_size):
    if options["kind"] == "raises":
        raise RuntimeError("the weights file is corrupt")
    if options["kind"] == "fit-raises":
        return RefusedEstimator()
    return Net(in_channels, n_classes, options["kind"])


class Step:
    def __init__(self, kind):
        self.kind = kind

    def cache_params(self):
        return {"kind": self.kind}

    def inputs(self, sample):
        return list(sample.frames[:1])

    def __call__(self, sample, read_frame, upstream):
        frame = read_frame(sample.frames[0]).astype("float32")
        if self.kind == "raises":
            raise ValueError("frame too dark")
        if self.kind == "2d":
            return frame
        return frame[None].repeat(3, axis=0)


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="faulty", build=build, description="a model that misbehaves on request",
                         input="flow-uvs", options={"kind": "ok"}))


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="faultyprep", build=lambda options: Step(options["kind"]), produces="flow-uvs",
                                description="a preprocessor that misbehaves on request", options={"kind": "ok"}))
'''

IMAGES = ("--dataset", "manifest", "--protocol", "loso", "--profile", "quick", "--epochs", "1", "--quiet")


@pytest.fixture
def faulty_plugin(tmp_path, monkeypatch):
    """Install a throw-away distribution ``merbench-faulty`` 0.3 whose model ``faulty`` misbehaves on request."""
    site = tmp_path / "site"
    info = site / "merbench_faulty-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: merbench-faulty\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[merbench]\nfaulty = merbench_faulty_models\n")
    (site / "merbench_faulty_models.py").write_text(textwrap.dedent(FAULTY_MODELS))
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("merbench_faulty_models", None)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults") / "manifest"
    rt.build_manifest_images(root)
    return root


def run_faulty(run_cli, images, kind: str, *sets: str):
    return run_cli("run", "--model", "faulty", *IMAGES, "--root", str(images), "--no-store", "--set",
                   "dataset.manifest=labels.csv", "preprocess=image", f"model.kind={kind}", *sets)


# ------------------------------------------------------------------ model output


@pytest.mark.parametrize("sets, message", [
    (["model.kind=fit-raises"], "fold 1: model plugin 'faulty' (merbench-faulty 0.3)'s fit() raised ValueError: The 'C' "
     "parameter must be a float in the range (0, inf). Got -1.0 instead.; check the model options given"),
    (["preprocess=faultyprep", "faultyprep.kind=raises"], "preprocessor plugin 'faultyprep' (merbench-faulty 0.3) failed "
     "on sample"),
    (["preprocess=faultyprep", "faultyprep.kind=2d"], "preprocessor plugin 'faultyprep' (merbench-faulty 0.3) returned "
     "an array of shape (48, 48) (float32) for sample"),
])
def test_a_failing_estimator_or_preprocessor_is_one_message_naming_it(run_cli, images, faulty_plugin, sets, message):
    """A plugin author's estimator whose fit() refuses a hyper-parameter, a preprocessor that raises, and one that
    returns (H, W) instead of (C, H, W) each gave a raw traceback (exit 1)."""
    if "preprocess=faultyprep" in sets:  # on frame clips
        result = run_cli("run", "--model", "faulty", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                         "--quiet", "--set", *sets)
    else:
        result = run_faulty(run_cli, images, *sets[0].split("=")[1:])
    text = " ".join(result.err.split())
    assert (result.code, "Traceback" in result.err) == (2, False), result.err
    assert message in text, text
    if "preprocess=faultyprep" in sets:
        assert "ValueError: frame too dark" in text or "a chain's last step must return model input" in text


@pytest.mark.parametrize("kind, code, message", [
    ("wide", 2, "returned shape (6, 5) for a batch of 6 samples; expected scores of shape (6, 3)"),
    ("flat", 2, "returned shape (6,) for a batch of 6 samples; expected scores of shape (6, 3)"),
    ("4d", 2, "returned shape (6, 3, 1, 1) for a batch of 6 samples"),
    ("eval-wide", 2, "returned shape (4, 5) for a batch of 4 samples; expected scores of shape (4, 3)"),
    ("nan", 2, "returned NaN or infinite scores for finite inputs, before any training step"),
    ("eval-nan", 1, "predicting: model plugin 'faulty' (merbench-faulty 0.3) gave NaN (or tied infinite) "
     "scores for 4 of 4 samples, although its training loss stayed finite; their argmax would be an arbitrary class, "
     "so nothing is scored"),
    ("raises", 2, "its build() raised RuntimeError: the weights file is corrupt"),
    ("late-raise", 1, "training or predicting with model plugin 'faulty' (merbench-faulty 0.3) raised KeyError: "
     "'late-raise bug' (at "),
    ("assert", 2, "first batch: model plugin 'faulty' (merbench-faulty 0.3) failed on inputs of shape (6, 3, 28, 28): "
     "AssertionError: expected 99 channels"),
])
@pytest.mark.parametrize("mode", ["fold by fold", "batched"])
def test_a_misbehaving_model_is_named_with_its_distribution(run_cli, images, faulty_plugin, kind, code, message, mode):
    sets = ["engine.parallel_folds=1"] if mode == "fold by fold" else ["engine.parallel_mode=vmap", "engine.parallel_folds=3"]
    if mode == "batched" and kind == "eval-wide":
        message = "returned shape (4, 5) for a batch of 4 samples"
    result = run_faulty(run_cli, images, kind, "engine.batch_size=6", *sets)
    text = " ".join(result.err.split())
    assert result.code == code, result.err
    assert "Traceback" not in result.err
    assert "model plugin 'faulty' (merbench-faulty 0.3)" in text
    assert message in text


def test_a_wrong_shape_is_reported_from_a_worker_process(run_cli, images, faulty_plugin):
    result = run_faulty(run_cli, images, "wide", "engine.batch_size=6", "engine.parallel_folds=2",
                        "engine.parallel_mode=processes")
    text = " ".join(result.err.split())
    assert result.code == 2 and "Traceback" not in result.err
    assert "model plugin 'faulty' (merbench-faulty 0.3) returned shape (6, 5)" in text


def test_an_estimator_predicting_outside_the_class_set_is_named():
    from merbench.errors import PluginError
    from merbench.estimator import check_predictions as check_estimator

    plugin = "model plugin 'svm' (merbench 0.1)"
    assert check_estimator([0, 2, 1], 3, 3, plugin, 0).tolist() == [0, 2, 1]
    with pytest.raises(PluginError, match=r"fold 2: model plugin 'svm' \(merbench 0.1\)'s predict\(\) returned class 3"):
        check_estimator([0, 3, 1], 3, 3, plugin, 1)
    with pytest.raises(PluginError, match=r"returned shape \(3, 2\) for 3 samples"):
        check_estimator(np.zeros((3, 2)), 3, 3, plugin, 1)
    with pytest.raises(PluginError, match="expected class indices"):
        check_estimator(["a", "b", "c"], 3, 3, plugin, 1)


def test_a_well_behaved_model_from_the_same_plugin_runs(run_cli, images, faulty_plugin, tmp_path):
    target = tmp_path / "ok.json"
    result = run_faulty(run_cli, images, "ok", "engine.parallel_folds=1", "--json", str(target))
    assert result.code == 0, result.err
    assert sum(map(sum, json.loads(target.read_text())["confusion_matrix"])) == 12


def test_predictions_outside_the_class_set_fail_the_run_before_they_are_stored():
    fold = Fold(index=2, train=np.arange(4), test=np.arange(4, 8))
    with pytest.raises(RunFailed, match=r"fold 3: model plugin 'x' \(d 1\) predicted class 4, outside 0..2"):
        check_fold_predictions(fold, np.array([0, 1, 4, 2]), 3, "model plugin 'x' (d 1)")
    with pytest.raises(RunFailed, match=r"gave \(3,\) predictions for 4 test samples"):
        check_fold_predictions(fold, np.array([0, 1, 2]), 3, "model plugin 'x' (d 1)")
    with pytest.raises(RunFailed, match="predicted class -1 for 1 sample"):
        check_predictions(np.array([0, -1, 2]), np.array([0, 1, 2]), 3, "model plugin 'x' (d 1)")
    matrix = check_predictions(np.array([0, 1, 1]), np.array([0, 1, 2]), 3, "model plugin 'x' (d 1)")
    assert matrix.sum() == 3


def test_a_pickled_checkpoint_error_does_not_advise_weights_only_false():
    from merbench.engine import build_error

    try:
        import pickle

        raise pickle.UnpicklingError(
            "Weights only load failed. Re-running `torch.load` with `weights_only` set to `False` will likely succeed\n"
            "\tWeightsUnpickler error: Unsupported global: GLOBAL __main__.Foo was not an allowed global by default. "
            "Please use `torch.serialization.add_safe_globals`")
    except pickle.UnpicklingError as exc:
        message = str(build_error("model plugin 'timm:resnet18' (merbench 0.1)", exc))
    assert "weights_only" not in message
    assert "(it needs __main__.Foo)" in message
    assert "state_dict" in message and "model plugin 'timm:resnet18'" in message


class NotATensor:
    pass


def test_a_pickled_timm_checkpoint_is_refused_without_weights_only_advice(run_cli, tmp_path):
    import torch

    weights = tmp_path / "pickled.pth"
    torch.save({"conv1.weight": NotATensor()}, weights)
    result = run_cli("run", "--model", "timm:resnet18", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--set", f"model.weights={weights}", "protocol.n_splits=3", "engine.epochs=1")
    text = " ".join(result.err.split())
    assert result.code == 2 and "Traceback" not in result.err
    assert "weights_only" not in text
    assert f"could not load the weights {weights}: the weights file holds pickled Python objects" in text
    assert "NotATensor" in text and "torch.save(model.state_dict(), FILE)" in text


# ------------------------------------------------------------------ audit


@pytest.fixture
def audited_result(run_cli, images, tmp_path):
    target = tmp_path / "result.json"
    result = run_cli("run", "--model", "convmixer", *IMAGES, "--root", str(images), "--no-store", "--json", str(target),
                     "--set", "dataset.manifest=labels.csv", "preprocess=image", "engine.parallel_folds=1")
    assert result.code == 0, result.err
    assert run_cli("audit", str(target)).code == 0
    return target, json.loads(target.read_text())


def test_audit_fails_predictions_outside_the_class_set(run_cli, audited_result):
    path, result = audited_result
    result["predictions"][0]["prediction"] = 4
    path.write_text(json.dumps(result))
    audited = run_cli("audit", str(path))
    text = " ".join(audited.out.split())
    assert audited.code == 1 and "Traceback" not in audited.err
    assert "1 prediction outside the 3 classes 0..2" in text


def test_audit_fails_a_confusion_matrix_that_does_not_count_every_sample(run_cli, audited_result):
    path, result = audited_result
    result["confusion_matrix"][0][0] = max(0, result["confusion_matrix"][0][0] - 1)
    result["confusion_matrix"][1][1] = max(0, result["confusion_matrix"][1][1] - 1)
    path.write_text(json.dumps(result))
    audited = run_cli("audit", str(path))
    assert audited.code == 1
    assert "the confusion matrix counts" in " ".join(audited.out.split())
    assert "the result has 12 predictions" in " ".join(audited.out.split())


# ------------------------------------------------------------------ cache integrity


def flip_bytes(path: Path) -> None:
    """Damage a file without changing its size: invert its last 16 bytes."""
    blob = bytearray(path.read_bytes())
    blob[-16:] = bytes(b ^ 0xFF for b in blob[-16:])
    path.write_bytes(bytes(blob))


def test_a_damaged_entry_is_recomputed_with_a_one_line_warning(tmp_path):
    from test_preprocess_cache import setup

    dataset, chain = setup(tmp_path)
    clean = preprocess_dataset(dataset, chain, cache_dir=tmp_path, workers=1)
    entry_dir = tmp_path / "preprocess"
    bundle = next(index_dir(entry_dir).glob("*.npy"))
    entries = sorted(entry_dir.glob("??/*.npy"))
    size = bundle.stat().st_size
    flip_bytes(bundle)
    flip_bytes(entries[3])
    assert bundle.stat().st_size == size
    warnings: list[str] = []
    repaired = preprocess_dataset(dataset, chain, cache_dir=tmp_path, workers=1, on_warning=warnings.append)
    np.testing.assert_array_equal(repaired.inputs, clean.inputs)
    assert repaired.computed == 1 and repaired.cached == 11
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert str(bundle) in warnings[0] and "does not match its checksum" in warnings[0]
    assert "and 1 more; ignored and recomputed" in warnings[0]
    assert set(repaired.details["damaged_cache"]) == {str(bundle), str(entries[3])}
    again = preprocess_dataset(dataset, chain, cache_dir=tmp_path, workers=1, on_warning=warnings.append)
    assert again.computed == 0 and len(warnings) == 1, "the repaired entries are whole again"


def test_an_entry_without_its_checksum_is_not_trusted(tmp_path):
    from test_preprocess_cache import setup

    dataset, chain = setup(tmp_path)
    preprocess_dataset(dataset, chain, cache_dir=tmp_path, workers=1)
    entry_dir = tmp_path / "preprocess"
    for bundle in index_dir(entry_dir).glob("*.npy"):
        bundle.unlink()
    entry = sorted(entry_dir.glob("??/*.npy"))[0]
    entry.with_suffix(".sha256").unlink()
    result = preprocess_dataset(dataset, chain, cache_dir=tmp_path, workers=1)
    assert result.computed == 1
    assert result.details["damaged_cache"] == {str(entry): "has no readable checksum"}


def test_a_run_on_a_damaged_cache_scores_like_a_clean_run(run_cli, fresh_cache, tmp_path):
    from test_preprocess_cache import TINY

    def scores(name: str):
        target = tmp_path / name
        result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                         "--json", str(target), "--set", *(f"{k}={v}" for k, v in TINY.items()), "protocol.n_splits=3",
                         "engine.epochs=1", "engine.parallel_folds=1")
        assert result.code == 0, result.err
        return json.loads(target.read_text()), " ".join(result.err.split())

    clean, _ = scores("clean.json")
    for path in [*index_dir(fresh_cache / "preprocess").glob("*.npy"), *sorted((fresh_cache / "preprocess").glob("??/*.npy"))[:2]]:
        flip_bytes(path)
    repaired, err = scores("repaired.json")
    assert "does not match its checksum and 2 more; ignored and recomputed" in err
    assert repaired["preprocess"]["computed"] == 2
    assert repaired["pooled"] == clean["pooled"] and repaired["predictions"] == clean["predictions"]


def test_damaged_warning_names_the_first_file():
    assert damaged_warning({"/c/a.npy": "does not match its checksum"}) == (
        "cache: /c/a.npy does not match its checksum; ignored and recomputed")


# ------------------------------------------------------------------ unreadable frames and images


@pytest.fixture
def empty_image_tree(tmp_path) -> tuple[Path, Path]:
    root = tmp_path / "manifest"
    rt.build_manifest_images(root)
    bad = root / "images" / "s1" / "img_2.png"
    bad.write_bytes(b"")
    return root, bad


def test_check_reports_a_zero_byte_manifest_image(run_cli, empty_image_tree):
    root, bad = empty_image_tree
    sets = ("--set", "dataset.manifest=labels.csv")
    strict = run_cli("datasets", "check", "manifest", "--root", str(root), *sets, "dataset.strict=true")
    text = " ".join(strict.err.split())
    assert strict.code == 2 and "Traceback" not in strict.err
    assert str(bad) in text and "is empty (0 bytes)" in text and "dataset.strict=false" in text
    lenient = run_cli("datasets", "check", "manifest", "--root", str(root), *sets)
    text = " ".join(lenient.err.split())
    assert lenient.code == 0, lenient.err
    assert "1 clip with missing or unusable files: a run skips them" in text and str(bad) in text


def test_run_skips_a_zero_byte_manifest_image_unless_strict(run_cli, empty_image_tree, tmp_path):
    root, bad = empty_image_tree
    sets = ("--set", "dataset.manifest=labels.csv", "preprocess=image", "engine.parallel_folds=1")
    strict = run_cli("run", "--model", "convmixer", *IMAGES, "--root", str(root), "--no-store", *sets, "dataset.strict=true")
    text = " ".join(strict.err.split())
    assert strict.code == 2 and "Traceback" not in strict.err
    assert f"cannot decode image {bad}: the file is empty (0 bytes)" in text
    target = tmp_path / "lenient.json"
    lenient = run_cli("run", "--model", "convmixer", *IMAGES, "--root", str(root), "--no-store", "--json", str(target), *sets)
    assert lenient.code == 0, lenient.err
    result = json.loads(target.read_text())
    assert result["n_samples"] == 11 and result["preprocess"]["skipped"]["count"] == 1
    reason = next(iter(result["preprocess"]["skipped"]["clips"].values()))
    assert str(bad) in reason
    assert "strict" not in reason and "dataset.strict=false" not in lenient.err, \
        "a clip skipped because strict is off is not told to set strict off"


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n garbage"])
def test_a_zero_byte_or_undecodable_frame_in_a_real_tree(run_cli, tmp_path, content):
    root = rt.build_samm(tmp_path / "samm", rows=[row for row in rt.SAMM_ROWS if row[3] != "apex"])
    clip = root / "SAMM" / "006" / "006_1_2"
    frame = sorted(clip.iterdir())[rt.clip_frames(6, 0, "Anger").onset]
    frame.write_bytes(content)
    check = run_cli("datasets", "check", "samm", "--root", str(root), "--strict")
    assert check.code == 2 and "Traceback" not in check.err and frame.name in check.err
    run = run_cli("run", "--model", "convmixer", "--dataset", "samm", "--root", str(root), "--protocol", "loso", "--profile", "quick",
                  "--epochs", "1", "--quiet", "--no-store", "--set", "dataset.strict=true", "engine.parallel_folds=1")
    text = " ".join(run.err.split())
    assert run.code == 2 and "Traceback" not in run.err
    assert f"cannot decode frame {frame}" in text and "set dataset.strict=false to skip its clip" in text


def test_a_damaged_cached_synthetic_frame_advises_cache_clear(run_cli, fresh_cache):
    from test_preprocess_cache import TINY

    sets = ("--set", *(f"{k}={v}" for k, v in TINY.items()), "protocol.n_splits=3", "engine.epochs=1")
    assert run_cli("datasets", "check", "synthetic", "--set", *sets[1:5], "dataset.preset=easy").code == 0  # quick's preset
    clip = sorted((fresh_cache / "synthetic").glob("*/s01/*/"))[0]
    for frame in clip.glob("*.png"):
        frame.write_bytes(b"")
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", *sets)
    text = " ".join(result.err.split())
    assert result.code == 2 and "Traceback" not in result.err
    assert f"cannot decode frame {clip}" in text and "merbench cache clear --yes" in text and "remove" not in text


# ------------------------------------------------------------------ messages that point at the right place


def test_a_bad_manifest_row_is_reported_with_its_own_row_number(run_cli, tmp_path):
    import csv

    root = tmp_path / "manifest"
    rt.build_manifest_images(root)
    with open(root / "labels.csv", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    rows[3][header.index("label")] = "happiness"  # row 5: a name among integers
    rows.insert(0, [])  # a blank line 2 moves it to line 6
    with open(root / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    result = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=labels.csv")
    text = " ".join(result.err.split())
    assert result.code == 2 and "row 6: label 'happiness' is a name but most labels are integers" in text


def test_a_root_that_is_a_file_says_so(run_cli, tmp_path):
    not_a_folder = tmp_path / "casme2.zip"
    not_a_folder.write_bytes(b"PK")
    for command in (("datasets", "check", "casme2"), ("run", "--model", "convmixer", "--dataset", "casme2", "--quiet")):
        result = run_cli(*command, "--root", str(not_a_folder))
        text = " ".join(result.err.split())
        assert result.code == 2 and f"--root {not_a_folder}: is a file, not a folder" in text


def test_a_refused_cache_inside_the_root_leaves_no_folder_there(run_cli, tmp_path, monkeypatch):
    root = tmp_path / "manifest"
    rt.build_manifest_images(root)
    monkeypatch.setenv("MERBENCH_CACHE", str(root / "cache"))
    for command, sets in ((("datasets", "check", "manifest"), ()),
                          (("run", "--model", "convmixer", "--dataset", "manifest", "--quiet"), ("preprocess=image",))):
        result = run_cli(*command, "--root", str(root), "--set", "dataset.manifest=labels.csv", *sets)
        assert result.code == 2 and "lies inside the dataset" in " ".join(result.err.split())
        assert not (root / "cache").exists()


def test_entry_checksums_sit_beside_their_arrays(tmp_path):
    from test_preprocess_cache import setup

    dataset, chain = setup(tmp_path)
    preprocess_dataset(dataset, chain, cache_dir=tmp_path, workers=1)
    entry_dir = tmp_path / "preprocess"
    for path in [*entry_dir.glob("??/*.npy"), *index_dir(entry_dir).glob("*.npy")]:
        assert path.with_suffix(".sha256").is_file()
    assert entry_path(entry_dir, "ab" + "0" * 62).parent.name == "ab"


def test_a_model_input_no_preprocessor_makes_and_a_factory_that_cannot_be_loaded_are_named(run_cli, install_plugin):
    """A typo in a model's input= ('flow-uv') said "choose a matching --set preprocess=...", which no user can; a
    build= string naming a missing module said "check the model options given"."""
    install_plugin("merbench-typos", "typos", "merbench_typos_models", '''
        from merbench.contracts import ModelPlugin
        from merbench.hookspecs import hookimpl


        @hookimpl
        def merbench_register_models(register):
            register(ModelPlugin(name="typo-input", build="merbench_typos_models:build", description="x",
                                 input="flow-uv"))
            register(ModelPlugin(name="missing-module", build="merbench_typos_nets:build", description="x",
                                 input="flow-uvs"))
    ''')
    typo = run_cli("run", "--model", "typo-input", "--dataset", "synthetic", "--profile", "quick", "--no-store")
    missing = run_cli("run", "--model", "missing-module", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                      "--quiet")
    said = " ".join(typo.err.split())
    assert typo.code == 2 and "model 'typo-input' declares input 'flow-uv', which no registered preprocessor produces" in said
    assert "flow-uvs" in said and "fix the model plugin's input=" in said
    said = " ".join(missing.err.split())
    assert (missing.code, "Traceback" in missing.err) == (2, False), missing.err
    assert "factory 'merbench_typos_nets:build' cannot be loaded: ModuleNotFoundError" in said


def test_images_of_other_sizes_name_the_size_option_that_fixes_them(run_cli, tmp_path):
    import cv2

    root = tmp_path / "manifest"
    rt.build_manifest_images(root)
    odd = root / "images" / "s1" / "img_0.png"
    assert cv2.imwrite(str(odd), np.zeros((40, 30, 3), dtype=np.uint8))
    args = ["run", "--model", "ststnet", "--dataset", "manifest", "--root", str(root), "--profile", "quick",
            "--protocol", "loso", "--no-store", "--quiet", "--set", "dataset.manifest=labels.csv"]
    refused = run_cli(*args)
    said = " ".join(refused.err.split())
    assert refused.code == 2 and "preprocessed shape (3, 40, 30) differs from (3, 28, 28)" in said
    assert "its last step, 'image', takes a size: --set image.size=N resizes every clip to N x N" in said
    assert run_cli(*args, "image.size=28").code == 0, "the fix it names works"


@pytest.mark.parametrize("torch_text", [
    "Weights only load failed. ... WeightsUnpickler error: Unsupported global: GLOBAL __main__.NotATensor was not an "
    "allowed global by default. ... weights_only=False ...",
    "Weights only load failed. Re-running `torch.load` with `weights_only` set to `False` will likely succeed ... "
    "Unsupported class __main__.NotATensor",  # torch 2.3 to 2.5
])
def test_a_refused_checkpoint_names_the_class_it_needs_in_every_torchs_wording(torch_text):
    from merbench.errors import checkpoint_refusal

    said = checkpoint_refusal(torch_text)
    assert "(it needs __main__.NotATensor)" in said and "weights_only" not in said
