"""Paths and plugin details are printed literally: a folder named ``[red]x`` is not Rich markup."""

from __future__ import annotations


def test_store_cache_and_preprocessing_details_print_brackets_literally(run_cli, tmp_path, monkeypatch):
    folder = tmp_path / "[red]x"
    folder.mkdir()
    monkeypatch.setenv("MERBENCH_CACHE", str(folder / "cache"))
    store = folder / "results.sqlite"
    ran = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--store", str(store))
    assert ran.code == 0, ran.err
    said = " ".join(ran.err.split())
    assert f"in {store} (merbench show" in said
    prepared = run_cli("preprocess", "--dataset", "synthetic", "--model", "ststnet", "--profile", "quick")
    assert prepared.code == 0, prepared.err
    assert f"Cache: {folder / 'cache'} (see" in prepared.out
    cleared = run_cli("cache", "clear")
    assert cleared.code == 2 and f"from {folder / 'cache'}, " in " ".join(cleared.err.split())
    cleared = run_cli("cache", "clear", "--yes")
    assert cleared.code == 0 and f"from {folder / 'cache'} (" in " ".join(cleared.out.split())
