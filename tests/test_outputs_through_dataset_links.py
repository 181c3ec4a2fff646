"""Outputs and the cache where a link in a dataset folder leads (CASME II's clip folder kept on another disk): what a
link leads to is read as part of the dataset, so merbench writes inside none of it. Before, `--json` was written
into the link's target and a cache made there, since only --root itself (and what lies inside it as written) was
checked."""

from __future__ import annotations

import pytest

import realtrees as rt
from merbench.datafiles import check_cache_outside
from merbench.errors import UsageError


@pytest.fixture
def linked_casme2(tmp_path):
    """``casme2/CASME2_RAW_selected`` a link to ``framesdisk``; returns (root, framesdisk)."""
    root = rt.build_casme2(tmp_path / "casme2")
    frames = tmp_path / "framesdisk"
    (root / "CASME2_RAW_selected").rename(frames)
    (root / "CASME2_RAW_selected").symlink_to(frames)
    return root, frames


def test_json_into_the_target_of_a_link_in_the_root_is_refused(run_cli, fresh_cache, linked_casme2):
    root, frames = linked_casme2
    target = frames / "sub01" / "x.json"
    result = run_cli("datasets", "check", "casme2", "--root", str(root), "--quiet", "--json", str(target))
    said = " ".join(result.err.split())
    assert result.code == 2 and not target.exists(), said
    assert (f"lies inside the dataset folder given with --root {root}, through its link {root / 'CASME2_RAW_selected'} "
            f"({frames}); merbench never writes inside a dataset's folder") in said


def test_a_cache_in_the_target_of_a_link_in_the_root_is_refused(run_cli, monkeypatch, linked_casme2):
    root, frames = linked_casme2
    monkeypatch.setenv("MERBENCH_CACHE", str(frames / "cache"))
    result = run_cli("preprocess", "--model", "convmixer", "--dataset", "casme2", "--root", str(root),
                     "--profile", "quick", "--quiet")
    said = " ".join(result.err.split())
    assert result.code == 2 and not (frames / "cache").exists(), said
    assert f"through its link {root / 'CASME2_RAW_selected'} (→ {frames})" in said and "set MERBENCH_CACHE" in said


def test_a_subject_folder_linked_one_level_down_counts_too(linked_casme2, tmp_path):
    from merbench.datafiles import dataset_links

    root, frames = linked_casme2
    elsewhere = tmp_path / "other-disk" / "sub02"
    elsewhere.parent.mkdir()
    (frames / "sub02").rename(elsewhere)
    (frames / "sub02").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="through its link"):
        check_cache_outside(root, elsewhere / "cache")
    assert {link.name for link, _ in dataset_links(root)} == {"CASME2_RAW_selected", "sub02"}


def test_outputs_beside_the_dataset_and_links_to_folders_above_it_are_not_refused(run_cli, fresh_cache, linked_casme2,
                                                                                  tmp_path):
    from merbench.datafiles import dataset_links

    root, frames = linked_casme2
    (root / "up").symlink_to(tmp_path)  # a link to a folder holding the dataset adds nothing to it
    assert [link.name for link, _ in dataset_links(root)] == ["CASME2_RAW_selected"]
    check_cache_outside(root, tmp_path / "cache")
    result = run_cli("datasets", "check", "casme2", "--root", str(root), "--quiet", "--json", str(tmp_path / "x.json"))
    assert result.code == 0, result.err
    assert (tmp_path / "x.json").is_file()


def test_links_are_resolved_once_per_command_not_once_per_check(tmp_path, monkeypatch):
    """A tree of links (every image a link): checking three outputs against it resolved each link three times, and
    the output's own path once per link each time (180k resolutions, seconds, for 20k links); now each link once."""
    import merbench.datafiles as datafiles

    frames, root = tmp_path / "frames", tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    frames.mkdir()
    for index in range(50):
        (frames / f"{index}.png").write_bytes(b"x")
        (root / "images" / f"{index}.png").symlink_to(frames / f"{index}.png")
    resolved = []
    real = datafiles.resolved_path
    monkeypatch.setattr(datafiles, "resolved_path", lambda path: resolved.append(path) or real(path))
    outputs = [tmp_path / "out.json", frames / "7.png", frames / "7.png" / "x.json"]
    held = [datafiles.link_holding(output, root) for output in outputs]
    assert held == [None, (root / "images" / "7.png", frames / "7.png"), None]  # a file holds nothing
    assert len(resolved) <= 50 + 2 * len(outputs)
    (root / "images" / "extra").symlink_to(tmp_path / "out.json")  # a changed tree is listed again
    assert datafiles.link_holding(tmp_path / "out.json", root) == (root / "images" / "extra", tmp_path / "out.json")
