"""Damaged manifests said one clear thing: the ``datasets check`` command a run suggests named no ``dataset.manifest``
(pasted, it failed); domains differing in case were two domains; a row with an unquoted comma in a path was cut to
the header's columns (then "file images/a not found"); a second header behind a byte-order mark (two Excel CSV UTF-8
files joined with ``cat``) was a row with a missing file; blank lines above the header read as a header with
nothing; a folder given as the manifest was "not found"."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import realtrees as rt
from merbench.dataset_check import check_strict_rows, loader_skip_note
from merbench.errors import DataError
from merbench_plugins.datasets import manifest

DEFAULTS = {"manifest": "", "classes": [], "strict": False}


def flat(text: str) -> str:
    return " ".join(text.split())


def tree_with(tmp_path: Path, edit) -> Path:
    """The ``build_manifest_images`` tree with its ``labels.csv`` rows passed through ``edit`` (``realtrees``)."""
    return rt.build_manifest_edited(tmp_path / "my data", edit)


def load(root: Path, tmp_path: Path, name: str = "labels.csv", strict: bool = False):
    return manifest.load(root, {**DEFAULTS, "manifest": name, "strict": strict}, tmp_path / "cache")


def check(run_cli, root: Path, name: str = "labels.csv", *extra: str):
    return run_cli("datasets", "check", "manifest", "--root", str(root), "--set", f"dataset.manifest={name}", *extra)


# ------------------------------------------------------------------ the suggested check command


def test_the_suggested_check_command_carries_the_manifest_and_can_be_pasted(run_cli, tmp_path, monkeypatch):
    root = tree_with(tmp_path, lambda rows: rows)
    (root / "images" / "s0" / "img_0.png").unlink()
    monkeypatch.chdir(tmp_path)
    options = {**DEFAULTS, "manifest": "my data/labels.csv", "classes": ["a", "b c", "d"]}
    note = loader_skip_note(load(root, tmp_path), "manifest", root, options, DEFAULTS)
    command = shlex.split(note.split("`")[1])
    assert command == ["merbench", "datasets", "check", "manifest", "--root", str(root),
                       "--set", "dataset.manifest=my data/labels.csv", "--set", "dataset.classes=a,b c,d"]
    pasted = run_cli(*command[1:6], *command[6:8], "--format", "plain")
    assert pasted.code == 0, pasted.err
    assert "img_0.png not found" in flat(pasted.out)


@pytest.mark.parametrize("command", ["run", "preprocess"])
def test_the_note_of_a_run_names_the_manifest_in_its_check_command(run_cli, tmp_path, monkeypatch, command):
    """``run`` and ``preprocess`` pass the dataset options to the note: its command, pasted, checks the same file."""
    root = tree_with(tmp_path, lambda rows: rows)
    (root / "images" / "s0" / "img_0.png").unlink()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    given = ["--model", "ststnet", "--epochs", "1", "--profile", "quick", "--protocol", "loso", "--no-store"] \
        if command == "run" else []
    result = run_cli(command, "--dataset", "manifest", "--root", str(root), "--set", "dataset.manifest=my data/labels.csv",
                     *given)
    said = flat(result.out + result.err)
    assert "left out by the manifest loader" in said, said
    assert f"--root {shlex.quote(str(root))} --set 'dataset.manifest=my data/labels.csv'" in said, said


def test_the_strict_error_names_the_options_too_but_not_strict(tmp_path):
    import dataclasses

    dataset = load(tree_with(tmp_path, lambda rows: rows), tmp_path)
    dataset = dataclasses.replace(dataset, summary={"skipped_rows": [{"row": 4, "sample": "s9", "reason": "gone"}]})
    options = {**DEFAULTS, "manifest": "d/f long.csv", "strict": True}
    with pytest.raises(DataError) as refused:
        check_strict_rows(dataset, "manifest", tmp_path, {**options, "strict_clips": True}, {**DEFAULTS,
                                                                                            "strict_clips": True})
    command = shlex.split(str(refused.value).split("`")[1])
    assert command[-2:] == ["--set", "dataset.manifest=d/f long.csv"]
    assert "dataset.strict=true" not in command and "--strict" not in command


# ------------------------------------------------------------------ domains differing in case


def test_domains_differing_only_in_case_are_refused(run_cli, tmp_path):
    root = tree_with(tmp_path, lambda rows: [rows[0]] + [r[:2] + ["casme2" if i % 2 else "CASME2"] + r[3:]
                                                         for i, r in enumerate(rows[1:])])
    with pytest.raises(DataError) as refused:
        load(root, tmp_path)
    assert (f"{root / 'labels.csv'} row 3: domain 'casme2' differs from 'CASME2' (row 2) only in case; "
            "write one spelling") in str(refused.value)
    result = check(run_cli, root)
    assert result.code == 2 and "only in case" in flat(result.err) and "Traceback" not in result.err


# ------------------------------------------------------------------ more fields than the header


def test_a_row_with_an_unquoted_comma_is_refused_naming_the_field_counts(run_cli, tmp_path):
    root = tree_with(tmp_path, lambda rows: rows[:3] + [rows[3][:3] + ["images/a", "b.png"]] + rows[4:])
    with pytest.raises(DataError) as refused:
        load(root, tmp_path)
    said = str(refused.value)
    assert f"{root / 'labels.csv'} row 4 has 5 fields but the header has 4 columns; quote the cell" in said
    assert "not found" not in said
    result = check(run_cli, root)
    assert result.code == 2 and "row 4 has 5 fields" in flat(result.err)


def test_empty_cells_past_the_header_are_allowed(tmp_path):
    root = tree_with(tmp_path, lambda rows: [rows[0]] + [r + ["", " "] for r in rows[1:]])
    assert len(load(root, tmp_path).samples) == 12


# ------------------------------------------------------------------ two Excel CSV UTF-8 files joined


def test_a_second_header_behind_a_byte_order_mark_is_a_repeated_header(run_cli, tmp_path):
    root = tree_with(tmp_path, lambda rows: rows)
    lines = (root / "labels.csv").read_text().splitlines(keepends=True)
    (root / "joined.csv").write_text("\ufeff" + "".join(lines[:7]) + "\ufeff" + "".join([lines[0]] + lines[7:]),
                                     encoding="utf-8")
    dataset = load(root, tmp_path, "joined.csv")
    assert len(dataset.samples) == 12
    assert [(e["row"], e["sample"]) for e in dataset.summary["skipped_rows"]] == [(8, "header")]
    assert dataset.summary["skipped_rows"][0]["reason"].startswith("repeats the header row (row 1), as two manifests")
    strict = check(run_cli, root, "joined.csv", "--strict")
    assert strict.code == 2 and "row 8 (header): repeats the header row (row 1)" in flat(strict.err)


# ------------------------------------------------------------------ blank lines above the header


@pytest.mark.parametrize("blank, said", [(["\n"], "line 1 is blank"), (["\n", ",,\n"], "lines 1 to 2 are blank")])
def test_blank_lines_above_the_header_are_named(run_cli, tmp_path, blank, said):
    root = tree_with(tmp_path, lambda rows: rows)
    (root / "labels.csv").write_text("".join(blank) + (root / "labels.csv").read_text())
    with pytest.raises(DataError) as refused:
        load(root, tmp_path)
    assert f"{root / 'labels.csv'}: {said}; the header (subject,label,...) must be the first line" in str(refused.value)
    assert "nothing" not in str(refused.value)
    result = check(run_cli, root)
    assert result.code == 2 and said in flat(result.err)


def test_a_file_of_blank_lines_still_says_the_header_has_nothing(tmp_path):
    root = tree_with(tmp_path, lambda rows: rows)
    (root / "labels.csv").write_text("\n\n")
    with pytest.raises(DataError, match="the header has nothing"):
        load(root, tmp_path)


# ------------------------------------------------------------------ a folder as the manifest


def test_a_folder_given_as_the_manifest_is_called_a_folder(run_cli, tmp_path):
    root = tree_with(tmp_path, lambda rows: rows)
    with pytest.raises(DataError) as refused:
        load(root, tmp_path, "images")
    assert f"dataset.manifest=images: {root / 'images'} is a folder, not a file" in str(refused.value)
    result = check(run_cli, root, "images")
    assert result.code == 2 and "is a folder, not a file" in flat(result.err) and "not found" not in result.err
