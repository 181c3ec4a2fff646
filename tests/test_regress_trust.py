"""A regression band is only as good as what it can catch and what it says of itself: a band a random guesser passes,
or one that no score can top, is named; a ``derived:`` band edited by hand is refused; a run on other data than the
band was derived on is not checked against it (docs/results.md, "Bands that hold across machines and still bite")."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

import realtrees as rt
from merbench.errors import UsageError
from merbench.metrics import unweighted_f1_recall

TINY_SET = {"dataset.subjects": 4, "dataset.clips_per_subject": 6, "dataset.size": 32, "dataset.frames": 8,
            "protocol.n_splits": 2, "engine.epochs": 1, "engine.parallel_folds": 1}


def said(text: str) -> str:
    return " ".join(text.split())


def regress(run_cli, baseline, *extra):
    return run_cli("--format", "plain", "regress", "--baseline", str(baseline), "--quiet", *extra)


# ------------------------------------------------------------------ 1. bands a dead model passes, or none can top


def test_chance_scores_are_those_of_a_guesser_following_the_class_prior():
    from merbench.one_class import chance_scores

    scores = chance_scores([[20, 0, 0], [0, 8, 0], [0, 0, 8], [0, 0, 0]])  # a 4th class the test samples lack
    p = np.array([20, 8, 8]) / 36
    assert scores["accuracy"] == pytest.approx((p ** 2).sum())
    assert scores["uar"] == pytest.approx(1 / 3) and scores["uf1"] == pytest.approx(1 / 3)  # over the 3 present
    rng = np.random.default_rng(0)  # what many random guesses score on many samples, by the run's own rules
    truth = np.repeat(np.arange(3), [20000, 8000, 8000])
    for prior, guess in ((True, rng.choice(3, size=truth.size, p=p)), (False, rng.integers(0, 3, size=truth.size))):
        uf1, uar = unweighted_f1_recall(np.array([[np.sum((truth == i) & (guess == j)) for j in range(3)]
                                                  for i in range(3)]))
        guessed = {"uf1": uf1, "uar": uar, "accuracy": np.mean(truth == guess)}
        for metric, value in guessed.items():  # the prior's guess scores the formula, the uniform one no more
            assert value == pytest.approx(scores[metric], abs=0.01) if prior else value <= scores[metric] + 0.01
    assert chance_scores([[0, 0], [0, 0]]) == {}


def test_a_band_above_one_class_but_not_above_chance_is_named_and_so_is_one_no_score_can_top():
    from merbench.one_class import blind_bands, chance_scores, one_class_scores

    matrix = [[20, 0, 0], [0, 8, 0], [0, 0, 8]]
    assert one_class_scores(matrix)["uf1"] < 0.288 < chance_scores(matrix)["uf1"]
    notes = blind_bands("m", [("uf1", 0.638, 0.35), ("uar", 0.98, 0.03), ("accuracy", 0.98, 0.03, 0.01)], matrix)
    assert notes == [
        "m: the uf1 band 63.8 ± 35.0 reaches down to 28.8, not above the 33.3 that a model guessing at random (by the "
        "class frequencies) is expected to score on these test samples: it cannot catch a model that stopped learning",
        "m: the uar band 98.0 ± 3.0 reaches up to 101.0, not below the 100.0 that no score exceeds: it cannot call a "
        "score high (suspicious: a leak, a metric computed on the wrong data)"]  # accuracy's upper edge is 99.0
    assert blind_bands("m", [("accuracy", 0.9, 0.01, 0.1)], matrix)[0].startswith(
        "m: the accuracy band 90.0 -1.0/+10.0 reaches up to 100.0")
    # Runs that all scored 100 % (a leaky entry): no band could call a score high, so nothing to advise.
    assert blind_bands("m", [("uf1", 1.0, 0.0), ("uar", 1.0, 0.03)], matrix) == []


def test_regress_warns_of_a_band_a_random_guesser_passes_and_of_one_no_score_can_top(run_cli, tmp_path):
    """Before: a lower edge (30.0) above the one-class UF1 (23.8) but below chance (33.3), and an upper edge of
    100.0, passed without a word."""
    baseline = tmp_path / "b.yaml"
    baseline.write_text(yaml.safe_dump({
        "version": 1,
        "defaults": {"profile": "quick", "set": {"dataset.subjects": 6, "protocol.n_splits": 3, "engine.epochs": 1,
                                                 "engine.parallel_folds": 1}},
        "entries": [{"model": "ststnet", "metrics": {"uf1": {"expected": 0.6, "tolerance": 0.3},
                                                     "accuracy": {"expected": 0.9, "tolerance": 0.1}}}]}))
    result = regress(run_cli, baseline, "--no-store")
    text = said(result.out)
    assert result.code in (0, 1) and "Traceback" not in result.err, result.err
    assert ("Warning: entry 1 (ststnet · synthetic · subject-10fold (quick, seed 0)): the uf1 band 60.0 ± 30.0 "
            "reaches down to 30.0, not above the 33.3 that a model guessing at random (by the class frequencies) is "
            "expected to score on these test samples: it cannot catch a model that stopped learning; derive it again "
            "from more seeds") in text, result.out
    assert ("the accuracy band 90.0 ± 10.0 reaches up to 100.0, not below the 100.0 that no score exceeds: it cannot "
            "call a score high") in text, result.out


# ------------------------------------------------------------------ 2. a derived band edited by hand


@pytest.fixture
def derived(run_cli, tmp_path):
    """A baseline derived by ``--update --seeds 2 --k 2 --floor 0.05`` (runs stored): (baseline, store args)."""
    baseline = tmp_path / "b.yaml"
    baseline.write_text(yaml.safe_dump({"version": 1, "defaults": {"profile": "quick", "set": TINY_SET},
                                        "entries": [{"model": "ststnet"}]}, sort_keys=False))
    store = ("--store", str(tmp_path / "s.sqlite"))
    result = regress(run_cli, baseline, "--update", "--seeds", "2", "--threads", "auto", "--k", "2", "--floor", "0.05",
                     *store)
    assert result.code == 0, result.out + result.err
    return baseline, store


def _edited(baseline, metric, key, change):
    document = yaml.safe_load(baseline.read_text())
    spec = document["entries"][0]["metrics"][metric]
    spec[key] = round(change(spec[key]), 4)
    edited = baseline.with_name(f"edited-{metric}-{key}.yaml")
    edited.write_text(yaml.safe_dump(document, sort_keys=False))
    return edited, spec[key]


def test_a_derived_band_edited_by_hand_is_refused_before_anything_runs(derived, run_cli, tmp_path):
    from merbench.registry import get_registry
    from merbench.rendered_tables import render_text

    baseline, store = derived
    assert regress(run_cli, baseline, "--stored", *store).code == 0  # as derived: trusted
    widened, tolerance = _edited(baseline, "uf1", "tolerance", lambda t: min(t + 0.2, 1.0))
    result = regress(run_cli, widened, "--stored", *store)
    err = said(result.err)
    assert result.code == 2 and "Running" not in err and "Reusing" not in err and "Traceback" not in err, err
    assert f"{widened}, entry 1 (ststnet · synthetic · subject-10fold): uf1.tolerance is {tolerance:g}, not the " in err
    assert "its derived: block gives (min(max(k · std, floor), 1) with k 2, std " in err and "and floor 0.05" in err
    assert "The band was edited by hand after `merbench regress --update --seeds N` derived it" in err
    assert "delete the entry's derived: block to keep a band set by hand" in err
    moved, expected = _edited(baseline, "uar", "expected", lambda e: e + 0.05 if e < 0.9 else e - 0.05)
    err = said(regress(run_cli, moved, "--stored", *store).err)
    assert f"uar.expected is {expected:g}, not the mean of its derived: values" in err
    with pytest.raises(UsageError, match="uf1.tolerance is"):  # before: rendered as a derived band
        render_text(f"<!-- merbench:table guard {widened.name} -->\n<!-- /merbench:table -->\n", tmp_path,
                    get_registry())
    updated = regress(run_cli, widened, "--update", "--stored", *store)  # --update rewrites such a file
    assert updated.code == 0 and "derived" not in yaml.safe_load(widened.read_text())["entries"][0], updated.err


def test_the_guard_table_states_the_k_and_floor_its_bands_were_derived_with(derived, tmp_path):
    from merbench.registry import get_registry
    from merbench.rendered_tables import render_text

    baseline, _ = derived
    text = render_text(f"<!-- merbench:table guard {baseline.name} -->\n<!-- /merbench:table -->\n", tmp_path,
                       get_registry())
    assert "(the band `merbench regress` enforces: max(2·std, 5.0 points))" in text, text  # before: 3·std, 3.0


# ------------------------------------------------------------------ 3. a band derived on other data


@pytest.fixture
def on_manifest(run_cli, tmp_path):
    """36 manifest images of 6 subjects (a copy kept in ``full/``) and a baseline derived on them by ``--update
    --seeds 2`` (runs stored): (baseline, data folder, --root args, --store args)."""
    data = tmp_path / "data"
    rt.build_manifest_images(data, subjects=6, per_subject=6)
    shutil.copytree(data, tmp_path / "full")
    baseline = tmp_path / "b.yaml"
    baseline.write_text(yaml.safe_dump({
        "version": 1,
        "defaults": {"dataset": "manifest", "profile": "quick",
                     "set": {"dataset.manifest": "labels.csv", "protocol.n_splits": 3, "engine.epochs": 1,
                             "engine.parallel_folds": 1}},
        "entries": [{"model": "ststnet"}]}, sort_keys=False))
    root = ("--root", f"manifest={data}")
    store = ("--store", str(tmp_path / "s.sqlite"))
    result = regress(run_cli, baseline, "--update", "--seeds", "2", "--threads", "auto", *root, *store)
    assert result.code == 0, result.out + result.err
    return baseline, data, root, store


def _delete_half(data):
    for subject in ("s0", "s1", "s2"):  # the loader leaves their rows out, with a note
        shutil.rmtree(data / "images" / subject)


def test_update_records_the_data_a_band_was_derived_on(on_manifest, run_cli):
    baseline, data, root, _ = on_manifest
    written = yaml.safe_load(baseline.read_text())["entries"][0]["derived"]
    assert (written["n_samples"], written["n_subjects"], written["class_counts"]) == (36, 6, {"0": 12, "1": 12, "2": 12})
    _delete_half(data)
    rederived = regress(run_cli, baseline, "--update", "--seeds", "2", "--threads", "auto", *root, "--no-store")
    assert rederived.code == 0, rederived.out + rederived.err  # --update derives the band on the data it has now
    assert yaml.safe_load(baseline.read_text())["entries"][0]["derived"]["n_samples"] == 18


def test_a_band_derived_on_other_data_is_not_checked_against_it(on_manifest, run_cli, tmp_path):
    baseline, data, root, store = on_manifest
    _delete_half(data)
    result = regress(run_cli, baseline, *root, "--no-store", "--json", str(tmp_path / "c.json"))
    text = said(result.out)
    assert result.code == 1, result.out + result.err  # before: 0, "All 3 metrics within their band."
    assert (f"Not checked: {baseline}, entry 1 (ststnet · manifest · subject-10fold): the run had 18 samples of 3 "
            "subjects (per class 0: 6, 1: 6, 2: 6), but the entry's derived: block says its band was derived on 36 "
            "samples of 6 subjects (per class 0: 12, 1: 12, 2: 12): the band was measured on other data") in text
    assert "FAILED: 3 of 3 metrics did not pass" in text
    assert "18 samples of 3 subjects" in yaml.safe_load((tmp_path / "c.json").read_text())["entries"][0]["error"]

    old = tmp_path / "old.yaml"  # a baseline written before derived: recorded the data is checked as it was
    document = yaml.safe_load(baseline.read_text())
    for key in ("n_samples", "n_subjects", "class_counts"):
        document["entries"][0]["derived"].pop(key, None)
    old.write_text(yaml.safe_dump(document, sort_keys=False))
    assert "Not checked" not in regress(run_cli, old, *root, "--no-store").out

    restored = ("--root", f"manifest={tmp_path / 'full'}")  # the data it was derived on: checked, and passes
    again = regress(run_cli, baseline, *restored, "--stored", *store)
    assert again.code == 0 and "All 3 metrics within their band." in again.out, again.out + again.err
