"""Preprocessor options that cannot work are refused with exit 2 before any sample is preprocessed.

A ``crop.cascade`` file that is not a Haar cascade, and ``magnify.sigma``/``magnify.alpha`` beyond their bounds
(a huge sigma hangs inside OpenCV; a huge alpha saturates every frame).
"""

from __future__ import annotations

import pytest

from merbench.config import coerce
from merbench.errors import UsageError
from merbench.registry import get_registry
from merbench_plugins.preprocessors.crop import CropPreprocessor

TINY = ("dataset.subjects=4", "dataset.clips_per_subject=3", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=2", "engine.epochs=1")


@pytest.fixture
def refused(run_cli):
    """Run ststnet on tiny synthetic data with ``sets``; returns the error text of a refused run."""

    def invoke(*sets: str) -> str:
        result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                         "--no-store", "--set", *TINY, *sets)
        assert result.code == 2, (result.code, result.err)
        return " ".join(result.err.split())

    return invoke


def test_a_cascade_file_that_is_no_haar_cascade_is_refused(refused, tmp_path):
    cascade = tmp_path / "passwd"
    cascade.write_text("root:x:0:0:root:/root:/bin/bash\n")
    err = refused("preprocess=crop,flow", "crop.detector=haar", f"crop.cascade={cascade}")
    assert f"crop.cascade={cascade}: not a Haar cascade XML file (OpenCV could not load it)" in err
    assert "sample" not in err and "SystemError" not in err


@pytest.mark.parametrize("text", ["", "<?xml version='1.0'?><opencv_storage><x>1</x></opencv_storage>"])
def test_the_cascade_is_checked_when_the_step_is_built(tmp_path, text):
    cascade = tmp_path / "cascade.xml"
    cascade.write_text(text)
    options = {"detector": "auto", "fallback": "centre", "margin": 0.2, "min_face": 0.3, "cascade": str(cascade)}
    with pytest.raises(UsageError, match="not a Haar cascade XML file"):
        CropPreprocessor(options)  # before any sample


@pytest.mark.parametrize("option, value, bound", [
    ("sigma", "65", "[0, 64]"), ("sigma", "1000", "[0, 64]"), ("alpha", "1e300", "[0, 1000]"), ("alpha", "1001", "[0, 1000]"),
])
def test_magnify_sigma_and_alpha_are_bounded(refused, option, value, bound):
    err = refused("preprocess=magnify,flow", f"magnify.{option}={value}")
    assert f"magnify.{option}={value}: must be a finite number in {bound}" in err


def test_magnify_defaults_and_bounds_are_accepted():
    spec = get_registry().get("preprocessors", "magnify")
    for option in ("alpha", "sigma"):
        assert coerce(f"magnify.{option}", spec.options[option], spec.options[option], spec.option_ranges[option]) >= 0
    assert coerce("magnify.sigma", "64", 2.0, spec.option_ranges["sigma"]) == 64
    assert coerce("magnify.alpha", "1000", 8.0, spec.option_ranges["alpha"]) == 1000
