"""Links deeper than two levels inside a dataset folder (a frame file of a CASME II clip kept on another disk, three
levels down) were not scanned: ``--json`` given as the link's target replaced the user's frame, and a cache could be
made inside a linked clip folder. Links are now found at any depth, within a bound of entries listed."""

from __future__ import annotations

import warnings

import pytest

import realtrees as rt
import merbench.datafiles as datafiles
from merbench.errors import UsageError


@pytest.fixture
def deep_links(tmp_path):
    """A CASME II tree whose sub01/EP02_01f/img46.jpg is a link to a file on another disk, and whose sub02/EP07_01 is
    a real folder holding a link to a folder of frames elsewhere; returns (root, linked frame file, linked folder)."""
    root = rt.build_casme2(tmp_path / "casme2")
    frames = root / "CASME2_RAW_selected"
    disk = tmp_path / "disk"
    disk.mkdir()
    frame = disk / "img46.jpg"
    (frames / "sub01" / "EP02_01f" / "img46.jpg").rename(frame)
    (frames / "sub01" / "EP02_01f" / "img46.jpg").symlink_to(frame)
    (disk / "extra").mkdir()
    (frames / "sub02" / "EP07_01" / "extra").symlink_to(disk / "extra")
    return root, frame, disk / "extra"


def test_json_given_as_a_linked_frame_three_levels_down_is_refused_and_the_frame_kept(run_cli, fresh_cache,
                                                                                      deep_links):
    root, frame, _ = deep_links
    before = frame.read_bytes()
    result = run_cli("datasets", "check", "casme2", "--root", str(root), "--quiet", "--json", str(frame))
    said = " ".join(result.err.split())
    assert result.code == 2 and frame.read_bytes() == before, said
    link = root / "CASME2_RAW_selected" / "sub01" / "EP02_01f" / "img46.jpg"
    assert f"--json {frame}: lies inside the dataset folder given with --root {root}, through its link {link} " \
        f"({frame}); merbench never writes inside a dataset's folder" in said


def test_a_cache_in_a_folder_linked_three_levels_down_is_refused(deep_links):
    root, _, folder = deep_links
    link = root / "CASME2_RAW_selected" / "sub02" / "EP07_01" / "extra"
    with pytest.raises(UsageError, match=f"through its link {link} \\(→ {folder}\\)"):
        datafiles.check_cache_outside(root, folder / "cache")


def test_links_of_linked_folders_are_found_each_folder_once_and_the_scan_is_bounded(tmp_path, monkeypatch):
    root, disk = tmp_path / "ds", tmp_path / "disk"
    (root / "a" / "b" / "c").mkdir(parents=True)
    (disk / "d").mkdir(parents=True)
    (root / "a" / "b" / "c" / "part").symlink_to(disk)  # a linked folder, holding a link back to itself
    (disk / "d" / "again").symlink_to(disk)
    (disk / "d" / "up").symlink_to(tmp_path)  # leads above the dataset: neither kept nor entered
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # within the bound, not a word
        found = {link.relative_to(tmp_path).as_posix(): target for link, target in datafiles.dataset_links(root)}
    assert found == {"ds/a/b/c/part": disk, "ds/a/b/c/part/d/again": disk}
    monkeypatch.setattr(datafiles, "LINK_SCAN_ENTRIES", 3)  # ds/a, ds/a/b, ds/a/b/c: 'part' lies past the bound
    (root / "a" / "new").mkdir()  # a changed tree is listed again
    scan = f"the scan of the dataset folder {root} for links .* stopped after 3 entries"
    with pytest.warns(UserWarning, match=scan):
        assert datafiles.dataset_links(root) == []


def test_a_scan_cut_at_its_bound_is_said_in_one_line(run_cli, fresh_cache, deep_links, tmp_path, monkeypatch):
    """A dataset folder of more entries than the scan lists (CAS(ME)3's frames can pass 200,000) was searched for
    links only in part without a word; an output check that reaches the bound now says so, and goes on."""
    root, _, _ = deep_links
    monkeypatch.setattr(datafiles, "LINK_SCAN_ENTRIES", 4)
    result = run_cli("datasets", "check", "casme2", "--root", str(root), "--quiet", "--json", str(tmp_path / "c.json"))
    said = " ".join(result.err.split())
    assert result.code == 0, said
    assert (f"the scan of the dataset folder {root} for links (and of the folders they lead to) stopped after 4 "
            "entries, breadth first: a link among the entries past them was not found, so an output written through "
            "one would not be refused") in said
    assert said.count("stopped after 4 entries") == 1 and "Traceback" not in said
