"""merbench never writes inside a dataset's folder, also where a link is involved, and its folder searches do not
loop through links that lead back up.

* A path written under ``--root`` that passes through a linked folder of the dataset (a clip folder kept on another
  disk) is inside the dataset: it was allowed because only resolved paths were compared.
* ``report --figures`` checks each figure file against the dataset folders of the runs it draws (a link named like
  a figure replaced a frame of the reported run's dataset).
* ``audit --json``, ``significance --json`` and ``report --leakage --output`` refuse the dataset folders of the runs
  they read, as ``show --json`` and ``report --output`` do.
* The CAS(ME)³ frame-folder search skips links leading to the folder itself or above it (``same -> .``: the same
  tree counted twice, a search time growing as (links + 1)^5; ``up -> ..``: a search outside the root).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import realtrees as rt

RUN = ["--profile", "quick", "--protocol", "loso", "--quiet"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def linked_tree(tmp_path_factory):
    """A CASME II tree one of whose clip folders is a link to a folder on 'another disk'."""
    base = tmp_path_factory.mktemp("linked")
    root = rt.build_casme2(base / "casme2")
    clip = root / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    elsewhere = base / "other-disk" / "EP02_01f"
    elsewhere.parent.mkdir()
    shutil.move(str(clip), str(elsewhere))
    clip.symlink_to(elsewhere, target_is_directory=True)
    return root, clip


def test_outputs_under_the_root_through_a_linked_folder_are_refused(run_cli, linked_tree, monkeypatch):
    root, clip = linked_tree
    before = sorted(path.name for path in clip.iterdir())
    checked = run_cli("datasets", "check", "casme2", "--root", str(root), "--quiet", "--json", str(clip / "img48.jpg"))
    stored = run_cli("run", "--model", "lbptop-svm", "--dataset", "casme2", "--root", str(root), *RUN,
                     "--store", str(clip / "store.sqlite"))
    monkeypatch.setenv("MERBENCH_CACHE", str(clip / "cache"))
    cached = run_cli("preprocess", "--dataset", "casme2", "--root", str(root), "--quiet")
    for result in (checked, stored, cached):
        assert result.code == 2 and "inside" in result.err and "Traceback" not in result.err, result.err
    assert sorted(path.name for path in clip.iterdir()) == before


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    """A run on a CASME II tree, stored and written as JSON: (tree, store, run id, result file)."""
    from merbench.cli import main

    base = tmp_path_factory.mktemp("stored")
    root = rt.build_casme2(base / "casme2")
    store, result = base / "results.sqlite", base / "result.json"
    assert main(["run", "--model", "lbptop-svm", "--dataset", "casme2", "--root", str(root), *RUN,
                 "--store", str(store), "--json", str(result)]) == 0
    return root, store, json.loads(result.read_text())["run_id"], result


def test_a_figure_named_by_a_link_into_the_runs_dataset_is_refused(run_cli, stored_run, tmp_path):
    root, store, run_id, _ = stored_run
    frame = next((root / "CASME2_RAW_selected").rglob("*.jpg"))
    kept = digest(frame)
    figures = tmp_path / "figures"
    assert run_cli("report", run_id, "--store", str(store), "--figures", str(figures)).code == 0
    confusion = next(figures.glob("*confusion*.png"))
    confusion.unlink()
    confusion.symlink_to(frame)
    result = run_cli("report", run_id, "--store", str(store), "--figures", str(figures))
    assert result.code == 2 and "inside the dataset folder of run" in " ".join(result.err.split())
    assert digest(frame) == kept and confusion.is_symlink()


def test_audit_significance_and_leakage_reports_refuse_the_runs_dataset_folder(run_cli, stored_run, tmp_path):
    root, store, run_id, result_file = stored_run
    audited = run_cli("audit", str(result_file), "--json", str(root / "audit.json"))
    compared = run_cli("significance", run_id, run_id, "--store", str(store), "--json", str(root / "sig.json"))
    summary = json.loads((Path(__file__).parents[1] / "benchmarks" / "leakage" /
                          "synthetic-default-lbptop-svm.json").read_text())
    study = tmp_path / "study.json"
    study.write_text(json.dumps({**summary, "dataset_folders": [str(root)]}))
    rendered = run_cli("report", "--leakage", str(study), "--output", str(root / "leakage.html"))
    for result in (audited, compared, rendered):
        assert result.code == 2 and "inside" in result.err and "merbench never writes" in " ".join(result.err.split())
    assert not list(root.glob("*.json")) and not list(root.glob("*.html"))


def test_a_studys_summary_names_its_dataset_folders(run_cli, tmp_path):
    target = tmp_path / "study.json"
    root = rt.build_casme2(tmp_path / "casme2")
    study = run_cli("leakage", "--model", "lbptop-svm", "--dataset", "casme2", "--root", str(root), *RUN,
                    "--no-store", "--json", str(target), "--set", "protocol.n_splits=2", "dataset.classes=3")
    assert study.code == 0, study.err
    assert json.loads(target.read_text())["dataset_folders"] == [str(root.resolve())]


def test_the_casme3_search_skips_links_leading_back_up(run_cli, tmp_path):
    root = tmp_path / "c3"
    root.mkdir()
    rt.build_casme3(root)
    plain = run_cli("datasets", "check", "casme3", "--root", str(root), "--quiet")
    (root / "same").symlink_to(".", target_is_directory=True)
    (root / "up").symlink_to("..", target_is_directory=True)
    linked = run_cli("datasets", "check", "casme3", "--root", str(root), "--quiet")
    assert plain.code == linked.code == 0, linked.err
    assert plain.out.splitlines()[-1] == linked.out.splitlines()[-1]


def test_a_sheet_whose_xml_expands_without_bound_is_a_damaged_sheet_naming_the_file(run_cli, tmp_path):
    """expat stops the entity expansion; the message blamed the plugin ("report it to the plugin's author")."""
    import zipfile

    root = rt.build_casme2(tmp_path / "casme2")
    sheet = root / "CASME2-coding-20140508.xlsx"
    with zipfile.ZipFile(sheet) as book:
        items = {name: book.read(name) for name in book.namelist()}
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY a{i} "{("&a;" if i == 1 else f"&a{i - 1};") * 10}">' for i in range(1, 10))
    xml = items["xl/worksheets/sheet1.xml"].decode()
    body = xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml
    items["xl/worksheets/sheet1.xml"] = (f'<?xml version="1.0"?>\n<!DOCTYPE bomb [{entities}]>{body}'
                                         ).encode().replace(b"<v>", b"<v>&a9;", 1)
    with zipfile.ZipFile(sheet, "w") as book:
        for name, data in items.items():
            book.writestr(name, data)
    result = run_cli("datasets", "check", "casme2", "--root", str(root), "--quiet")
    said = " ".join(result.err.split())
    assert result.code == 2 and f"cannot read {sheet} as an .xlsx workbook" in said and "plugin" not in said
