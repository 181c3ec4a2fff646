"""``merbench tune``'s printed output: rare-class notes in merbench's words (not scikit-learn's), the closing
``Tune:`` provenance line, the stability table with a single outer fold, and counted nouns."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna")

from merbench import tuning  # noqa: E402
from merbench.contracts import Fold  # noqa: E402

SPACE = "engine.lr: {type: float, low: 0.001, high: 0.01}\n"
RARE = ["--set", "dataset.subjects=6", "dataset.clips_per_subject=2", "protocol.n_splits=3", "engine.epochs=1"]
"""12 clips of 6 subjects: one class has 2 clips, fewer than the 3 outer folds, and 1 per outer training part."""


def tune(run_cli, tmp_path: Path, *extra: str, inner: int = 3, quiet: bool = True):
    """``merbench tune`` on tiny synthetic data with its own space file and trials storage (warnings always shown)."""
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # a repeated library warning is not hidden by Python's once-per-place rule
        return run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick",
                       *(["--quiet"] * quiet), "--trials", "1", "--inner-folds", str(inner), "--space", str(space),
                       "--storage", str(tmp_path / "trials.sqlite"), *extra)


def test_nested_split_does_not_pass_on_scikit_learns_rare_class_warning():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1])
    subjects = np.array([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6])
    outer = Fold(0, np.arange(12), np.array([], dtype=int))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuning.nested_split(labels, subjects, outer, 4, 0)
    assert [str(w.message) for w in caught if "least populated" in str(w.message)] == []


def test_rare_class_note_names_the_class_and_the_inner_folds_to_use():
    classes = ["negative", "positive", "surprise"]
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    none = np.array([], dtype=int)
    folds = [Fold(0, np.arange(12), none), Fold(1, np.arange(6), np.arange(6, 12)),
             Fold(2, np.arange(7, 12), np.arange(7))]
    assert tuning.inner_rare_class_note(labels, classes, folds, 4) == (
        "--inner-folds 4: class 'positive' has only 2 samples in 2 of 3 outer training parts, so some inner folds "
        "have none of it; consider --inner-folds 2")
    assert tuning.inner_rare_class_note(labels, classes, folds[:2], 4) == (
        "--inner-folds 4: class 'positive' has only 2 samples in every outer training part, so some inner folds "
        "have none of it; consider --inner-folds 2")
    assert tuning.inner_rare_class_note(labels, classes, folds[:1], 4) == (
        "--inner-folds 4: class 'positive' has only 3 samples in the outer training part, so some inner folds "
        "have none of it; consider --inner-folds 3")
    # One sample: no number of inner folds gives each of them one, so no advice.
    assert tuning.inner_rare_class_note(np.array([0, 0, 1, 1, 1, 2]), classes, [Fold(0, np.arange(6), none)], 2) == (
        "--inner-folds 2: class 'surprise' has only 1 sample in the outer training part, so some inner folds have "
        "none of it")
    assert tuning.inner_rare_class_note(labels, classes, folds[:1], 3) is None


def test_rare_classes_are_one_merbench_note_each_not_scikit_learns_warning(run_cli, tmp_path):
    result = tune(run_cli, tmp_path, *RARE)
    assert result.code == 0, result.err
    assert "least populated" not in result.err and "n_splits=3." not in result.err, result.err
    inner = re.findall(r"Note: --inner-folds 3: class '\w+' has only \d+ samples? in [^,]+, so some inner folds "
                       r"have none of it", result.err)
    assert len(inner) == 1, result.err
    outer = re.findall(r"Note: 3 outer folds: class '\w+' has only \d+ samples, so some outer test folds have none "
                       r"of it; consider --set protocol.n_splits=\d", result.err)
    assert len(outer) == 1, result.err


def test_the_output_ends_with_what_the_tune_was(run_cli, tmp_path):
    result = tune(run_cli, tmp_path, *RARE)
    assert result.code == 0, result.err
    last = result.out.strip().splitlines()[-1]
    assert last.startswith("Tune: seed 0; profile quick, options changed from it: dataset.clips_per_subject=2, "
                           "dataset.subjects=6, engine.epochs=1, protocol.n_splits=3; merbench "), last
    assert "torch " in last
    assert last.endswith(f"; space {tmp_path / 'space.yaml'}; trials stored in {tmp_path / 'trials.sqlite'}"), last


def test_one_outer_fold_says_stability_needs_more_and_counts_in_the_singular(run_cli, tmp_path):
    result = tune(run_cli, tmp_path, "--protocol", "cross-dataset", "--set", "dataset.subjects=8", "dataset.domains=2",
                  "protocol.train=synthetic-1", "protocol.test=synthetic-2", "engine.epochs=1", inner=2)
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "Stability of the choice over" not in text and "Agreement" not in text
    assert "Stability of the choice: not measured, it needs two or more outer folds" in text
    assert "Compute: 1 trial (1 complete" in text and "and 1 outer refit;" in text
    assert "1 outer folds" not in text and "1 outer refits" not in text and "1 trials" not in text
    std_row = next(line for line in result.out.splitlines() if line.strip().startswith("fold std"))
    assert std_row.split()[2:] == ["—", "—", "—"], "a spread over one fold is not measured, not 0.0"
    assert "Fold std: —, one outer fold has no spread to measure" in text


def test_fresh_counts_the_deleted_studies_in_words(run_cli, tmp_path):
    small = ["--set", "dataset.subjects=6", "protocol.n_splits=3", "engine.epochs=1"]
    assert tune(run_cli, tmp_path, *small, inner=2).code == 0
    result = tune(run_cli, tmp_path, *small, "--fresh", inner=2, quiet=False)
    assert result.code == 0, result.err
    assert "--fresh: deleted the 3 stored studies of this tune" in result.err
    assert "(ies)" not in result.err


def test_json_onto_the_space_file_suggests_a_name_for_a_json_file_beside_it(run_cli, tmp_path):
    result = tune(run_cli, tmp_path, "--json", str(tmp_path / "space.yaml"))
    assert result.code == 2
    assert "e.g. --json space-out.json" in result.err and "checks.json" not in result.err


def test_the_stability_table_keeps_a_long_chosen_list_at_80_columns():
    """A list choice longer than the room dropped the Chosen column ("Not shown at this width: Chosen"): the table
    then said how much the folds agree but not on what."""
    import io

    from rich.console import Console

    from merbench.tables import print_table
    from merbench.tuning_report import stability_table

    wide_list, other = "[3,5,7,9,11,13,15,17,19,21,23,25]", "[3,3,3,3,3,3,3,3,3,3,3]"
    summary = {"folds": [{}] * 10, "stability": [
        {"key": "model.kernel_sizes_per_stage_option", "agreement": 0.5, "counts": {wide_list: 5, other: 5}},
        {"key": "engine.lr", "folds": 10, "spread": 0.2, "median": 0.01, "min": 0.001, "max": 0.02}]}
    out = io.StringIO()
    print_table(Console(file=out, width=80, force_terminal=True, color_system=None), stability_table(summary))
    text = out.getvalue()
    assert "Not shown at this width" not in text
    assert wide_list in text and other in text and "median 0.01 (min 0.001, max 0.02)" in text
    assert "model.kernel_sizes_per_stage_option" in text
    assert max(len(line) for line in text.splitlines()) <= 80
