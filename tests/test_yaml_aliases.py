"""A YAML value that refers to itself through an alias, or nests too deeply, is one message naming where it is
(``--config``, ``--set``, ``--baseline``, ``--space``) and exit 2, never a traceback."""

from __future__ import annotations

import time

import pytest

from merbench.config import coerce
from merbench.errors import UsageError
from merbench.tuning_space import load_space
from merbench.yaml_files import read_yaml

RUN = ("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--no-store")
ITSELF = "refers to itself through a YAML alias"


def refused(result) -> str:
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    return result.err


def test_a_config_value_holding_itself_names_the_file_key_and_line(run_cli, tmp_path):
    path = tmp_path / "rec.yaml"
    path.write_text("model:\n  dropout: &a [1, *a]\n")
    assert f"--config {path}: model.dropout (line 2, column 12) {ITSELF}" in refused(run_cli(*RUN, "--config",
                                                                                               str(path)))


def test_a_set_value_holding_itself_names_the_key(run_cli):
    assert f"model.dropout=[&a [1, *a]]: the value {ITSELF}" in refused(run_cli(*RUN, "--set",
                                                                                 "model.dropout=[&a [1, *a]]"))


def test_a_baseline_entry_holding_itself_names_the_entry_and_key(run_cli, tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text("version: 1\nentries:\n  - model: convmixer\n    dataset: synthetic\n"
                    "    set: {model.dropout: &a [1, *a]}\n")
    err = refused(run_cli("regress", "--baseline", str(path)))
    assert f"--baseline {path}: entries[0].set.model.dropout (line 5, column 26) {ITSELF}" in err


def test_a_merge_key_of_its_own_mapping_is_refused(run_cli, tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("model: &m {dropout: 0.2, <<: *m}\n")
    assert f"--config {path}: model (line 1, column 8) {ITSELF}" in refused(run_cli(*RUN, "--config", str(path)))


def test_a_space_choice_holding_itself_is_refused(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("model.dropout: {type: categorical, choices: &a [1, *a]}\n")
    with pytest.raises(UsageError) as refusal:
        load_space(path, {"model": {"dropout": 0.1}}, check=lambda key, value, others=None: value)
    assert str(refusal.value) == (f"--space {path}: model.dropout.choices (line 1, column 45) {ITSELF} (a *name "
                                  "inside the value of its own &name); write the value out without that alias")


@pytest.mark.parametrize("levels", [150, 450])
def test_a_list_nested_hundreds_deep_is_refused_in_a_file_and_in_set(run_cli, tmp_path, levels):
    nested = "[" * levels + "]" * levels
    path = tmp_path / "deep.yaml"
    path.write_text(f"model:\n  dropout: {nested}\n")
    assert (f"--config {path}: model.dropout (line 2, column 111) nests lists or mappings more than 100 levels "
            "deep; give a flatter value") in refused(run_cli(*RUN, "--config", str(path)))
    assert "the value nests lists or mappings more than 100 levels deep" in refused(
        run_cli(*RUN, "--set", f"model.dropout={nested}"))


def test_a_nested_list_is_shown_with_its_brackets():
    """Before, ``[[[1]]]`` was shown as ``[1]``: the refusal named another value than the one given."""
    with pytest.raises(UsageError, match=r"^model\.dropout=\[\[\[1\]\], 2\]: expected one value, not a list"):
        coerce("model.dropout", [[[1]], 2], 0.1)


def laughs(levels: int) -> str:
    """A flow list whose last item aliases ``levels`` lists of 9 into 9**levels values: the "billion laughs"."""
    lists = ["&l0 [" + ", ".join(["lol"] * 9) + "]"]
    lists += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return f"[{', '.join(lists)}]"


EXPANDS = "expands to more than 100,000 values through YAML aliases"


def quickly_refused(run_cli, *args: str) -> str:
    started = time.monotonic()
    err = refused(run_cli(*args))
    assert time.monotonic() - started < 30, "refused before the aliases are expanded, not after"
    assert len(err) < 600, err
    return err


def test_an_alias_bomb_in_a_config_file_is_refused_before_it_expands(run_cli, tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(f"model:\n  dropout: {laughs(9)}\n")
    err = quickly_refused(run_cli, *RUN, "--config", str(path))
    assert err.startswith(f"merbench: error: --config {path}: model.dropout (line 2, column 268) {EXPANDS}")


def test_an_alias_bomb_in_set_is_refused_with_its_text_cut(run_cli):
    err = quickly_refused(run_cli, *RUN, "--set", f"model.dropout={laughs(9)}")
    assert err.startswith("merbench: error: model.dropout=[&l0 [lol, lol, ")
    assert f"…: the value {EXPANDS}" in err


def test_an_alias_bomb_in_a_baseline_entry_is_refused_before_it_expands(run_cli, tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text(f"version: 1\nentries:\n  - model: convmixer\n    dataset: synthetic\n"
                    f"    set: {{model.dropout: {laughs(9)}}}\n")
    err = quickly_refused(run_cli, "regress", "--baseline", str(path))
    assert f"--baseline {path}: entries[0].set.model.dropout (line 5, column 282) {EXPANDS}" in err


def test_aliases_adding_fewer_values_are_read(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text(f"values: {laughs(5)}\n")  # 9**5 = 59,049 values from 45 written
    assert len(read_yaml(path, "--config shared.yaml", kind="YAML file", example="run.yaml")["values"][4]) == 9


def test_a_long_value_is_cut_in_the_message(run_cli, tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(f"model:\n  dropout: [{', '.join(map(str, range(5000)))}]\n")
    err = refused(run_cli(*RUN, "--config", str(path)))
    assert f"--config {path}: model.dropout=[0, 1, 2, " in err and "…]: expected one value, not a list" in err
    assert len(err) < 400, err
    assert "…: must be" in refused(run_cli(*RUN, "--set", f"model.dropout={'x' * 5000}"))


def test_a_list_holding_a_number_of_thousands_of_digits_is_refused_by_the_options_type(run_cli):
    """Before, a ValueError traceback from Python's 4300-digit limit on reading an integer."""
    err = refused(run_cli(*RUN, "--set", f"model.dropout=[{'1' * 5000}]"))
    assert err.startswith(f"merbench: error: model.dropout=[{'1' * 199}…: must be a finite number in [0, 1)")


@pytest.mark.parametrize("typed", ["010", "1.50", "1e3", "0x1F"])
def test_a_text_option_keeps_numeric_looking_text_as_typed(typed):
    """A manifest named 010 was looked for as 10 while values in messages were being cut."""
    from merbench.config import coerce

    assert coerce("dataset.manifest", typed, None) == typed
    assert coerce("dataset.frames_folder", typed, "") == typed


def test_the_key_path_of_a_value_nested_too_deeply_is_cut_in_the_message(run_cli, tmp_path):
    """101 keys of 1,000 characters made a refusal of 99,231 characters."""
    path = tmp_path / "deep-keys.yaml"
    key = "k" * 1000
    path.write_text("x: " + ("{" + key + ": ") * 101 + "1" + "}" * 101 + "\n")
    err = refused(run_cli(*RUN, "--config", str(path)))
    assert len(err) < 400 + len(str(path)), err
    assert f"--config {path}: x.kkk" in err and "…kkk" in err and "nests lists or mappings more than 100" in err
