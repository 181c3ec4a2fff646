"""Mistakes of third-party dataset plugins found by a reviewer, each one plugin error (exit 2, no traceback) that says
what the loader gave and how to fix it, the same from `merbench datasets check` and `merbench run`:

* class names given as numbers (``Dataset("d", (0, 1), ...)``): a traceback from the check, and a run that
  wrote ``"classes": [0, 1]``;
* frame paths relative to the root (``f.relative_to(root)``): usable when run from inside the root, "outside
  --root" from anywhere else;
* ``DatasetPlugin.gives="image"`` with a loader whose ``Dataset.gives`` stays ``"frames"``: the run blamed a
  ``preprocess=image`` the user never gave.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

PLUGIN = '''
from pathlib import Path

from merbench.contracts import Dataset, DatasetPlugin, Sample
from merbench.hookspecs import hookimpl


def _samples(root, frame, single=False):
    """One sample per clip folder ROOT/sNN/cK (label K % 2); ``frame`` gives each file's path as the loader writes it."""
    samples = []
    for clip in sorted(Path(root).glob("s*/c*")):
        files = sorted(clip.glob("*.png"))[:1 if single else None]
        samples.append(Sample(id=f"{clip.parent.name}/{clip.name}", subject=clip.parent.name,
                              label=int(clip.name[1:]) % 2, domain="mine", frames=tuple(frame(f) for f in files),
                              onset=0, apex=len(files) // 2, offset=len(files) - 1))
    return tuple(samples)


def load_numbers(root, options, cache_dir):
    return Dataset("intds", (0, 1), _samples(root, lambda f: f))


def load_relative(root, options, cache_dir):
    return Dataset("relds", ("neg", "pos"), _samples(root, lambda f: f.relative_to(root)))


def load_joined(root, options, cache_dir):
    return Dataset("okds", ("neg", "pos"), _samples(root, lambda f: root / f.relative_to(root)))


def load_one_frame(root, options, cache_dir):
    return Dataset("imgds", ("neg", "pos"), _samples(root, lambda f: f, single=True))


def load_still(root, options, cache_dir):
    samples = _samples(root, lambda f: f)
    return Dataset("stillds", ("neg", "pos"), tuple(Sample(**{**vars(s), "apex": s.onset}) for s in samples))


def load_images(root, options, cache_dir):
    return Dataset("undeclared", ("neg", "pos"), _samples(root, lambda f: f, single=True), gives="image")


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="intds", load=load_numbers, description="class names as numbers"))
    register(DatasetPlugin(name="relds", load=load_relative, description="frames relative to the root"))
    register(DatasetPlugin(name="okds", load=load_joined, description="frames under the root as given"))
    register(DatasetPlugin(name="imgds", load=load_one_frame, gives="image", description="declares images"))
    register(DatasetPlugin(name="undeclared", load=load_images, description="images, declared as frames"))
    register(DatasetPlugin(name="stillds", load=load_still, description="every apex on its onset frame"))
'''

WHO = "dataset plugin '{name}' (merbench-mistakes 0.1)"
RUN = ("run", "--model", "ststnet", "--protocol", "loso", "--profile", "quick", "--no-store", "--quiet")


@pytest.fixture
def tree(install_plugin, tmp_path):
    """The plugin installed, and ROOT/sNN/cK/imgN.png: 3 subjects of 2 clips of 3 frames, each frame its own noise."""
    install_plugin("merbench-mistakes", "mistakes", "merbench_mistakes_plugin", PLUGIN)
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for subject in range(3):
        for clip in range(2):
            folder = root / f"s{subject:02d}" / f"c{clip}"
            folder.mkdir(parents=True)
            for frame in range(3):
                assert cv2.imwrite(str(folder / f"img{frame}.png"), rng.integers(0, 255, (32, 32), np.uint8))
    return root


def _error(result) -> str:
    assert result.code == 2, result.out + result.err
    assert "Traceback" not in result.err
    return " ".join(result.err.split())


def test_class_names_that_are_not_text_are_a_plugin_error_in_check_and_run(tree, run_cli, tmp_path):
    expected = (f"{WHO.format(name='intds')}: its class names must be text, got 0 (int) for label 0 of (0, 1); give "
                "Dataset.classes as a tuple of str in label order")
    assert expected in _error(run_cli("datasets", "check", "intds", "--root", str(tree)))
    result = tmp_path / "result.json"
    assert expected in _error(run_cli(*RUN, "--dataset", "intds", "--root", str(tree), "--json", str(result)))
    assert not result.exists(), "no result with classes [0, 1] is written"


def test_frame_paths_relative_to_the_root_are_refused_wherever_merbench_runs(tree, run_cli, monkeypatch, tmp_path):
    expected = (f"{WHO.format(name='relds')}: sample s00/c0: its frame s00/c0/img0.png is a relative path, which "
                "would be read from the folder merbench runs in, not from --root; a loader gives root / path")
    monkeypatch.chdir(tree)
    assert expected in _error(run_cli("datasets", "check", "relds", "--root", "."))
    assert expected in _error(run_cli(*RUN, "--dataset", "relds", "--root", "."))
    monkeypatch.chdir(tmp_path)
    assert expected in _error(run_cli("datasets", "check", "relds", "--root", str(tree)))
    assert expected in _error(run_cli(*RUN, "--dataset", "relds", "--root", str(tree)))


def test_a_loader_joining_the_root_is_usable_with_a_relative_root(tree, run_cli, monkeypatch, tmp_path):
    """The root is given to the loader as an absolute path, so root / path is absolute however --root was written."""
    monkeypatch.chdir(tmp_path)
    for root in ("data", str(tree)):
        check = run_cli("datasets", "check", "okds", "--root", root, "--quiet")
        assert check.code == 0, check.err
        assert "usable: 6 samples, 3 subjects" in check.out


def test_a_plugin_declaring_images_whose_loader_gives_frames_is_named_not_the_users_chain(tree, run_cli):
    expected = (f"{WHO.format(name='imgds')}: its DatasetPlugin.gives is 'image', but its load() returned a Dataset "
                "whose gives is 'frames'")
    default_chain = _error(run_cli(*RUN, "--dataset", "imgds", "--root", str(tree)))
    assert expected in default_chain
    assert "drop it" not in default_chain and "preprocess=image" not in default_chain
    assert expected in _error(run_cli("datasets", "check", "imgds", "--root", str(tree)))
    assert expected in _error(run_cli(*RUN, "--dataset", "imgds", "--root", str(tree), "--set", "preprocess=flow"))


def test_a_loader_giving_images_its_plugin_declares_as_frames_is_named(tree, run_cli):
    expected = (f"{WHO.format(name='undeclared')}: its DatasetPlugin.gives is 'frames', but its load() returned a "
                "Dataset whose gives is 'image'")
    default_chain = _error(run_cli(*RUN, "--dataset", "undeclared", "--root", str(tree)))
    assert expected in default_chain and "add --set preprocess=image" not in default_chain
    assert expected in _error(run_cli("datasets", "check", "undeclared", "--root", str(tree)))


def test_a_manifest_whose_gives_factory_answers_as_its_loader_still_loads(run_cli, tmp_path):
    """The manifest plugin's ``gives`` is a factory reading the CSV: compared with what the loader gave, it agrees."""
    import realtrees as rt

    root = tmp_path / "flow"
    root.mkdir()
    rt.build_manifest_images(root)
    record = tmp_path / "check.json"
    check = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=labels.csv",
                    "--quiet", "--json", str(record))
    assert check.code == 0, check.err
    assert json.loads(record.read_text())["usable"] is True


def test_a_run_whose_every_clip_has_its_apex_on_the_onset_warns_that_its_flow_is_zero(tree, run_cli):
    """Every apex on its onset frame (a loader's indices gone wrong): each onset-to-apex flow is zero and the scores
    sit at chance; the run says so (before: only `datasets check` showed it, in its overview)."""
    said = "every clip of dataset 'stillds' (6 clips) has its apex on its onset frame, so the onset-to-apex flow"
    flow = run_cli(*RUN, "--dataset", "stillds", "--root", str(tree), "--epochs", "1")
    assert flow.code == 0, flow.err
    assert said in " ".join(flow.err.split())
    peak = run_cli(*RUN, "--dataset", "stillds", "--root", str(tree), "--epochs", "1", "--set",
                   "preprocess=apex,flow", "apex.rule=motion-peak", "apex.override=true")
    assert peak.code == 0, peak.err
    assert said not in " ".join(peak.err.split()), "the apex chosen from the motion is not the onset"
