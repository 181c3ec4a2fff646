"""Fault cases of output paths (issue 17 item 1) and the modes of written files (issue 15).

Every output path is checked before any work: the results store, other SQLite
files, folders, devices and FIFOs are refused with exit code 2 and left as they
were; a symlink is written through; ``-`` is stdout; an unwritable folder is
found before training. Written files follow the user's umask.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from merbench.cache import atomic_write_bytes
from merbench.cli import main
from merbench.store import ResultStore


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def stored(tmp_path_factory, session_cache) -> dict:
    """One quick run recorded in a private store, its result printed with ``--json -``."""
    store = tmp_path_factory.mktemp("outputs-store") / "r.sqlite"
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--store", str(store), "--json", "-"])
    assert code == 0, err.getvalue()
    return {"store": store, "stdout": out.getvalue(), "result": json.loads(out.getvalue())}


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it after."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


def _refused(result, *words: str) -> None:
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err, result.err


def _n_runs(store: Path) -> int:
    with ResultStore(store) as opened:
        return len(opened.list_runs())


# ------------------------------------------------------------------ the store and other SQLite files


def test_show_json_onto_its_own_store_is_refused_and_the_store_is_untouched(stored, run_cli):
    store, run_id = stored["store"], stored["result"]["run_id"]
    before = _digest(store)
    result = run_cli("show", run_id, "--store", str(store), "--json", str(store))
    _refused(result, "--json", str(store), "results store")
    assert _digest(store) == before
    assert run_cli("show", run_id, "--store", str(store)).code == 0


def test_the_stores_side_files_are_protected_too(stored, run_cli):
    store, run_id = stored["store"], stored["result"]["run_id"]
    result = run_cli("show", run_id, "--store", str(store), "--json", f"{store}-wal")
    _refused(result, "--json", "results store")


def test_a_symlink_to_the_store_is_refused(stored, run_cli, tmp_path):
    store, run_id = stored["store"], stored["result"]["run_id"]
    link = tmp_path / "innocent.json"
    link.symlink_to(store)
    before = _digest(store)
    result = run_cli("show", run_id, "--store", str(store), "--json", str(link))
    _refused(result, "--json", "results store")
    assert link.is_symlink() and _digest(store) == before


def test_another_sqlite_file_is_not_overwritten(stored, run_cli, tmp_path):
    other = tmp_path / "other.sqlite"
    shutil.copyfile(stored["store"], other)
    before = _digest(other)
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", str(other))
    _refused(result, "--json", "SQLite")
    assert _digest(other) == before


def test_run_json_onto_the_store_is_refused_before_a_run_is_recorded(stored, run_cli, tmp_path):
    store = tmp_path / "s.sqlite"
    shutil.copyfile(stored["store"], store)
    runs_before, digest_before = _n_runs(store), _digest(store)
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--store", str(store), "--json", str(store))
    _refused(result, "--json", "results store")
    assert _digest(store) == digest_before
    assert _n_runs(store) == runs_before


def test_report_output_onto_the_store_is_refused(stored, run_cli):
    store = stored["store"]
    before = _digest(store)
    result = run_cli("report", "--store", str(store), "--output", str(store), "--format", "csv")
    _refused(result, "--output", "results store")
    assert _digest(store) == before


# ------------------------------------------------------------------ folders, devices, FIFOs, symlinks


def test_a_folder_is_refused_and_left_alone(stored, run_cli, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", str(folder))
    _refused(result, "--json", "is a folder")
    assert folder.is_dir() and (folder / "keep.txt").read_text() == "keep"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_device_node_is_not_replaced(stored, run_cli):
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", "/dev/full")
    _refused(result, "--json", "/dev/full", "not a regular file")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_fifo_is_not_replaced_nor_opened(stored, run_cli, tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", str(fifo))
    _refused(result, "--json", "not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_is_written_through_and_survives(stored, run_cli, tmp_path):
    target = tmp_path / "real" / "result.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", str(link))
    assert result.code == 0, result.err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["run_id"] == stored["result"]["run_id"]


def test_a_dangling_symlink_creates_its_target(stored, run_cli, tmp_path):
    target = tmp_path / "new.json"
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", str(link))
    assert result.code == 0, result.err
    assert link.is_symlink() and json.loads(target.read_text())["run_id"] == stored["result"]["run_id"]


def test_a_symlink_loop_is_refused(stored, run_cli, tmp_path):
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", str(loop))
    _refused(result, "--json", str(loop))
    assert loop.is_symlink()


def test_a_symlink_loop_is_refused_where_resolve_returns_it(stored, run_cli, tmp_path, resolve_as_on_python_3_13):
    """Python 3.13's Path.resolve returns a link loop instead of raising: the output was then written, replacing the
    user's link with a file."""
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", str(loop))
    _refused(result, "--json", str(loop))
    assert loop.is_symlink()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write read-only files")
def test_a_read_only_file_is_refused(stored, run_cli, tmp_path):
    target = tmp_path / "ro.json"
    target.write_text("mine")
    target.chmod(0o444)
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", str(target))
    _refused(result, "--json", "read-only")
    assert target.read_text() == "mine"


# ------------------------------------------------------------------ stdout


def test_run_json_dash_prints_only_the_json_to_stdout(stored):
    assert stored["stdout"].lstrip().startswith("{")
    assert stored["result"]["model"] == "lbptop-svm" and stored["result"]["run_id"]


def test_show_json_dash_prints_only_the_json_to_stdout(stored, run_cli):
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", "-")
    assert result.code == 0, result.err
    assert json.loads(result.out)["run_id"] == stored["result"]["run_id"]
    assert "Run " in result.err  # the tables go to stderr
    assert not Path("-").exists()


def test_dev_stdout_means_stdout(stored, run_cli):
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", "/dev/stdout")
    assert result.code == 0, result.err
    assert json.loads(result.out)["run_id"] == stored["result"]["run_id"]


def test_report_output_dash_needs_a_format_and_then_prints(stored, run_cli):
    _refused(run_cli("report", "--store", str(stored["store"]), "--output", "-"), "--output -", "--format")
    result = run_cli("report", "--store", str(stored["store"]), "--output", "-", "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["models"] == ["lbptop-svm"]


def test_cache_info_json_dash_prints_only_the_json(run_cli):
    result = run_cli("cache", "info", "--json", "-")
    assert result.code == 0, result.err
    assert "entries" in json.loads(result.out)


# ------------------------------------------------------------------ unwritable or missing folders, before any work


def test_unwritable_json_with_no_store_fails_before_training(run_cli, monkeypatch):
    import merbench.recording

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the --json path was checked")

    monkeypatch.setattr(merbench.recording, "run_recorded", no_training)
    started = time.monotonic()
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--json", "/proc/merbench-result.json")
    _refused(result, "--json", "/proc/merbench-result.json")
    assert time.monotonic() - started < 20


def test_unwritable_json_records_no_run(run_cli, tmp_path):
    store = tmp_path / "s.sqlite"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--store", str(store), "--json", "/proc/merbench-result.json")
    _refused(result, "--json", "cannot create a file")
    assert not store.exists() or _n_runs(store) == 0


@pytest.mark.parametrize("command", [
    ["preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet"],
    ["cache", "info"],
    ["grid", "--models", "lbptop-svm", "--datasets", "synthetic", "--profile", "quick", "--quiet", "--no-store"],
])
def test_other_commands_check_json_first(run_cli, monkeypatch, tmp_path, command):
    import merbench.grid
    import merbench.preprocess

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the --json path was checked")

    monkeypatch.setattr(merbench.preprocess, "preprocess_dataset", no_work)
    monkeypatch.setattr(merbench.grid, "run_grid", no_work)
    _refused(run_cli(*command, "--json", "/proc/merbench.json"), "--json", "/proc/merbench.json")
    _refused(run_cli(*command, "--json", str(tmp_path)), "--json", "is a folder")
    _refused(run_cli(*command, "--json", str(tmp_path / "no" / "such" / "x.json")), "does not exist", "mkdir -p")


def test_a_parent_that_is_a_file_is_refused(stored, run_cli, tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    result = run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", str(plain / "r.json"))
    _refused(result, "--json", "is not a folder")


def test_report_figures_onto_a_file_is_refused_before_reading_the_store(stored, run_cli, tmp_path):
    plain = tmp_path / "figs"
    plain.write_text("not a folder")
    result = run_cli("report", "--store", str(stored["store"]), "--figures", str(plain))
    _refused(result, "--figures", "is a file")
    assert plain.read_text() == "not a folder"
    _refused(run_cli("report", "--store", str(stored["store"]), "--figures", "/proc/merbench-figures"), "--figures")


# ------------------------------------------------------------------ file modes (issue 15)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_follow_umask_022(stored, run_cli, tmp_path, umask):
    umask(0o022)
    store, run_id = str(stored["store"]), stored["result"]["run_id"]
    assert run_cli("show", run_id, "--store", store, "--json", str(tmp_path / "r.json")).code == 0
    result = run_cli("report", "--store", store, "--output", str(tmp_path / "report.html"),
                     "--figures", str(tmp_path / "figures"))
    assert result.code == 0, result.err
    pngs = sorted((tmp_path / "figures").glob("*.png"))
    assert len(pngs) == 2
    for path in [tmp_path / "r.json", tmp_path / "report.html", *pngs]:
        assert _mode(path) == 0o644, (path, oct(_mode(path)))


def test_written_files_follow_a_strict_umask(stored, run_cli, tmp_path, umask):
    umask(0o077)
    assert run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]),
                   "--json", str(tmp_path / "r.json")).code == 0
    assert _mode(tmp_path / "r.json") == 0o600
    umask(0o002)
    atomic_write_bytes(tmp_path / "entry.bin", b"x")
    assert _mode(tmp_path / "entry.bin") == 0o664


def test_a_replaced_file_keeps_its_mode(stored, run_cli, tmp_path, umask):
    umask(0o022)
    target = tmp_path / "r.json"
    target.write_text("old")
    target.chmod(0o640)
    assert run_cli("show", stored["result"]["run_id"], "--store", str(stored["store"]), "--json", str(target)).code == 0
    assert _mode(target) == 0o640 and json.loads(target.read_text())["run_id"] == stored["result"]["run_id"]


@pytest.mark.parametrize("command, message", [
    (["report", "--figures", "-"], "--figures -: figures are PNG files written into a folder, not to standard output"),
    (["report", "--output", "{tmp}"], "--output {tmp}: is a folder; give a file name such as {tmp}/report.html"),
    (["regress", "--baseline", "{tmp}", "--update"], "--baseline {tmp}: is a folder; give a file name such as "
                                                      "{tmp}/baseline.yaml"),
    (["regress", "--baseline", "{tmp}", "--update", "--add-missing"], "--baseline {tmp}: is a folder; give a file "
                                                                      "name such as {tmp}/baseline.yaml"),
    (["show", ""], "an empty run id; give a run's id or the start of it"),
    (["compare", ""], "an empty run id; give a run's id or the start of it"),
])
def test_a_dash_for_figures_a_folder_for_output_and_an_empty_run_id_are_named(command, message, run_cli, tmp_path,
                                                                              monkeypatch):
    from merbench.store import ResultStore

    store = tmp_path / "results.sqlite"
    ResultStore(store).close()
    monkeypatch.chdir(tmp_path)
    result = run_cli(*[part.format(tmp=tmp_path) for part in command], "--store", str(store))
    assert result.code == 2 and "Traceback" not in result.err
    assert message.format(tmp=tmp_path) in " ".join(result.err.split())
    assert not (tmp_path / "-").exists()


def test_a_read_only_file_system_is_named_as_one_not_as_permissions(run_cli, tmp_path, monkeypatch):
    """On a read-only mount (statvfs says ST_RDONLY) chmod cannot help; the message must not suggest it."""
    import os

    import merbench.outputs
    import merbench.store
    from merbench.store import ResultStore

    store, folder = tmp_path / "results.sqlite", tmp_path / "out"
    ResultStore(store).close()
    folder.mkdir()
    real_access = os.access
    read_only = {store, folder}
    monkeypatch.setattr(os, "access", lambda path, mode, *a, **k: (Path(path) not in read_only or not mode & os.W_OK)
                        and real_access(path, mode, *a, **k))
    for module in (merbench.outputs, merbench.store):
        monkeypatch.setattr(module, "on_read_only_file_system", lambda path: Path(path) in read_only)
    written = run_cli("report", "--output", str(folder / "r.md"), "--store", str(store))
    assert written.code == 2 and f"the folder {folder} lies on a read-only file system" in " ".join(written.err.split())
    recorded = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                       "--store", str(store))
    said = " ".join(recorded.err.split())
    assert recorded.code == 2 and "it lies on a read-only file system" in said and "chmod" not in said


def test_an_output_reaches_the_disk_before_it_replaces_the_old_file(tmp_path, monkeypatch):
    """After a power loss a result, report or baseline is the old file or the new one, never an empty one: its data
    is synced before the rename (the cache, which can be computed again, is not)."""
    from merbench import cache
    from merbench.outputs import write_output

    events = []
    monkeypatch.setattr(cache.os, "fsync", lambda fd: events.append(("fsync", os.fstat(fd).st_size)))
    real_replace = cache.os.replace
    monkeypatch.setattr(cache.os, "replace", lambda a, b: (events.append(("replace", Path(b).name)), real_replace(a, b)))
    target = tmp_path / "result.json"
    write_output(target, '{"uf1": 0.7}')
    assert events == [("fsync", len('{"uf1": 0.7}\n')), ("replace", "result.json")]
    assert target.read_text() == '{"uf1": 0.7}\n', "a text output ends with a newline"
    events.clear()
    cache.write_cache_file(tmp_path / "entry.json", "{}")
    assert [kind for kind, _ in events] == ["replace"]
