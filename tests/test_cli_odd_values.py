"""Odd values a CLI fuzz sweep gave every command (2026-12-05): each gets one message and exit 2, never a
traceback: a path longer than the file system allows, an integer of more digits than Python converts, an empty
``--store`` beside an output, counts without an upper bound, control characters in a file name."""

from __future__ import annotations

import json

import pytest

LONG = "x" * 300  # one path component over NAME_MAX (255): os.stat raises ENAMETOOLONG instead of "not found"
HUGE = "9" * 5000  # over Python's 4300-digit limit for int()
QUICK = ("--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store", "--quiet")


def one_error(result) -> str:
    """The error of a refused command, on one line, after checking it is one message and exit 2."""
    assert result.code == 2, (result.code, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    return " ".join(result.err.split())


@pytest.mark.parametrize("args", [
    ["runs", "--store", f"{LONG}.sqlite"],
    ["datasets", "check", "synthetic", "--root", LONG],
    ["report", "--output", f"{LONG}.md"],
    ["run", *QUICK, "--config", f"{LONG}.yaml"],
    ["significance", LONG, "b.json"],
])
def test_a_path_too_long_for_the_file_system_is_one_message(run_cli, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MERBENCH_STORE", str(tmp_path / "store.sqlite"))
    text = one_error(run_cli(*args))
    assert LONG in text and ("too long" in text or "File name too long" in text), text


def test_audit_goes_on_past_a_path_too_long(run_cli, quick_run, tmp_path):
    result = tmp_path / "r.json"
    result.write_text(json.dumps(quick_run("--set", "protocol.n_splits=2", "engine.epochs=1")))
    audited = run_cli("audit", LONG, str(result))
    assert audited.code == 2 and "Traceback" not in audited.err
    assert "1 of 2 files passed every check; 1 could not be read" in " ".join(audited.out.split())


def test_an_integer_of_more_digits_than_python_converts_is_refused_by_its_option(run_cli, tmp_path):
    text = one_error(run_cli("run", *QUICK, "--set", f"engine.epochs={HUGE}"))
    assert "must be an integer in [1, 100000]" in text
    config = tmp_path / "big.yaml"
    config.write_text(f"engine:\n  epochs: {HUGE}\n")
    assert "--config" in one_error(run_cli("run", *QUICK, "--config", str(config)))
    document = tmp_path / "big.json"
    document.write_text(f'{{"model": {HUGE}}}')
    assert "cannot be read" in one_error(run_cli("audit", str(document)))
    assert "cannot be read" in one_error(run_cli("report", "--leakage", str(document)))


def test_counts_without_an_upper_bound_are_refused_before_anything_runs(run_cli, tmp_path, monkeypatch):
    """--epochs 1e30 was recorded as running and trained until killed; so did tune --trials 1e30."""
    monkeypatch.setenv("MERBENCH_STORE", str(tmp_path / "store.sqlite"))
    assert "--epochs 10000000000000000000000000000000: must be an integer in [1, 100000]" in \
        one_error(run_cli("run", *QUICK, "--epochs", str(10 ** 31)))
    space = tmp_path / "space.yaml"
    space.write_text("engine.lr: {low: 0.001, high: 0.01, log: true}\n")
    assert f"--trials {10 ** 30}: must be 1 to 100000" in one_error(run_cli(
        "tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--trials", str(10 ** 30),
        "--space", str(space)))
    assert not (tmp_path / "store.sqlite").exists() or "running" not in run_cli("runs").out


@pytest.mark.parametrize("store", ["", "/"])
def test_an_empty_or_root_store_beside_an_output_is_one_message(run_cli, tmp_path, store):
    text = one_error(run_cli("show", "20261205-000000-000000", "--store", store, "--json", str(tmp_path / "o.json")))
    if store:
        assert "results store" in text and "is a folder; give a file name such as" in text
    else:  # not taken for the current folder
        assert "argument --store: empty; give a results store file, e.g. --store results.sqlite" in text


def test_an_empty_figures_folder_is_refused_as_an_empty_json_file_is(run_cli):
    assert "--figures: empty; give the folder" in one_error(run_cli("report", "--figures", ""))


def test_a_written_file_name_with_control_characters_is_shown_escaped(run_cli, tmp_path):
    target = tmp_path / "a\x1b[31mb.json"
    result = run_cli("run", *QUICK, "--set", "protocol.n_splits=2", "engine.epochs=1", "--json", str(target))
    assert result.code == 0, result.err
    assert target.exists() and "\x1b" not in result.err
    assert "a\\x1b[31mb.json" in result.err


def test_an_empty_output_file_given_as_the_store_is_not_turned_into_one(run_cli, tmp_path):
    """An existing 0-byte result.json given as --store silently became an SQLite database."""
    empty = tmp_path / "result.json"
    empty.write_bytes(b"")
    text = one_error(run_cli("run", *QUICK[:-2], "--quiet", "--store", str(empty)))
    assert "an empty .json file, not a results store" in text
    assert empty.read_bytes() == b""


@pytest.mark.parametrize("args", [["run", *QUICK, "--json", "sub/"], ["report", "--output", "out/"],
                                  ["audit", "r.json", "--json", "sub/"]])
def test_an_output_name_ending_in_a_slash_is_a_folder_not_a_file_of_that_name(run_cli, tmp_path, monkeypatch, args):
    """`--json sub/` wrote a file named `sub` (Path drops the trailing slash)."""
    monkeypatch.chdir(tmp_path)
    text = one_error(run_cli(*args))
    assert "ends in '/', so it names a folder, not a file" in text
    assert not list(tmp_path.iterdir())


def test_json_to_stderr_says_where_messages_go_and_how_to_get_json_alone(run_cli, tmp_path):
    """It said "cannot create a file in the folder /proc/NNN/fd"."""
    result = tmp_path / "r.json"
    result.write_text("{}")
    text = one_error(run_cli("audit", str(result), "--json", "/dev/stderr"))
    assert "--json /dev/stderr: merbench writes its messages there; give a file name, or - for stdout" in text
