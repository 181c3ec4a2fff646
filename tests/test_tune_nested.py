"""THE nested-selection test: outer test samples never reach a tuning objective.

Two independent witnesses, each run honestly and then with the nesting broken
on purpose (to show the witness notices a leak):

* ``tune-recorder`` records every batch it trains or predicts on; each batch
  row is matched back to its sample (by its shape within each channel, which
  the per-fold standardisation does not change). No objective of outer fold k
  may see a sample of k's test part; the refit must (it is scored there).
* ``tune-memo`` returns the label of any input it was trained on and a hash
  guess otherwise: its inner score would be perfect if a trial were scored on
  samples it had seen, and it is at chance on the outer folds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna")

import tune_models  # noqa: E402
from merbench import tuning  # noqa: E402

TINY = ["--set", "dataset.subjects=8", "dataset.clips_per_subject=4", "protocol.n_splits=4", "engine.epochs=1",
        "engine.parallel_folds=1"]


def run_tune(run_cli, tmp_path: Path, model: str, space: str, trials: int = 2) -> dict:
    path = tmp_path / f"{model}.yaml"
    path.write_text(space)
    target = tmp_path / f"{model}.json"
    result = run_cli("tune", "--model", model, "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--trials", str(trials), "--space", str(path), "--storage", str(tmp_path / f"{model}.sqlite"),
                     "--json", str(target), *TINY)
    assert result.code == 0, result.err
    return json.loads(target.read_text())


@pytest.fixture
def phases(monkeypatch):
    """Test models registered; every objective call and refit tags the records made inside it."""
    tune_models.register(monkeypatch)
    made, refit = tuning.make_objective, tuning.refit_fold

    def tagged_objective(ctx, optuna, outer, positions, inner):
        objective = made(ctx, optuna, outer, positions, inner)

        def run(trial):
            tune_models.PHASE[0] = ("objective", outer.index)
            try:
                return objective(trial)
            finally:
                tune_models.PHASE[0] = None

        return run

    def tagged_refit(ctx, outer, params):
        tune_models.PHASE[0] = ("refit", outer.index)
        try:
            return refit(ctx, outer, params)
        finally:
            tune_models.PHASE[0] = None

    monkeypatch.setattr(tuning, "make_objective", tagged_objective)
    monkeypatch.setattr(tuning, "refit_fold", tagged_refit)


def leak_outer_test_samples(monkeypatch) -> None:
    """Break the nesting the way test-fold tuning does: every inner fold is scored on the outer test part."""

    def leaky(labels, subjects, outer, n_inner, seed):
        positions = np.concatenate([outer.train, outer.test])
        local_test = np.arange(len(outer.train), len(positions))
        inner = [tuning.Fold(j, np.arange(len(positions)), local_test) for j in range(n_inner)]
        return positions, inner

    monkeypatch.setattr(tuning, "nested_split", leaky)
    monkeypatch.setattr(tuning, "check_nested", lambda *args: None)  # the runtime guard has its own test


def _signature(batch: np.ndarray) -> np.ndarray:
    """Each sample standardised within each of its channels: unchanged by a per-channel affine normalisation."""
    flat = batch.reshape(batch.shape[0], batch.shape[1], -1).astype(np.float64)
    centred = flat - flat.mean(axis=2, keepdims=True)
    return (centred / np.maximum(centred.std(axis=2, keepdims=True), 1e-12)).reshape(batch.shape[0], -1)


def sample_ids_seen(summary: dict) -> dict[tuple, set[str]]:
    """(phase, mode) -> ids of the samples the recorder saw there, each batch row matched to exactly one sample."""
    from merbench.cache import cache_root
    from merbench.config import resolve_config
    from merbench.preprocess import build_chain, preprocess_dataset
    from merbench.registry import get_registry
    from merbench.runner import load_dataset

    registry = get_registry()
    sets = dict(item.split("=", 1) for item in TINY[1:])
    config = resolve_config(registry, model="tune-recorder", dataset="synthetic", profile="quick", sets=sets)
    dataset = load_dataset(config, registry, cache_root())
    chain = build_chain([registry.get("preprocessors", name) for name in config.preprocess], config.sections)
    reference = _signature(preprocess_dataset(dataset, chain, cache_dir=cache_root()).inputs)
    ids = [sample.id for sample in dataset.samples]
    assert [row["id"] for row in sorted(summary["predictions"], key=lambda r: ids.index(r["id"]))] == ids
    seen: dict[tuple, set[str]] = {}
    for phase, mode, batch in tune_models.RECORDS:
        assert phase is not None, "the model ran outside any objective or refit"
        distance = ((_signature(batch)[:, None, :] - reference[None, :, :]) ** 2).mean(axis=2)
        order = np.sort(distance, axis=1)
        assert (order[:, 0] < 1e-6).all() and (order[:, 1] > 1e-2).all(), "a batch row matches no single sample"
        seen.setdefault((phase, mode), set()).update(ids[i] for i in distance.argmin(axis=1))
    return seen


def outer_ids(summary: dict) -> dict[int, set[str]]:
    """Outer fold -> ids of its test samples."""
    folds: dict[int, set[str]] = {}
    for row in summary["predictions"]:
        folds.setdefault(row["fold"], set()).add(row["id"])
    return folds


RECORDER_SPACE = "model.width: {type: int, low: 1, high: 4}\nengine.lr: {type: float, low: 0.001, high: 0.01}\n"
MEMO_SPACE = ("model.salt: {type: int, low: 0, high: 1000}\n"
              "model.tolerance: {type: float, low: 0.000000001, high: 0.000001, log: true}\n")


def test_no_objective_ever_sees_an_outer_test_sample(run_cli, tmp_path, phases):
    summary = run_tune(run_cli, tmp_path, "tune-recorder", RECORDER_SPACE)
    seen = sample_ids_seen(summary)
    tests = outer_ids(summary)
    everyone = set().union(*tests.values())
    assert len(tests) == 4
    for k, test in tests.items():
        train = everyone - test
        trained, predicted = seen[(("objective", k), "train")], seen[(("objective", k), "predict")]
        assert trained and predicted
        assert not (trained | predicted) & test, f"outer fold {k}: an objective saw outer test samples"
        assert trained | predicted == train  # every inner fold together covers the outer training part
        # The witness can see test samples: the refit is scored on them, once.
        assert seen[(("refit", k), "predict")] == test
        assert seen[(("refit", k), "train")] == train


def test_the_recorder_notices_when_the_nesting_is_broken(run_cli, tmp_path, phases, monkeypatch):
    leak_outer_test_samples(monkeypatch)
    summary = run_tune(run_cli, tmp_path, "tune-recorder", RECORDER_SPACE)
    seen = sample_ids_seen(summary)
    for k, test in outer_ids(summary).items():
        assert seen[(("objective", k), "predict")] & test


def test_a_memorising_model_is_at_chance_inside_and_outside(run_cli, tmp_path, phases):
    summary = run_tune(run_cli, tmp_path, "tune-memo", MEMO_SPACE, trials=3)
    values = [t["value"] for fold in summary["folds"] for t in fold["trials"]]
    assert len(values) == 12
    # Each inner test sample is unseen: a guess. Seen samples would score 1.0 (next test).
    assert max(values) < 0.75
    assert summary["pooled"]["uf1"] < 0.6
    assert all(fold["inner_uf1"] < 1.0 for fold in summary["folds"])


def test_a_memorising_model_scores_perfectly_inside_when_test_samples_leak(run_cli, tmp_path, phases, monkeypatch):
    leak_outer_test_samples(monkeypatch)
    summary = run_tune(run_cli, tmp_path, "tune-memo", MEMO_SPACE, trials=3)
    assert all(t["value"] == 1.0 for fold in summary["folds"] for t in fold["trials"])
    # The refit is still honest (trained without the test part), so the outer score stays at chance: the
    # gap between the two is what a leaking selection would report as skill.
    assert summary["pooled"]["uf1"] < 0.6


def test_pruning_stops_trials_below_the_median(run_cli, tmp_path, monkeypatch):
    tune_models.register(monkeypatch)
    monkeypatch.setattr(tuning, "PRUNER_STARTUP_TRIALS", 1)
    summary = run_tune(run_cli, tmp_path, "tune-knob", "model.noise: {type: float, low: 0.0, high: 1.0}", trials=6)
    trials = [t for fold in summary["folds"] for t in fold["trials"]]
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, "no trial was pruned"
    assert all(len(t["inner_uf1"]) < 3 for t in pruned)
    assert summary["compute"]["inner_fits"] < 4 * 6 * 3
    # The noisiest trials are the ones pruned, never the selected ones.
    for fold in summary["folds"]:
        chosen = fold["selected"]["model.noise"]
        assert all(t["params"]["model.noise"] != chosen for t in fold["trials"] if t["state"] == "pruned")


def test_a_whole_number_of_few_values_is_counted_like_a_choice_in_the_stability():
    """lbptop.blocks 2..4 chosen 4 by 8 of 10 folds showed agreement 0.00 (its range was the whole search) under a
    caption saying the data do not pin it down."""
    from pathlib import Path

    from merbench.tuning_report import stability_table
    from merbench.tuning_space import Param, SearchSpace
    from merbench.tuning_summary import choice_stability

    space = SearchSpace(Path("space.yaml"), (Param("lbptop.blocks", "int", 2, 4), Param("model.width", "int", 8, 256),
                                             Param("model.depth", "int", 2, 64, step=2)))
    chosen = [2, 4, 4, 2, 4, 4, 4, 4, 4, 4]
    folds = [{"selected": {"lbptop.blocks": b, "model.width": 8 + 10 * i, "model.depth": 2 + 2 * i}}
             for i, b in enumerate(chosen)]
    blocks, width, depth = choice_stability(space, folds)
    assert blocks["agreement"] == 0.8 and blocks["counts"] == {"4": 8, "2": 2}
    assert "counts" not in width and width["spread"] == (98 - 8) / (256 - 8)
    assert "counts" not in depth, "32 searched values: a number, not a choice"
    assert "agreement" not in width
    table = stability_table({"folds": folds, "stability": [blocks, width, depth]})
    assert [row[0][:3] for row in table.rows][0] == ["lbptop.blocks", "0.80", "4 ×8, 2 ×2"]


def test_trials_reused_from_another_plugin_version_are_named(run_cli, tmp_path, monkeypatch):
    """`grid --stored` refused a run of another plugin version; a tune reused its stored trials and refits silently."""
    import merbench.tuning as tuning

    space = tmp_path / "space.yaml"
    space.write_text("model.C: {type: float, low: 0.1, high: 10, log: true}\n")
    command = ["tune", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--trials", "1",
               "--space", str(space), "--storage", str(tmp_path / "trials.sqlite"), "--set", "protocol.n_splits=2"]
    real = tuning.plugin_versions
    for version in ("0.1", "0.2"):
        monkeypatch.setattr(tuning, "plugin_versions",
                            lambda config, registry, v=version: {**real(config, registry), "model:lbptop-svm": f"myplug {v}"})
        result = run_cli(*command)
        assert result.code == 0, result.err
    said = " ".join((result.out + result.err).split())
    assert "plugin model:lbptop-svm myplug 0.1 → myplug 0.2" in said, said
