"""An output of a command that reads stored runs (``show --json``, ``report --output``/``--figures``, ``audit
--json``) never replaces the manifest a selected run read, even where that file lies outside the run's ``--root``
(given from the working folder): the manifest the run recorded (``dataset_summary.manifest``), or for a run that
recorded none its ``dataset.manifest`` option. Before, only the run's folder was protected: ``report --output
labels2.csv`` exited 0 and the manifest was gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MANIFEST = "subject,label,path\ns1,a,images/img_0.png\n"


def _store_run(tmp_path: Path, recorded: bool) -> tuple[Path, Path, str]:
    """A store holding one run of dataset ``manifest`` read from ``tree/`` with the manifest ``wf/labels2.csv``,
    outside it: recorded in the run's summary, or (``recorded=False``) given as an absolute option and not
    recorded. Returns (manifest, store, run id)."""
    from merbench.store import ResultStore
    from result_samples import minimal_result

    root = tmp_path / "tree"
    (root / "images").mkdir(parents=True)
    manifest = tmp_path / "wf" / "labels2.csv"
    manifest.parent.mkdir()
    manifest.write_text(MANIFEST)
    option = "labels2.csv" if recorded else str(manifest)
    config = {"model": "m", "dataset": "manifest", "protocol": "loso", "profile": "quick", "seed": 0,
              "root": str(root), "options": {"dataset": {"manifest": option}}}
    summary = {"dataset_summary": {"manifest": str(manifest)}} if recorded else {}
    store = tmp_path / "runs.sqlite"
    with ResultStore(store) as opened:
        run_id = opened.begin_run(config, 1, {})
        opened.finish_run(run_id, minimal_result(model="m", dataset="manifest", run_id=run_id, seed=0, config=config,
                                                 **summary))
    return manifest, store, run_id


@pytest.fixture
def stored_run(tmp_path) -> tuple[Path, Path, str]:
    """``_store_run`` of a run that recorded the manifest it read."""
    return _store_run(tmp_path, recorded=True)


def _refused(result, run_id: str) -> None:
    said = " ".join(result.err.split())
    assert result.code == 2, said
    assert (f"is the manifest that run {run_id} read (dataset.manifest); merbench never replaces a dataset's files; "
            "give another path") in said
    assert "Traceback" not in said


@pytest.mark.parametrize("command", [
    ["show", "{run}", "--json", "{manifest}"],
    ["report", "--output", "{manifest}"],
    ["report", "--output", "{link}"],
], ids=["show-json", "report-output", "report-output-through-a-link"])
def test_an_output_onto_the_manifest_a_run_read_is_refused(run_cli, stored_run, tmp_path, command):
    manifest, store, run_id = stored_run
    link = tmp_path / "out.csv"
    link.symlink_to(manifest)
    given = [part.format(run=run_id, manifest=manifest, link=link) for part in command]
    _refused(run_cli(*given, "--store", str(store)), run_id)
    assert manifest.read_text() == MANIFEST


def test_a_figure_linked_to_the_manifest_is_refused(run_cli, stored_run, tmp_path):
    from merbench.figures import figure_files
    from merbench.store import ResultStore

    manifest, store, run_id = stored_run
    figures = tmp_path / "figs"
    figures.mkdir()
    with ResultStore(store, create=False) as opened:
        folds = figure_files([opened.result(run_id)], figures)[1]
    folds.symlink_to(manifest)
    _refused(run_cli("report", run_id, "--figures", str(figures), "--store", str(store)), run_id)
    assert manifest.read_text() == MANIFEST and sorted(path.name for path in figures.iterdir()) == [folds.name]


def test_audit_json_onto_the_manifest_of_the_audited_run_is_refused(run_cli, stored_run, tmp_path):
    manifest, store, run_id = stored_run
    result = tmp_path / "r.json"
    assert run_cli("show", run_id, "--json", str(result), "--store", str(store)).code == 0
    written = json.loads(result.read_text())  # audit reads a result with its per-sample rows
    written["leakage"] = {"pairs": []}
    written["predictions"] = [{"id": f"c{i}", "subject": f"s{i // 2}", "domain": None, "fold": i // 2,
                               "label": i % 3, "prediction": i % 3} for i in range(4)]
    result.write_text(json.dumps(written))
    _refused(run_cli("audit", str(result), "--json", str(manifest)), run_id)
    assert manifest.read_text() == MANIFEST


def test_the_manifest_option_of_a_run_that_recorded_none_is_spared_and_other_paths_written(run_cli, tmp_path):
    manifest, store, run_id = _store_run(tmp_path, recorded=False)
    _refused(run_cli("report", "--output", str(manifest), "--store", str(store)), run_id)
    assert manifest.read_text() == MANIFEST
    other = manifest.with_name("table.csv")
    written = run_cli("report", "--output", str(other), "--store", str(store))
    assert written.code == 0, written.err
    assert other.read_text() != MANIFEST and "uf1" in other.read_text().lower()
    shown = manifest.with_name("r.json")
    assert run_cli("show", run_id, "--json", str(shown), "--store", str(store)).code == 0
    assert json.loads(shown.read_text())["run_id"] == run_id


def test_significance_json_onto_the_manifest_of_a_compared_run_is_refused(run_cli, stored_run, tmp_path):
    manifest, store, run_id = stored_run
    refused = run_cli("significance", run_id, run_id, "--json", str(manifest), "--store", str(store))
    said = " ".join(refused.err.split())
    assert refused.code == 2 and "Traceback" not in said
    assert f"({run_id}) read (dataset.manifest); merbench never replaces a dataset's files" in said, said
    assert manifest.read_text() == MANIFEST

