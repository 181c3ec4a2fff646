"""A tune interrupted while it makes a new trials storage leaves no file there (before, a file with only some of
Optuna's tables was left, and every later tune refused it as damaged though the interrupted one said to run the
same command again)."""

from __future__ import annotations

import contextlib

import pytest

optuna = pytest.importorskip("optuna")

import sqlalchemy  # noqa: E402
from optuna.storages._rdb import models  # noqa: E402


@pytest.fixture
def command(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("model.C: {type: float, low: 0.1, high: 10, log: true}\n")
    return ["tune", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
            "--trials", "1", "--inner-folds", "2", "--set", "dataset.subjects=6", "protocol.n_splits=2",
            "--space", str(space), "--storage", str(tmp_path / "v.sqlite")]


@contextlib.contextmanager
def interrupted_creation():
    """Ctrl-C once Optuna has made its studies table, before its other tables (it makes them one at a time)."""
    made = []

    def stop(*args, **kwargs):
        made.append("studies")
        raise KeyboardInterrupt

    table = models.StudyModel.__table__
    sqlalchemy.event.listen(table, "after_create", stop)
    try:
        yield made
    finally:
        sqlalchemy.event.remove(table, "after_create", stop)


@pytest.mark.parametrize("empty_file", [False, True])
def test_interrupted_while_making_the_storage_leaves_nothing_and_the_next_tune_runs(run_cli, tmp_path, command,
                                                                                    empty_file):
    storage = tmp_path / "v.sqlite"
    if empty_file:
        storage.touch()  # SQLite takes an empty file as a new database
    with interrupted_creation() as made:
        result = run_cli(*command)
    assert made and result.code == 130, result.err
    expected = ["space.yaml", "v.sqlite"] if empty_file else ["space.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == expected, "no half-made storage nor side file"
    if empty_file:
        assert storage.stat().st_size == 0, "the empty file is left as it was"
    again = run_cli(*command)
    assert again.code == 0, again.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.yaml", "v.sqlite"]


def test_a_storage_made_through_a_link_is_made_at_the_file_it_leads_to(tmp_path):
    from merbench.tuning_storage import open_storage

    (tmp_path / "real.sqlite").touch()
    (tmp_path / "link.sqlite").symlink_to("real.sqlite")
    storage = open_storage(optuna, tmp_path / "link.sqlite")
    assert optuna.get_all_study_names(storage=storage) == []
    assert (tmp_path / "link.sqlite").is_symlink() and (tmp_path / "real.sqlite").stat().st_size > 0
