"""``--root`` given twice ran on the second folder in silence; ``--root NAME=DIR`` (grid's and regress's form) given
to a one-dataset command was called "no such folder" with no word of the form."""

from __future__ import annotations

import pytest

COMMANDS = {
    "run": ["run", "--model", "lbptop-svm", "--dataset", "casme2", "--no-store"],
    "datasets check": ["datasets", "check", "casme2"],
    "preprocess": ["preprocess", "--dataset", "casme2"],
    "tune": ["tune", "--model", "lbptop-svm", "--dataset", "casme2"],
    "leakage": ["leakage", "--model", "lbptop-svm", "--dataset", "casme2"],
}


def _said(result) -> str:
    return " ".join(result.err.split())


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_root_given_twice_is_refused(run_cli, tmp_path, command):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    result = run_cli(*COMMANDS[command], "--root", str(first), "--root", str(second))
    assert result.code == 2
    assert f"--root given twice ({first} and {second}); give it once" in _said(result), _said(result)


@pytest.mark.parametrize("command", ["run", "datasets check"])
def test_a_root_written_name_equals_dir_says_how_this_command_takes_it(run_cli, tmp_path, command):
    folder = tmp_path / "my copy"
    folder.mkdir()
    result = run_cli(*COMMANDS[command], "--root", f"casme2={folder}")
    assert result.code == 2
    assert (f"--root casme2={folder}: no such folder; this command takes --root DIR (the NAME=DIR form is grid's and "
            f"regress's, which run several datasets): --root '{folder}'") in _said(result), _said(result)


def test_a_missing_folder_keeps_its_message(run_cli, tmp_path):
    result = run_cli(*COMMANDS["datasets check"], "--root", str(tmp_path / "gone"))
    assert result.code == 2
    assert f"--root {tmp_path / 'gone'}: no such folder; give the folder that holds your copy of 'casme2'" in \
        _said(result)
