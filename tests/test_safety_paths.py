"""Paths that must not lead where merbench may not go: an output never replaces a file an option names (the manifest,
weights, a cascade); a coding sheet's cell never names frames outside --root; outputs of the commands that read stored
runs stay out of those runs' dataset folders; each refusal names the fix that works."""

from __future__ import annotations

import argparse
from pathlib import Path

import openpyxl
import pytest

import realtrees as rt
from merbench.errors import DataError, UsageError


def one_line(result) -> str:
    return " ".join(result.err.split())


# ------------------------------------------------------------------ 1. an output over a file an option names


@pytest.fixture
def manifest_tree(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A manifest dataset whose CSV lies in the working folder, where dataset.manifest looks first."""
    root = rt.build_manifest_images(tmp_path / "mimg").parent
    work = tmp_path / "work"
    work.mkdir()
    labels = work / "labels.csv"
    labels.write_bytes((root / "labels.csv").read_bytes())
    monkeypatch.chdir(work)
    return root, labels


@pytest.mark.parametrize("command", [
    ["run", "--model", "lbptop-svm", "--dataset", "manifest", "--root", "{root}", "--profile", "quick", "--quiet",
     "--no-store"],
    ["preprocess", "--dataset", "manifest", "--root", "{root}", "--quiet"],
    ["grid", "--models", "lbptop-svm", "--datasets", "manifest", "--protocols", "loso", "--root", "manifest={root}",
     "--profile", "quick", "--quiet", "--no-store"],
    ["leakage", "--model", "lbptop-svm", "--dataset", "manifest", "--root", "{root}", "--profile", "quick", "--quiet",
     "--no-store"],
    ["tune", "--model", "lbptop-svm", "--dataset", "manifest", "--root", "{root}", "--trials", "1", "--quiet",
     "--space", str(Path("benchmarks/spaces/lbptop-svm.yaml").absolute())],
], ids=["run", "preprocess", "grid", "leakage", "tune"])
def test_json_over_the_manifest_named_by_set_is_refused(run_cli, manifest_tree, command):
    if command[0] == "tune":
        pytest.importorskip("optuna")
    root, labels = manifest_tree
    before = labels.read_bytes()
    result = run_cli(*[part.format(root=root) for part in command], "--set", "dataset.manifest=labels.csv",
                     "--json", "labels.csv")
    assert result.code == 2, result.err
    assert ("--json labels.csv: is the file given with --set dataset.manifest=labels.csv; writing there would "
            "overwrite it; give another file name, e.g. --json labels-out.json") in one_line(result)
    assert labels.read_bytes() == before


def test_json_over_the_manifest_named_in_the_config_is_refused(run_cli, manifest_tree):
    root, labels = manifest_tree
    before = labels.read_bytes()
    Path("cfg.yaml").write_text("dataset:\n  manifest: labels.csv\n")
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "manifest", "--root", str(root), "--config",
                     "cfg.yaml", "--profile", "quick", "--quiet", "--no-store", "--json", str(labels))
    assert result.code == 2, result.err
    assert "is the file given as dataset.manifest=labels.csv in --config cfg.yaml" in one_line(result)
    assert labels.read_bytes() == before


@pytest.mark.parametrize("command, setting", [
    (["run", "--model", "timm:resnet18", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--no-store"],
     "model.weights"),
    (["preprocess", "--dataset", "synthetic", "--quiet", "--set", "preprocess=crop,flow"], "crop.cascade"),
])
def test_json_over_weights_or_a_cascade_is_refused(run_cli, tmp_path, monkeypatch, command, setting):
    monkeypatch.chdir(tmp_path)
    given = tmp_path / "input.bin"
    given.write_bytes(b"\x00weights or cascade")
    result = run_cli(*command, "--set", "dataset.subjects=4", f"{setting}=input.bin", "--json", str(given))
    assert result.code == 2, result.err
    assert f"is the file given with --set {setting}=input.bin; writing there would overwrite it" in one_line(result)
    assert given.read_bytes() == b"\x00weights or cascade"


def test_option_files_lists_files_named_by_values_and_list_elements(tmp_path, monkeypatch):
    from merbench.outputs import input_paths

    monkeypatch.chdir(tmp_path)
    for name in ("a.csv", "b.txt", "c.xml"):
        (tmp_path / name).write_text("x")
    (tmp_path / "folder").mkdir()
    config = tmp_path / "c.yaml"
    config.write_text("dataset:\n  files: [b.txt, missing.txt]\n  frames: folder\n")
    args = argparse.Namespace(config=str(config), sets=[["dataset.manifest=a.csv", "crop.cascade=c.xml,none"]],
                              space=None, baseline=None)
    found = {what: path.resolve() for what, path in input_paths(args).items()}
    assert found == {
        "the file given with --set dataset.manifest=a.csv": tmp_path / "a.csv",
        "the file given as dataset.files=['b.txt', 'missing.txt'] in --config " + str(config): tmp_path / "b.txt",
        "the file given with --set crop.cascade=c.xml,none (its part c.xml)": tmp_path / "c.xml",
        "the --config file": config,
    }


# ------------------------------------------------------------------ 2. sheet cells that lead out of --root


def outside_clip(tmp_path: Path) -> Path:
    """A clip's frames outside the dataset root, named as the CASME II, SAMM and 4DME trees name theirs."""
    folder = tmp_path / "outside" / "secretclip"
    clip = rt.clip_frames(1, 0, "happiness")
    rt.write_frames(folder, clip.frames, (f"img{40 + k}.jpg" for k in range(rt.N_FRAMES)))
    for k in range(rt.N_FRAMES):  # SAMM's and 4DME's frame names, same pictures
        (folder / f"001_{40 + k:05d}.jpg").write_bytes((folder / f"img{40 + k}.jpg").read_bytes())
        (folder / f"frame_{40 + k}.jpg").write_bytes((folder / f"img{40 + k}.jpg").read_bytes())
    return folder


def append_row(sheet: Path, cells: list) -> int:
    book = openpyxl.load_workbook(sheet)
    book.active.append(cells)
    row = book.active.max_row
    book.save(sheet)
    return row


def hostile(tmp_path: Path, how: str) -> str:
    folder = outside_clip(tmp_path)
    return str(folder) if how == "absolute" else "../../../../outside/secretclip"


@pytest.mark.parametrize("how", ["dotdot", "absolute"])
@pytest.mark.parametrize("command", ["run", "check"])
def test_a_casme2_filename_leading_out_of_the_root_is_refused(run_cli, tmp_path, how, command):
    root = rt.build_casme2(tmp_path / "data" / "casme2")
    sheet = root / "CASME2-coding-20140508.xlsx"
    filename = hostile(tmp_path, how)
    clip = rt.clip_frames(1, 0, "happiness")
    row = append_row(sheet, [1, filename, "x", 40 + clip.onset, 40 + clip.apex, 40 + clip.offset, "y", "AU12",
                             "happiness"])
    args = (["datasets", "check", "casme2", "--root", str(root)] if command == "check" else
            ["run", "--model", "lbptop-svm", "--dataset", "casme2", "--root", str(root), "--profile", "quick",
             "--quiet", "--no-store", "--set", "protocol.n_splits=3"])
    result = run_cli(*args)
    assert result.code == 2, result.out + result.err
    what = "is an absolute path" if how == "absolute" else "leads out of the frame folder ('..')"
    assert f"{sheet} row {row}: Filename {filename!r} {what}; merbench reads a dataset only inside its --root" \
        in one_line(result)
    assert "Traceback" not in result.err


@pytest.mark.parametrize("how", ["dotdot", "absolute"])
def test_a_samm_filename_leading_out_of_the_root_is_refused(run_cli, tmp_path, how):
    root = rt.build_samm(tmp_path / "data" / "samm")
    sheet = root / "SAMM_Micro_FACS_Codes_v2.xlsx"
    filename = hostile(tmp_path, how)
    clip = rt.clip_frames(1, 0, "happiness")
    row = append_row(sheet, [1, filename, "1", 40 + clip.onset, 40 + clip.apex, 40 + clip.offset, 4, "micro", "R12",
                             "", "Happiness", "1"])
    result = run_cli("datasets", "check", "samm", "--root", str(root))
    assert result.code == 2, result.out + result.err
    assert f"{sheet} row {row}: Filename {filename!r}" in one_line(result)


@pytest.mark.parametrize("column", ["sub_ID", "fold_name"])
@pytest.mark.parametrize("how", ["dotdot", "absolute"])
def test_a_4dme_folder_cell_leading_out_of_the_root_is_refused(run_cli, tmp_path, how, column):
    root = rt.build_4dme(tmp_path / "data" / "4dme")
    sheet = root / "4DME" / "4DME_Labelling_Micro_release v1.xlsx"
    text = hostile(tmp_path, how)
    if column == "sub_ID":  # a sub_ID still starts like one (S01...), as the loader reads the subject from it
        text = "S01/../../../../outside" if how == "dotdot" else str(tmp_path / "outside")
        cells = [9, text, "secretclip"]
    else:
        cells = [9, "S01", text]
    clip = rt.clip_frames(1, 0, "happiness")
    row = append_row(sheet, [*cells, "Positive", 40 + clip.onset, 40 + clip.apex, 40 + clip.offset, "1+2", 1, 0, 1])
    result = run_cli("datasets", "check", "4dme", "--root", str(root))
    assert result.code == 2, result.out + result.err
    assert f"{sheet.name} row {row}: {column} {text!r}" in one_line(result)


def test_folder_cell_takes_names_that_stay_inside():
    from merbench_plugins.datasets.common import folder_cell

    for text in ("EP02_01f", "EP02_01f.", "a..b", "12:30", "sub/EP02"):
        assert folder_cell(Path("s.xlsx"), 3, "Filename", text, "EP02_01f") == text
    for text in ("..", "a/../..", "..\\x", "/tmp/x", "C:\\x", "C:/x", "\\\\server\\share"):
        with pytest.raises(DataError, match=r"s\.xlsx row 3: Filename"):
            folder_cell(Path("s.xlsx"), 3, "Filename", text, "EP02_01f")


# ------------------------------------------------------------------ 3. outputs of the commands that read stored runs


@pytest.fixture
def stored_run(tmp_path) -> tuple[Path, Path, str]:
    """A store holding one complete run recorded with --root ROOT (no training: a minimal result)."""
    from merbench.store import ResultStore
    from result_samples import minimal_result

    root = tmp_path / "casme2"
    root.mkdir()
    (root / "sheet.xlsx").write_text("x")
    store = tmp_path / "runs.sqlite"
    config = {"model": "m", "dataset": "casme2", "protocol": "loso", "profile": "quick", "seed": 0,
              "root": str(root), "options": {"dataset": {}}}
    with ResultStore(store) as opened:
        run_id = opened.begin_run(config, 1, {})
        opened.finish_run(run_id, minimal_result(model="m", dataset="casme2", run_id=run_id, seed=0, config=config))
    return root, store, run_id


@pytest.mark.parametrize("command", [
    ["show", "{run}", "--json", "{root}/show.json"],
    ["report", "--output", "{root}/rep.md"],
    ["report", "--output", "{root}/sub/../rep.csv"],
    ["report", "--figures", "{root}/figs"],
    ["report", "--figures", "{root}"],
], ids=["show-json", "report-output", "report-output-dotdot", "report-figures", "report-figures-root"])
def test_outputs_inside_a_stored_runs_dataset_folder_are_refused(run_cli, stored_run, command):
    root, store, run_id = stored_run
    before = sorted(root.rglob("*"))
    result = run_cli(*[part.format(root=root, run=run_id) for part in command], "--store", str(store))
    assert result.code == 2, result.out + result.err
    assert f"the dataset folder of run {run_id} ({root}); merbench never writes inside a dataset's folder" \
        in one_line(result)
    assert sorted(root.rglob("*")) == before


def test_outputs_beside_a_stored_runs_dataset_folder_are_written(run_cli, stored_run, tmp_path):
    root, store, run_id = stored_run
    assert run_cli("show", run_id, "--store", str(store), "--json", str(tmp_path / "show.json")).code == 0
    assert run_cli("report", "--store", str(store), "--output", str(tmp_path / "rep.md")).code == 0
    assert (tmp_path / "show.json").is_file() and (tmp_path / "rep.md").is_file()


def test_stored_roots_names_the_folders_a_runs_dataset_options_name(tmp_path):
    from merbench.outputs import stored_roots

    smic = tmp_path / "SMIC"
    smic.mkdir()
    config = {"dataset": "megc2019", "root": None, "options": {"dataset": {"smic": str(smic), "list": "official"}}}
    assert stored_roots({"r1": config}) == {f"the dataset folder dataset.smic={smic} of run r1": smic}


def test_a_stored_relative_root_is_not_placed_in_the_working_folder(tmp_path, monkeypatch, run_cli):
    """A run stored with --root . (as older runs and other commands stored it) read a folder nobody recorded: taking it
    as the working folder would refuse every output written here."""
    from merbench.outputs import stored_roots

    monkeypatch.chdir(tmp_path)
    assert stored_roots({"r1": {"dataset": "synthetic", "root": ".", "options": {}}}) == {}
    assert stored_roots({"r2": {"dataset": "synthetic", "root": str(tmp_path), "options": {}}}) == {
        "the dataset folder of run r2": tmp_path}


# ------------------------------------------------------------------ 4. --storage inside a dataset folder


def test_storage_inside_a_dataset_folder_suggests_moving_storage(tmp_path):
    from merbench.outputs import check_store_outside_datasets

    root = tmp_path / "casme2"
    root.mkdir()
    args = argparse.Namespace(root=str(root), config=None, sets=[], dataset="casme2")
    with pytest.raises(UsageError) as caught:
        check_store_outside_datasets(args, root / "t.sqlite", "--storage")
    message = str(caught.value)
    assert message.endswith("merbench never writes inside a dataset's folder; give a file outside it with --storage "
                            "PATH"), message
    assert "--store PATH" not in message and "$MERBENCH_STORE" not in message
    with pytest.raises(UsageError, match=r"give a file outside it with --storage PATH, or set \$MERBENCH_STORE"):
        check_store_outside_datasets(args, root / "tuning.sqlite", "the trials storage")


def test_tune_storage_inside_a_dataset_folder_suggests_moving_storage(run_cli, tmp_path):
    pytest.importorskip("optuna")
    root = rt.build_casme2(tmp_path / "casme2")
    result = run_cli("tune", "--model", "lbptop-svm", "--dataset", "casme2", "--root", str(root), "--trials", "1",
                     "--quiet", "--space", "benchmarks/spaces/lbptop-svm.yaml", "--storage", str(root / "t.sqlite"))
    assert result.code == 2 and "give a file outside it with --storage PATH" in one_line(result)
    assert not (root / "t.sqlite").exists()


# ------------------------------------------------------------------ 5. a ':' in a manifest path's first folder


def test_a_manifest_path_with_a_colon_in_its_first_folder_is_relative(run_cli, tmp_path):
    labels = rt.build_manifest_images(tmp_path / "mimg")
    root = labels.parent
    header, first = labels.read_text().splitlines()[:2]
    cells = dict(zip(header.split(","), first.split(",")))
    (root / "12:30").mkdir()
    (root / "12:30" / "a.png").write_bytes((root / cells["path"]).read_bytes())
    cells.update(path="12:30/a.png", **({"id": "colon"} if "id" in cells else {}))
    with open(labels, "a", encoding="utf-8") as handle:
        handle.write(",".join(cells[column] for column in header.split(",")) + "\n")
    result = run_cli("datasets", "check", "manifest", "--root", str(root), "--set", f"dataset.manifest={labels}")
    assert result.code == 0, result.err
    assert "is absolute" not in result.err


@pytest.mark.parametrize("text", ["C:", "C:\\data\\a.png", "c:/data/a.png", "/data/a.png", "\\\\server\\share\\a.png",
                                  "C:x.png", "c:sub/x.png", "a:b/c.png"])  # drive-relative: a drive's current folder
def test_a_windows_drive_or_absolute_manifest_path_is_still_refused(tmp_path, text):
    from merbench_plugins.datasets.manifest import inside

    with pytest.raises(DataError, match=r"m\.csv row 4: path .* is absolute; give it relative to --root"):
        inside(tmp_path, text, 4, "path", "m.csv")


@pytest.mark.parametrize("text", ["12:30/a.png", "ab:/a.png", "x/C:y.png"])
def test_a_colon_that_is_no_drive_is_a_relative_path(tmp_path, text):
    from merbench_plugins.datasets.manifest import inside

    assert inside(tmp_path, text, 4, "path", "m.csv") == tmp_path / text
