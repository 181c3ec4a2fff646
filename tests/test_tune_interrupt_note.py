"""What an interrupted ``merbench tune`` says depends on what it stored: "add --resume" only when trials of this
tune are in the storage (before, it said so when none were, and --resume then failed); the outer folds' progress
note names the fold its UF1 is of (it read as the tuned result once the bar was full)."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

import merbench.tuning as tuning  # noqa: E402
from merbench.commands.tune import interrupted_note  # noqa: E402


@pytest.fixture
def command(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("model.C: {type: float, low: 0.1, high: 10, log: true}\n")
    return ["tune", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--trials", "2",
            "--space", str(space), "--storage", str(tmp_path / "trials.sqlite")]


def interrupt_at_fold(monkeypatch, fold: int) -> None:
    real = tuning.tune_fold

    def tune_fold(ctx, optuna, storage, key, outer):
        if outer.index == fold:
            raise KeyboardInterrupt
        return real(ctx, optuna, storage, key, outer)

    monkeypatch.setattr(tuning, "tune_fold", tune_fold)


def test_interrupted_before_any_trial_says_nothing_is_stored_and_not_resume(run_cli, monkeypatch, command):
    interrupt_at_fold(monkeypatch, 0)
    result = run_cli(*command, "--quiet")
    said = " ".join(result.err.split())
    assert result.code == 130 and "No trial had finished, so nothing is stored" in said and "--resume" in said
    assert "or add --resume" not in said


def test_interrupted_after_a_fold_counts_its_stored_trials_and_resumes(run_cli, monkeypatch, command):
    interrupt_at_fold(monkeypatch, 1)
    result = run_cli(*command, "--quiet")
    said = " ".join(result.err.split())
    assert result.code == 130 and "2 finished trials of this tune stored in" in said and "add --resume" in said
    monkeypatch.undo()
    resumed = run_cli(*command, "--resume")
    assert resumed.code == 0, resumed.err
    assert "fold 10: outer UF1" in resumed.err or "fold 10: outer UF1" in resumed.out


def test_the_note_without_a_count():
    from pathlib import Path

    assert interrupted_note(None, Path("/no/such/file")).startswith("No trial had finished")
    said = interrupted_note(None, Path(__file__))  # a storage file that may hold no trial of this tune
    assert "or add --resume" not in said and "if there are any (--resume refuses when there are none)" in said


def test_interrupted_while_preprocessing_beside_an_existing_storage_does_not_advise_resume(run_cli, monkeypatch,
                                                                                        command, tmp_path):
    """The default storage is shared by every tune, so it usually exists: "or add --resume" then failed with exit 2."""
    (tmp_path / "trials.sqlite").write_bytes(b"")

    def preprocessing(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tuning, "_preprocessed", preprocessing)
    result = run_cli(*command, "--quiet")
    said = " ".join(result.err.split())
    assert result.code == 130 and "or add --resume" not in said, said
    assert "continue from the trials of this tune stored in" in said


def test_a_second_ctrl_c_while_the_tune_stops_keeps_the_count_of_the_first():
    """A Ctrl-C 0.3 s after the first raised over it, and the note lost "4 finished trials ... stored"."""
    from merbench.commands.tune import _stored_trials

    first = KeyboardInterrupt()
    first.stored_trials = 4
    try:
        try:
            raise first
        except KeyboardInterrupt:
            raise KeyboardInterrupt  # the second, raised while the first was handled
    except KeyboardInterrupt as second:
        assert _stored_trials(second) == 4
    assert _stored_trials(KeyboardInterrupt()) is None
