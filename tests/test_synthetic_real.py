"""The synthetic dataset's presets: ``easy`` is generator v2 to the pixel, ``real`` (v3) imitates the MEGC2019 composite."""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from merbench.config import resolve_config
from merbench.errors import UsageError
from merbench.registry import get_registry
from merbench_plugins.datasets import synthetic, synthetic_domains, synthetic_faces, synthetic_real

# Digests computed with generator v2 as committed before the real preset existed (commit d531f94).
V2_CLIPS_SHA256 = "ba15bd8bdfad85f78b9365ab29487733fd317c4907c5f9f30ccecd5d329bd953"
V2_TREE_SHA256 = "9e85032ff7b12d233cb7159cd8fb2db3b6846e8edab3e46742230de2e2f75f8c"
V2_TREE_OPTIONS = {"subjects": 3, "clips_per_subject": 2, "size": 32, "frames": 8, "seed": 3}

REAL = {"preset": "real", "subjects": 28, "clips_per_subject": 7, "size": 32, "frames": 16, "seed": 0, "domains": 3}
SMALL_REAL = {**REAL, "subjects": 6, "clips_per_subject": 2, "size": 24, "frames": 8, "seed": 5}

# MEGC2019 composite (official 442-sample list): negative, positive, surprise per part.
COMPOSITE = {"smic-like": (70, 51, 43), "casme2-like": (88, 32, 25), "samm-like": (92, 26, 15)}


def v2_clips_digest() -> str:
    """SHA-256 of four default-size v2 clips' pixels and timing."""
    digest = hashlib.sha256()
    for s in (0, 5):
        subject = synthetic_faces.make_subject(0, s)
        for c in (0, 3):
            clip = synthetic_faces.make_clip(subject, c, 0, size=64, n_frames=16)
            digest.update(clip.frames.tobytes())
            digest.update(bytes([clip.label, clip.variant, clip.onset, clip.apex, clip.offset]))
    return digest.hexdigest()


def tree_digest(folder: Path) -> str:
    """SHA-256 of a generated tree: file names, decoded PNG pixels and the annotations' bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(cv2.imread(str(path), cv2.IMREAD_UNCHANGED).tobytes() if path.suffix == ".png" else path.read_bytes())
    return digest.hexdigest()


def test_easy_preset_is_generator_v2_pixel_for_pixel(tmp_path):
    assert v2_clips_digest() == V2_CLIPS_SHA256
    synthetic.generate(tmp_path, V2_TREE_OPTIONS)
    assert tree_digest(tmp_path) == V2_TREE_SHA256


def test_the_digest_notices_a_one_grey_level_change(tmp_path, monkeypatch):
    original = synthetic_faces.render_face
    monkeypatch.setattr(synthetic_faces, "render_face", lambda *args: original(*args) + 1.0)
    assert v2_clips_digest() != V2_CLIPS_SHA256


def test_loading_easy_reads_v2_tree_through_the_cache(tmp_path):
    dataset = synthetic.load(None, {**V2_TREE_OPTIONS, "preset": "easy", "domains": 1}, tmp_path)
    assert tree_digest(Path(dataset.summary["folder"])) == V2_TREE_SHA256
    assert dataset.summary["generator_version"] == "2" and dataset.summary["preset"] == "easy"
    assert {s.domain for s in dataset.samples} == {"synthetic"}


def test_presets_never_share_a_cache_folder(tmp_path):
    options = {**SMALL_REAL, "domains": 1}
    easy = synthetic.load(None, {**options, "preset": "easy"}, tmp_path)
    real = synthetic.load(None, {**options, "preset": "real"}, tmp_path)
    assert easy.summary["folder"] != real.summary["folder"]
    assert (easy.summary["generator_version"], real.summary["generator_version"]) == ("2", "3")
    assert real.summary["generated_now"] is True
    two_domains = synthetic.load(None, {**options, "preset": "real", "domains": 2}, tmp_path)
    assert two_domains.summary["folder"] != real.summary["folder"], "the real preset's domains change the data"


def test_plan_follows_the_composite_proportions_and_is_uneven():
    plans = synthetic_domains.plan(0, 28, 196, 3)
    assert sum(len(p.labels) for p in plans) == 196 and len(plans) == 28
    by_domain = {name: [p for p in plans if p.domain.name == name] for name in COMPOSITE}
    assert [len(by_domain[name]) for name in COMPOSITE] == [7, 10, 11]  # 16 : 24 : 28 real subjects
    overall = Counter(label for p in plans for label in p.labels)
    for label, share in enumerate((250 / 442, 109 / 442, 83 / 442)):
        assert abs(overall[label] / 196 - share) < 0.02
    for name, counts in COMPOSITE.items():
        got = Counter(label for p in by_domain[name] for label in p.labels)
        n = sum(got.values())
        for label, count in enumerate(counts):
            assert abs(got[label] / n - count / sum(counts)) < 0.03, (name, label)
    per_subject = sorted(len(p.labels) for p in plans)
    assert min(per_subject) >= 1
    assert sum(n <= 2 for n in per_subject) >= 3, f"several subjects should hold one or two clips: {per_subject}"
    assert max(per_subject) >= 3 * statistics.median(per_subject)
    leanings = {tuple(sorted(Counter(p.labels).items())) for p in plans if len(p.labels) >= 6}
    assert len(leanings) > 1, "subjects must not all share one class mix"


def test_plan_with_fewer_domains_takes_the_first_releases():
    plans = synthetic_domains.plan(1, 6, 30, 2)
    assert {p.domain.name for p in plans} == {"smic-like", "casme2-like"}


def test_largest_remainder_keeps_total_and_minimum():
    assert synthetic_domains.largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert synthetic_domains.largest_remainder(7, [100, 1, 1], minimum=2) == [3, 2, 2]
    with pytest.raises(ValueError):
        synthetic_domains.largest_remainder(3, [1, 1], minimum=2)


@pytest.fixture(scope="module")
def real_dataset(tmp_path_factory):
    return synthetic.load(None, REAL, tmp_path_factory.mktemp("real"))


def test_real_defaults_give_three_domains_like_the_releases(real_dataset):
    samples = real_dataset.samples
    assert len(samples) == 196 and real_dataset.summary["generator_version"] == synthetic_real.GENERATOR_VERSION
    assert {s.domain for s in samples} == set(COMPOSITE)
    for sample in samples:
        apex = sample.extra["true_apex"]
        assert 0 <= sample.onset < apex <= sample.offset < len(sample.frames)
        if sample.domain == "smic-like":  # SMIC has no apex annotation, and its clips run from onset to offset
            assert sample.apex is None and sample.onset == 0 and sample.offset == len(sample.frames) - 1
        else:
            assert sample.apex == apex and len(sample.frames) == REAL["frames"]
    rise = {name: statistics.mean(s.extra["true_apex"] - s.onset for s in samples if s.domain == name) for name in COMPOSITE}
    assert rise["smic-like"] < 0.75 * rise["casme2-like"], f"100 fps spans fewer frames onset to apex: {rise}"


def test_real_labels_mostly_follow_the_movement(real_dataset):
    shown = [synthetic_faces.CLASSES.index(s.extra["shown"]) == s.label for s in real_dataset.samples]
    assert 0.8 < np.mean(shown) < 1.0


def test_preprocessors_see_no_extra_that_tells_the_class(real_dataset):
    """The variant a clip shows belongs to its class (negative alone has variants 3 and 4): a preprocessor reading
    it would learn the label, so it is hidden like the label; only the true apex is left to see."""
    from merbench.preprocess import without_label

    variants = {(s.extra["variant"], s.extra["shown"]) for s in real_dataset.samples}
    assert {shown for variant, shown in variants if variant >= 3} == {"negative"}, "the variant tells the class"
    for sample in real_dataset.samples:
        blind, hidden = without_label(sample)
        seen = {key for key, value in blind.extra.items() if value is not hidden}
        assert seen == {"true_apex"}, seen


def test_real_preset_motion_is_small_and_noise_follows_face_size():
    frames = {}
    for domain in synthetic_domains.DOMAINS:
        subject = synthetic_real.make_subject(0, 0, domain)
        clip = synthetic_real.make_clip(subject, 0, 0, label=0, size=64, frames=16)
        frames[domain.name] = clip.frames.astype(float)
        change = np.abs(clip.frames[clip.apex].astype(float) - clip.frames[clip.onset].astype(float))
        assert 0 < change.mean() < 12
    # smaller faces on the sensor leave more noise per pixel once downsampled
    noise = {name: np.abs(np.diff(f, axis=0)).mean() for name, f in frames.items()}
    assert noise["smic-like"] > noise["samm-like"]


def test_real_generation_is_deterministic_by_seed(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    synthetic.generate_real(tmp_path / "a", SMALL_REAL)
    synthetic.generate_real(tmp_path / "b", SMALL_REAL)
    synthetic.generate_real(tmp_path / "c", {**SMALL_REAL, "seed": 6})
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c")


def test_bad_preset_is_refused_naming_the_choices(tmp_path):
    with pytest.raises(UsageError, match=r"dataset.preset=hard: choose one of real, easy"):
        synthetic.load(None, {**SMALL_REAL, "preset": "hard"}, tmp_path)
    with pytest.raises(UsageError, match=r"dataset.preset=hard.*real, easy"):
        resolve_config(get_registry(), model="ststnet", dataset="synthetic", sets={"dataset.preset": "hard"})
    assert not (tmp_path / "synthetic").exists()


def test_real_preset_refuses_more_domains_than_releases(tmp_path):
    with pytest.raises(UsageError, match=r"dataset.domains=4: the real preset imitates at most 3 releases"):
        synthetic.load(None, {**SMALL_REAL, "domains": 4}, tmp_path)
    easy = synthetic.load(None, {**SMALL_REAL, "preset": "easy", "domains": 4}, tmp_path)
    assert len({s.domain for s in easy.samples}) == 4


def test_quick_profile_uses_the_easy_preset_and_default_the_real_one():
    registry = get_registry()
    quick = resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick").section("dataset")
    default = resolve_config(registry, model="ststnet", dataset="synthetic").section("dataset")
    assert quick["preset"] == "easy" and quick["domains"] == 1
    assert default["preset"] == "real" and default["domains"] == 3
    assert 150 <= default["subjects"] * default["clips_per_subject"] <= 250


def _ststnet(protocol: str, seed: int) -> dict:
    from merbench.runner import run_benchmark

    registry = get_registry()
    config = resolve_config(registry, model="ststnet", dataset="synthetic", protocol=protocol, seed=seed, device="cpu")
    return run_benchmark(config, registry).pooled


@pytest.mark.slow
def test_default_difficulty_is_in_the_real_range_and_leaks():
    """STSTNet at the default profile (about 2 minutes): subject-10fold UF1 in 0.60-0.80, imbalance, a leakage gap over 3 seeds."""
    subject = [_ststnet("subject-10fold", seed) for seed in range(3)]
    sample = [_ststnet("sample-10fold", seed) for seed in range(3)]
    assert 0.60 <= subject[0]["uf1"] <= 0.80
    assert all(s["accuracy"] - s["uf1"] > 0.02 for s in subject), "class imbalance should set accuracy above UF1"
    gap = np.mean([b["uf1"] - a["uf1"] for a, b in zip(subject, sample)])
    assert gap > 0.02, f"sample-10fold should score above subject-10fold (gap {gap:.3f})"
