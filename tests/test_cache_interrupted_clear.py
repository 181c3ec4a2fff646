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
