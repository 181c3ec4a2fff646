"""Every user YAML file (--config, --space, --baseline) is read by one function with one clear message per fault."""

from __future__ import annotations

import os

import pytest
import yaml

from merbench.errors import UsageError
from merbench.yaml_files import read_yaml

FAULTS = {
    "folder": (lambda path: path.mkdir(), "is a folder; give a"),
    "missing": (lambda path: None, "file not found"),
    "binary": (lambda path: path.write_bytes(b"\xff\xfe\x00binary"), "not a text file (it is not UTF-8)"),
    "malformed": (lambda path: path.write_text("engine: [1, 2\n"),
                  "not valid YAML at line 2, column 1: expected ',' or ']', but got '<stream end>' (while parsing a "
                  "flow sequence that starts at line 1, column 9)"),
    "control character": (lambda path: path.write_text("seed: 1\nprofile: qu\x07ick\n"),
                          "not valid YAML at line 2, column 12: the character U+0007, which YAML does not allow; "
                          "remove it"),
}

# Each flag of the command line that takes a YAML file: the command that reads it.
COMMANDS = {
    "--config": ("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store", "--config"),
    "--space": ("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--trials", "1",
                "--space"),
    "--baseline": ("regress", "--baseline"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("flag", sorted(COMMANDS))
def test_each_yaml_flag_refuses_each_fault_with_exit_code_2(run_cli, tmp_path, flag, fault):
    make, expected = FAULTS[fault]
    path = tmp_path / "file.yaml"
    make(path)
    result = run_cli(*COMMANDS[flag], str(path))
    assert result.code == 2, (result.out, result.err)
    assert f"{flag} {path}: {expected}" in result.err
    assert "Traceback" not in result.err and "<unicode string>" not in result.err


def test_an_unreadable_file_names_the_reason(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = tmp_path / "locked.yaml"
    path.write_text("a: 1\n")
    path.chmod(0)
    with pytest.raises(UsageError, match="cannot be read .*check the path and its permissions"):
        read_yaml(path, f"--config {path}", kind="YAML file", example="run.yaml")


def test_yaml_is_read_safely_and_an_empty_file_is_none(tmp_path):
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("value: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        read_yaml(unsafe, "--config unsafe.yaml", kind="YAML file", example="run.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert read_yaml(empty, "--config empty.yaml", kind="YAML file", example="run.yaml") is None


def test_a_missing_file_says_how_to_get_one(tmp_path):
    path = tmp_path / "none.yaml"
    with pytest.raises(UsageError, match=r"file not found; create one with `merbench regress"):
        read_yaml(path, f"--baseline {path}", kind="baseline", example="b.yaml",
                  when_missing=f"create one with `merbench regress --baseline {path} --update --add-missing`")


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("engine:\n  lr: 0.01\n  epochs: 3\n  lr: 0.5\n")
    with pytest.raises(UsageError, match=r"--config run.yaml: not valid YAML at line 4, column 3: key 'lr' given "
                                         r"twice \(lines 2 and 4\); keep one$"):
        read_yaml(path, "--config run.yaml", kind="YAML file of options", example="run.yaml")
    path.write_text("engine:\n  lr: 0.01\nmodel:\n  lr: 0.5\n")  # the same key in two mappings is fine
    assert read_yaml(path, "--config run.yaml", kind="YAML file of options", example="run.yaml")["model"] == {"lr": 0.5}


def test_merge_keys_work_as_in_safe_load_and_a_key_written_twice_is_still_refused(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("defaults: &d {profile: quick, metrics: [uf1]}\nentries:\n  - <<: *d\n    model: ststnet\n"
                    "    profile: default\n")
    assert read_yaml(path, "--baseline x", kind="k", example="e") == yaml.safe_load(path.read_text())
    assert read_yaml(path, "--baseline x", kind="k", example="e")["entries"][0] == {
        "profile": "default", "metrics": ["uf1"], "model": "ststnet"}
    path.write_text("base: &b {a: 1}\nx:\n  <<: *b\n  c: 2\n  c: 3\n")
    with pytest.raises(UsageError, match="key 'c' given twice"):
        read_yaml(path, "--baseline x", kind="k", example="e")


def test_a_search_space_option_given_dotted_and_under_its_section_is_refused(run_cli, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("engine.lr: {type: float, low: 0.001, high: 0.01}\nengine:\n  lr: {type: float, low: 0.1, high: 0.2}\n")
    result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--trials", "1",
                     "--space", str(space), "--storage", str(tmp_path / "t.sqlite"))
    assert result.code == 2
    assert "engine.lr is given twice (as 'engine.lr:' and under its section); keep one" in " ".join(result.err.split())


def test_a_key_that_is_a_list_is_refused_as_invalid_yaml(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("[a, b]: 1\n")
    with pytest.raises(UsageError, match=r"--config run.yaml: not valid YAML at line 1, column 1: found unhashable key "
                                         r"\(while constructing a mapping that starts at line 1, column 1\)$"):
        read_yaml(path, "--config run.yaml", kind="YAML file of options", example="run.yaml")


def test_updated_yaml_text_keeps_comments_and_holds_exactly_the_new_document():
    from merbench.yaml_update import updated_yaml_text

    original = ("# header\nversion: 1\nentries:\n# first\n- model: a  # the reference\n  old: 1\n"
                "- model: b\n- model: c\n")
    new = {"version": 1, "entries": [{"model": "a", "metrics": {"uf1": 0.5}}, {"model": "b2"}], "defaults": {}}
    text = updated_yaml_text(original, new)
    assert "# header" in text and "# first" in text and "# the reference" in text
    assert yaml.safe_load(text) == new


def test_updated_yaml_text_declines_what_is_not_a_mapping():
    from merbench.yaml_update import updated_yaml_text

    assert updated_yaml_text("- a\n- b\n", {"version": 1}) is None
    assert updated_yaml_text("key: [unclosed\n", {"version": 1}) is None


@pytest.mark.parametrize("command", [("run", "--no-store"), ("preprocess", "--dataset", "synthetic"),
                                     ("grid", "--models", "ststnet", "--datasets", "synthetic", "--no-store"),
                                     ("leakage", "--no-store")])
@pytest.mark.parametrize("value", ["", " 5", " abc", " 2024-01-01"])
def test_a_recorded_configurations_section_that_is_not_a_mapping_is_named(run_cli, tmp_path, command, value):
    """`options: {engine: }` (null), 5 or a string stopped every command that takes --config with a TypeError."""
    path = tmp_path / "opt.yaml"
    path.write_text(f"model: ststnet\ndataset: synthetic\noptions:\n  engine:{value}\n")
    result = run_cli(*command, "--profile", "quick", "--config", str(path))
    assert result.code == 2, result.err
    shown = {"": "null", " 5": "5", " abc": '"abc"', " 2024-01-01": '"2024-01-01"'}[value]  # a date: no TypeError
    assert f"--config {path}: options.engine is {shown}, not a mapping of options" in " ".join(result.err.split())
    assert "Traceback" not in result.err


def test_a_results_recorded_section_that_is_not_a_mapping_says_the_result_is_damaged(run_cli, tmp_path):
    import json

    from result_samples import minimal_dict

    config = {"model": "ststnet", "dataset": "synthetic", "protocol": "loso", "profile": "quick", "seed": 0,
              "options": {"model": {}, "engine": None}}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(minimal_dict(model="ststnet", dataset="synthetic", config=config)))
    result = run_cli("run", "--no-store", "--config", str(path))
    assert result.code == 2, result.err
    assert (f"--config {path}: its recorded config.options.engine is null, not a mapping of options; the result is "
            "damaged") in " ".join(result.err.split())


def test_a_null_text_option_is_unset_as_its_default_and_a_null_choice_is_refused():
    """`weights: ~` reached the plugin as the text "None" (then "null"): a file option looked for a file of that name."""
    from merbench.config import FILE_RULE, coerce

    assert coerce("model.weights", None, None, FILE_RULE) is None
    assert coerce("model.weights", "null", "", FILE_RULE) == ""
    with pytest.raises(UsageError, match="engine.amp=null: choose one of auto, on, off"):
        coerce("engine.amp", None, "auto", ("auto", "on", "off"))
