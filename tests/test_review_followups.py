"""Follow-ups of a review of the frame rules and grid routing: ``datasets check`` applies a run's frame rules (bit
depth, one size per clip) in a run's words; a dataset without a ``strict`` option is not told to set it; a grid
value refused because a plugin's option of the same name means something else says so and what to do; cache entries
made under earlier frame rules are computed again; megc2019's ``casme2_frames=auto`` is pinned by ``--config
result.json``; CAS(ME)³ skips a 2-frame clip without apex; and smaller points (a reported source ending in '.', the
protocol's label in preflight, magnify never resizes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import realtrees as rt


def one_line(text: str) -> str:
    return " ".join(text.split())


def preprocess_json(run_cli, tmp_path: Path, dataset: str, root: Path, *sets: str) -> tuple[int, str, dict]:
    target = tmp_path / f"prep-{len(list(tmp_path.glob('prep-*.json')))}.json"
    result = run_cli("preprocess", "--dataset", dataset, "--root", str(root), "--profile", "quick", "--quiet",
                     "--json", str(target), *(["--set", *sets] if sets else []))
    return result.code, one_line(result.err), json.loads(target.read_text()) if target.exists() else {}


# ------------------------------------------------------------------ 1: datasets check applies the run's frame rules


def test_the_check_leaves_out_a_clip_whose_apex_frame_has_another_size_as_a_run_does(run_cli, tmp_path, fresh_cache):
    root = rt.build_samm(tmp_path / "samm")
    span = rt.clip_frames(6, 0, "Anger")
    frames = sorted((root / "SAMM" / "006" / "006_1_2").iterdir())
    apex, onset = frames[span.apex], frames[span.onset]
    assert cv2.imwrite(str(apex), cv2.imread(str(apex))[:6, :8])

    checked = run_cli("datasets", "check", "samm", "--root", str(root))
    strict = run_cli("datasets", "check", "samm", "--root", str(root), "--strict")
    code, said, prepared = preprocess_json(run_cli, tmp_path, "samm", root)
    assert code == 0, said
    kept = prepared["n_samples"] - prepared["details"]["skipped"]["count"]
    assert prepared["details"]["skipped"]["count"] == 1
    assert checked.code == 0 and f"usable: {kept} samples" in checked.out, checked.out
    rule = f"is 8×6 pixels but the onset frame {onset} is"
    assert rule in one_line(checked.out) and rule in one_line(checked.err)
    assert strict.code == 2 and "strict check (--strict or dataset.strict=true): 1 file" in one_line(strict.err)
    assert f"sample 006/006_1_2: {apex} apex {rule}" in one_line(strict.err)
    assert f"frame {apex} {rule}" in said, "the run and the check say it in the same words"
    assert "skipped 1 clip with unusable frames (dataset.strict is off)" in said


def test_the_check_leaves_out_a_clip_with_a_16_bit_frame_as_a_run_does(run_cli, tmp_path, fresh_cache):
    rt.build_manifest_frames(tmp_path / "man")
    onset = tmp_path / "man" / "clips" / "p0" / "c0" / "onset.png"
    grey = cv2.imread(str(onset), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16
    assert cv2.imwrite(str(onset), grey)
    sets = ["--set", "dataset.manifest=frames.csv"]

    checked = run_cli("datasets", "check", "manifest", "--root", str(tmp_path / "man"), *sets)
    code, said, prepared = preprocess_json(run_cli, tmp_path, "manifest", tmp_path / "man", "dataset.manifest=frames.csv")
    assert code == 0 and prepared["details"]["skipped"]["count"] == 1, said
    assert checked.code == 0 and f"usable: {prepared['n_samples'] - 1} samples" in checked.out, checked.out
    depth = f"is a 16-bit image (values {int(grey.min())}..{int(grey.max())})"
    assert f"{onset} onset {depth}" in one_line(checked.err) and f"frame {onset} {depth}" in said
    assert "scaled by the camera's bit depth (12-bit: divide by 16)" in one_line(checked.err)
    assert "merbench reads 8-bit grey frames" in one_line(checked.err)


def test_a_16_bit_precomputed_image_is_refused_as_a_frame_is_not_reduced_to_its_high_byte(run_cli, tmp_path,
                                                                                          fresh_cache):
    """``preprocess=image`` decoded in plain colour, which keeps a 16-bit PNG's high byte (12-bit data: 0..15)."""
    rt.build_manifest_images(tmp_path / "man")
    image_path = tmp_path / "man" / "images" / "s0" / "img_0.png"
    deep = cv2.imread(str(image_path), cv2.IMREAD_COLOR).astype(np.uint16) * 16  # 12-bit data stored in 16 bits
    assert cv2.imwrite(str(image_path), deep)
    sets = ["--set", "dataset.manifest=labels.csv"]
    depth = f"is a 16-bit image (values {int(deep.min())}..{int(deep.max())})"

    checked = run_cli("datasets", "check", "manifest", "--root", str(tmp_path / "man"), *sets)
    assert f"{image_path} image {depth}" in one_line(checked.err), checked.out + checked.err
    assert "store it with 8 bits per channel" in one_line(checked.err)
    assert "reads 8-bit images (0..255 per channel)" in one_line(checked.err)  # not "grey frames": it is colour
    strict = run_cli("preprocess", "--dataset", "manifest", "--root", str(tmp_path / "man"), "--profile", "quick",
                     "--quiet", *sets, "dataset.strict=true")
    assert strict.code == 2 and f"image {image_path} {depth}" in one_line(strict.err), strict.err
    code, said, prepared = preprocess_json(run_cli, tmp_path, "manifest", tmp_path / "man", "dataset.manifest=labels.csv")
    assert code == 0 and prepared["details"]["skipped"]["count"] == 1, said


def test_a_clip_whose_offset_alone_has_another_size_is_kept_by_the_check_and_the_default_chain(tmp_path):
    from merbench.contracts import Dataset, Sample
    from merbench.dataset_check import check_files

    folder = tmp_path / "clip"
    frames = np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8)  # not blank: that is a problem too
    rt.write_frames(folder, frames, ("0.png", "1.png", "2.png"))
    assert cv2.imwrite(str(folder / "2.png"), frames[2, :8, :8])
    sample = Sample(id="s/c", subject="s", label=0, domain="d", frames=tuple(sorted(folder.iterdir())), onset=0,
                    apex=1, offset=2)
    _, problems = check_files(Dataset("d", ("a", "b"), (sample,)))
    assert [(problem.frame, problem.skips_clip) for problem in problems] == [("offset", False)]
    assert problems[0].problem.startswith(f"offset is 8×8 pixels but the onset frame {folder / '0.png'} is 16×16")


# ------------------------------------------------------------------ 2: no dataset.strict advice without the option

TINY = '''
from pathlib import Path

from merbench.contracts import Dataset, DatasetPlugin, Sample
from merbench.hookspecs import hookimpl


def load(root, options, cache_dir):
    samples = []
    for s in range(3):
        for c in range(2):
            frames = tuple(sorted((Path(root) / f"s{s}" / f"c{c}").glob("*.png")))
            samples.append(Sample(id=f"s{s}/c{c}", subject=f"s{s}", label=c, domain="tiny", frames=frames,
                                  onset=0, apex=1, offset=2))
    return Dataset("tinyds", ("a", "b"), tuple(samples))


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="tinyds", load=load, description="no options", needs_root=True))
'''


@pytest.mark.parametrize("fault", ["size", "depth", "undecodable"])
def test_a_dataset_without_a_strict_option_is_not_told_to_set_it(run_cli, install_plugin, tmp_path, fresh_cache,
                                                                 fault):
    install_plugin("merbench-tinyds", "tinyds", "merbench_tinyds", TINY)
    rng = np.random.default_rng(0)
    for s in range(3):
        for c in range(2):
            rt.write_frames(tmp_path / "tiny" / f"s{s}" / f"c{c}", (rng.random((3, 24, 24)) * 255).astype(np.uint8),
                            ("0.png", "1.png", "2.png"))
    broken = tmp_path / "tiny" / "s0" / "c1" / "1.png"
    if fault == "size":
        assert cv2.imwrite(str(broken), np.zeros((12, 12), np.uint8))
    elif fault == "depth":
        assert cv2.imwrite(str(broken), np.full((24, 24), 4000, np.uint16))
    else:
        broken.write_bytes(b"not an image")
    result = run_cli("preprocess", "--dataset", "tinyds", "--root", str(tmp_path / "tiny"), "--profile", "quick",
                     "--quiet")
    said = one_line(result.err)
    assert result.code == 2 and str(broken) in said, said
    assert "dataset.strict" not in said, "tinyds has no strict option: it would refuse dataset.strict=false"
    fix = {"size": "replace it with the original frame", "depth": "convert the clip's frames to 8-bit grey",
           "undecodable": "replace it with the original frame"}[fault]
    assert fix in said


def test_skips_unreadable_tells_a_dataset_without_a_strict_option_apart():
    from merbench.preprocess import skips_unreadable

    assert skips_unreadable({}) is None and not skips_unreadable({})
    assert skips_unreadable({"strict": False}) is True and skips_unreadable({"strict": "true"}) is False


def test_a_16_bit_frame_in_the_cache_is_regenerated_not_skipped(tmp_path, monkeypatch):
    from merbench.errors import DataError
    from merbench.preprocess import decode_frame

    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "cache" / "synthetic" / "f.png"
    blob = cv2.imencode(".png", np.full((8, 8), 4000, np.uint16))[1].tobytes()
    with pytest.raises(DataError) as raised:
        decode_frame(path, blob)
    assert "merbench cache clear --yes" in str(raised.value) and "dataset.strict" not in str(raised.value)


# ------------------------------------------------------------------ 3: a grid value that another plugin's option refuses


def test_a_grid_value_refused_by_a_same_named_option_of_another_meaning_says_so_and_what_to_do():
    from merbench.errors import UsageError
    from merbench.grid import plan_grid
    from merbench.registry import get_registry

    registry = get_registry()
    with pytest.raises(UsageError) as raised:
        plan_grid(registry, ["convmixer", "lbptop-svm"], ["synthetic"], ["subject-10fold"], sets={"model.kernel": "rbf"})
    said = str(raised.value)
    assert said.startswith("grid cell convmixer × synthetic × subject-10fold: model.kernel=rbf: must be an integer")
    assert ("In a grid, model.kernel goes to every model of the grid with an option named 'kernel' (convmixer, "
            "lbptop-svm), whatever it means there: lbptop-svm takes this value but convmixer's 'kernel' does not. "
            "Run convmixer in a grid of its own (--models convmixer), without model.kernel or with a value it takes, "
            "and lbptop-svm in another grid with this model.kernel") in said, said

    with pytest.raises(UsageError) as raised:  # a value that no model takes is a plain mistake
        plan_grid(registry, ["convmixer", "lbptop-svm"], ["synthetic"], ["subject-10fold"], sets={"model.kernel": "x"})
    assert "In a grid" not in str(raised.value)


def test_a_grid_value_from_a_config_file_refused_by_synthetic_names_casme2_beside_it(tmp_path):
    from merbench.errors import UsageError
    from merbench.grid import plan_grid
    from merbench.registry import get_registry

    root = rt.build_casme2(tmp_path / "CASME2", cropped=True)
    options = tmp_path / "grid.yaml"
    options.write_text("dataset:\n  frames: cropped\n")
    with pytest.raises(UsageError) as raised:
        plan_grid(get_registry(), ["ststnet"], ["casme2", "synthetic"], ["loso"], roots={"casme2": root},
                  config_file=options)
    said = str(raised.value)
    assert said.startswith("grid cell ststnet × synthetic × loso:") and "dataset.frames=cropped" in said
    assert "with an option named 'frames' (casme2, synthetic)" in said and "--datasets synthetic" in said


def test_the_grid_help_says_a_routed_option_goes_by_its_name(run_cli):
    result = run_cli("grid", "--help")
    assert "even where it means something else in one: run that one in a grid of its own" in one_line(result.out)


# ------------------------------------------------------------------ 4: entries made under earlier frame rules


def test_an_entry_cached_under_the_earlier_frame_rules_is_computed_again(tmp_path):
    """Under the earlier rules a 16-bit frame was reduced to its high byte and cached; a strict run must refuse it
    whatever the cache holds, so the frame rules are part of the key."""
    from merbench.cache import content_key
    from merbench.contracts import Dataset, Sample
    from merbench.errors import DataError
    from merbench.preprocess import build_chain, preprocess_dataset, store_entry
    from merbench.registry import get_registry

    folder = tmp_path / "clip"
    rt.write_frames(folder, np.zeros((2, 16, 16), np.uint8), ("onset.png", "apex.png"))
    assert cv2.imwrite(str(folder / "apex.png"), np.full((16, 16), 4000, np.uint16))
    sample = Sample(id="s/c", subject="s", label=0, domain="d", frames=(folder / "onset.png", folder / "apex.png"),
                    onset=0, apex=1, offset=1)
    spec = get_registry().get("preprocessors", "flow")
    chain = build_chain([spec], {"flow": {**spec.options, "method": "farneback", "size": 8}})
    digests = [hashlib.sha256(path.read_bytes()).hexdigest() for path in sample.frames]
    old_key = content_key(chain.signature(), digests)  # the key before the frame rules were part of it
    store_entry(tmp_path / "cache" / "preprocess", old_key, np.zeros((3, 8, 8), np.float32), {})

    with pytest.raises(DataError, match="is a 16-bit image"):
        preprocess_dataset(Dataset("d", ("a",), (sample,)), chain, cache_dir=tmp_path / "cache", workers=1)


def test_the_docs_say_old_entries_are_computed_again_once():
    text = one_line((Path(__file__).resolve().parents[1] / "docs" / "preprocessing.md").read_text())
    assert "every entry made before them is computed again once" in text
    assert "every `crop.detector=centre` or `none` entry, whose key no longer holds `crop.margin`" in text


# ------------------------------------------------------------------ 5: megc2019's casme2_frames=auto is pinned


def test_megc2019s_casme2_frames_auto_is_pinned_to_the_tree_its_run_read(tmp_path):
    from merbench.config import load_config_file, resolve_section
    from merbench.dataset_check import load_plugin_dataset
    from merbench.registry import get_registry
    from result_samples import minimal_dict

    registry = get_registry()
    root = rt.build_megc(tmp_path / "megc")
    options = resolve_section(registry.get("datasets", "megc2019"), "dataset")
    assert options["casme2_frames"] == "auto"
    dataset = load_plugin_dataset(registry, "megc2019", root, options, tmp_path / "cache")
    read = dataset.summary["parts"]["casme2"]["frames"]
    assert read not in ("", "auto")
    recorded = {"model": "ststnet", "dataset": "megc2019", "protocol": "megc2019", "profile": "quick", "seed": 0,
                "preprocess": ["flow"], "options": {"dataset": dict(options)}}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(minimal_dict(config=recorded, dataset_summary=dataset.summary)))
    assert load_config_file(path)["dataset.casme2_frames"] == read


# ------------------------------------------------------------------ 6: CAS(ME)³ clips without apex need 3 frames


def test_a_casme3_span_without_apex_needs_three_frames_on_disk():
    from merbench_plugins.datasets.casme3 import place_span
    from merbench_plugins.datasets.common import SkipRow

    frames = {n: Path(f"{n}.jpg") for n in (10, 11, 13)}
    with pytest.raises(SkipRow, match=r"no apex annotated and only 2 frames \(onset 10\.\.offset 11 in trial\)"):
        place_span(frames, 10, None, 11, "trial")
    with pytest.raises(SkipRow, match=r"only 2 frames \(onset 11\.\.offset 13 in trial, 1 not on disk\)"):
        place_span(frames, 11, None, 13, "trial")
    assert place_span(frames, 10, None, 13, "trial")[0].apex is None
    assert place_span(frames, 10, 11, 11, "trial")[0].apex == 1, "an annotated apex is the annotation's choice"


# ------------------------------------------------------------------ 7: smaller points


def test_a_reported_source_ending_in_a_full_stop_is_not_given_a_second_one():
    from merbench.compare import build_comparison
    from result_samples import minimal_result

    reported = [{"dataset": "megc2019", "protocol": "megc2019", "metric": "uf1", "value": 73.53,
                 "source": "Liong et al., FG 2019."}]
    note = build_comparison([minimal_result(dataset="megc2019", protocol="megc2019", reported=reported)],
                            metric="uf1").reported_note("†") or ""
    assert "from Liong et al., FG 2019." in note and ".." not in note


def test_preflight_names_the_protocol_plugin_of_the_registry_it_was_given():
    from types import SimpleNamespace

    from merbench.contracts import Dataset, ProtocolPlugin, Sample
    from merbench.errors import PluginError
    from merbench.preflight import check_protocol

    def expand(dataset, options):
        raise RuntimeError("boom")

    spec = ProtocolPlugin(name="p-own", split="x:y", description="d", subject_independent=True, expand=expand)
    registry = SimpleNamespace(get=lambda kind, name: spec, label=lambda kind, name: "protocol plugin 'p-own' (own 1)")
    config = SimpleNamespace(protocol="p-own", seed=0, section=lambda name: {})
    sample = Sample(id="s/c", subject="s", label=0, domain="d", frames=(Path("f.png"),), onset=0, apex=None, offset=0)
    with pytest.raises(PluginError, match=r"^protocol plugin 'p-own' \(own 1\): its expand\(\) raised"):
        check_protocol(config, registry, Dataset("d", ("a", "b"), (sample,)))


def test_magnify_refuses_frames_of_several_sizes_from_the_step_before_it_instead_of_resizing_them():
    from merbench.contracts import ClipFrames, Sample
    from merbench.errors import PluginError
    from merbench_plugins.preprocessors.magnify import MagnifyPreprocessor

    sample = Sample(id="s/c", subject="s", label=0, domain="d", frames=tuple(Path(f"{n}.png") for n in range(3)),
                    onset=0, apex=1, offset=2)
    sizes = {0: (16, 16), 1: (16, 16), 2: (8, 12)}
    upstream = ClipFrames(sample, lambda index: np.zeros(sizes[index], np.uint8), 1)
    step = MagnifyPreprocessor({"alpha": 8.0, "sigma": 2.0, "band": [0.05, 0.4]})
    with pytest.raises(PluginError, match=r"magnify got frames of several sizes for sample s/c \(16×16 and 12×8\)"):
        step(sample, lambda path: np.zeros((16, 16), np.uint8), upstream)
