"""``magnify.alpha=0`` (off) kept band and sigma in the cache key, so changing them computed every clip again, and its
note claimed a band was magnified; a wrong ``magnify.band`` was echoed as a Python list (``[0.05]``)."""

from __future__ import annotations

import pytest

import realtrees as rt


@pytest.fixture
def prepare(run_cli, fresh_cache, tmp_path):
    """``merbench preprocess`` of a 9-clip manifest through ``magnify,flow`` with the given settings."""
    rt.build_manifest_frames(tmp_path / "root")

    def invoke(*sets: str):
        return run_cli("preprocess", "--dataset", "manifest", "--root", str(tmp_path / "root"), "--set",
                       "dataset.manifest=frames.csv", "preprocess=magnify,flow", "flow.method=dis", *sets)

    return invoke


def test_alpha_0_reuses_the_cache_whatever_band_and_sigma_say_and_says_it_is_off(prepare):
    first = prepare("magnify.alpha=0", "magnify.sigma=1")
    assert first.code == 0, first.err
    assert "computed 9, cached 0" in first.out, first.out
    assert "  magnify: unchanged: alpha 0 is off (9 clips)" in first.out, first.out  # before: "alpha 0, band 0.05-0.4"
    again = prepare("magnify.alpha=0", "magnify.sigma=3", "magnify.band=0.1,0.5")
    assert again.code == 0, again.err
    assert "computed 0, cached 9" in again.out, again.out  # before: computed 9 again


def test_with_alpha_above_0_band_and_sigma_still_change_the_key(prepare):
    assert prepare("magnify.alpha=4", "magnify.sigma=1", "magnify.band=0.05,0.5").code == 0
    other = prepare("magnify.alpha=4", "magnify.sigma=3", "magnify.band=0.05,0.5")
    assert "computed 9, cached 0" in other.out, other.out
    assert "  magnify: alpha 4, band 0.05-0.5 (9 clips)" in other.out, other.out


@pytest.mark.parametrize("band", ["0.05", "0.05,0.4,0.5", ""])
def test_a_wrong_band_is_echoed_as_typed(run_cli, band):
    refused = run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--set",
                      "preprocess=magnify,flow", f"magnify.band={band}")
    assert refused.code == 2
    assert f"magnify.band={band}: give two numbers LOW,HIGH, e.g. 0.05,0.4" in refused.err, refused.err
    assert "[" not in refused.err and "Traceback" not in refused.err
