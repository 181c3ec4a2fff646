"""``merbench tune``'s trials storage by its exact name: no output replaces it (nor its side files), a ``#``, ``?``
or ``%`` in its name is the name's (not URL syntax), and a symbolic link loop is one message."""

from __future__ import annotations

import sqlite3

import pytest

optuna = pytest.importorskip("optuna")

from merbench.errors import UsageError  # noqa: E402
from merbench.tuning_storage import check_storage, open_storage  # noqa: E402


def test_json_onto_the_trials_storage_or_its_side_file_is_refused_before_any_trial(run_cli, tmp_path):
    """The storage does not exist yet, so no 'is an SQLite file' check could catch it: the tune once ran to the end
    and then replaced every trial with its summary."""
    space = tmp_path / "space.yaml"
    space.write_text("engine.lr: {type: float, low: 0.001, high: 0.01}\n")
    storage = tmp_path / "t.sqlite"
    for target in (storage, tmp_path / "t.sqlite-wal"):
        result = run_cli("tune", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                         "--trials", "1", "--space", str(space), "--storage", str(storage), "--json", str(target))
        said = " ".join(result.err.split())
        assert result.code == 2, result.err
        assert f"--json {target}: is the trials storage" in said and "give another file name" in said, said
        assert "Traceback" not in result.err
        assert not storage.exists() and not target.exists(), "refused before the tune created anything"


@pytest.mark.parametrize("name", ["t#1.sqlite", "t?mode=ro.sqlite", "t%41.sqlite"])
def test_a_storage_name_with_url_characters_opens_that_very_file(tmp_path, name):
    import sqlalchemy

    path = check_storage(tmp_path / name, given=True)
    if "?" in name and tuple(int(part) for part in sqlalchemy.__version__.split(".")[:2]) < (2, 1):
        with pytest.raises(UsageError, match="cannot name a file whose name has"):  # SQLAlchemy 2.0 would open 't'
            open_storage(optuna, path)
        assert list(tmp_path.iterdir()) == []
        return
    open_storage(optuna, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_foreign_sqlite_file_with_a_hash_in_its_name_is_still_refused(tmp_path):
    """The read-only check once opened the name cut at '#' (creating that file) and saw no tables there."""
    foreign = tmp_path / "results#2.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE runs (id TEXT)")
    db.close()
    with pytest.raises(UsageError, match="an SQLite file of another program"):
        check_storage(foreign, given=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results#2.sqlite"]


def test_a_symbolic_link_loop_as_storage_is_one_message(tmp_path):
    loop = tmp_path / "loop.sqlite"
    loop.symlink_to(loop)
    with pytest.raises(UsageError, match=r"--storage .*loop\.sqlite: cannot be used"):
        check_storage(loop, given=True)


def test_a_storage_under_a_file_says_the_file_is_not_a_folder(tmp_path):
    """It once said "the folder r1.json does not exist; create it first", which cannot be done."""
    (tmp_path / "r1.json").write_text("{}")
    for storage in (tmp_path / "r1.json" / "x.sqlite", tmp_path / "r1.json" / "sub" / "x.sqlite"):
        with pytest.raises(UsageError, match=r"r1\.json is a file, not a folder"):
            check_storage(storage, given=True)


def test_a_lock_file_that_cannot_be_written_is_one_message(tmp_path):
    from merbench.tuning_storage import storage_lock

    storage = tmp_path / "t.sqlite"
    (tmp_path / "t.sqlite.lock").mkdir()
    with pytest.raises(UsageError, match=r"lock file .*t\.sqlite\.lock \(beside the trials storage\) cannot be written"):
        with storage_lock(storage):
            pass


def test_a_second_tune_through_a_linked_name_of_the_storage_is_refused(tmp_path):
    """The lock was named after the storage path as given: a tune of the same options through a symbolic link to
    the file (or to its folder) took over the study, failed the first tune's running trial, and the first tune
    died with Optuna's "Cannot tell a FAIL trial"."""
    from merbench.tuning_storage import storage_files, storage_lock

    storage = tmp_path / "lk.sqlite"
    (tmp_path / "lklink.sqlite").symlink_to(storage.name)
    (tmp_path / "folder").symlink_to(tmp_path, target_is_directory=True)
    key = "0123456789abcdef" * 4
    with storage_lock(storage, study=key):
        for other in (tmp_path / "lklink.sqlite", tmp_path / "folder" / "lk.sqlite"):
            with pytest.raises(UsageError, match=f"another merbench tune of the same options, dataset and space is "
                                                 f"using {other}"):
                with storage_lock(other, study=key):
                    pass
        lock = tmp_path / f"lk.sqlite.{key[:16]}.lock"
        assert lock.exists() and lock in storage_files(tmp_path / "lklink.sqlite").values(), \
            "no output may replace the lock, named through the link either"
    with storage_lock(tmp_path / "lklink.sqlite", study=key):  # once the first is done, the linked name may tune
        assert lock.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "lklink.sqlite"]


def test_without_posix_file_locks_the_tune_runs_unlocked_and_says_so(tmp_path, monkeypatch):
    import sys

    from merbench.tuning_storage import storage_lock

    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl fails, as on Windows
    storage = tmp_path / "t.sqlite"
    with pytest.warns(UserWarning, match=r"no POSIX file locks \(fcntl\), so a second merbench tune of the same options on .*t\.sqlite"):
        with storage_lock(storage):
            ran = True
    assert ran and not (tmp_path / "t.sqlite.lock").exists()


def test_with_sqlalchemy_before_2_1_a_name_it_cannot_write_in_a_url_is_refused(tmp_path, monkeypatch):
    """SQLAlchemy 2.0 (the newest on Python 3.10) writes the file name into the URL as it is: 't?mode=ro.sqlite' then
    opened 't', and the trials went into another file."""
    from sqlalchemy.engine import URL

    monkeypatch.setattr(URL, "render_as_string", lambda self, hide_password=True: f"sqlite:///{self.database}")
    path = check_storage(tmp_path / "t?mode=ro.sqlite", given=True)
    with pytest.raises(UsageError, match=r"--storage .*t\?mode=ro\.sqlite: SQLAlchemy .* cannot name a file whose "
                                         r"name has \?, # or % in a URL"):
        open_storage(optuna, path)
    assert list(tmp_path.iterdir()) == []
    plain = check_storage(tmp_path / "t.sqlite", given=True)
    open_storage(optuna, plain)  # a plain name is written as it is by every SQLAlchemy
    assert [p.name for p in tmp_path.iterdir()] == ["t.sqlite"]


def test_a_symbolic_link_loop_as_storage_is_one_message_where_resolve_returns_it(tmp_path, resolve_as_on_python_3_13):
    """Python 3.13's Path.resolve returns a link loop instead of raising RuntimeError."""
    loop = tmp_path / "loop.sqlite"
    loop.symlink_to(loop)
    with pytest.raises(UsageError, match=r"--storage .*loop\.sqlite: cannot be used \(Symlink loop"):
        check_storage(loop, given=True)
