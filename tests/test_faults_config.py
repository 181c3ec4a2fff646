"""Bad settings and usage errors are refused before a run exists (issues 15 and 17).

Each case asserts exit code 2, no traceback, a message that names the option
and the fix, and that the results store holds no run afterwards. The checks run
before preprocessing and before any worker process starts.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from pathlib import Path

import pytest

import realtrees as rt
from merbench.config import Range, coerce, resolve_config
from merbench.errors import PluginError, UsageError
from merbench.registry import get_registry
from merbench.store import ResultStore

TINY = ("dataset.subjects=4", "dataset.clips_per_subject=3", "dataset.size=16", "dataset.frames=6")


def stored_runs(store: Path) -> int:
    """How many runs the store at ``store`` holds (0 when it does not exist)."""
    if not store.exists():
        return 0
    with sqlite3.connect(store) as connection:
        return connection.execute("SELECT count(*) FROM runs").fetchone()[0]


@pytest.fixture
def store(tmp_path) -> Path:
    """An existing, empty results store: a usage error must add no row to it."""
    path = tmp_path / "results.sqlite"
    ResultStore(path).close()
    return path


@pytest.fixture
def refused(run_cli, store):
    """Run ``merbench run`` (tiny synthetic data) expecting a usage error; returns the one-line message."""

    def invoke(*args: str, model: str = "ststnet", dataset: str = "synthetic") -> str:
        result = run_cli("run", "--model", model, "--dataset", dataset, "--profile", "quick", "--quiet",
                         "--store", str(store), *args)
        assert result.code == 2, result.err
        assert "Traceback" not in result.err + result.out
        assert stored_runs(store) == 0
        return " ".join(result.err.split())

    return invoke


@pytest.mark.parametrize("setting, expected", [
    ("engine.lr=-1", "engine.lr=-1: must be a finite number ≥ 0 (default 0.005)"),
    ("engine.lr=.nan", "engine.lr=.nan: must be a finite number ≥ 0"),
    ("engine.lr=inf", "engine.lr=inf: must be a finite number ≥ 0"),
    ("engine.lr=fast", "engine.lr=fast: must be a finite number ≥ 0"),
    ("engine.weight_decay=-1", "engine.weight_decay=-1: must be a finite number in [0, 10] (default 0.05)"),
    ("engine.label_smoothing=5", "engine.label_smoothing=5: must be a finite number in [0, 1) (default 0.0)"),
    ("engine.validation_fraction=1", "engine.validation_fraction=1: must be a finite number in (0, 1)"),
    ("engine.epochs=0", "engine.epochs=0: must be an integer in [1, 100000] (default 3)"),
    ("engine.batch_size=0", "engine.batch_size=0: must be an integer in [1, 100000]"),
    ("engine.threads=-1", "engine.threads=-1: must be an integer in [0, 4096] (default 0)"),
    ("engine.amp=onn", "engine.amp=onn: choose one of auto, on, off; did you mean on?"),
    ("seed=-1", "seed=-1: must be an integer in [0, 4294967295] (default 0)"),
    ("seed=x", "seed=x: must be an integer in [0, 4294967295]"),
    ("seed=4294967296", "seed=4294967296: must be an integer in [0, 4294967295] (default 0)"),
    ("model.dropout=1", "model.dropout=1: must be a finite number in [0, 1) (default 0.2)"),
    ("model.filters=3,0,8", "model.filters=3,0,8: every value must be an integer in [1, 1024] (default 3,5,8)"),
    ("protocol.n_splits=1", "protocol.n_splits=1: must be an integer ≥ 2 (default 10)"),
    ("dataset.subjects=1", "dataset.subjects=1: must be an integer in [2, 1000]"),
    ("executor.num_cpus=0", "executor.num_cpus=0: must be an integer in [1, 4096]"),
    ("flow.size=2", "flow.size=2: must be an integer in [4, 1024] (default 28)"),
    ("flow.channels=u,x", "flow.channels=x: choose one of u, v, strain, magnitude, apex"),
])
def test_a_bad_value_is_refused_with_its_range_and_default(refused, setting, expected):
    assert expected in refused("--set", *TINY, setting)


@pytest.mark.parametrize("settings, expected", [
    (("engine.validation_fraction=0.9",), "fold 1: engine.validation_fraction=0.9 holds out 2 of its 2 training "
                                          "subjects for validation, leaving none to train on; lower it to at most 0.5"),
    (("dataset.subjects=2",), "fold 1: early stopping needs at least 2 training subjects"),
])
def test_a_validation_part_early_stopping_cannot_have_is_refused_before_the_run(refused, settings, expected):
    """The fold's training would refuse it; preflight does, so no `failed` row is recorded and nothing is computed."""
    assert expected in refused("--set", *TINY, "protocol.n_splits=2", "engine.early_stopping=2", *settings)


@pytest.mark.parametrize("args, expected", [
    (["--seed", "4294967296"], "--seed 4294967296: must be an integer in [0, 4294967295] (default 0)"),
    (["--seed", "3", "--set", "seed=5"], "--seed 3 and seed=5 (in --set/--config) disagree; give the seed once"),
    (["--seed", "4294967295", "--seeds", "2"], "--seeds 2 from seed 4294967295 reaches seed 4294967296"),
])
def test_a_seed_numpy_cannot_take_or_given_twice_differently_is_refused(refused, args, expected):
    assert expected in refused(*args, model="lbptop-svm")


def test_a_large_seed_reaches_scikit_learn_within_its_range(run_cli, tmp_path):
    """The fold seeds (run seed * 1000 + fold) pass 2**32 for a run seed above 4294967; an SVM still trains."""
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--seed", "5000000", "--no-store", "--set", *TINY, "protocol.n_splits=2")
    assert result.code == 0, result.err


def test_inf_is_not_called_not_a_number(refused):
    message = refused("--set", "engine.lr=inf")
    assert "finite number" in message and "expected a number" not in message


@pytest.mark.parametrize("key, expected", [
    ("engine.epochs", "must be an integer in [1, 100000]"),
    ("engine.lr", "must be a finite number ≥ 0"),
    ("model.filters", "every value must be an integer in [1, 1024]"),
    ("model.dropout", "must be a finite number in [0, 1)"),
])
def test_a_whole_number_of_hundreds_of_digits_is_refused_by_the_options_range(refused, key, expected):
    # beyond any float: an OverflowError traceback before
    message = refused("--set", f"{key}={'9' * 400}")
    assert f"{key}=99999" in message and expected in message, message


@pytest.mark.parametrize("args, expected", [
    (("--seed", "-1"), "--seed -1: must be an integer in [0, 4294967295]"),
    (("--epochs", "0"), "--epochs 0: must be an integer in [1, 100000]"),
    (("--seeds", "0"), "--seeds 0: must be at least 1"),
])
def test_bad_flags_are_refused(refused, args, expected):
    assert expected in refused(*args)


def test_zero_learning_rate_and_e_notation_are_accepted():
    registry = get_registry()
    assert resolve_config(registry, model="ststnet", dataset="synthetic", sets={"engine.lr": "0"}).section("engine")["lr"] == 0.0
    config = resolve_config(registry, model="ststnet", dataset="synthetic", sets={"engine.lr": "1e-3"})
    assert config.section("engine")["lr"] == 0.001


def test_list_values_are_converted_element_by_element():
    registry = get_registry()
    config = resolve_config(registry, model="ststnet", dataset="synthetic", sets={"model.filters": "4,6,9"})
    assert config.section("model")["filters"] == [4, 6, 9]
    with pytest.raises(UsageError, match=r"model.filters=4,x,9: every value must be an integer in \[1, 1024\]"):
        resolve_config(registry, model="ststnet", dataset="synthetic", sets={"model.filters": "4,x,9"})


@pytest.mark.parametrize("text, expected", [("010", 10), ("+3", 3), ("1e-3", 0.001), (".5", 0.5), ("yes", True),
                                            ("Off", False), ("null", None), ("[1, 2]", [1, 2]), ("0x10", "0x10"),
                                            ("1:30", "1:30"), ("1_0", "1_0"), ("2020-01-01", "2020-01-01")])
def test_set_values_are_read_as_decimal_numbers_words_or_text(text, expected):
    """``--set`` text is not YAML 1.1: no octal, hexadecimal, base-60, underscores or dates behind the user's back."""
    from merbench.config import parse_set_value

    assert parse_set_value(text) == expected and type(parse_set_value(text)) is type(expected)


@pytest.mark.parametrize("setting, message", [
    ("engine.epochs=010", None), ("engine.epochs=0x10", "engine.epochs=0x10: must be an integer"),
    ("engine.lr=1:30", "engine.lr=1:30: must be a finite number"),
])
def test_numbers_are_decimal_or_refused(setting, message):
    key, _, text = setting.partition("=")
    if message is None:
        config = resolve_config(get_registry(), model="ststnet", dataset="synthetic", sets={key: text})
        assert config.section("engine")["epochs"] == 10
    else:
        with pytest.raises(UsageError, match=message):
            resolve_config(get_registry(), model="ststnet", dataset="synthetic", sets={key: text})


def test_a_text_option_keeps_a_date_as_text_and_refuses_a_list():
    registry = get_registry()
    config = resolve_config(registry, model="ststnet", dataset="synthetic", sets={"executor.address": "2020-01-01"})
    assert config.section("executor")["address"] == "2020-01-01"
    json.dumps(config.to_dict())  # a result can hold it
    with pytest.raises(UsageError, match=r"executor.address=\[1,2\]: expected one value \(text\), not a list"):
        resolve_config(registry, model="ststnet", dataset="synthetic", sets={"executor.address": "[1,2]"})


def test_one_number_is_a_list_of_one_and_booleans_take_1_and_0():
    registry = get_registry()
    config = resolve_config(registry, model="offapexnet", dataset="synthetic",
                            sets={"model.filters": "8", "engine.compile": "1"})
    assert config.section("model")["filters"] == [8] and config.section("engine")["compile"] is True
    with pytest.raises(UsageError, match=r"expected true or false \(or yes/no, on/off, 1/0\) \(default false\)"):
        resolve_config(registry, model="offapexnet", dataset="synthetic", sets={"engine.compile": "2"})


@pytest.mark.parametrize("device", ["cuda:x", "cuda:", "cuda:-1", "gpu"])
def test_a_malformed_device_is_refused_before_anything_runs(device):
    with pytest.raises(UsageError, match=rf"--device {device}: choose auto, cpu, cuda or cuda:N"):
        resolve_config(get_registry(), model="ststnet", dataset="synthetic", device=device)


def test_a_config_files_bad_value_names_the_file_and_an_empty_section_is_nothing(tmp_path):
    registry = get_registry()
    bad = tmp_path / "bad.yaml"
    bad.write_text("engine:\n  epochs: [1, 2]\n")
    with pytest.raises(UsageError, match=rf"^--config {bad}: engine.epochs=\[1, 2\]: expected one value, not a list"):
        resolve_config(registry, model="ststnet", dataset="synthetic", config_file=bad)
    overridden = resolve_config(registry, model="ststnet", dataset="synthetic", config_file=bad,
                                sets={"engine.epochs": "3"})  # --set wins over the file: its value is not checked
    assert overridden.section("engine")["epochs"] == 3
    empty = tmp_path / "empty.yaml"
    empty.write_text("engine:\n  # epochs: 3\n")
    assert resolve_config(registry, model="ststnet", dataset="synthetic", config_file=empty).section("engine")["epochs"] == 20


def test_a_choice_is_matched_without_case_and_stored_as_declared():
    config = resolve_config(get_registry(), model="convmixer", dataset="synthetic", sets={"model.attention": "NONE"})
    assert config.section("model")["attention"] == "none"


def test_unknown_key_suggests_the_closest_and_lists_its_section_only(refused):
    message = refused("--set", "model.dpth=4", model="convmixer")
    assert "unknown setting 'model.dpth' (did you mean model.depth?)" in message
    assert "model.attention_every" in message and "engine.lr" not in message and "flow.size" not in message


def test_unknown_section_suggests_a_key_and_names_the_sections(refused):
    message = refused("--set", "modle.depth=4", model="convmixer")
    assert "did you mean model.depth?" in message and "SECTION one of dataset, model, protocol, engine" in message


def test_a_preprocessor_outside_the_chain_says_how_to_add_it(refused):
    message = refused("--set", "crop.margin=0.1")
    assert "'crop' is not in the preprocessing chain (flow)" in message


def test_a_choice_value_gets_a_suggestion(refused):
    assert "engine.parallel_mode=vmapp: choose one of auto, processes, vmap; did you mean vmap?" in refused(
        "--set", "engine.parallel_mode=vmapp")


def test_config_that_is_a_folder_is_refused(refused, tmp_path):
    message = refused("--config", str(tmp_path))
    assert f"--config {tmp_path}: is a folder" in message and "YAML file" in message


def test_config_that_is_binary_is_refused(refused, tmp_path):
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    message = refused("--config", str(binary))
    assert f"--config {binary}: not a text file" in message and "YAML" in message


def test_config_values_are_checked_like_set(refused, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("engine:\n  label_smoothing: 1.5\nseed: -3\n", encoding="utf-8")
    assert "seed=-3: must be an integer in [0, 4294967295]" in refused("--config", str(config))
    config.write_text("engine:\n  label_smoothing: 1.5\n", encoding="utf-8")
    assert "engine.label_smoothing=1.5: must be a finite number in [0, 1)" in refused("--config", str(config))


def test_too_many_splits_are_refused_before_preprocessing(refused, monkeypatch):
    import merbench.runner

    def no_preprocessing(*args, **kwargs):
        raise AssertionError("preprocessing started")

    monkeypatch.setattr(merbench.runner, "preprocess_dataset", no_preprocessing)
    message = refused("--set", *TINY, "protocol.n_splits=20")
    assert "needs at least 20 subjects, the dataset has 4" in message and "--set protocol.n_splits=4" in message


def test_a_domain_the_dataset_lacks_is_refused_before_preprocessing(refused, monkeypatch):
    import merbench.runner

    monkeypatch.setattr(merbench.runner, "preprocess_dataset", None)  # calling it would raise TypeError
    message = refused("--protocol", "cross-dataset", "--set", *TINY, "dataset.domains=2", "protocol.train=synthetic-1",
                      "protocol.test=casme2")
    assert ("protocol.test=casme2: choose a domain of the dataset: synthetic-1, synthetic-2 (e.g. --set "
            "protocol.train=synthetic-1 protocol.test=synthetic-2)") in message


def test_missing_root_fails_fast_without_worker_processes(refused, monkeypatch):
    import merbench.preflight
    import merbench.runner
    import merbench.workers

    started = []
    monkeypatch.setattr(merbench.preflight, "start_worker_server", lambda *a, **k: started.append(1))
    monkeypatch.setattr(merbench.runner, "start_worker_server", lambda *a, **k: started.append(1))
    monkeypatch.setattr(merbench.workers, "start_worker_server", lambda *a, **k: started.append(1))
    begin = time.perf_counter()
    message = refused("--root", "/no/such/dir", dataset="smic")
    assert time.perf_counter() - begin < 2.0
    assert started == []
    assert "--root /no/such/dir: no such folder" in message and "merbench datasets check smic --root DIR" in message


def test_a_root_that_is_a_file_is_called_a_file(refused, tmp_path):
    file = tmp_path / "smic.zip"
    file.write_bytes(b"PK")
    assert f"--root {file}: is a file, not a folder" in refused("--root", str(file), dataset="smic")


def test_no_root_names_the_licence_the_layout_and_the_check(refused):
    message = refused(dataset="casme2")
    assert "licensed and not shipped" in message and "docs/datasets.md" in message
    assert "merbench datasets check casme2 --root DIR" in message


def test_model_and_chain_mismatch_is_refused_before_a_run(refused):
    message = refused("--set", *TINY, "preprocess=lbptop")
    assert "model 'ststnet' expects input 'flow-uvs'" in message and "lbptop" in message


@pytest.fixture
def images(tmp_path) -> Path:
    root = tmp_path / "manifest"
    rt.build_manifest_images(root)
    rt.build_manifest_frames(root)
    return root


def test_default_chain_follows_what_the_dataset_gives(images):
    registry = get_registry()

    def chain(**sets):
        sets = {"dataset.manifest": str(images / sets.pop("manifest")), **sets}
        return resolve_config(registry, model="ststnet", dataset="manifest", root=images, sets=sets).preprocess

    assert chain(manifest="labels.csv") == ("image",)
    assert chain(manifest="frames.csv") == ("flow",)
    assert chain(manifest="labels.csv", preprocess="flow") == ("flow",)  # the user's chain wins (and is refused later)
    assert resolve_config(registry, model="lbptop-svm", dataset="manifest", root=images,
                          sets={"dataset.manifest": "frames.csv"}).preprocess == ("lbptop",)


def test_manifest_of_flow_images_runs_without_setting_the_chain(run_cli, images, store, tmp_path):
    target = tmp_path / "result.json"
    result = run_cli("run", "--model", "ststnet", "--dataset", "manifest", "--root", str(images), "--protocol", "loso",
                     "--profile", "quick", "--epochs", "1", "--quiet", "--store", str(store), "--json", str(target),
                     "--set", "dataset.manifest=labels.csv", "engine.parallel_folds=1")
    assert result.code == 0, result.err
    assert json.loads(target.read_text())["config"]["preprocess"] == ["image"]
    assert stored_runs(store) == 1


def test_ranges_parse_and_contain():
    assert 0.0 in Range.parse(">= 0") and -0.1 not in Range.parse(">= 0")
    assert 0.0 not in Range.parse("(0, 1)") and 0.5 in Range.parse("(0, 1)") and 1.0 not in Range.parse("(0, 1)")
    assert 1e9 in Range.parse("[1, inf)") and Range.parse("[0, 1)").text == "in [0, 1)"
    with pytest.raises(ValueError, match="not a range"):
        Range.parse("=> 1")
    with pytest.raises(UsageError, match="must be a finite number ≥ 0"):
        coerce("engine.lr", float("nan"), 0.1, ">= 0")


def test_a_plugins_bad_range_declaration_names_the_plugin(monkeypatch):
    registry = get_registry()
    real = registry.get

    def get(kind, name):
        spec = real(kind, name)
        return dataclasses.replace(spec, option_ranges={"depth": "=> 1"}) if kind == "models" else spec

    monkeypatch.setattr(registry, "get", get)
    with pytest.raises(PluginError, match=r"model 'convmixer' declares option_ranges\['depth'\]"):
        resolve_config(registry, model="convmixer", dataset="synthetic")


@pytest.mark.parametrize("command", [
    ("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick"),
    ("grid", "--models", "ststnet", "--datasets", "synthetic", "--profile", "quick"),
    ("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--trials", "1",
     "--space", str(Path(__file__).resolve().parents[1] / "benchmarks" / "spaces" / "ststnet.yaml")),
], ids=["run", "grid", "tune"])
def test_an_executor_flag_and_setting_that_disagree_are_refused_not_one_silently_kept(command, run_cli, tmp_path):
    store_flag = "--storage" if command[0] == "tune" else "--store"
    result = run_cli(*command, "--set", "executor.name=ray", "--executor", "local", store_flag, str(tmp_path / "s.sqlite"))
    assert result.code == 2 and not (tmp_path / "s.sqlite").exists()
    assert "--executor local and --set executor.name=ray disagree; give the executor once" in result.err


def test_early_stopping_for_an_estimator_is_refused_before_a_run_is_recorded(run_cli, tmp_path):
    store = tmp_path / "s.sqlite"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick",
                     "--set", "engine.early_stopping=3", "--store", str(store))
    assert result.code == 2
    assert ("engine.early_stopping=3: this model is a" in result.err
            and "use --set engine.early_stopping=0" in " ".join(result.err.split()))
    assert not store.exists(), "a refused setting leaves no failed run behind in the store"


def test_a_ray_address_where_nothing_listens_is_refused_before_a_run_is_recorded(run_cli, tmp_path):
    store = tmp_path / "s.sqlite"
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--executor", "ray",
                     "--set", "executor.address=127.0.0.1:1", "--store", str(store))
    assert result.code == 2 and "executor.address=127.0.0.1:1: cannot reach a Ray cluster there" in result.err
    assert "Preprocessing" not in result.err and not store.exists()


@pytest.mark.parametrize("command", ["run", "tune", "leakage", "preprocess", "datasets check"])
def test_an_empty_root_is_refused_not_read_as_the_current_folder(run_cli, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # were "" the current folder, the run would look for casme2 here
    extra = ["casme2"] if command == "datasets check" else ["--model", "ststnet", "--dataset", "casme2"]
    if command == "tune":
        extra += ["--space", "space.yaml"]
    result = run_cli(*command.split(), *extra, "--root", "")
    assert result.code == 2 and "Traceback" not in result.err
    assert "--root: empty; give the folder that holds your copy of the dataset" in " ".join(result.err.split())


@pytest.mark.parametrize("model, settings", [
    ("ststnet", ("engine.parallel_mode=vmap", "engine.early_stopping=2")),
    ("lbptop-svm", ("engine.parallel_mode=vmap",)),
])
def test_batched_folds_the_run_cannot_use_are_refused_before_the_run_is_recorded(refused, model, settings):
    """The fold plan refuses them too, but only after the run was recorded and preprocessed (a `failed` row whose
    --resume fails the same way)."""
    message = refused("--set", *TINY, "protocol.n_splits=2", *settings, model=model)
    assert "engine.parallel_mode=vmap trains torch models without early stopping only" in message


def test_one_worker_process_is_counted_in_the_singular():
    from merbench.folds.local import ProcessFolds

    assert ProcessFolds(1).description == "1 worker process"
    assert ProcessFolds(3).description == "3 worker processes"


@pytest.mark.parametrize("written, expected", [("off", "off"), ("on", "on"), ("'off'", "off")])
def test_amp_on_or_off_in_a_yaml_config_is_the_choice_it_names(tmp_path, written, expected):
    """YAML reads `amp: off` as false; it means the choice off, as --set engine.amp=off does."""
    from merbench.config import load_config_file, resolve_config
    from merbench.registry import get_registry

    config = tmp_path / "engine.yaml"
    config.write_text(f"engine:\n  amp: {written}\n")
    resolved = resolve_config(get_registry(), model="convmixer", dataset="synthetic", profile="quick",
                              sets=load_config_file(config))
    assert resolved.section("engine")["amp"] == expected


def test_epochs_flag_and_a_different_engine_epochs_setting_are_refused_not_one_silently_ignored(tmp_path):
    from merbench.config import resolve_config
    from merbench.registry import get_registry

    registry = get_registry()
    with pytest.raises(UsageError, match=r"^--epochs 5 and engine.epochs=7 \(in --set/--config\) disagree; give the "
                                         r"epochs once$"):
        resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick", epochs=5,
                       sets={"engine.epochs": "7"})
    same = resolve_config(registry, model="ststnet", dataset="synthetic", profile="quick", epochs=5,
                          sets={"engine.epochs": "5"})
    assert same.section("engine")["epochs"] == 5


def test_a_zero_learning_rate_runs_as_a_control_and_says_the_model_never_trains():
    from merbench.config import resolve_config
    from merbench.registry import get_registry
    from merbench.runner import run_warnings

    config = resolve_config(get_registry(), model="ststnet", dataset="synthetic", sets={"engine.lr": "0"})
    assert any("engine.lr=0: the model never changes from its initial weights" in w for w in run_warnings(config, False))
    trained = resolve_config(get_registry(), model="ststnet", dataset="synthetic")
    assert not any("engine.lr=0" in w for w in run_warnings(trained, False))


@pytest.mark.parametrize("given, recorded", [("AUTO", "auto"), (" Auto ", "auto"), ("02", "2"), ("2", "2")])
def test_parallel_folds_is_recorded_in_one_spelling(given, recorded):
    """`AUTO` was recorded as typed, so `grid --stored` trained again a cell that `auto` reused."""
    from merbench.config import resolve_config
    from merbench.registry import get_registry

    config = resolve_config(get_registry(), model="ststnet", dataset="synthetic", profile="quick",
                            sets={"engine.parallel_folds": given})
    assert config.section("engine")["parallel_folds"] == recorded
