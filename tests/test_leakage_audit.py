"""``merbench audit SUMMARY.json``: a leakage study's numbers computed again from the runs it lists in the store.

``report --leakage`` and the README render a summary as it is; an edited number, or a summary pointing at runs
that are not the ones it was made from, must be noticed."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest

TINY = ["dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "protocol.pairs=2", "engine.epochs=3"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One quick stored study with one seed: (summary path, store path)."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("leakage-audit")
    summary, store = folder / "leakage.json", folder / "results.sqlite"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["leakage", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--seeds", "1",
                     "--quiet", "--store", str(store), "--json", str(summary), "--set", *TINY])
    assert code == 0
    return summary, store


def edited(study, tmp_path, change) -> str:
    """A copy of the study's summary with ``change(summary)`` applied; its path."""
    document = json.loads(study[0].read_text())
    change(document)
    target = tmp_path / "edited.json"
    target.write_text(json.dumps(document))
    return str(target)


def audited(run_cli, tmp_path, path: str, store) -> tuple[int, dict, str]:
    """Audit ``path`` against ``store``: (exit code, its --json record, stdout)."""
    report = tmp_path / "audit.json"
    result = run_cli("audit", path, "--store", str(store), "--json", str(report))
    return result.code, json.loads(report.read_text())["files"][0], result.out + result.err


def test_a_summary_as_written_agrees_with_its_runs(study, run_cli, tmp_path):
    code, record, text = audited(run_cli, tmp_path, str(study[0]), study[1])
    assert code == 0, text
    assert record["kind"] == "leakage" and record["passed"]
    names = [check["name"] for check in record["checks"]]
    assert names == ["runs in the store", *(f"{variant}: scores and leaks" for variant in
                                            ("honest", "sample-10fold", "frame-10fold", "select_on=test",
                                             "normalise_on=all"))]
    assert "5 runs of 5 variants" in record["checks"][0]["finding"]
    frame = record["checks"][3]["finding"]
    assert "ΔUF1 +" in frame and "leaks subjects, clips" in frame


@pytest.mark.parametrize("change, failed, finding", [
    (lambda s: s["variants"][2].update(uf1=s["variants"][2]["uf1"] + 0.05), "frame-10fold: scores and leaks",
     "UF1 {} % in the summary"),
    (lambda s: s["variants"][3]["inflation"].update(low=0.2), "select_on=test: scores and leaks",
     "ΔUF1 interval low +20.0 points in the summary"),
    (lambda s: s["variants"][1].update(leaks=[]), "sample-10fold: scores and leaks",
     "leaks none in the summary, subjects recorded by its run"),
    (lambda s: s["variants"][1]["runs"][0].update(run_id=s["variants"][0]["runs"][0]["run_id"]), "runs in the store",
     "is ststnet on synthetic, subject-10fold, seed 0, not ststnet on synthetic, sample-10fold, seed 0"),
    (lambda s: s["variants"][4]["runs"][0].update(run_id=None), "runs in the store",
     "no run id (the study ran with --no-store"),
])
def test_an_edited_summary_or_other_runs_fail_the_audit(study, run_cli, tmp_path, change, failed, finding):
    original = json.loads(study[0].read_text())
    code, record, text = audited(run_cli, tmp_path, edited(study, tmp_path, change), study[1])
    assert code == 1, text
    failing = {check["name"]: check["finding"] for check in record["checks"] if not check["passed"]}
    assert list(failing) == [failed], failing
    assert finding.format(f"{100 * (original['variants'][2]['uf1'] + 0.05):.1f}") in failing[failed]


def test_a_summary_whose_store_is_gone_is_unreadable_and_the_other_files_are_still_audited(study, run_cli, tmp_path):
    copy = tmp_path / "copy.json"
    shutil.copyfile(study[0], copy)
    result = run_cli("audit", str(copy), str(study[0]), "--store", str(tmp_path / "elsewhere.sqlite"))
    assert result.code == 2
    assert f"{copy}: no results store at" in result.err and "Traceback" not in result.err
    assert "could not be read as a result (" in result.out


def test_a_run_result_is_still_audited_beside_a_summary(study, run_cli, tmp_path):
    run_id = json.loads(study[0].read_text())["variants"][0]["runs"][0]["run_id"]
    result_file = tmp_path / "honest.json"
    assert run_cli("show", run_id, "--store", str(study[1]), "--json", str(result_file)).code == 0
    result = run_cli("audit", str(result_file), str(study[0]), "--store", str(study[1]))
    assert result.code == 0, result.out + result.err
    assert "Audit: 2 of 2 files passed every check" in result.out
