"""A third-party preprocessor's output: NaN or infinity is refused where it is computed, naming the step and sample
(exit 2, nothing cached), not found as NaN loss at training time; a chain in the wrong order is answered with the
given steps in an order that works, not with a built-in chain the model cannot take."""

from __future__ import annotations

import numpy as np
import pytest

STEPS = '''
import numpy as np

from merbench.contracts import PreprocessorPlugin
from merbench.hookspecs import hookimpl


class Fill:
    def __init__(self, value):
        self.value = value

    def cache_params(self):
        return {"value": self.value}

    def inputs(self, sample):
        return list(sample.frames[:1])

    def __call__(self, sample, read_frame, upstream):
        out = np.full((3, 28, 28), 0.5, dtype=np.float32)
        if sample.id.endswith("2"):
            out[0, 0, :3] = float(self.value)
        return out


@hookimpl
def merbench_register_preprocessors(register):
    register(PreprocessorPlugin(name="fill", build=lambda options: Fill(options["value"]), produces="flow-uvs",
                                description="fills a flow-shaped array", options={"value": "0"}))
'''

TINY = ["protocol.n_splits=2", "dataset.subjects=4", "dataset.clips_per_subject=3", "dataset.size=32", "dataset.frames=8"]


@pytest.fixture
def fill(install_plugin):
    install_plugin("merbench-fill", "fill", "merbench_fill_plugin", STEPS)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e39"])
def test_a_step_giving_nan_or_infinity_is_named_before_anything_is_cached(fill, run_cli, tmp_path, monkeypatch, value):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--set", "preprocess=crop,fill", f"fill.value={value}", *TINY)
    assert result.code == 2, result.out + result.err
    error = " ".join(result.err.split())
    assert "preprocessor plugin 'fill' (merbench-fill 0.1) returned NaN or infinity for sample" in error
    assert "(3 of 2352 values, in float32)" in error and "Traceback" not in result.err
    assert not list((tmp_path / "cache").rglob("*.npy")) or all(
        np.isfinite(np.load(path)).all() for path in (tmp_path / "cache").rglob("*.npy"))


def test_a_finite_step_runs(fill, run_cli, tmp_path):
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--set", "preprocess=crop,fill", "fill.value=3", "engine.epochs=1", *TINY)
    assert result.code == 0, result.out + result.err


@pytest.mark.parametrize("chain, hint", [
    ("fill,crop", "e.g. --set preprocess=crop,fill"),
    ("crop,fill,crop", "e.g. --set preprocess=crop,fill"),
    ("fill,apex,magnify", "e.g. --set preprocess=apex,magnify,fill"),
])
def test_the_order_hint_is_made_of_the_given_steps(fill, run_cli, chain, hint):
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--set", f"preprocess={chain}", *TINY)
    assert result.code == 2
    assert " ".join(result.err.split()).endswith(hint), result.err
