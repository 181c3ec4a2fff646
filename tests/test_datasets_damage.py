"""Damaged or unusual trees: unreadable folders, clips filed under the wrong subject, manifests that list a file twice.

Tests run as root, who reads every folder, so an unreadable folder is simulated by making ``os.scandir``,
``Path.iterdir`` or ``Path.stat`` raise ``PermissionError`` for one path, as they do for another user.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
from pathlib import Path

import pytest

import realtrees as rt
from merbench.errors import DataError
from merbench_plugins.datasets import manifest, smic

SMIC = {"subset": "hs", "strict": False}


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("damage")
    rt.build_casme2(root / "casme2")
    rt.build_samm(root / "samm", rows=rt.SAMM_ROWS[:8])
    rt.build_smic(root / "smic", subsets=("HS",))
    rt.build_megc(root / "megc")
    rt.build_casme3(root / "casme3")
    return root


def denied(path: Path) -> PermissionError:
    return PermissionError(13, "Permission denied", str(path))


@pytest.fixture
def unreadable(monkeypatch):
    """``unreadable(folder)``: listing ``folder`` raises PermissionError (``os.scandir`` and ``Path.iterdir``);
    ``unreadable(folder, search=True)``: looking at anything inside it does too (``Path.stat``), as for mode 000."""
    listing: set[str] = set()
    searching: set[str] = set()
    scandir, iterdir, stat = os.scandir, pathlib.Path.iterdir, pathlib.Path.stat

    def fake_scandir(path="."):
        if os.fspath(path) in listing:
            raise denied(Path(path))
        return scandir(path)

    def fake_iterdir(self):
        if str(self) in listing:
            raise denied(self)
        return iterdir(self)

    def fake_stat(self, *, follow_symlinks=True):
        if str(self.parent) in searching:
            raise denied(self)
        return stat(self, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(os, "scandir", fake_scandir)
    monkeypatch.setattr(pathlib.Path, "iterdir", fake_iterdir)
    monkeypatch.setattr(pathlib.Path, "stat", fake_stat)

    def make(folder: Path, search: bool = False) -> Path:
        listing.add(str(folder))
        if search:
            searching.add(str(folder))
        return folder

    return make


def flat(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------ unreadable folders


def test_an_unreadable_casme2_clip_folder_is_a_skipped_clip_and_refused_under_strict(run_cli, trees, unreadable):
    root = trees / "casme2"
    unreadable(root / "CASME2_RAW_selected" / "sub02" / "EP07_01")
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert result.code == 0, result.err
    assert "usable: 9 samples, 3 subjects, 3 rows skipped" in result.out
    assert "folder CASME2_RAW_selected/sub02/EP07_01 not readable (Permission denied)" in flat(result.out)
    strict = run_cli("datasets", "check", "casme2", "--root", str(root), "--strict")
    assert strict.code == 2 and "not readable (Permission denied)" in flat(strict.err)


def test_an_unreadable_lost_and_found_beside_the_release_is_passed_over(run_cli, trees, tmp_path, unreadable):
    for name, args in (("casme2", ()), ("megc", ("--set", "dataset.list=derived"))):
        root = tmp_path / name
        shutil.copytree(trees / name, root)
        hidden = root / ("CASME2" if name == "megc" else "") / "lost+found"
        hidden.mkdir()
        unreadable(hidden)
        result = run_cli("datasets", "check", "megc2019" if name == "megc" else name, "--root", str(root), *args)
        assert result.code == 0, result.err
        assert "usable:" in result.out and "lost+found" not in result.out


def test_an_unreadable_casme3_lost_and_found_is_passed_over(run_cli, trees, tmp_path, unreadable):
    root = tmp_path / "casme3"
    shutil.copytree(trees / "casme3", root)
    (root / "lost+found").mkdir()
    unreadable(root / "lost+found")
    result = run_cli("datasets", "check", "casme3", "--root", str(root))
    assert result.code == 0, result.err


def test_an_unreadable_smic_clip_folder_is_a_skipped_clip(trees, tmp_path, unreadable):
    root = trees / "smic"
    unreadable(root / "HS" / "s2" / "micro" / "negative" / "s2_ne_02")
    dataset = smic.load(root, SMIC, tmp_path)
    assert "s2/s2_ne_02" not in {s.id for s in dataset.samples} and len(dataset.samples) == 9
    (skipped,) = dataset.summary["skipped_rows"]
    assert skipped["sample"] == "s2/s2_ne_02"
    assert skipped["reason"].startswith("folder HS/s2/micro/negative/s2_ne_02 not readable (Permission denied)")
    with pytest.raises(DataError, match=r"not readable \(Permission denied\)"):
        smic.load(root, {**SMIC, "strict": True}, tmp_path)


@pytest.mark.parametrize("dataset, folder", [("smic", ("HS", "s2")), ("samm", ("SAMM", "007")),
                                             ("casme2", ("CASME2_RAW_selected", "sub02"))])
def test_an_unreadable_subject_folder_is_exit_2_naming_it_and_the_fix(run_cli, trees, unreadable, dataset, folder):
    root = trees / dataset
    subject = unreadable(root.joinpath(*folder), search=True)
    result = run_cli("datasets", "check", dataset, "--root", str(root))
    assert result.code == 2, result.out
    message = flat(result.err)
    assert f"{subject}: folder not readable (Permission denied)" in message
    assert "chmod" in message and "run merbench as a user who can read it" in message
    assert "Traceback" not in result.err


def test_an_unreadable_megc2019_part_folder_is_exit_2_naming_it(run_cli, trees, unreadable):
    root = trees / "megc"
    part = unreadable(root / "SAMM", search=True)
    result = run_cli("datasets", "check", "megc2019", "--root", str(root), "--set", "dataset.list=derived")
    assert result.code == 2, result.out
    assert f"{part}: folder not readable (Permission denied)" in flat(result.err)


# ------------------------------------------------------------------ SMIC clip under another subject


def test_a_smic_clip_filed_under_another_subject_is_skipped(run_cli, trees, tmp_path):
    root = tmp_path / "smic"
    shutil.copytree(trees / "smic", root)
    (root / "HS" / "s2" / "micro" / "negative" / "s2_ne_02").rename(root / "HS" / "s1" / "micro" / "negative" / "s2_ne_02")
    dataset = smic.load(root, SMIC, tmp_path / "cache")
    assert "s1/s2_ne_02" not in {s.id for s in dataset.samples}
    assert sum(s.subject == "s1" for s in dataset.samples) == 3
    (skipped,) = dataset.summary["skipped_rows"]
    assert skipped["sample"] == "s1/s2_ne_02" and "subject s2" in skipped["reason"] and "HS/s1/" in skipped["reason"]
    result = run_cli("datasets", "check", "smic", "--root", str(root), "--strict")
    assert result.code == 2 and "s2_ne_02" in result.err


# ------------------------------------------------------------------ manifest


@pytest.mark.parametrize("first, second", [("images/s0/img_0.png", "./images/s0/img_0.png"),
                                           ("images//s2/img_2.png", "images/s2/img_2.png")])
def test_a_manifest_listing_one_file_twice_is_the_duplicate_error(run_cli, tmp_path, first, second):
    root = tmp_path / "data"
    rt.build_manifest_images(root)
    rt.write_csv(root / "twice.csv", [{"subject": "s0", "label": "0", "path": first},
                                      {"subject": "s1", "label": "1", "path": "images/s1/img_1.png"},
                                      {"subject": "s2", "label": "1", "path": second}])
    with pytest.raises(DataError, match=r"twice.csv row 4: sample images/s\d/img_\d.png duplicates row 2"):
        manifest.load(root, {"manifest": "twice.csv", "classes": [], "strict": False}, tmp_path / "cache")
    result = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=twice.csv")
    assert result.code == 2 and "duplicates row 2" in flat(result.err)


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_manifest_that_is_not_comma_separated_says_so(tmp_path, delimiter):
    root = tmp_path / "data"
    rt.build_manifest_images(root)
    (root / "semi.csv").write_text(delimiter.join(("subject", "label", "path")) + "\n"
                                   + delimiter.join(("s0", "0", "images/s0/img_0.png")) + "\n")
    with pytest.raises(DataError, match="missing columns subject, label, path .*the file is not comma-separated: "
                                        "save it as CSV with commas"):
        manifest.load(root, {"manifest": "semi.csv", "classes": [], "strict": False}, tmp_path / "cache")


def test_a_comma_separated_manifest_missing_a_column_does_not_blame_the_delimiter(tmp_path):
    root = tmp_path / "data"
    rt.build_manifest_images(root)
    rt.write_csv(root / "m.csv", [{"subject": "a", "label;kind": "0", "path": "images/s0/img_0.png"}])
    with pytest.raises(DataError, match="missing column") as error:
        manifest.load(root, {"manifest": "m.csv", "classes": [], "strict": False}, tmp_path / "cache")
    assert "comma-separated" not in str(error.value)


def test_manifest_subjects_that_differ_only_in_case_are_refused_naming_both_rows(run_cli, tmp_path):
    root = tmp_path / "data"
    rt.build_manifest_images(root)
    rt.write_csv(root / "case.csv", [{"subject": "S0", "label": "0", "path": "images/s0/img_0.png"},
                                     {"subject": "s1", "label": "1", "path": "images/s1/img_1.png"},
                                     {"subject": "s0", "label": "1", "path": "images/s2/img_2.png"}])
    with pytest.raises(DataError, match=r"case.csv row 4: subject 's0' differs from 'S0' \(row 2\) only in case"):
        manifest.load(root, {"manifest": "case.csv", "classes": [], "strict": False}, tmp_path / "cache")
    result = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=case.csv")
    assert result.code == 2 and "only in case" in flat(result.err)


@pytest.mark.parametrize("other, shown", [("s0\u200b", "s0\\u200b"), ("\uff53\uff10", "\uff53\uff10")])
def test_manifest_subjects_that_differ_only_in_invisible_characters_are_refused_and_shown(run_cli, tmp_path, other,
                                                                                         shown):
    """A zero-width space made two subjects that printed alike: LOSO put one person's clips on both sides."""
    root = tmp_path / "data"
    rt.build_manifest_images(root)
    rt.write_csv(root / "zw.csv", [{"subject": "s0", "label": "0", "path": "images/s0/img_0.png"},
                                   {"subject": other, "label": "1", "path": "images/s0/img_1.png"}])
    with pytest.raises(DataError) as refused:
        manifest.load(root, {"manifest": "zw.csv", "classes": [], "strict": False}, tmp_path / "cache")
    assert f"zw.csv row 3: subject '{shown}' differs from 's0' (row 2) only in invisible characters or Unicode form" \
        in str(refused.value)


# ------------------------------------------------------------------ frames missing inside a clip


def test_a_frame_missing_inside_a_casme2_clip_is_reported_and_the_clip_kept(run_cli, trees, tmp_path):
    from merbench_plugins.datasets import casme2

    root = tmp_path / "casme2"
    shutil.copytree(trees / "casme2", root)
    options = {"classes": "5", "frames": "auto", "strict": False}
    before = casme2.load(root, options, tmp_path / "cache")
    assert before.summary["frame_gaps"] == 0
    sample = next(s for s in before.samples if s.apex is not None
                  and any(k not in (s.onset, s.apex) for k in range(s.onset + 1, s.offset)))
    middle = next(k for k in range(sample.onset + 1, sample.offset) if k != sample.apex)
    sample.frames[middle].unlink()
    after = casme2.load(root, options, tmp_path / "cache")
    assert sample.id in {s.id for s in after.samples}, "frames are matched by number: the clip is still usable"
    (gap,) = after.summary["frame_gap_rows"]
    number = int(sample.frames[middle].stem.removeprefix("img"))
    assert gap["sample"] == sample.id and f"frame {number} missing of " in gap["note"] and "(1 of " in gap["note"]
    checked = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert "clips with frames missing inside" in flat(checked.out) and f"frame {number} missing" in flat(checked.out)


def test_frames_missing_inside_a_smic_clip_are_reported_as_ranges(trees, tmp_path):
    root = tmp_path / "smic"
    shutil.copytree(trees / "smic", root)
    sample = smic.load(root, SMIC, tmp_path / "cache").samples[0]
    numbers = [int(re.search(r"(\d+)$", frame.stem).group(1)) for frame in sample.frames]
    for frame in sample.frames[1:3] + sample.frames[4:5]:
        frame.unlink()
    (gap,) = [g for g in smic.load(root, SMIC, tmp_path / "cache").summary["frame_gap_rows"] if g["sample"] == sample.id]
    assert gap["note"] == (f"frames {numbers[1]}-{numbers[2]}, {numbers[4]} missing of {numbers[0]}..{numbers[-1]} "
                           f"(3 of {len(numbers)})")


def test_run_and_preprocess_say_how_many_annotation_rows_the_loader_left_out(run_cli, trees, tmp_path):
    from merbench_plugins.datasets import casme2

    skipped = casme2.load(trees / "casme2", {"classes": "5", "frames": "auto", "strict": False},
                          tmp_path / "cache")
    count = skipped.summary["skipped"]
    assert count >= 1, "the fixture sheet has rows a loader leaves out"
    for command in (["preprocess", "--dataset", "casme2", "--quiet"],
                    ["run", "--model", "lbptop-svm", "--dataset", "casme2", "--protocol", "loso", "--quiet",
                     "--no-store"]):
        result = run_cli(*command, "--root", str(trees / "casme2"), "--profile", "quick")
        assert result.code == 0, result.err
        said = flat(result.err)
        assert f"{count} annotation rows left out by the casme2 loader, first casme2 row" in said
        assert f"`merbench datasets check casme2 --root {trees / 'casme2'}` lists them" in said


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_loader_that_writes_inside_the_root_is_noticed(run_cli, trees, tmp_path, monkeypatch, command):
    """merbench never writes inside a dataset root and refuses its own writes there; a plugin's are named."""
    from merbench_plugins.datasets import casme2

    root = tmp_path / "casme2"
    shutil.copytree(trees / "casme2", root)
    load = casme2.load

    def writes_an_index(root_given, options, cache_dir):
        (root_given / "CASME2_RAW_selected" / "index.json").write_text("{}")
        return load(root_given, options, cache_dir)

    monkeypatch.setattr(casme2, "load", writes_an_index)
    if command == "check":
        result = run_cli("datasets", "check", "casme2", "--root", str(root))
    else:
        result = run_cli("run", "--model", "lbptop-svm", "--dataset", "casme2", "--root", str(root), "--protocol",
                         "loso", "--profile", "quick", "--quiet", "--no-store")
    assert result.code == 0, result.err
    said = flat(result.err)
    assert f"something wrote inside the dataset root {root}" in said and "CASME2_RAW_selected changed" in said


def test_reading_a_dataset_root_leaves_it_unchanged_and_says_nothing(run_cli, trees, tmp_path):
    root = tmp_path / "casme2"
    shutil.copytree(trees / "casme2", root)
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    assert result.code == 0 and "wrote inside" not in result.err


def test_a_megc2019_run_on_a_partial_copy_says_how_much_of_the_official_list_it_found(run_cli, trees):
    result = run_cli("preprocess", "--dataset", "megc2019", "--root", str(trees / "megc"), "--profile", "quick",
                     "--quiet")
    assert result.code == 0, result.err
    said = flat(result.err)
    assert "of the 442 samples of the official list found" in said and "datasets check megc2019 --root" in said


@pytest.mark.parametrize("name", ["casme2", "smic", "casme3"])
def test_macos_resource_fork_files_beside_the_frames_are_not_frames(trees, tmp_path, name):
    """A copy made on a Mac drive has `._img46.jpg` (4 KB of metadata) beside each frame and sheet: once matched by
    number, it could stand in for the frame and leave the clip out with advice to replace a frame that was there."""
    from merbench.config import resolve_section
    from merbench.contracts import resolve_factory
    from merbench.registry import get_registry

    root = tmp_path / name
    shutil.copytree(trees / name, root)
    spec = get_registry().get("datasets", name)
    options = resolve_section(spec, "dataset", overrides={"dataset.strict": "false"})
    load = lambda: resolve_factory(spec.load)(root, options, tmp_path / "c")  # noqa: E731
    clean = load()
    for sample in clean.samples:
        for frame in sample.frames:
            frame.with_name("._" + frame.name).write_bytes(b"\x00\x05\x16\x07" + bytes(4092))
    for sheet in [*root.glob("*.xlsx"), *root.glob("*/*.xlsx")]:
        sheet.with_name("._" + sheet.name).write_bytes(b"\x00\x05\x16\x07" + bytes(4092))
    forked = load()
    assert [s.frames for s in forked.samples] == [s.frames for s in clean.samples]


def test_two_files_for_one_frame_number_skip_the_clip_naming_both(trees, tmp_path):
    from merbench_plugins.datasets import casme2

    root = tmp_path / "casme2"
    shutil.copytree(trees / "casme2", root)
    options = {"classes": "5", "frames": "auto", "strict": False}
    sample = casme2.load(root, options, tmp_path / "c").samples[0]
    frame = sample.frames[sample.onset]
    number = int(frame.stem.removeprefix("img"))
    twin = frame.with_name(f"img0{number}{frame.suffix}")
    shutil.copy(frame, twin)
    after = casme2.load(root, options, tmp_path / "c")
    assert sample.id not in {s.id for s in after.samples}
    (skipped,) = [row for row in after.summary["skipped_rows"] if row["sample"] == sample.id]
    assert f"two files for frame {number}: {min(frame.name, twin.name)} and {max(frame.name, twin.name)}" in \
        skipped["reason"]


def test_an_annotation_sheet_that_is_a_broken_link_is_named_as_one(run_cli, trees, tmp_path):
    """It once said 'expected CASME2-coding-*.xlsx ... give the folder of your copy with --root' for the right folder."""
    root = tmp_path / "casme2"
    shutil.copytree(trees / "casme2", root)
    (sheet,) = root.glob("CASME2-coding-*.xlsx")
    sheet.unlink()
    sheet.symlink_to(tmp_path / "gone.xlsx")
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    said = " ".join(result.err.split())
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert f"{sheet}: the CASME II annotation file is a broken symbolic link (to {tmp_path / 'gone.xlsx'})" in said, said


def test_a_manifest_file_that_is_there_but_not_a_file_says_what_it_is(tmp_path):
    """A FIFO, a folder or a broken link once read 'not found under the root', though the path was right."""
    root = tmp_path / "data"
    root.mkdir()
    listing = rt.build_manifest_images(root)
    images = sorted((root / "images").rglob("*.png"))
    images[0].unlink()
    images[0].mkdir()
    images[1].unlink()
    os.mkfifo(images[1])
    images[2].unlink()
    images[2].symlink_to(tmp_path / "gone.png")
    dataset = manifest.load(root, {"manifest": str(listing), "classes": [], "strict": False}, tmp_path / "cache")
    reasons = {row["reason"] for row in dataset.summary["skipped_rows"]}
    relative = [image.relative_to(root) for image in images[:3]]
    assert reasons == {f"file {relative[0]} is a folder, not a file",
                       f"file {relative[1]} is not a regular file (a FIFO or device)",
                       f"file {relative[2]} is a broken symbolic link (to {tmp_path / 'gone.png'})"}, reasons


def test_a_subject_folder_that_is_a_broken_link_is_named(run_cli, trees, tmp_path):
    root = tmp_path / "casme2"
    shutil.copytree(trees / "casme2", root)
    subject = root / "CASME2_RAW_selected" / "sub02"
    shutil.rmtree(subject)
    subject.symlink_to(tmp_path / "elsewhere" / "sub02")
    result = run_cli("datasets", "check", "casme2", "--root", str(root))
    said = " ".join(result.out.split())
    assert f"CASME2_RAW_selected/sub02 is a broken symbolic link to {tmp_path / 'elsewhere' / 'sub02'}" in said, said
