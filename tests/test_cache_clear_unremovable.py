"""``merbench cache clear`` when a file cannot be deleted (immutable, or not the user's): it said "Removed ..." and
exited 0, leaving the part it had moved aside to delete (``.preprocess.deleting.PID.NS``), and every later clear said
"Removed 1 folder an interrupted clear left" while the folder stayed. Now each says "could not remove", naming it."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def undeletable(monkeypatch):
    """Files named ``stuck.npy`` cannot be deleted, as under ``chattr +i`` (root deletes anything else)."""
    unlink = os.unlink

    def refuse(path, *args, **kwargs):
        if os.fspath(path).endswith("stuck.npy"):
            raise PermissionError(1, "Operation not permitted", os.fspath(path))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refuse)


def test_clear_names_the_file_it_could_not_delete_instead_of_saying_removed(run_cli, fresh_cache, undeletable):
    (fresh_cache / "preprocess" / "1b").mkdir(parents=True)
    (fresh_cache / "preprocess" / "1b" / "stuck.npy").write_bytes(b"x" * 100)
    (fresh_cache / "preprocess" / "1b" / "other.npy").write_bytes(b"y" * 100)
    (fresh_cache / "synthetic").mkdir()
    result = run_cli("cache", "clear", "--yes")
    said = " ".join(result.err.split())
    assert result.code == 2 and "Removed" not in result.out, (result.out, said)
    [aside] = fresh_cache.glob(".preprocess.deleting.*")
    assert f"could not remove {aside} (it still holds 1b/stuck.npy)" in said, said
    assert not (aside / "1b" / "other.npy").exists() and not (fresh_cache / "synthetic").exists()
    again = run_cli("cache", "clear", "--yes")  # the leftover of the first: still there, so not "Removed"
    assert again.code == 2 and "Removed" not in again.out and f"could not remove {aside}" in " ".join(again.err.split())


def test_clear_of_an_interrupted_clears_folder_it_cannot_delete_says_so(run_cli, fresh_cache, undeletable):
    aside = fresh_cache / ".synthetic.deleting.4242.1796503920532241168"
    (aside / "0123456789abcdef").mkdir(parents=True)
    (aside / "0123456789abcdef" / "stuck.npy").write_bytes(b"x")
    result = run_cli("cache", "clear", "--yes")
    assert result.code == 2 and "Removed" not in result.out
    assert f"could not remove {aside}" in " ".join(result.err.split()) and aside.is_dir()
