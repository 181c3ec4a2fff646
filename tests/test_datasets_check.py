"""``merbench datasets check`` and ``list``: tables, exit codes and specific messages on fixture trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import realtrees as rt


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("check")
    rt.build_casme2(root / "casme2")
    rt.build_samm(root / "samm")
    rt.build_megc(root / "megc")
    rt.build_manifest_images(root / "manifest")
    return root


def test_check_reports_counts_skips_and_exits_0(run_cli, trees):
    result = run_cli("datasets", "check", "casme2", "--root", str(trees / "casme2"))
    assert result.code == 0, result.err
    assert "usable: 10 samples, 3 subjects, 2 rows skipped" in result.out
    assert "Samples per class and domain" in result.out and "Samples per subject" in result.out
    assert "sub03/EP12_01f" in result.out and "apex" in result.out and "outside onset" in result.out
    assert "no frame folder CASME2_RAW_selected/sub03/EP14_01" in result.out
    assert "fear 1, sadness 1" in result.out


def test_check_strict_turns_skipped_rows_into_exit_2(run_cli, trees):
    result = run_cli("datasets", "check", "samm", "--root", str(trees / "samm"), "--strict")
    assert result.code == 2
    assert ("strict check (--strict or dataset.strict=true): 1 row skipped, first samm row 23 (009/009_1_1): apex"
            in " ".join(result.err.split()))
    assert "Rows fixed (1)" in result.out and "used the last frame" in result.out


def test_check_dataset_options_are_those_of_run(run_cli, trees):
    result = run_cli("datasets", "check", "casme2", "--root", str(trees / "casme2"), "--set", "dataset.classes=3")
    assert result.code == 0 and "usable: 9 samples" in result.out
    result = run_cli("datasets", "check", "casme2", "--root", str(trees / "casme2"), "--set", "model.depth=3")
    assert result.code == 2 and "unknown setting 'model.depth'" in result.err and "dataset.frames" in result.err


def test_check_megc2019_per_domain_and_manifest(run_cli, trees):
    result = run_cli("datasets", "check", "megc2019", "--root", str(trees / "megc"), "--set", "dataset.list=derived")
    assert result.code == 0, result.err
    assert "usable: 30 samples, 9 subjects" in result.out
    for domain in ("casme2", "samm", "smic"):
        assert any(line.startswith(f"{domain} ") for line in result.out.splitlines())
    # each subject under its part: a composite's parts may give one id, and a row without its domain read unordered
    per_subject = result.out.split("Samples per subject", 1)[1].strip().splitlines()
    assert per_subject[0].split()[:2] == ["domain", "subject"]
    rows = [line.split()[:2] for line in per_subject[1:10]]
    assert len(rows) == 9 and rows == sorted(rows) and {domain for domain, _ in rows} == {"casme2", "samm", "smic"}
    result = run_cli("datasets", "check", "manifest", "--root", str(trees / "manifest"), "--set", "dataset.manifest=labels.csv")
    assert result.code == 0, result.err
    assert "usable: 12 samples" in result.out and "precomputed images" in result.out


def test_check_unreadable_frame_is_exit_2_naming_the_file(run_cli, tmp_path):
    root = rt.build_samm(tmp_path / "samm", rows=rt.SAMM_ROWS[:4])
    clip = root / "SAMM" / "006" / "006_1_2"
    onset_frame = sorted(clip.iterdir())[rt.clip_frames(6, 0, "Anger").onset]
    onset_frame.write_bytes(b"not a jpeg")
    result = run_cli("datasets", "check", "samm", "--root", str(root), "--strict")
    assert result.code == 2
    message = " ".join(result.err.split())
    assert ("1 file a run reads first (onset, apex or middle frame) missing or unusable, first: sample "
            "006/006_1_2") in message and onset_frame.name in message


@pytest.mark.parametrize("frame", ["onset", "offset", "in-clip", "middle"])
def test_check_counts_what_a_run_keeps_when_a_frame_is_unreadable(run_cli, quick_run, tmp_path, frame):
    """The default chain (flow) reads onset and apex: a broken onset leaves the clip out, a broken offset or frame
    between them does not (the check once missed the latter altogether: it opened onset, apex and offset only)."""
    root = rt.build_samm(tmp_path / "samm")
    clip = root / "SAMM" / "006" / "006_1_2"
    span = rt.clip_frames(6, 0, "Anger")
    position = {"in-clip": span.onset + 1, "middle": (span.onset + span.offset) // 2}.get(frame)
    assert position is None or position != span.apex, "a frame that only whole-clip chains read"
    broken = sorted(clip.iterdir())[getattr(span, frame) if position is None else position]
    broken.write_bytes(b"")
    checked = run_cli("datasets", "check", "samm", "--root", str(root))
    strict = run_cli("datasets", "check", "samm", "--root", str(root), "--strict")
    message = " ".join(checked.err.split())
    result = quick_run("--dataset", "samm", "--root", str(root), "--protocol", "loso")
    assert checked.code == 0 and broken.name in message
    overview = " ".join(checked.out.split("Samples per class", 1)[0].split())  # a long value wraps in a pipe
    samples = overview.split(" samples ", 1)[1].split(" subjects ", 1)[0]
    if frame == "onset":
        assert f"usable: {result['n_samples']} samples" in checked.out and "1 clip with missing" in checked.out
        assert samples == f"{result['n_samples'] + 1} ({result['n_samples']} usable: 1 clip with missing or " \
                          "unusable files left out, as a run leaves them)", "the overview counts what a run keeps"
        assert strict.code == 2 and "strict check (--strict or dataset.strict=true): 1 file" in " ".join(strict.err.split())
    else:
        assert "006/006_1_2" in {row["id"] for row in result["predictions"]}
        assert f"usable: {result['n_samples']} samples" in checked.out and "left out" not in checked.out
        assert samples == str(result["n_samples"])
        assert "missing or unusable offset or in-clip frame: the default chain (flow) does not read it" in message
        assert "missing or unusable, first" not in strict.err  # strict still refuses the tree's skipped rows, not this frame



@pytest.mark.parametrize("name, expected, fix", [
    ("casme2", "expected CASME2-coding-*.xlsx or CASME2*coding*.xlsx in", "give the folder of your CASME II copy with --root"),
    ("samm", "expected SAMM_Micro_FACS_Codes*.xlsx", "give the folder of your SAMM copy with --root"),
    ("smic", "expected the folder HS/ in", "give the folder of your SMIC copy, which holds HS/, with --root"),
])
def test_check_empty_directory_names_the_expected_file(run_cli, tmp_path, name, expected, fix):
    """A single dataset's advice ends with --root (a part of megc2019 names its --set option instead)."""
    result = run_cli("datasets", "check", name, "--root", str(tmp_path))
    message = " ".join(result.err.split())
    assert result.code == 2 and expected in message and message.endswith(fix), message
    assert "megc2019" not in message


def test_check_manifest_escape_and_missing_root(run_cli, tmp_path, trees):
    root = tmp_path / "data"
    shutil.copytree(trees / "manifest", root)
    rt.write_csv(root / "bad.csv", [{"subject": "a", "label": "0", "path": "images/s0/img_0.png"},
                                    {"subject": "b", "label": "1", "path": "../x.png"}])
    result = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", "dataset.manifest=bad.csv")
    assert result.code == 2 and "row 3: path ../x.png escapes the root" in " ".join(result.err.split())
    result = run_cli("datasets", "check", "samm")
    assert result.code == 2 and "give its folder with --root DIR" in result.err


def test_datasets_list_shows_options(run_cli):
    result = run_cli("datasets", "list")
    assert result.code == 0
    for name in ("smic", "casme2", "samm", "megc2019", "manifest"):
        assert any(line.startswith(f"{name} ") for line in result.out.splitlines())
    assert "subset=hs" in result.out and "frames=auto" in result.out
    # an option without a default is said so, not with the ellipsis that reads as a value cut short
    assert "manifest=(unset)" in result.out and "…" not in result.out
    assert "datasets check casme2 --root" in run_cli("datasets", "check", "--help").out


def test_check_megc2019_overview_names_each_parts_annotation(run_cli, trees):
    result = run_cli("--format", "plain", "datasets", "check", "megc2019", "--root", str(trees / "megc"))
    assert result.code == 0, result.err
    said = " ".join(result.out.split())  # a long value wraps in a pipe
    annotation = said.split(" annotation ", 1)[1].split(" frames ", 1)[0]
    assert "smic: (folder names: SMIC has no coding sheet)" in annotation and "CASME2-coding" in annotation and "SAMM_Micro_FACS_Codes" in annotation


@pytest.mark.parametrize("value", ["-1", "x"])
def test_check_show_must_be_a_count(run_cli, trees, value):
    result = run_cli("datasets", "check", "casme2", "--root", str(trees / "casme2"), "--show", value)
    assert result.code == 2 and "argument --show" in result.err


def test_a_frame_that_cannot_be_read_is_called_not_readable_not_missing(monkeypatch, tmp_path):
    """A frame without read permission (chmod 000, as a user who does not own it) is there: the check says so."""
    import errno
    from pathlib import Path

    import realtrees as rt
    from merbench.contracts import Dataset, Sample
    from merbench.dataset_check import check_files

    frames = rt.build_casme2(tmp_path / "casme2") / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    paths = tuple(sorted(frames.iterdir()))
    locked = paths[0]
    original = Path.read_bytes

    def read_bytes(self):
        if self == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    sample = Sample("sub01/EP02_01f", "sub01", 0, "casme2", paths, 0, 1, len(paths) - 1)
    _, problems = check_files(Dataset("casme2", ("happiness",), (sample,)))
    assert [(p.path, p.problem) for p in problems] == [(locked, "onset frame not readable (Permission denied)")]


def test_the_annotation_line_says_what_the_loader_read_not_folder_names_for_every_dataset(run_cli):
    result = run_cli("datasets", "check", "synthetic", "--set", "dataset.subjects=3", "dataset.clips_per_subject=3",
                     "dataset.size=32", "dataset.frames=8")
    assert result.code == 0, result.err
    line = next(line for line in result.out.splitlines() if "annotation" in line)
    assert "(generated" in line and "folder names" not in line


def test_the_in_clip_sniff_reads_bytes_and_takes_any_file_name(tmp_path):
    """A folder name that is not UTF-8 (unpacked from an old zip) made OpenCV's header check crash the process."""
    import os

    from merbench.contracts import Sample
    from merbench.dataset_check import in_clip_problems

    names = [os.fsdecode(b"img\xff%d.jpg" % i) for i in range(5)]
    for i, name in enumerate(names):
        (tmp_path / name).write_bytes({1: b"", 2: b"text, not a frame"}.get(i, b"\xff\xd8\xff\xe0" + bytes(60)))
    sample = Sample(id="c", subject="s", label=0, domain="d", frames=tuple(tmp_path / n for n in names),
                    onset=0, apex=4, offset=4)
    checked, problems = in_clip_problems(sample)
    assert checked == 3 and [(p.path.name, p.problem) for p in problems] == [
        (names[1], "in-clip frame unreadable (the file is empty (0 bytes))"),
        (names[2], "in-clip frame unreadable (the file is not an image file)")]


def test_an_in_clip_frame_warning_says_a_strict_run_stops_where_a_lenient_one_skips():
    """Under --strict (dataset.strict=true) a chain reading across the clip refuses a clip with an unreadable in-clip
    frame (exit 2); the warning says so instead of "skip it"."""
    from merbench.contracts import Dataset, Sample
    from merbench.dataset_check import IN_CLIP, CheckReport, FrameProblem, warnings

    frames = tuple(Path(f"/data/s01/c1/img{i}.jpg") for i in range(5))
    dataset = Dataset("d", ("a", "b"), (Sample(id="c1", subject="s01", label=0, domain="d", frames=frames, onset=0,
                                               apex=2, offset=4),))
    report = CheckReport(dataset, problems=[FrameProblem("c1", frames[1], "is empty", IN_CLIP)])
    lenient, strict = " ".join(warnings(report, False)), " ".join(warnings(report, True))
    assert "samples that frame) skip it" in lenient
    assert "samples that frame) stop the run there (exit 2: dataset.strict=true)" in strict and "skip it" not in strict


@pytest.mark.parametrize("quiet", [("datasets", "check", "casme2", "--quiet"), ("--quiet", "datasets", "check", "casme2")])
def test_check_quiet_shows_no_progress_but_the_same_report(run_cli, trees, quiet):
    """The global --quiet was ignored by `datasets check`, and `datasets check --quiet` was refused."""
    shown = run_cli("datasets", "check", "casme2", "--root", str(trees / "casme2"))
    silent = run_cli(*quiet, "--root", str(trees / "casme2"))
    assert shown.code == silent.code == 0, silent.err
    assert "Opening frames of casme2" in shown.err and "Opening frames" not in silent.err
    assert silent.out == shown.out


def test_datasets_without_an_action_is_a_usage_error_as_cache_is(run_cli):
    """It names the actions to choose from (before: "required: ACTION", naming none)."""
    for command, actions in (("datasets", "{list,check}"), ("cache", "{info,clear}")):
        result = run_cli(command)
        assert result.code == 2 and f"the following arguments are required: {actions}" in result.err, command


def test_a_strict_check_of_a_manifest_names_the_file_the_row_is_in(run_cli, tmp_path):
    """The manifest's rows are named by the file the user wrote (before: 'first manifest row 3', not which file)."""
    import cv2
    import numpy as np

    (tmp_path / "flow").mkdir()
    for seed, name in enumerate("ab"):
        cv2.imwrite(str(tmp_path / "flow" / f"{name}.png"), np.random.default_rng(seed).integers(0, 255, (28, 28, 3), np.uint8))
    (tmp_path / "ours.csv").write_text("subject,path,label\ns1,flow/a.png,negative\ns2,flow/gone.png,positive\n"
                                        "s3,flow/b.png,positive\n")
    result = run_cli("datasets", "check", "manifest", "--root", str(tmp_path), "--set", "dataset.manifest=ours.csv",
                     "--strict")
    assert result.code == 2
    assert "1 row skipped, first ours.csv row 3 (flow/gone.png): file flow/gone.png not found" in " ".join(result.err.split())
