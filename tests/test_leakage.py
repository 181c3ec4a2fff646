"""The leaky variants (docs/leakage.md): each really leaks what it says, is flagged, and never is a default."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from merbench.config import ENGINE_OPTIONS
from merbench.contracts import Dataset, Fold, Sample
from merbench.engine import TrainSettings, choose_device, channel_stats, fold_uf1, train_fold
from merbench.errors import UsageError
from merbench.fold_batch import train_folds_batched
from merbench.leakage_summary import bootstrap_inflation, summarise
from merbench.leaks import SELECTION_WITHOUT_EPOCHS, config_leaks, result_leaks
from merbench.registry import get_registry
from result_samples import minimal_result

CPU = choose_device("cpu")
SETTINGS = TrainSettings(epochs=8, batch_size=8, lr=0.01, weight_decay=0.0, label_smoothing=0.0, class_weighting="none")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: fold-by-fold and batched training reduce in the same order."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_model() -> nn.Module:
    """A convolution with BatchNorm, no dropout (batched and fold-by-fold training then agree)."""
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3))


def toy_folds():
    """60 samples of 6 subjects with a weak learnable signal, one fold per subject."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    inputs = torch.randn(60, 3, 8, 8, generator=generator)
    inputs[:, 0] += 0.5 * labels.view(-1, 1, 1).float()
    subjects = np.repeat([f"s{i}" for i in range(6)], 10)
    folds = [Fold(i, np.flatnonzero(subjects != f"s{i}"), np.flatnonzero(subjects == f"s{i}")) for i in range(6)]
    return inputs, labels, subjects, folds


def test_leaky_options_are_never_defaults():
    assert ENGINE_OPTIONS["select_on"] == "validation" and ENGINE_OPTIONS["normalise_on"] == "train"
    assert TrainSettings.from_options(dict(ENGINE_OPTIONS)).select_on == "validation"


def test_select_on_test_keeps_the_best_test_epoch_of_the_same_training():
    inputs, labels, subjects, folds = toy_folds()
    leaky = dataclasses.replace(SETTINGS, select_on="test")
    validated = dataclasses.replace(SETTINGS, early_stopping=SETTINGS.epochs)
    better, test_epochs, validation_epochs = 0, [], []
    for fold in folds:
        truth = labels[fold.test].numpy()
        last = train_fold(tiny_model, inputs, labels, fold, 3, SETTINGS, CPU, seed=fold.index)
        chosen = train_fold(tiny_model, inputs, labels, fold, 3, leaky, CPU, seed=fold.index)
        assert chosen.epoch_losses == last.epoch_losses  # same training: only the scored epoch differs
        assert chosen.selected_on == "test" and 1 <= chosen.selected_epoch <= SETTINGS.epochs
        assert fold_uf1(chosen.predictions, truth, 3) >= fold_uf1(last.predictions, truth, 3)
        better += fold_uf1(chosen.predictions, truth, 3) > fold_uf1(last.predictions, truth, 3)
        test_epochs.append(chosen.selected_epoch)
        validation_epochs.append(train_fold(tiny_model, inputs, labels, fold, 3, validated, CPU, seed=fold.index,
                                            subjects=subjects).selected_epoch)
    assert better >= 1  # on some fold the last epoch was not the test fold's best
    assert test_epochs != validation_epochs


def test_select_on_test_reads_the_test_labels():
    inputs, labels, _, folds = toy_folds()
    leaky = dataclasses.replace(SETTINGS, select_on="test")
    changed = 0
    for fold in folds:
        scrambled = labels.clone()
        scrambled[fold.test] = (scrambled[fold.test] + 1) % 3
        first = train_fold(tiny_model, inputs, labels, fold, 3, leaky, CPU, seed=fold.index)
        second = train_fold(tiny_model, inputs, scrambled, fold, 3, leaky, CPU, seed=fold.index)
        changed += first.selected_epoch != second.selected_epoch
    assert changed >= 1


def test_normalise_on_all_takes_test_samples_into_the_statistics():
    inputs, labels, _, folds = toy_folds()
    fold = folds[0]
    leaky = dataclasses.replace(SETTINGS, epochs=2, normalise_on="all")
    output = train_fold(tiny_model, inputs, labels, fold, 3, leaky, CPU, seed=1)
    assert "ALL samples" in output.normalisation
    shifted = inputs.clone()
    shifted[fold.test] += 100.0  # moves the statistics only when test samples are in them
    moved = train_fold(tiny_model, shifted, labels, fold, 3, leaky, CPU, seed=1)
    assert moved.epoch_losses != output.epoch_losses
    honest = dataclasses.replace(SETTINGS, epochs=2)
    assert (train_fold(tiny_model, inputs, labels, fold, 3, honest, CPU, seed=1).epoch_losses
            == train_fold(tiny_model, shifted, labels, fold, 3, honest, CPU, seed=1).epoch_losses)
    everything, train_only = channel_stats(inputs, torch.arange(60)), channel_stats(inputs, torch.as_tensor(fold.train))
    assert not torch.allclose(everything[0], train_only[0])


@pytest.mark.parametrize("change", [{"select_on": "test"}, {"normalise_on": "all"}])
def test_batched_folds_leak_exactly_as_fold_by_fold(change):
    inputs, labels, _, folds = toy_folds()
    settings = dataclasses.replace(SETTINGS, epochs=5, **change)
    seeds = [100 + fold.index for fold in folds]
    batched = train_folds_batched(tiny_model, inputs, labels, folds, seeds, 3, settings, CPU)
    for fold, seed, output in zip(folds, seeds, batched):
        reference = train_fold(tiny_model, inputs, labels, fold, 3, settings, CPU, seed)
        np.testing.assert_array_equal(output.predictions, reference.predictions, err_msg=f"fold {fold.index}")
        assert (output.selected_epoch, output.selected_on, output.normalisation) == (
            reference.selected_epoch, reference.selected_on, reference.normalisation)


# ------------------------------------------------------------------ frame-10fold


def _clips(n_clips: int = 12, n_frames: int = 10) -> Dataset:
    samples = tuple(Sample(id=f"c{i}", subject=f"s{i % 4}", label=i % 3, domain="d",
                           frames=tuple(Path(f"/x/c{i}/{j}.png") for j in range(n_frames)), onset=1, apex=5, offset=8)
                    for i in range(n_clips))
    return Dataset("toy", ("a", "b", "c"), samples)


def test_frame_pairs_are_real_pairs_of_one_clip():
    from merbench_plugins.protocols import expand_frame_pairs, frame_apexes

    assert frame_apexes(1, 5, 8, 10, 5) == [5, 6, 4, 7, 3]
    assert frame_apexes(1, 2, 3, 10, 5) == [2, 3]  # only frames after the onset, up to the offset
    expanded = expand_frame_pairs(_clips(), {"pairs": 3})
    assert len(expanded.samples) == 36
    first = [s for s in expanded.samples if s.extra["source_clip"] == "c0"]
    assert [s.id for s in first] == ["c0#apex5", "c0#apex6", "c0#apex4"] and [s.apex for s in first] == [5, 6, 4]
    assert all(s.onset == 1 and s.subject == "s0" for s in first)
    with pytest.raises(UsageError, match="precomputed image"):
        expand_frame_pairs(dataclasses.replace(_clips(), gives="image"), {"pairs": 3})


def test_frame_10fold_puts_frames_of_one_clip_on_both_sides():
    from merbench.splits import clip_ids, clip_overlaps, protocol_dataset

    spec = get_registry().get("protocols", "frame-10fold")
    dataset = protocol_dataset(_clips(30), spec, {"n_splits": 5, "pairs": 3})
    from merbench.contracts import resolve_factory

    folds = resolve_factory(spec.split)(dataset.labels, dataset.subjects, 0, {"n_splits": 5, "pairs": 3})
    assert clip_overlaps(folds, clip_ids(dataset)) == len(folds)
    honest = get_registry().get("protocols", "subject-10fold")
    assert protocol_dataset(_clips(30), honest, {"n_splits": 4}) == _clips(30)  # honest protocols see the clips as they are


# ------------------------------------------------------------------ flags


def _config(protocol: str = "subject-10fold", **sets):
    from merbench.config import resolve_config

    return resolve_config(get_registry(), model="ststnet", dataset="synthetic", protocol=protocol, profile="quick",
                          sets=sets)


def test_configurations_name_what_leaks():
    registry = get_registry()
    assert config_leaks(_config(), registry) == []
    assert config_leaks(_config("sample-10fold"), registry) == ["subjects"]
    assert config_leaks(_config("frame-10fold"), registry) == ["subjects", "clips"]
    assert config_leaks(_config(**{"engine.select_on": "test", "engine.normalise_on": "all"}), registry) == [
        "selection", "normalisation"]


def test_old_results_still_show_their_leaks():
    old = minimal_result(subject_independent=False, leakage={"selection_uses_test_data": True})
    assert result_leaks(old) == ["subjects", "selection"]
    assert result_leaks(minimal_result(leakage={"leaks": ["normalisation"]})) == ["normalisation"]
    assert result_leaks(minimal_result()) == []  # no leakage record at all


# ------------------------------------------------------------------ regress


def _baseline(tmp_path: Path, entry: dict) -> Path:
    path = tmp_path / "baseline.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "defaults": {"profile": "quick"}, "entries": [entry]}))
    return path


@pytest.mark.parametrize("entry", [
    {"model": "ststnet", "protocol": "sample-10fold"},
    {"model": "ststnet", "protocol": "frame-10fold"},
    {"model": "ststnet", "set": {"engine.select_on": "test"}},
    {"model": "ststnet", "set": {"engine.normalise_on": "all"}},
])
def test_regress_refuses_an_unmarked_leaky_entry(entry, run_cli, tmp_path):
    result = run_cli("regress", "--baseline", str(_baseline(tmp_path, entry)), "--no-store", "--quiet")
    assert result.code == 2
    assert "is leaky" in result.err and "leaky: true" in result.err and "Traceback" not in result.err


def test_regress_accepts_a_marked_leaky_entry_and_keeps_the_mark(tmp_path):
    from merbench.regress import entry_config, load_baseline, updated_document

    baseline = load_baseline(_baseline(tmp_path, {"model": "ststnet", "protocol": "sample-10fold", "leaky": True}))
    entry_config(baseline.entries[0], get_registry())
    document = updated_document(baseline, [(baseline.entries[0],
                                             minimal_result(pooled={"uf1": 0.5, "uar": 0.5, "accuracy": 0.5}), None)])
    assert document["entries"][0]["leaky"] is True


def test_regress_leaky_mark_is_per_entry(run_cli, tmp_path):
    path = tmp_path / "baseline.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "defaults": {"leaky": True}, "entries": [{"model": "ststnet"}]}))
    result = run_cli("regress", "--baseline", str(path), "--no-store", "--quiet")
    assert result.code == 2 and "cannot be a default" in result.err


def test_shipped_baseline_marks_exactly_its_leaky_entries():
    from merbench.regress import entry_config, load_baseline

    baseline = load_baseline(ROOT / "benchmarks" / "baselines" / "synthetic-default.yaml")
    registry = get_registry()
    for entry in baseline.entries:
        entry_config(entry, registry)  # refused when a leaky entry is not marked
        assert entry.leaky == (entry.protocol == "sample-10fold")


# ------------------------------------------------------------------ bootstrap


def _rows(ids, labels, predictions, clips=None):
    return [{"id": i, "fold": 0, "label": int(y), "prediction": int(p), **({"clip": c} if c else {})}
            for i, y, p, c in zip(ids, labels, predictions, clips or [None] * len(ids))]


def _result(ids, labels, predictions, clips=None):
    return minimal_result(predictions=_rows(ids, labels, predictions, clips))


def test_inflation_is_paired_by_clip():
    rng = np.random.default_rng(1)
    ids = [f"c{i}" for i in range(60)]
    labels = list(np.arange(60) % 3)
    honest = list(np.where(rng.random(60) < 0.5, labels, (np.array(labels) + 1) % 3))
    same = bootstrap_inflation([_result(ids, labels, honest)], [[_result(ids, labels, honest)]], 3, resamples=200)[0]
    assert same == {"uf1": 0.0, "low": 0.0, "high": 0.0, "clips": 60, "unit": "clips"}  # no subjects recorded
    perfect = bootstrap_inflation([_result(ids, labels, honest)], [[_result(ids, labels, labels)]], 3, resamples=200)[0]
    assert 0 < perfect["low"] <= perfect["uf1"] <= perfect["high"]
    # three frame samples per clip, all right: the same inflation as one right sample per clip
    frames = _result([f"{c}#{k}" for c in ids for k in range(3)], [y for y in labels for _ in range(3)],
                     [y for y in labels for _ in range(3)], [c for c in ids for _ in range(3)])
    framed = bootstrap_inflation([_result(ids, labels, honest)], [[frames]], 3, resamples=200)[0]
    assert framed.pop("unit") == perfect.pop("unit") and framed == pytest.approx(perfect)


def test_the_interval_draws_subjects_with_all_their_clips_unless_clips_are_asked_for():
    """Clips of one person are alike: here each subject's clips are all right or all wrong, so drawing clips one
    by one counts 60 independent pieces of evidence where there are 6, and gives a narrower interval."""
    rng = np.random.default_rng(3)
    ids = [f"c{i}" for i in range(60)]
    labels = list(np.arange(60) % 3)
    subjects = [f"s{i // 10}" for i in range(60)]
    wrong_subjects = set(rng.choice(6, 3, replace=False).tolist())
    honest = [y if int(s[1:]) not in wrong_subjects else (y + 1) % 3 for y, s in zip(labels, subjects)]

    def result(predictions):
        rows = [{**row, "subject": subject} for row, subject in zip(_rows(ids, labels, predictions), subjects)]
        return minimal_result(predictions=rows, n_samples=60, seed=0, run_id="r", leakage={"leaks": []})

    by_subject = bootstrap_inflation([result(honest)], [[result(labels)]], 3, resamples=500)[0]
    by_clip = bootstrap_inflation([result(honest)], [[result(labels)]], 3, resamples=500, unit="clips")[0]
    assert (by_subject["unit"], by_clip["unit"]) == ("subjects", "clips")
    assert by_subject["uf1"] == by_clip["uf1"] > 0
    assert by_subject["high"] - by_subject["low"] > 1.5 * (by_clip["high"] - by_clip["low"])
    summary = summarise({"model": "m", "dataset": "d", "protocol": "loso", "seeds": [0]}, [result(honest)],
                        [({"name": "v", "what": "w", "expected_leaks": []}, [result(labels)])], resamples=50)
    assert summary["bootstrap"]["unit"] == "subject" and "test subjects" in summary["bootstrap"]["method"]
    assert "unit" not in summary["variants"][1]["inflation"]


def test_summary_names_variants_leaks_and_runs():
    ids = [f"c{i}" for i in range(9)]
    labels = [i % 3 for i in range(9)]

    def run(predictions, leaks):
        return minimal_result(predictions=_rows(ids, labels, predictions), n_samples=9, seed=0, run_id="r",
                              leakage={"leaks": leaks})

    summary = summarise({"model": "m", "dataset": "d", "protocol": "loso", "seeds": [0]}, [run(labels, [])],
                        [({"name": "select_on=test", "what": "w", "expected_leaks": ["selection"]},
                          [run(labels, ["selection"])])], resamples=10)
    assert [v["name"] for v in summary["variants"]] == ["honest", "select_on=test"]
    assert summary["variants"][0]["inflation"] is None and summary["variants"][1]["leaks"] == ["selection"]
    assert summary["kind"] == "merbench-leakage" and summary["bootstrap"]["unit"] == "clip"


def test_a_frame_pair_run_counts_clips_and_samples_apart():
    from merbench.report import sample_count

    pairs = minimal_result(n_samples=72, dataset_summary={"frame_pairs": {"clips": 36, "samples": 72}})
    assert sample_count(pairs) == "36 clips (72 frame-pair samples)"
    assert sample_count(minimal_result()) == "4 clips"


# ------------------------------------------------------------------ a study's plan and rows


def test_a_study_gives_each_run_the_protocol_options_its_protocol_has():
    from merbench.leakage import plan_study

    sets = {"dataset.domains": 2, "protocol.train": "synthetic-1", "protocol.test": "synthetic-2",
            "protocol.n_splits": 3, "protocol.pairs": 2}
    study = plan_study(get_registry(), model="lbptop-svm", dataset="synthetic", protocol="cross-dataset",
                       profile="quick", seed=None, seeds=1, device="cpu", root=None, epochs=None, sets=sets)
    options = {variant.name if variant else "honest": config.section("protocol") for variant, config in study.configs()}
    assert options == {"honest": {"train": "synthetic-1", "test": "synthetic-2"},
                       "sample-10fold": {"n_splits": 3}, "frame-10fold": {"n_splits": 3, "pairs": 2},
                       "select_on=test": {"train": "synthetic-1", "test": "synthetic-2"},
                       "normalise_on=all": {"train": "synthetic-1", "test": "synthetic-2"}}
    # a variant protocol pools the domains the honest cross-dataset run keeps apart: its row says so
    notes = {variant.name: variant.describe(study.honest).get("note") for variant, _ in study.variants}
    assert "trains on synthetic-2 too" in notes["sample-10fold"]
    assert "scored on the synthetic-2 clips only, as the honest run" in notes["frame-10fold"]
    assert notes["select_on=test"] is None and notes["normalise_on=all"] is None
    with pytest.raises(UsageError, match="protocol.tran"):  # an option no protocol of the study has is still named
        plan_study(get_registry(), model="lbptop-svm", dataset="synthetic", protocol="cross-dataset", profile="quick",
                   seed=None, seeds=1, device="cpu", root=None, epochs=None, sets={**sets, "protocol.tran": "x"})


def test_a_variant_row_names_an_expected_leak_that_did_not_occur():
    from merbench.html_report import render_leakage_page
    from merbench.rendered_tables import render_leakage
    from merbench.report import leakage_what

    ids = [f"c{i}" for i in range(9)]
    labels = [i % 3 for i in range(9)]

    def run(leaks, **changes):
        return minimal_result(predictions=_rows(ids, labels, labels), n_samples=9, seed=0, run_id="r",
                              leakage={"leaks": leaks, "clip_overlap_folds": 0}, **changes)

    one_pair = {"frame_pairs": {"clips": 9, "samples": 9, "pairs_per_clip": 1}}
    summary = summarise({"model": "m", "dataset": "d", "protocol": "subject-10fold", "seeds": [0]}, [run([])],
                        [({"name": "frame-10fold", "what": "frames of a clip in train and test",
                           "expected_leaks": ["subjects", "clips"]}, [run(["subjects"], dataset_summary=one_pair)])],
                        resamples=10)
    frame = summary["variants"][1]
    assert frame["leaks"] == ["subjects"]
    assert frame["not_occurred"] == {"clips": "one sample per clip with protocol.pairs=1"}
    assert leakage_what(frame) == ("frames of a clip in train and test; "
                                   "clips: did not occur (one sample per clip with protocol.pairs=1)")
    assert "clips: did not occur (one sample per clip with protocol.pairs=1)" in render_leakage(summary, "s.json")
    assert "clips: did not occur (one sample per clip with protocol.pairs=1)" in render_leakage_page(summary)
    import io

    from rich.console import Console

    from merbench.report import leakage_table
    from merbench.tables import print_table

    study = {**summary, "variants": [*summary["variants"], {**frame, "name": "normalise_on=all"}]}  # a study's widths
    narrow = Console(width=80, force_terminal=True, color_system=None, file=io.StringIO())
    print_table(narrow, leakage_table(study))
    lines = narrow.file.getvalue().splitlines()
    assert max(map(len, lines)) <= 80 and any("protocol.pairs=1)" in line for line in lines), "the setting whole"
    old = {key: value for key, value in frame.items() if key != "not_occurred"}  # a summary written before the reasons
    assert leakage_what(old) == "frames of a clip in train and test; clips: did not occur"
    none_happened = {"name": "select_on=test", "what": "epoch chosen on the test fold", "expected_leaks": ["selection"],
                     "leaks": []}
    assert leakage_what(none_happened) == "epoch chosen on the test fold: not applicable to this model, nothing leaked"


def test_the_select_on_test_warning_does_not_promise_inflation_to_a_model_fitted_once():
    from merbench.runner import run_warnings

    [trained_in_epochs] = run_warnings(_config(**{"engine.select_on": "test"}), fits_once=False)
    assert "so its scores are inflated" in trained_in_epochs
    [fitted_once] = run_warnings(_config(**{"engine.select_on": "test"}), fits_once=True)
    assert "has no effect on this model: it is fitted once" in fitted_once and "inflated" not in fitted_once


def test_a_model_fitted_once_is_told_select_on_test_has_no_effect(run_cli, tmp_path):
    target = tmp_path / "svm.json"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                     "--set", "engine.select_on=test", "--json", str(target))
    assert result.code == 0, result.err
    said = " ".join(result.err.split())
    assert "engine.select_on=test has no effect on this model: it is fitted once" in said
    assert "scores are inflated" not in said and "keeps, for every fold, the epoch" not in said
    assert json.loads(target.read_text())["warnings"] == [SELECTION_WITHOUT_EPOCHS]


def test_a_config_files_protocol_options_go_to_the_variants_that_have_them(tmp_path):
    # protocol.n_splits in --config refused a study whose honest protocol (loso) has no such option
    from merbench.leakage import plan_study
    from merbench.registry import get_registry

    config = tmp_path / "study.yaml"
    config.write_text("protocol:\n  n_splits: 3\n")
    study = plan_study(get_registry(), model="ststnet", dataset="synthetic", protocol="loso", profile="quick",
                       seed=None, seeds=1, device="cpu", root=None, epochs=None, sets={}, config_file=config)
    options = {config.protocol: dict(config.section("protocol")) for _, config in study.configs()}
    assert options["loso"] == {} and options["sample-10fold"]["n_splits"] == 3
    assert options["frame-10fold"]["n_splits"] == 3
