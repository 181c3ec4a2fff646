"""A cache that cannot take a write (a folder where a file belongs, a read-only folder) is one message and exit 2,
never a traceback; a failed write leaves the entry's data and checksum as they were."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from merbench.cache import make_cache_folder, write_cache_file
from merbench.errors import UsageError

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=3", "dataset.size=16", "dataset.frames=6",
        "protocol.n_splits=2", "engine.epochs=1"]


def test_a_folder_where_a_cache_file_belongs_is_one_message(tmp_path):
    target = tmp_path / "entry.npy"
    target.mkdir()
    with pytest.raises(UsageError, match=r"cannot write the cache file .*entry.npy .*merbench cache clear"):
        write_cache_file(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.npy"], "no temporary file is left"


def test_a_damaged_cache_entry_in_a_run_is_exit_2_naming_the_file(run_cli, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    command = ["run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--no-store", *TINY]
    assert run_cli(*command).code == 0
    [index] = [p for p in (cache / "preprocess" / "index").glob("*.json")]
    index.unlink()
    index.mkdir()  # something else now sits where the run writes its index
    result = run_cli(*command)
    assert result.code == 2 and "Traceback" not in result.err
    assert f"cannot write the cache file {index}" in " ".join(result.err.split())


def test_a_read_only_cache_folder_is_refused_before_the_run(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == folder else real_access(path, mode))
    with pytest.raises(UsageError, match="the folder cannot be written .read-only.; point MERBENCH_CACHE"):
        make_cache_folder(folder)


def test_quiet_hides_progress_but_not_a_damaged_cache_warning(run_cli, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    command = ["run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--no-store", *TINY]
    assert run_cli(*command).code == 0
    bundle = next((cache / "preprocess" / "index").glob("*.npy"))
    bundle.write_bytes(os.urandom(bundle.stat().st_size))
    result = run_cli(*command)
    assert result.code == 0 and "does not match its checksum" in result.err
    assert "Preprocessing" not in result.err and "Folds" not in result.err


@pytest.mark.parametrize("quiet", [["--quiet"], []], ids=["quiet", "progress"])
def test_preprocess_says_a_damaged_cache_entry_was_recomputed_as_run_does(run_cli, tmp_path, monkeypatch, quiet):
    cache = tmp_path / "cache [x]"
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    command = ["preprocess", "--dataset", "synthetic", "--profile", "quick", *quiet, *TINY]
    assert run_cli(*command).code == 0
    bundle = next((cache / "preprocess" / "index").glob("*.npy"))
    bundle.write_bytes(os.urandom(bundle.stat().st_size))
    result = run_cli(*command)
    assert result.code == 0 and "Warning:" in result.err and "does not match its checksum" in result.err
    assert bundle.name in result.err and "cache [x]" in result.err and "\\[" not in result.err, \
        "the file is named as it is: brackets in its path are not escaped twice"


@pytest.mark.parametrize("quiet", [["--quiet"], []], ids=["quiet", "progress"])
def test_run_names_a_damaged_entry_whose_path_has_brackets_as_it_is(run_cli, tmp_path, monkeypatch, quiet):
    """Warnings go through progress.message, which shows text literally: escaping it first showed a backslash."""
    cache = tmp_path / "cache [x]"
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    command = ["run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", *quiet, "--no-store", *TINY]
    assert run_cli(*command).code == 0
    bundle = next((cache / "preprocess" / "index").glob("*.npy"))
    bundle.write_bytes(os.urandom(bundle.stat().st_size))
    result = run_cli(*command)
    assert result.code == 0 and "does not match its checksum" in result.err
    assert "cache [x]" in result.err and "\\[" not in result.err
