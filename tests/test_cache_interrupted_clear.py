"""What an interrupted ``merbench cache clear`` leaves (the part it had moved aside to delete,
``.preprocess.deleting.PID.NS``): ``cache info`` counts it among the leftovers (it called it "not managed by cache
clear"), the dry run names it, the next ``clear --yes`` removes it, and a clear stopped part-way says how to finish."""

from __future__ import annotations

import json

import pytest

import merbench.commands.cache as cache_command


@pytest.fixture
def interrupted_clear(fresh_cache):
    aside = fresh_cache / ".preprocess.deleting.4242.1796503920532241168"
    (aside / "ab").mkdir(parents=True)
    (aside / "ab" / "entry.npy").write_bytes(b"x" * 2048)
    return aside


def test_cache_info_counts_it_among_the_leftovers(run_cli, interrupted_clear, tmp_path):
    target = tmp_path / "info.json"
    result = run_cli("cache", "info", "--json", str(target))
    assert result.code == 0, result.err
    summary = json.loads(target.read_text())
    assert summary["temporary_files"] == 1 and summary["temporary_bytes"] == 2048
    assert summary["other"] == [] and "not managed" not in result.out


def test_the_dry_run_names_it_and_clear_removes_it(run_cli, interrupted_clear):
    dry = run_cli("cache", "clear")
    assert dry.code == 2 and "1 folder an interrupted clear left (.preprocess.deleting." in " ".join(dry.err.split())
    assert interrupted_clear.exists()
    assert run_cli("cache", "clear", "--yes").code == 0
    assert not interrupted_clear.exists()


def test_a_clear_stopped_part_way_says_how_to_finish(run_cli, fresh_cache, monkeypatch):
    (fresh_cache / "preprocess" / "ab").mkdir(parents=True)

    def stopped(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_command, "_remove", stopped)
    result = run_cli("cache", "clear", "--yes")
    assert result.code == 130
    assert "run `merbench cache clear --yes` again to finish" in " ".join(result.err.split())


def test_clear_counts_what_it_removes_of_an_interrupted_clear(run_cli, interrupted_clear, fresh_cache):
    """It said "Removed nothing ... (0 B)" while it deleted the folder an earlier clear had moved aside."""
    result = run_cli("cache", "clear", "--yes")
    assert result.code == 0, result.err
    said = " ".join(result.out.split())
    assert (f"Removed 1 folder an interrupted clear left (.preprocess.deleting.4242.1796503920532241168) from "
            f"{fresh_cache} (2.0 KiB)") in said, said
    assert not interrupted_clear.exists()


def test_a_folder_already_moved_aside_is_not_renamed_again(interrupted_clear, monkeypatch):
    """Each interrupted clear lengthened its name by another ``.deleting.PID.NS``, until a rename would fail."""
    renamed = []
    monkeypatch.setattr(cache_command.os, "replace", lambda source, target: renamed.append((source, target)))
    cache_command._remove(interrupted_clear)
    assert renamed == [] and not interrupted_clear.exists()


def test_cache_info_counts_one_leftover_in_the_singular(run_cli, interrupted_clear):
    result = run_cli("cache", "info")
    assert "1 temporary file or folder (2.0 KiB" in " ".join(result.out.split()), result.out
