"""What an interrupted ``merbench cache clear`` leaves in a cache part that is a symbolic link (the cache on a bigger
disk): the entries it had moved aside in the link's target (``.ab.deleting.PID.NS``). ``cache info`` called the part
"not merbench's" and every later ``clear`` refused it ("was not made by merbench"), though the interrupted clear had
said to run it again; now they are leftovers that info counts and clear removes, keeping the link."""

from __future__ import annotations

import json

import pytest

ASIDE = "deleting.4242.1796503920532241168"


@pytest.mark.parametrize("part, entry, folder", [("preprocess", "ab", True), ("preprocess", "index", True),
                                                 ("synthetic", "0123456789abcdef", True),
                                                 ("synthetic", ".gen.json.x1y2.tmp", False)],
                         ids=["preprocess-entries", "preprocess-index", "synthetic-dataset", "synthetic-tmp-file"])
def test_an_interrupted_clear_of_a_linked_part_is_finished_by_the_next(run_cli, fresh_cache, tmp_path, part, entry,
                                                                        folder):
    bigger_disk = tmp_path / "disk" / part
    bigger_disk.mkdir(parents=True)
    fresh_cache.mkdir()
    (fresh_cache / part).symlink_to(bigger_disk)
    aside = bigger_disk / f".{entry}.{ASIDE}"  # as _remove names what it moves aside
    if folder:
        aside.mkdir()
        (aside / "entry.npy").write_bytes(b"x" * 2048)
    else:
        aside.write_bytes(b"x" * 2048)
    target = tmp_path / "info.json"
    info = run_cli("cache", "info", "--json", str(target))
    summary = json.loads(target.read_text())
    assert info.code == 0 and summary["parts"][part]["not_merbench"] == [] and "not merbench's" not in info.out
    assert summary["temporary_files"] == 1 and summary["temporary_bytes"] == 2048
    result = run_cli("cache", "clear", "--yes")
    assert result.code == 0, result.err
    assert "Removed" in result.out and not aside.exists() and not any(bigger_disk.iterdir())
    assert (fresh_cache / part).is_symlink()


def test_a_users_hidden_name_like_a_moved_aside_one_is_still_refused(run_cli, fresh_cache, tmp_path):
    """Only what clear moves aside of merbench's own entries counts as merbench's."""
    bigger_disk = tmp_path / "disk" / "preprocess"
    bigger_disk.mkdir(parents=True)
    fresh_cache.mkdir()
    (fresh_cache / "preprocess").symlink_to(bigger_disk)
    (bigger_disk / f".notes.{ASIDE}").write_text("mine")
    result = run_cli("cache", "clear", "--yes")
    assert result.code == 2 and "was not made by merbench" in result.err
    assert (bigger_disk / f".notes.{ASIDE}").read_text() == "mine"
