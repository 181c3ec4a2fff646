"""``run --config result.json`` reads what the recorded run read: 4DME's ``dataset.frames=auto`` the copy it read
(not a ``gray_micro_crop/`` added since), megc2019's part folders given relative to the working folder from any
other folder; and a flag beside a ``--config`` value is refused naming the ``--set`` that overrides it."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

import realtrees as rt
from merbench.config import resolve_config, resolve_section
from merbench.dataset_check import load_plugin_dataset
from merbench.registry import get_registry
from result_samples import minimal_dict

PARTS = ("smic", "casme2", "samm")


def one_line(text: str) -> str:
    return " ".join(text.split())


def write_result(path, dataset, options, summary, root=None, **config):
    """A run's result at ``path`` of ``dataset`` given ``options`` whose dataset summary is ``summary``."""
    recorded = {"model": "ststnet", "dataset": dataset, "protocol": "loso", "profile": "quick", "seed": 0,
                "root": str(root) if root else None, "preprocess": ["flow"], "options": {"dataset": dict(options)},
                **config}
    path.write_text(json.dumps(minimal_dict(model="ststnet", dataset=dataset, config=recorded,
                                            dataset_summary=summary)))
    return path


def add_crop(release):
    """A ``gray_micro_crop/`` copy of every clip of ``release``, other frames than ``gray_micro/``'s (turned)."""
    raw, crop = release / "gray_micro", release / "gray_micro_crop"
    for frame in raw.rglob("*.jpg"):
        target = crop / frame.relative_to(raw)
        target.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(target), np.ascontiguousarray(np.rot90(cv2.imread(str(frame)))))


# ------------------------------------------------------------------ 4DME: dataset.frames=auto


def test_4dme_records_the_copy_that_frames_auto_read(tmp_path):
    release = rt.build_4dme(tmp_path / "d4") / "4DME"
    options = resolve_section(get_registry().get("datasets", "4dme"), "dataset")
    raw = load_plugin_dataset(get_registry(), "4dme", release, options, tmp_path / "cache").summary
    add_crop(release)
    cropped = load_plugin_dataset(get_registry(), "4dme", release, options, tmp_path / "cache").summary
    assert (raw["frames"], cropped["frames"]) == ("raw", "cropped")
    assert cropped["frames_folder"] == str(release / "gray_micro_crop")


def test_a_4dme_rerun_reads_the_raw_frames_again_after_a_crop_is_added(tmp_path):
    registry = get_registry()
    release = rt.build_4dme(tmp_path / "d4") / "4DME"
    options = resolve_section(registry.get("datasets", "4dme"), "dataset")
    summary = load_plugin_dataset(registry, "4dme", release, options, tmp_path / "cache").summary
    result = write_result(tmp_path / "f1.json", "4dme", options, summary, release)
    add_crop(release)
    config = resolve_config(registry, model=None, dataset=None, root=release, config_file=result)
    assert config.section("dataset")["frames"] == "raw"
    assert config.pinned.get("dataset.frames") == "auto"
    again = load_plugin_dataset(registry, "4dme", release, config.section("dataset"), tmp_path / "cache").summary
    assert again["frames_folder"] == str(release / "gray_micro")


def test_the_4dme_rerun_through_the_cli_reads_what_the_first_run_read(run_cli, tmp_path, fresh_cache):
    release = rt.build_4dme(tmp_path / "d4") / "4DME"
    first, second = tmp_path / "f1.json", tmp_path / "f2.json"
    common = ("--no-store", "--quiet", "--root", str(release))
    made = run_cli("run", "--model", "ststnet", "--dataset", "4dme", "--protocol", "loso", "--profile", "quick",
                   "--set", "dataset.classes=3", "--json", str(first), *common)
    assert made.code == 0, made.err
    add_crop(release)
    again = run_cli("run", "--config", str(first), "--json", str(second), *common)
    assert again.code == 0, again.err
    recorded, rerun = (json.loads(path.read_text()) for path in (first, second))
    assert rerun["dataset_summary"]["frames_folder"] == recorded["dataset_summary"]["frames_folder"]
    assert rerun["config"]["pinned"]["dataset.frames"] == "auto"
    assert "inputs differ" not in one_line(again.err)


# ------------------------------------------------------------------ megc2019: part folders relative to the working folder


@pytest.fixture
def megc_run(tmp_path, monkeypatch):
    """A megc2019 result written in ``work/`` for parts given as ``megc/SMIC``..., and ``other/``, another working
    folder (the current one), which has no ``megc/``."""
    registry = get_registry()
    work, other = tmp_path / "work", tmp_path / "other"
    rt.build_megc(work / "megc")
    other.mkdir()
    monkeypatch.chdir(work)
    given = {part: f"megc/{part.upper()}" for part in PARTS}
    options = resolve_section(registry.get("datasets", "megc2019"), "dataset",
                              overrides={f"dataset.{part}": value for part, value in given.items()})
    summary = load_plugin_dataset(registry, "megc2019", None, options, tmp_path / "cache").summary
    monkeypatch.chdir(other)
    return write_result(tmp_path / "m1.json", "megc2019", options, summary), work / "megc", summary


def test_megc2019_records_each_part_folder_as_an_absolute_path(megc_run):
    _, megc, summary = megc_run
    assert {part: summary["parts"][part]["root"] for part in PARTS} == {
        part: str(megc / part.upper()) for part in PARTS}


def test_a_megc2019_rerun_from_another_folder_reads_the_recorded_part_folders(megc_run, tmp_path):
    result, megc, _ = megc_run
    registry = get_registry()
    config = resolve_config(registry, model=None, dataset=None, config_file=result)
    assert {part: config.section("dataset")[part] for part in PARTS} == {part: str(megc / part.upper())
                                                                          for part in PARTS}
    assert {part: config.pinned[f"dataset.{part}"] for part in PARTS} == {part: f"megc/{part.upper()}"
                                                                          for part in PARTS}
    again = load_plugin_dataset(registry, "megc2019", None, config.section("dataset"), tmp_path / "cache")
    assert again.summary["parts"]["smic"]["root"] == str(megc / "SMIC")


def test_a_megc2019_part_given_with_set_wins_over_the_recorded_one(megc_run, tmp_path):
    result, megc, _ = megc_run
    config = resolve_config(get_registry(), model=None, dataset=None, config_file=result,
                            sets={"dataset.smic": "mine/SMIC"})
    assert config.section("dataset")["smic"] == "mine/SMIC" and "dataset.smic" not in config.pinned
    assert config.section("dataset")["samm"] == str(megc / "SAMM")


def test_a_megc2019_run_with_root_keeps_its_relative_parts_under_the_given_root(tmp_path):
    megc = rt.build_megc(tmp_path / "megc")
    options = {"smic": "SMIC", "casme2": "CASME2", "samm": "SAMM"}
    summary = {"parts": {part: {"root": str(megc / folder)} for part, folder in options.items()}}
    result = write_result(tmp_path / "m1.json", "megc2019", options, summary, root=megc)
    moved = tmp_path / "moved"
    config = resolve_config(get_registry(), model=None, dataset=None, root=moved, config_file=result)
    assert {part: config.section("dataset")[part] for part in PARTS} == options


def test_a_megc2019_rerun_whose_part_folder_is_gone_is_refused_naming_it(megc_run, run_cli):
    result, megc, _ = megc_run
    shutil.rmtree(megc / "SAMM")
    outcome = run_cli("run", "--no-store", "--config", str(result))
    assert outcome.code == 2 and "Traceback" not in outcome.err
    assert (f"--config {result}: the recorded run read dataset.samm=megc/SAMM from {megc / 'SAMM'}, which is no "
            "longer there; put it back, or give the folder to read with --set dataset.samm=DIR") in one_line(outcome.err)


# ------------------------------------------------------------------ a flag beside a --config value


@pytest.fixture
def recorded(tmp_path):
    """A synthetic run's result: seed 0, profile quick, protocol loso, engine.epochs=3."""
    config = {"model": "ststnet", "dataset": "synthetic", "protocol": "loso", "profile": "quick", "seed": 0,
              "options": {"model": {}, "engine": {"epochs": 3}}}
    path = tmp_path / "a.json"
    path.write_text(json.dumps(minimal_dict(model="ststnet", dataset="synthetic", config=config)))
    return path


@pytest.mark.parametrize("flag, key, value, wanted, noun", [
    (["--seed", "5"], "seed", "0", "5", "seed"),
    (["--epochs", "9"], "engine.epochs", "3", "9", "number of epochs"),
    (["--profile", "default"], "profile", "quick", "default", "profile"),
    (["--protocol", "subject-10fold"], "protocol", "loso", "subject-10fold", "protocol"),
])
def test_a_flag_beside_a_recorded_value_is_refused_naming_the_set_that_overrides_it(run_cli, recorded, flag, key,
                                                                                     value, wanted, noun):
    outcome = run_cli("run", "--no-store", "--config", str(recorded), *flag)
    assert outcome.code == 2 and "Traceback" not in outcome.err
    assert one_line(outcome.err) == (
        f"merbench: error: {' '.join(flag)} and {key}={value} in --config {recorded} disagree; to run the recorded "
        f"configuration with another {noun}, use --set {key}={wanted} (or drop {key} from the --config file)")


def test_the_set_the_refusal_names_runs_the_recorded_configuration_with_that_value(recorded):
    config = resolve_config(get_registry(), model=None, dataset=None, config_file=recorded,
                            sets={"seed": 5, "engine.epochs": 9})
    assert (config.seed, config.section("engine")["epochs"], config.profile) == (5, 9, "quick")


def test_a_yaml_config_is_named_as_such_and_a_set_beside_a_flag_is_still_given_twice(run_cli, tmp_path, recorded):
    options = tmp_path / "c.yaml"
    options.write_text("model: ststnet\ndataset: synthetic\nseed: 2\n")
    outcome = run_cli("run", "--no-store", "--config", str(options), "--seed", "4")
    assert outcome.code == 2
    assert (f"--seed 4 and seed=2 in --config {options} disagree; to run its configuration with another seed, use "
            "--set seed=4") in one_line(outcome.err)
    twice = run_cli("run", "--no-store", "--config", str(recorded), "--seed", "4", "--set", "seed=3")
    assert twice.code == 2
    assert "--seed 4 and seed=3 (in --set/--config) disagree; give the seed once" in one_line(twice.err)
