"""A third-party preprocessor's options are part of the cache key even where its ``cache_params()`` leaves them out:
a run with another value computes its inputs afresh (was: the cached output of the first value, recorded under the
second). merbench's own steps keep their keys: only what ``cache_params()`` gives."""

from __future__ import annotations

import json

from merbench.cache import content_key
from merbench.config import resolve_config
from merbench.preprocess import checked_chain
from merbench.registry import get_registry

STEP = '''
import numpy as np

from merbench.contracts import ClipFrames, PreprocessorPlugin
from merbench.hookspecs import hookimpl


class Still:
    """The onset frame, resized to size x size, three times: its author forgot ``size`` in cache_params()."""

    def __init__(self, options):
        self.size = int(options["size"])

    def cache_params(self):
        return {}

    def inputs(self, sample):
        return [sample.frames[sample.onset]]

    def __call__(self, sample, read_frame, upstream):
        import cv2

        frame = ClipFrames.of(sample, read_frame, upstream).read(sample.onset).astype(np.float32) / 255.0
        resized = cv2.resize(frame, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return np.stack([resized] * 3).astype(np.float32)


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="still", build="merbench_still_plugin:Still", produces="flow-uvs",
                                description="the onset frame, 3 channels", options={"size": 28}))
'''

TINY = ["protocol.n_splits=2", "dataset.subjects=4", "dataset.clips_per_subject=3", "dataset.size=32",
        "dataset.frames=8", "engine.epochs=1"]


def test_an_option_left_out_of_cache_params_still_keys_the_cache(install_plugin, run_cli, tmp_path, monkeypatch):
    install_plugin("merbench-still", "still", "merbench_still_plugin", STEP)
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    results = {}
    for size in (28, 32):
        path = tmp_path / f"run{size}.json"
        result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                         "--set", "preprocess=still", f"still.size={size}", *TINY, "--json", str(path))
        assert result.code == 0, result.out + result.err
        results[size] = json.loads(path.read_text())["preprocess"]
    assert (results[28]["computed"], results[28]["cached"]) == (12, 0)
    assert (results[32]["computed"], results[32]["cached"]) == (12, 0)
    assert results[32]["chain"] == [{"name": "still", "version": "1", "params": {"size": 32}}]
    shapes = {tuple(json.loads(path.read_text())["shape"]) for path in (tmp_path / "cache").rglob("index/*.json")}
    assert shapes == {(3, 28, 28), (3, 32, 32)}


def test_the_keys_of_merbench_s_own_steps_are_unchanged():
    registry = get_registry()
    for chain_names, model in (("crop,apex,magnify,flow", "convmixer"), ("apex-frame", None), ("image", None),
                               ("lbptop", "lbptop-svm")):
        config = resolve_config(registry, model=model, dataset="synthetic", sets={"preprocess": chain_names},
                                model_optional=True)
        chain = checked_chain(config, registry)
        before = [{"name": spec.name, "version": spec.version, "params": step.cache_params()}
                  for spec, step in zip(chain.specs, chain.steps)]  # the signature before option keys
        assert chain.signature() == before
        assert content_key(chain.signature()) == content_key(before)
    crop = checked_chain(resolve_config(registry, model="convmixer", dataset="synthetic",
                                        sets={"preprocess": "crop,flow", "crop.detector": "centre"}), registry)
    assert "margin" not in crop.signature()[0]["params"]  # left out on purpose: a centre crop has no margin


class _Sized:
    def __init__(self, options):
        self.size = int(options["size"])

    def cache_params(self):
        return {"size": self.size}

    def inputs(self, sample):
        return list(sample.frames[:1])

    def __call__(self, sample, read_frame, upstream):
        raise AssertionError("not called")


def test_a_plugin_whose_cache_params_hold_every_option_keeps_its_keys():
    from merbench.contracts import PreprocessorPlugin
    from merbench.preprocess import build_chain

    spec = PreprocessorPlugin(name="sized", build=_Sized, description="", produces="flow-uvs", options={"size": 16})
    chain = build_chain([spec], {"sized": {"size": 16}}, builtin=[False])
    assert chain.signature() == [{"name": "sized", "version": spec.version, "params": {"size": 16}}]
