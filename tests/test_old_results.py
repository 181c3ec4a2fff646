"""Results written by an older merbench: read with today's labels and rules, never shown as something they are not.

Each case is what a store kept across an upgrade holds: a ``--seeds N`` run whose std over seeds was the population
std (before 2026-12-04), and a synthetic run stored before ``dataset.preset`` existed.
"""

import json
import sqlite3

import pytest
from rich.console import Console

from result_samples import minimal_result

OLD_SEEDS = [{"seed": 0, "pooled": {"accuracy": 0.25, "uf1": 0.1889, "uar": 0.2},
              "fold_mean": {"accuracy": 0.25, "uf1": 0.1889, "uar": 0.2}},
             {"seed": 1, "pooled": {"accuracy": 0.5, "uf1": 0.4481, "uar": 0.4},
              "fold_mean": {"accuracy": 0.5, "uf1": 0.4481, "uar": 0.4}}]
POPULATION_STD = {"accuracy": 0.125, "uf1": 0.1296, "uar": 0.1}  # what merbench before 2026-12-04 stored


def _old_repeated_run():
    return minimal_result(pooled=dict(OLD_SEEDS[0]["pooled"]), seeds=OLD_SEEDS,
                          across_seeds={"n": 2, "mean": {"accuracy": 0.375, "uf1": 0.3185, "uar": 0.3},
                                        "std": POPULATION_STD})


def test_an_old_repeated_runs_std_over_seeds_is_the_sample_std_its_label_promises():
    from merbench.compare import cell_of
    from merbench.report import seeds_table
    from merbench.tables import print_table

    result = _old_repeated_run()
    assert result.seeds_std()["uf1"] == pytest.approx(0.18328, abs=1e-5)  # stdev(0.1889, 0.4481), n − 1
    console = Console(width=80, record=True, force_terminal=False)
    print_table(console, seeds_table(result))
    std_row = next(line.split() for line in console.export_text().splitlines() if line.split()[:1] == ["std"])
    assert "18.3" in std_row and "13.0" not in std_row, std_row
    assert cell_of(result, "uf1", "pooled").std == pytest.approx(0.18328, abs=1e-5)


def _quick_config_without_preset():
    from merbench.config import resolve_config
    from merbench.registry import get_registry

    config = resolve_config(get_registry(), model="ststnet", dataset="synthetic", protocol="loso", profile="quick",
                            sets={"dataset.subjects": 4}).to_dict()
    del config["options"]["dataset"]["preset"]
    return config


def test_a_synthetic_run_stored_before_dataset_preset_is_not_taken_for_todays_default():
    from merbench.registry import get_registry
    from merbench.run_settings import changed_settings

    old = minimal_result(model="ststnet", dataset="synthetic", protocol="loso", profile="quick",
                         config=_quick_config_without_preset())
    changed = changed_settings(old, get_registry())
    assert "dataset.preset=(not recorded)" in changed and "dataset.subjects=4" in changed, changed
    now = minimal_result(model="ststnet", dataset="synthetic", protocol="loso", profile="quick",
                         config={**old.config, "options": {**old.config["options"], "dataset": {
                             **old.config["options"]["dataset"], "preset": "easy"}}})
    assert changed_settings(now, get_registry()) == ("dataset.subjects=4",)


def test_resuming_a_run_stored_before_an_option_existed_takes_its_profiles_value(run_cli, tmp_path):
    store = tmp_path / "old.sqlite"
    tiny = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=4", "dataset.size=32", "dataset.frames=8",
            "engine.epochs=1"]
    made = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--protocol", "loso", "--profile", "quick",
                   "--quiet", *tiny, "--store", str(store))
    assert made.code == 0, made.err
    with sqlite3.connect(store) as db:  # as a merbench before dataset.preset stored it, stopped after its folds
        config = json.loads(db.execute("SELECT config_json FROM runs").fetchone()[0])
        del config["options"]["dataset"]["preset"]
        db.execute("UPDATE runs SET status = 'interrupted', result_json = NULL, config_json = ?", (json.dumps(config),))
    db.close()
    run_id = made.err.split("Stored as run ")[1].split()[0]
    resumed = run_cli("run", "--resume", run_id, "--store", str(store), "--quiet")
    said = " ".join(resumed.err.split())
    assert resumed.code == 0, resumed.err  # the quick profile's preset (easy) makes the data the run started with
    assert f"run {run_id} was stored by a merbench without the option dataset.preset; resumed with the quick " \
           "profile's value (dataset.preset=easy)" in said, said
    assert "4 completed folds reused" in said


def test_an_old_repeated_run_without_fold_stds_says_why_its_cell_has_no_spread():
    from merbench.compare import build_comparison

    old = minimal_result(run_id="20261130-000000-aaaaaa", pooled=dict(OLD_SEEDS[0]["pooled"]), seeds=OLD_SEEDS,
                         across_seeds={"n": 2, "mean": {"accuracy": 0.375, "uf1": 0.3185, "uar": 0.3},
                                       "std": POPULATION_STD})
    notes = " ".join(build_comparison([old], "uf1", "fold").notes())
    assert "No std over folds for m on d · loso (run 20261130-000000-aaaaaa): the merbench that made it did not " \
           "record each seed's fold std" in notes, notes
    assert "No std over folds" not in " ".join(build_comparison([old], "uf1", "pooled").notes())
    assert "No std over folds" not in " ".join(build_comparison([minimal_result()], "uf1", "fold").notes())


def test_a_software_change_names_a_value_not_recorded_as_unknown():
    from merbench.environment import changed_software

    changed = changed_software({"merbench": "0.1.0", "git_commit": None}, {"merbench": "0.1.0", "git_commit": "abc"})
    assert changed == ["git_commit unknown → abc"]
