"""``merbench cache``: its table at 80 columns and in a pipe, and a MERBENCH_CACHE that is not a folder."""

from __future__ import annotations

import json

import pytest

BOX = set("┃│━─┏┓┗┛┡┩└┘╇╋┳┻")
ELLIPSIS = "…"
TINY = ["--set", "dataset.subjects=2", "dataset.clips_per_subject=3", "dataset.size=32", "dataset.frames=8"]


@pytest.fixture
def filled_cache(run_cli, fresh_cache, tmp_path):
    """A cache holding one tiny preprocessed dataset; returns ``cache info``'s JSON row for it."""
    result = run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY)
    assert result.code == 0, result.err
    target = tmp_path / "info.json"
    assert run_cli("cache", "info", "--json", str(target)).code == 0
    [row] = json.loads(target.read_text())["chains"]
    assert len(row["params"]) > 60, "the parameters must be longer than their room at 80 columns"
    return row


def test_cache_info_at_80_columns_wraps_the_parameters_and_cuts_nothing(filled_cache, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("--format", "table", "cache", "info")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert ELLIPSIS not in result.out
    assert max(len(line) for line in lines) <= 80
    assert BOX & set(result.out), "expected a Rich table on a terminal"
    rows = [line for line in lines if line.startswith("│")]
    assert rows[0].split("│")[1].strip() == "synthetic" and "6/6" in rows[0]
    parameters = " ".join(line.split("│")[-2] for line in rows)  # the last column, wrapped over lines
    assert "".join(parameters.split()) == "".join(filled_cache["params"].split()), "every character is shown"


@pytest.mark.parametrize("flags", [[], ["--format", "plain"]])
def test_cache_info_in_a_pipe_is_plain_rows_with_whole_parameters(filled_cache, run_cli, monkeypatch, flags):
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli(*flags, "cache", "info")
    assert result.code == 0, result.err
    assert not BOX & set(result.out) and ELLIPSIS not in result.out
    [row] = [line for line in result.out.splitlines() if line.startswith("synthetic ")]
    assert row.split()[:5] == ["synthetic", "flow", filled_cache["produces"], "3×16×16", "6/6"]
    assert row.endswith(filled_cache["params"])


def test_cache_info_of_an_empty_cache_says_so(run_cli, fresh_cache):
    result = run_cli("cache", "info")
    assert result.code == 0, result.err
    assert f"No preprocessed inputs in {fresh_cache}." in result.out
    assert not fresh_cache.exists(), "reading the cache creates no folder"


def test_a_generation_killed_midway_leaves_a_folder_that_info_counts_and_clear_removes(filled_cache, run_cli,
                                                                                        fresh_cache, tmp_path):
    """A run killed (SIGKILL) while generating the synthetic data leaves its hidden temporary folder behind."""
    left = fresh_cache / "synthetic" / ".0123456789abcdef.k1ll3d"
    (left / "clips").mkdir(parents=True)
    (left / "clips" / "frame.png").write_bytes(b"x" * 1000)
    (fresh_cache / "preprocess" / ".entry.npy.123.tmp").write_bytes(b"y" * 24)
    target = tmp_path / "info.json"
    info = run_cli("cache", "info", "--json", str(target))
    assert info.code == 0, info.err
    assert "2 temporary files or folders (1.0 KiB, left by interrupted writes; `merbench cache clear --yes` removes " \
           "them)" in " ".join(info.out.split())
    summary = json.loads(target.read_text())
    assert (summary["temporary_files"], summary["temporary_bytes"]) == (2, 1024)
    assert run_cli("cache", "clear", "--yes").code == 0 and not left.exists()


# ------------------------------------------------------------------ MERBENCH_CACHE is not a folder

RUN = ["run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--no-store", *TINY]


@pytest.mark.parametrize("command", [["cache", "info"], ["cache", "clear", "--yes"], RUN,
                                     ["preprocess", "--dataset", "synthetic", "--quiet", *TINY]])
@pytest.mark.parametrize("under", [False, True])
def test_a_cache_path_that_is_a_file_is_one_clear_error(command, under, run_cli, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("someone's file\n")
    cache = blocker / "cache" if under else blocker
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    result = run_cli(*command)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err and "FileExistsError" not in result.err
    text = " ".join(result.err.split())
    assert f"MERBENCH_CACHE={cache}" in text and "not a folder" in text
    assert (f"lies under {blocker}, which is a file" if under else "is a file") in text
    assert "point MERBENCH_CACHE at a folder" in text
    assert len(result.err.strip().splitlines()) <= 3, "one message"
    assert blocker.read_text() == "someone's file\n"


def test_a_cache_folder_that_cannot_be_created_is_one_clear_error(monkeypatch):
    from pathlib import Path

    from merbench.cache import cache_root
    from merbench.errors import UsageError

    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc, where no folder can be created (even by root)")
    monkeypatch.setenv("MERBENCH_CACHE", "/proc/merbench-no-such/cache")
    assert cache_root(create=False) == Path("/proc/merbench-no-such/cache")
    with pytest.raises(UsageError, match="MERBENCH_CACHE=/proc/merbench-no-such/cache: cannot create the folder .*"
                                         "point MERBENCH_CACHE at a folder"):
        cache_root()


@pytest.mark.parametrize("command", [["run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick",
                                      "--no-store", "--quiet", *TINY],
                                     ["preprocess", "--dataset", "synthetic", "--quiet", *TINY]])
def test_commands_that_fill_a_cache_folder_that_cannot_be_created_say_so(command, run_cli, monkeypatch):
    from pathlib import Path

    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc, where no folder can be created (even by root)")
    monkeypatch.setenv("MERBENCH_CACHE", "/proc/merbench-no-such/cache")
    result = run_cli(*command)
    assert result.code == 2 and "Traceback" not in result.err
    assert "MERBENCH_CACHE=/proc/merbench-no-such/cache: cannot create the folder" in " ".join(result.err.split())
