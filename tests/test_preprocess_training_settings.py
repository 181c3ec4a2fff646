"""``merbench preprocess --set`` with settings that only training reads says, in one note, that it ignored them
(before: it exited 0 without a word, as if engine.lr or protocol.n_splits had been used)."""

from __future__ import annotations

import pytest

from merbench.commands.preprocess import training_only

PREPROCESS = ("preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet",
              "--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8")


def test_training_settings_are_named_in_one_note_and_ignored(run_cli):
    result = run_cli(*PREPROCESS, "engine.lr=5", "protocol.n_splits=3", "engine.preprocess_workers=1", "seed=2")
    assert result.code == 0, result.err
    notes = [line for line in result.err.splitlines() if "only training reads" in line]
    assert notes == ["Note: --set engine.lr, protocol.n_splits, seed: settings that only training reads; "
                     "preprocess ignored them"], result.err


def test_settings_preprocessing_reads_give_no_note(run_cli):
    result = run_cli(*PREPROCESS, "engine.preprocess_workers=1", "flow.size=16")
    assert result.code == 0 and "only training reads" not in result.err, result.err


def test_a_bad_training_setting_is_still_refused(run_cli):
    result = run_cli(*PREPROCESS, "engine.lr=-1")
    assert result.code == 2 and "engine.lr=-1" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("keys, ignored", [
    (["engine.threads", "engine.preprocess_workers"], ["engine.threads"]),
    (["model=convmixer", "model.name", "model.depth"], ["model.depth"]),
    (["protocol", "executor.name", "dataset.subjects", "preprocess", "flow.size"], ["protocol", "executor.name"]),
])
def test_which_settings_only_training_reads(keys, ignored):
    assert training_only([key.partition("=")[0] for key in keys]) == ignored
