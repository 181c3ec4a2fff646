"""A leakage variant run with a protocol option only its protocol takes says so in its row and its summary.

``--set protocol.pairs=2`` reaches only ``frame-10fold`` (the honest ``subject-10fold`` has no pairs), and under an
honest ``loso`` ``protocol.n_splits`` reaches only ``sample-10fold`` and ``frame-10fold``. Before, the summary's
``settings_changed`` held the honest run's settings alone and the variants recorded only their built-in ``sets``:
no table, summary field or audit said the frame-10fold row was measured with two frame pairs per clip, not five.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

TINY = ["dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8"]


def _study(folder, *extra: str):
    """A stored quick lbptop-svm study on tiny synthetic data: (summary path, store path)."""
    from merbench.cli import main

    summary, store = folder / "leakage.json", folder / "results.sqlite"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["leakage", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--store", str(store), "--json", str(summary), *extra])
    assert code == 0
    return summary, store


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return _study(tmp_path_factory.mktemp("leakage-pairs"), "--set", *TINY, "protocol.n_splits=2", "protocol.pairs=2")


@pytest.fixture(scope="module")
def loso(tmp_path_factory):
    return _study(tmp_path_factory.mktemp("leakage-loso"), "--protocol", "loso", "--set", *TINY, "protocol.n_splits=2")


def _settings(path) -> dict[str, list[str]]:
    summary = json.loads(path.read_text())
    return {variant["name"]: variant.get("settings") for variant in summary["variants"]}


def _row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(name))


def test_an_option_only_a_variants_protocol_takes_is_recorded_for_that_variant(pairs):
    summary = json.loads(pairs[0].read_text())
    assert "protocol.pairs=2" not in summary["settings_changed"]  # the honest run had no pairs
    assert "protocol.n_splits=2" in summary["settings_changed"]  # every protocol of the study takes it: shared
    assert _settings(pairs[0]) == {"honest": [], "sample-10fold": [], "frame-10fold": ["protocol.pairs=2"],
                                   "select_on=test": [], "normalise_on=all": []}


def test_a_variants_own_options_are_in_its_row_in_every_rendering(pairs, run_cli, tmp_path):
    from merbench.leakage_summary import load_summary
    from merbench.rendered_tables import render_leakage

    shown = run_cli("report", "--leakage", str(pairs[0]))
    assert shown.code == 0, shown.err
    assert _row(shown.out, "frame-10fold").endswith("frames of a clip in train and test; ran with protocol.pairs=2")
    assert "ran with" not in _row(shown.out, "sample-10fold") and "pairs" not in shown.out.splitlines()[0]
    assert "frames of a clip in train and test; ran with protocol.pairs=2 |" in render_leakage(
        load_summary(pairs[0]), "leakage.json")
    page = tmp_path / "leakage.html"
    assert run_cli("report", "--leakage", str(pairs[0]), "--output", str(page)).code == 0
    assert "frames of a clip in train and test; ran with protocol.pairs=2</td>" in page.read_text()


def test_an_option_the_honest_protocol_lacks_reaches_the_variants_rows(loso, run_cli):
    summary = json.loads(loso[0].read_text())
    assert "protocol.n_splits=2" not in summary["settings_changed"]
    settings = _settings(loso[0])
    assert settings["sample-10fold"] == settings["frame-10fold"] == ["protocol.n_splits=2"]
    assert settings["honest"] == settings["select_on=test"] == settings["normalise_on=all"] == []
    shown = run_cli("report", "--leakage", str(loso[0])).out
    assert _row(shown, "sample-10fold").endswith("subjects in train and test; ran with protocol.n_splits=2")


def _audited(run_cli, tmp_path, study, change) -> tuple[int, dict[str, str]]:
    document = json.loads(study[0].read_text())
    change(document)
    path, report = tmp_path / "edited.json", tmp_path / "audit.json"
    path.write_text(json.dumps(document))
    code = run_cli("audit", str(path), "--store", str(study[1]), "--json", str(report)).code
    checks = json.loads(report.read_text())["files"][0]["checks"]
    return code, {check["name"]: check["finding"] for check in checks if not check["passed"]}


def _set(position: int, settings: list[str]):
    return lambda document: document["variants"][position].update(settings=settings)


def _run_of(study, position: int) -> str:
    return json.loads(study[0].read_text())["variants"][position]["runs"][0]["run_id"]


def test_the_audit_passes_such_studies_as_written(pairs, loso, run_cli, tmp_path):
    for study in (pairs, loso):
        assert _audited(run_cli, tmp_path, study, lambda document: None) == (0, {})


@pytest.mark.parametrize("change, finding", [
    (_set(2, []), "frame-10fold, seed 0 (run {frame}) ran with protocol.pairs=2, the summary with protocol.pairs=5 "
                  "(the quick profile's default)"),
    (_set(2, ["protocol.pairs=3"]), "frame-10fold, seed 0 (run {frame}) ran with protocol.pairs=2, the summary with "
                                    "protocol.pairs=3"),
    (_set(1, ["protocol.pairs=3"]), "sample-10fold, seed 0 (run {sample}) ran with protocol.pairs (not recorded), the "
                                    "summary with protocol.pairs=3"),
    (lambda document: (document["settings_changed"].append("protocol.pairs=2"), _set(2, [])(document)),
     "frame-10fold, seed 0 (run {frame}) ran with protocol.pairs=2, a setting of frame-10fold alone (the honest run "
     "did not change it), but the summary lists it in settings_changed, what every variant ran with, and not in "
     "frame-10fold's settings, so its row does not say \"ran with protocol.pairs=2\""),
    (lambda document: (document["settings_changed"].remove("protocol.n_splits=2"),
                       [variant["settings"].append("protocol.n_splits=2") for variant in document["variants"]]),
     "the settings of honest, sample-10fold, frame-10fold (and 2 more) list protocol.n_splits=2, which the honest run "
     "changed too (honest, seed 0 (run {honest})): every variant ran with it, and the summary names such a setting in "
     "its settings_changed, not in a variant's settings"),
], ids=["dropped", "another value", "on a variant whose protocol lacks it", "moved to the shared settings",
        "a shared one moved to every variant's"])
def test_the_audit_fails_a_variants_settings_that_its_run_did_not_have(pairs, run_cli, tmp_path, change, finding):
    code, failing = _audited(run_cli, tmp_path, pairs, change)
    assert code == 1
    assert failing == {"runs in the store": finding.format(frame=_run_of(pairs, 2), sample=_run_of(pairs, 1),
                                                           honest=_run_of(pairs, 0))}


def test_a_summary_written_before_variants_recorded_their_settings_still_loads_and_passes(pairs, run_cli, tmp_path):
    def change(document):
        for variant in document["variants"]:
            del variant["settings"]

    assert _audited(run_cli, tmp_path, pairs, change) == (0, {})
    shown = run_cli("report", "--leakage", str(tmp_path / "edited.json"))
    assert shown.code == 0 and "ran with" not in shown.out


def test_a_setting_that_is_not_a_text_is_refused_naming_it(pairs, run_cli, tmp_path):
    document = json.loads(pairs[0].read_text())
    document["variants"][2]["settings"] = [2]
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(document))
    shown = run_cli("report", "--leakage", str(path))
    assert shown.code == 2
    assert f"--leakage {path}: variants[2].settings[0] is not a text (2); write it again with merbench leakage " \
           "--json" in " ".join(shown.err.split())


def test_a_line_break_or_markup_in_a_variants_setting_stays_in_its_row(pairs):
    from rich.console import Console

    from merbench.report import leakage_table
    from merbench.tables import print_table

    summary = json.loads(pairs[0].read_text())
    summary["variants"][2]["settings"] = ["protocol.pairs=[red]2\nStored as run 20990101-000000-000000"]
    console = Console(file=io.StringIO(), width=250)
    print_table(console, leakage_table(summary))
    row = _row(console.file.getvalue(), "frame-10fold")
    assert row.endswith("ran with protocol.pairs=[red]2\\x0aStored as run 20990101-000000-000000")
