"""The embedded ``synthetic`` dataset's easy preset (generator v2): determinism, annotations, learnable but not trivial.

The real preset (generator v3) is tested in test_synthetic_real.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from merbench.config import resolve_config
from merbench.registry import get_registry
from merbench.runner import run_benchmark
from merbench_plugins.datasets import synthetic, synthetic_faces

SMALL = {"preset": "easy", "subjects": 3, "clips_per_subject": 2, "size": 32, "frames": 8, "seed": 3, "domains": 1}


def test_generation_is_deterministic_by_seed(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    synthetic.generate(tmp_path / "a", SMALL)
    synthetic.generate(tmp_path / "b", SMALL)
    synthetic.generate(tmp_path / "c", {**SMALL, "seed": 4})
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert len(files_a) == 3 * 2 * 8 + 1
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)
    pngs = [f for f in files_a if f.suffix == ".png"]
    assert any((tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes() for f in pngs)


def test_loader_reads_subjects_labels_and_timing(tmp_path):
    dataset = synthetic.load(None, SMALL, tmp_path)
    assert dataset.classes == ("negative", "positive", "surprise")
    assert len(dataset.samples) == 6
    assert sorted(set(dataset.subjects)) == ["s01", "s02", "s03"]
    for sample in dataset.samples:
        assert 0 <= sample.onset < sample.apex <= sample.offset < len(sample.frames) == 8
        assert all(path.is_file() for path in sample.frames)
        assert sample.domain == "synthetic"
    assert dataset.summary["generated_now"] is True
    again = synthetic.load(None, SMALL, tmp_path)
    assert again.summary["generated_now"] is False
    assert [s.id for s in again.samples] == [s.id for s in dataset.samples]
    assert list(tmp_path.joinpath("synthetic").iterdir()) == [tmp_path / "synthetic" / dataset.summary["folder"].split("/")[-1]]


def test_expression_motion_is_small_and_local():
    subject = synthetic_faces.make_subject(0, 0)
    clip = synthetic_faces.make_clip(subject, 0, seed=0, label=2)
    assert clip.frames.shape == (16, 64, 64) and clip.frames.dtype == np.uint8
    onset, apex = clip.frames[clip.onset].astype(float), clip.frames[clip.apex].astype(float)
    change = np.abs(apex - onset)
    assert 0 < change.mean() < 20, "the apex must differ from the onset, but only slightly"


def test_subjects_differ_in_face_and_style():
    first, second = synthetic_faces.make_subject(0, 0), synthetic_faces.make_subject(0, 1)
    assert first.centre != second.centre and first.gain != second.gain
    assert synthetic_faces.make_subject(0, 0) == first


# Learnability: a 5-fold, 15-epoch run of a small ConvMixer on the easy preset at generator v2's former default size.
LEARN = {
    "dataset.preset": "easy",
    "dataset.subjects": 16,
    "dataset.clips_per_subject": 12,
    "dataset.domains": 1,
    "protocol.n_splits": 5,
    "engine.epochs": 15,
    "model.dim": 32,
    "model.depth": 3,
    "flow.method": "dis",
}


def _run(protocol: str, **extra):
    registry = get_registry()
    config = resolve_config(registry, model="convmixer", dataset="synthetic", protocol=protocol, sets={**LEARN, **extra})
    return run_benchmark(config, registry)


@pytest.fixture(scope="module")
def learned() -> dict:
    return {"subject": _run("subject-10fold"), "sample": _run("sample-10fold")}


def test_trained_model_beats_a_shuffled_label_control(learned, monkeypatch):
    original = synthetic.read_tree

    def shuffled(folder, *args):
        samples = original(folder, *args)
        labels = np.random.default_rng(0).permutation([s.label for s in samples])
        return tuple(dataclasses.replace(s, label=int(label)) for s, label in zip(samples, labels))

    monkeypatch.setattr(synthetic, "read_tree", shuffled)
    control = _run("subject-10fold")
    real = learned["subject"].pooled
    assert control.pooled["uf1"] < 0.45
    assert real["uf1"] > control.pooled["uf1"] + 0.2
    assert real["accuracy"] > control.pooled["accuracy"] + 0.2


def test_subject_independent_protocol_does_not_score_higher(learned):
    subject, sample = learned["subject"].pooled, learned["sample"].pooled
    assert subject["accuracy"] <= sample["accuracy"]
    assert subject["uf1"] <= sample["uf1"]
    assert learned["sample"].subject_independent is False
    assert learned["subject"].subject_independent is True


@pytest.mark.parametrize("damage, expected", [
    ("empty", "annotations.csv: no rows; the generated data is damaged"),
    ("cut", "annotations.csv row 3: cut off (cells missing); the generated data is damaged"),
    ("rows", "annotations.csv: 2 rows where dataset.subjects × dataset.clips_per_subject give"),
    ("frame", "is missing; the generated data is damaged"),
])
def test_damaged_generated_data_in_the_cache_says_how_to_regenerate_it(tmp_path, damage, expected):
    """A disk that filled up or a write cut short leaves a generated tree that is reused; each damage names the file
    and the command that regenerates it, instead of blaming the plugin or "the dataset tree"."""
    from merbench.errors import DataError

    first = synthetic.load(None, SMALL, tmp_path)
    annotations = tmp_path / first.summary["folder"] / synthetic.ANNOTATIONS
    if damage == "empty":
        annotations.write_text("")
    elif damage == "cut":
        lines = annotations.read_text().splitlines()
        annotations.write_text("\n".join(lines[:2] + [lines[2].rsplit(",", 3)[0]]) + "\n")
    elif damage == "rows":  # cut at the end of a row: what is left reads well
        annotations.write_text("\n".join(annotations.read_text().splitlines()[:3]) + "\n")
    else:
        first.samples[1].frames[4].unlink()
    with pytest.raises(DataError) as refused:
        synthetic.load(None, SMALL, tmp_path)
    assert expected in str(refused.value)
    assert "merbench cache clear --only synthetic --yes" in str(refused.value)


def test_an_easy_trees_domains_are_blocks_of_subjects_in_generation_order_past_99(tmp_path):
    subjects = [f"s{number:02d}" for number in range(1, 121)]
    rows = "".join(f"{subject},{subject}_c001,negative,0,0,2,4,5\n" for subject in subjects)
    (tmp_path / synthetic.ANNOTATIONS).write_text(",".join(synthetic.FIELDS) + "\n" + rows)
    domains = {sample.subject: sample.domain for sample in synthetic.read_tree(tmp_path, n_domains=2)}
    assert {domains[s] for s in subjects[:60]} == {"synthetic-1"}, "s01-s60 are the first block, s100 is not among them"
    assert {domains[s] for s in subjects[60:]} == {"synthetic-2"}
