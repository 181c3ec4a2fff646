"""A step that lists the same files whatever the apex is (onset to offset, as CONTRIBUTING's ``motion-sum`` example
does) and reads the apex: after a corrected annotation moved the apex, the cache served the old apex's outputs under
the old key. The key now holds the sample's onset, apex, offset and frame count."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from merbench.contracts import Dataset, PreprocessorPlugin, Sample
from merbench.preprocess import build_chain, entry_key, preprocess_dataset


class OnsetToApex:
    """Lists onset to offset; outputs |apex - onset| (the apex is read from the sample, not the files listed)."""

    def cache_params(self):
        return {}

    def inputs(self, sample):
        return list(sample.frames[sample.onset:sample.offset + 1])

    def __call__(self, sample, read_frame, upstream):
        onset = read_frame(sample.frames[sample.onset]).astype(np.float32)
        apex = read_frame(sample.frames[sample.apex]).astype(np.float32)
        grey = np.abs(apex - onset).mean(axis=-1) if apex.ndim == 3 else np.abs(apex - onset)
        return np.repeat(cv2.resize(grey, (8, 8))[None] / 255.0, 3, axis=0).astype(np.float32)


SPEC = PreprocessorPlugin(name="onset-apex", build=lambda options: OnsetToApex(), produces="flow-uvs",
                          description="apex minus onset", options={})


def _clips(folder, apex: int) -> Dataset:
    samples = []
    rng = np.random.default_rng(0)
    for c in range(2):
        paths = []
        for k in range(5):
            paths.append(folder / f"c{c}" / f"f{k}.png")
            paths[-1].parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(paths[-1]), rng.integers(0, 255, (16, 16), dtype=np.uint8))
        samples.append(Sample(f"c{c}", f"s{c}", c % 2, "a", tuple(paths), 0, apex, 4))
    return Dataset("clips", ("negative", "positive"), tuple(samples))


def test_a_moved_apex_gives_another_key_for_the_same_files(tmp_path):
    chain = build_chain([SPEC], {"onset-apex": {}})
    dataset = _clips(tmp_path / "frames", apex=1)
    sample = dataset.samples[0]
    moved = dataclasses.replace(sample, apex=3)
    assert entry_key(chain, sample)[0] == entry_key(chain, dataclasses.replace(sample))[0]
    assert entry_key(chain, moved)[0] != entry_key(chain, sample)[0]
    for changed in ({"onset": 1}, {"offset": 3}, {"frames": sample.frames[:4], "offset": 3}):
        assert entry_key(chain, dataclasses.replace(sample, **changed))[0] != entry_key(chain, sample)[0], changed


def test_a_moved_apex_is_computed_anew_not_served_from_the_cache(tmp_path):
    chain = build_chain([SPEC], {"onset-apex": {}})
    frames = tmp_path / "frames"
    first = preprocess_dataset(_clips(frames, apex=1), chain, cache_dir=tmp_path / "cache", workers=1)
    again = preprocess_dataset(_clips(frames, apex=3), chain, cache_dir=tmp_path / "cache", workers=1)
    fresh = preprocess_dataset(_clips(frames, apex=3), chain, cache_dir=tmp_path / "fresh", workers=1)
    assert (again.computed, again.cached) == (2, 0)
    np.testing.assert_array_equal(again.inputs, fresh.inputs)
    assert not np.array_equal(again.inputs, first.inputs)
