"""An output path inside the folders merbench owns in its cache (``preprocess/``, ``synthetic/``, ``model-facts/``):
``cache info --json $MERBENCH_CACHE/preprocess/foo.json`` wrote it (exit 0), and every later ``cache clear`` refused
the part as "not made by merbench". Now such a path is refused before any work, exit 2, saying where to write."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("part, entry", [("preprocess", "ab"), ("synthetic", "0123456789abcdef"),
                                         ("model-facts", "0" * 64 + ".json")])
def test_json_inside_a_cache_part_is_refused_and_clear_still_empties_it(run_cli, fresh_cache, part, entry):
    (fresh_cache / part / entry).mkdir(parents=True)
    target = fresh_cache / part / "foo.json"
    result = run_cli("cache", "info", "--json", str(target))
    said = " ".join(result.err.split())
    assert result.code == 2 and not target.exists(), said
    assert (f"--json {target}: lies inside merbench's cache folder {fresh_cache / part}, which holds only what "
            "merbench makes there; give a file name outside it, e.g. --json foo.json") in said
    assert run_cli("cache", "clear", "--yes").code == 0


def test_json_into_the_target_of_a_linked_cache_part_is_refused(run_cli, fresh_cache, tmp_path):
    bigger_disk = tmp_path / "disk" / "preprocess"
    (bigger_disk / "index").mkdir(parents=True)
    fresh_cache.mkdir()
    (fresh_cache / "preprocess").symlink_to(bigger_disk)
    result = run_cli("cache", "info", "--json", str(bigger_disk / "index" / "x.json"))
    assert result.code == 2 and "merbench's cache folder" in result.err and not (bigger_disk / "index" / "x.json").exists()


@pytest.mark.parametrize("folder", ["synthetic", "synthetic/figures"])
def test_figures_into_a_cache_part_are_refused(run_cli, fresh_cache, folder):
    (fresh_cache / "synthetic").mkdir(parents=True)
    result = run_cli("report", "--figures", str(fresh_cache / folder))
    said = " ".join(result.err.split())
    assert result.code == 2 and f"merbench's cache folder {fresh_cache / 'synthetic'}" in said, said
    assert "give a folder outside it" in said and not (fresh_cache / "synthetic" / "figures").exists()


def test_json_beside_the_cache_parts_is_still_written(run_cli, fresh_cache):
    fresh_cache.mkdir()
    assert run_cli("cache", "info", "--json", str(fresh_cache / "info.json")).code == 0
    assert (fresh_cache / "info.json").is_file()


@pytest.mark.parametrize("how", ["--store", "MERBENCH_STORE"])
def test_a_results_store_inside_a_cache_part_is_refused(run_cli, fresh_cache, monkeypatch, how):
    """``run --store $MERBENCH_CACHE/preprocess/runs.sqlite`` stored its run there, after which ``cache clear``
    refused to empty preprocess/ ("not made by merbench")."""
    (fresh_cache / "preprocess" / "ab").mkdir(parents=True)
    store = fresh_cache / "preprocess" / "runs.sqlite"
    given = ("--store", str(store)) if how == "--store" else ()
    if how == "MERBENCH_STORE":
        monkeypatch.setenv("MERBENCH_STORE", str(store))
    result = run_cli("run", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet", *given)
    said = " ".join(result.err.split())
    option = "--store" if how == "--store" else "$MERBENCH_STORE"
    assert result.code == 2 and not store.exists(), said
    assert (f"{option} {store}: lies inside merbench's cache folder {fresh_cache / 'preprocess'}, which holds only "
            "what merbench makes there; give ") in said
    assert run_cli("cache", "clear", "--yes").code == 0


@pytest.mark.parametrize("option", ["--storage", "the trials storage"])
def test_tune_trials_storage_inside_a_cache_part_is_refused(fresh_cache, option):
    import argparse

    from merbench.errors import UsageError
    from merbench.outputs import check_store_outside_datasets

    (fresh_cache / "synthetic").mkdir(parents=True)
    args = argparse.Namespace(root=None, config=None, sets=[], dataset="synthetic")
    with pytest.raises(UsageError, match=f"{option} {fresh_cache / 'synthetic' / 't.sqlite'}: lies inside merbench's "
                                         f"cache folder {fresh_cache / 'synthetic'}, which holds only what merbench "
                                         "makes there; give a file outside it with --storage PATH"):
        check_store_outside_datasets(args, fresh_cache / "synthetic" / "t.sqlite", option)
