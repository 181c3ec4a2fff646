"""``merbench audit SUMMARY.json``: what a leakage table is titled and captioned with must be what its runs ran.

Each case edits a genuine summary (or points it at other stored runs, its numbers computed again from them so that
every score checks out) the way a reader could not notice from the table, and the audit must fail naming what differs.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

TINY = ["dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "protocol.pairs=2", "engine.epochs=3"]
HONEST = [setting for setting in TINY if not setting.startswith("protocol.pairs")]  # subject-10fold has no pairs


def _quietly(*args: str) -> int:
    from merbench.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(list(args))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One quick stored study with one seed, and two more honest runs in its store, one with other settings
    (``engine.epochs=2``) and one on another device setting: (summary path, store path, {what: run id})."""
    folder = tmp_path_factory.mktemp("leakage-audit-trust")
    summary, store = folder / "leakage.json", folder / "results.sqlite"
    assert _quietly("leakage", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--seeds", "1",
                    "--quiet", "--store", str(store), "--json", str(summary), "--set", *TINY) == 0
    others = {}
    for name, extra in (("epochs", ["--set", *HONEST, "engine.epochs=2"]),
                        ("device", ["--device", "cpu", "--set", *HONEST])):
        result = folder / f"{name}.json"
        assert _quietly("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                        "--store", str(store), "--json", str(result), *extra) == 0
        others[name] = json.loads(result.read_text())["run_id"]
    return summary, store, others


def recomputed(document: dict, store) -> dict:
    """``document`` with every number computed again from the runs it lists, as a careful forger would."""
    from merbench.leakage_audit import COMPUTED
    from merbench.leakage_summary import summarise
    from merbench.store import ResultStore

    with ResultStore(store, create=False) as results:
        runs = [[results.result(run["run_id"]) for run in variant["runs"]] for variant in document["variants"]]
    descriptions = [{key: value for key, value in variant.items() if key not in COMPUTED}
                    for variant in document["variants"][1:]]
    again = summarise({"protocol": document["protocol"]}, runs[0], list(zip(descriptions, runs[1:])))
    for variant, computed in zip(document["variants"], again["variants"]):
        variant.update({key: computed[key] for key in COMPUTED})
    return document


def audited(run_cli, tmp_path, study, change) -> tuple[int, dict[str, str], str]:
    """Audit a copy of the study's summary with ``change(summary)`` applied: (exit code, failing check → finding,
    everything printed)."""
    document = json.loads(study[0].read_text())
    change(document)
    path, report = tmp_path / "edited.json", tmp_path / "audit.json"
    path.write_text(json.dumps(document))
    result = run_cli("audit", str(path), "--store", str(study[1]), "--json", str(report))
    checks = json.loads(report.read_text())["files"][0]["checks"]
    failing = {check["name"]: check["finding"] for check in checks if not check["passed"]}
    return result.code, failing, result.out + result.err


def swapped(study, other: str, position: int = 0):
    """A change putting the stored run ``other`` in place of variant ``position``'s run, every number recomputed."""
    def change(document):
        document["variants"][position]["runs"][0]["run_id"] = study[2][other]
        recomputed(document, study[1])
    return change


def test_the_summary_as_written_still_passes(study, run_cli, tmp_path):
    code, failing, text = audited(run_cli, tmp_path, study, lambda document: None)
    assert code == 0 and not failing, text
    assert "5 runs of 5 variants (every variant merbench leakage runs), each the model, dataset, protocol, seed, " \
           "profile and settings the summary names" in " ".join(text.split())


def test_a_run_of_other_settings_in_place_of_the_honest_one_fails_naming_run_setting_and_values(study, run_cli,
                                                                                                tmp_path):
    # Before: the run was the same model, dataset, protocol and seed, so it passed, with every number recomputed.
    code, failing, text = audited(run_cli, tmp_path, study, swapped(study, "epochs"))
    assert code == 1, text
    assert list(failing) == ["runs in the store"], failing  # the numbers were recomputed: every score checks out
    assert failing["runs in the store"] == (f"honest, seed 0 (run {study[2]['epochs']}) ran with engine.epochs=2, the "
                                            "summary with engine.epochs=3 (the quick profile's default)")


def test_a_run_configured_unlike_the_studys_other_runs_fails(study, run_cli, tmp_path):
    # device is no setting a summary names: the run differs from the runs the study made together.
    code, failing, text = audited(run_cli, tmp_path, study, swapped(study, "device"))
    assert code == 1, text
    assert failing == {"runs in the store": f"honest, seed 0 (run {study[2]['device']}) ran with device=cpu, the other "
                                            "runs with device=auto"}


def test_a_run_without_its_variants_own_setting_fails(study, run_cli, tmp_path):
    # The honest run in place of normalise_on=all's, its leaks recomputed (none): the same protocol and seed.
    def change(document):
        document["variants"][4]["runs"][0]["run_id"] = document["variants"][0]["runs"][0]["run_id"]
        recomputed(document, study[1])

    code, failing, text = audited(run_cli, tmp_path, study, change)
    assert code == 1, text
    assert list(failing) == ["runs in the store"], failing
    said = "ran with engine.normalise_on=train, not its variant's engine.normalise_on=all"
    assert said in failing["runs in the store"]


@pytest.mark.parametrize("change, finding", [
    (lambda s: s.update(profile="default"),
     "every run ran with the quick profile, the summary with the default profile"),
    (lambda s: s.update(settings_changed=[]),
     "every run ran with dataset.subjects=4, the summary with dataset.subjects="),
    (lambda s: s.update(settings_changed=[*s["settings_changed"], "engine.epochs=10"]),
     "every run ran with engine.epochs=3 (the quick profile's default), the summary with engine.epochs=10"),
    (lambda s: s.update(command="merbench leakage --model ststnet --dataset synthetic --profile default --seeds 1"),
     "the summary's command gives --profile default, its runs were made with --profile quick"),
    (lambda s: s.update(protocol="loso"), "the summary's protocol is loso, its honest run"),
    (lambda s: s.update(seeds=[3]), "every variant has runs of seed 0, the summary's seeds are 3"),
])
def test_an_edited_profile_settings_command_protocol_or_seeds_fail(study, run_cli, tmp_path, change, finding):
    # Before: each passed, and report --leakage titled the table with the edited profile, options or seed.
    _fails_in_the_runs_row(study, run_cli, tmp_path, change, finding)


def _fails_in_the_runs_row(study, run_cli, tmp_path, change, finding) -> None:
    code, failing, text = audited(run_cli, tmp_path, study, change)
    assert code == 1, text
    assert list(failing) == ["runs in the store"], failing
    assert finding in failing["runs in the store"]


@pytest.mark.parametrize("change, finding", [
    (lambda s: s["variants"].pop(1), "no sample-10fold in the summary, and its left_out does not name it"),
    (lambda s: (s["variants"].pop(2), s.update(left_out=[{"name": "frame-10fold", "why": "not needed"}])),
     "left_out names frame-10fold (not needed), but merbench leakage runs it on dataset 'synthetic', which gives "
     "frames, not precomputed images"),
    (lambda s: s["variants"].append(s["variants"][3]), "select_on=test is listed 2 times"),
])
def test_a_variant_dropped_or_left_out_without_cause_fails(study, run_cli, tmp_path, change, finding):
    # Before: "4 runs of 4 variants", pass.
    _fails_in_the_runs_row(study, run_cli, tmp_path, change, finding)


@pytest.mark.parametrize("change, failed, finding", [
    (lambda s: s["variants"][2].update(what="nothing"), "frame-10fold: scores and leaks",
     'what leaks "nothing" in the summary, "frames of a clip in train and test" from merbench leakage'),
    (lambda s: s["variants"][3].update(sets={}), "select_on=test: scores and leaks",
     "settings none in the summary, engine.select_on=test from merbench leakage"),
    (lambda s: s["variants"][1].update(expected_leaks=[]), "sample-10fold: scores and leaks",
     "expected leaks none in the summary, subjects from merbench leakage"),
    (lambda s: s["variants"][4].update(note="measured on a tenth of the clips"), "normalise_on=all: scores and leaks",
     'note "measured on a tenth of the clips" in the summary, none from merbench leakage'),
])
def test_a_variant_described_otherwise_than_merbench_describes_it_fails(study, run_cli, tmp_path, change, failed,
                                                                        finding):
    # Before: passed, and report --leakage showed the edited "What leaks".
    code, failing, text = audited(run_cli, tmp_path, study, change)
    assert code == 1, text
    assert failing == {failed: finding}, failing


def test_a_study_on_images_passes_with_frame_10fold_left_out_and_fails_when_left_out_no_longer_says_so(run_cli,
                                                                                                        tmp_path):
    import realtrees as rt

    root = tmp_path / "images"
    root.mkdir()
    rt.build_manifest_images(root, subjects=6, per_subject=4)
    summary, store = tmp_path / "study.json", tmp_path / "results.sqlite"
    assert run_cli("leakage", "--model", "ststnet", "--dataset", "manifest", "--root", str(root), "--profile", "quick",
                   "--set", "dataset.manifest=labels.csv", "protocol.n_splits=3", "--store", str(store), "--quiet",
                   "--json", str(summary)).code == 0
    result = run_cli("audit", str(summary), "--store", str(store))
    assert result.code == 0, result.out + result.err
    assert "every variant merbench leakage runs but frame-10fold, left out as it says" in " ".join(result.out.split())
    code, failing, text = audited(run_cli, tmp_path, (summary, store), lambda s: s.update(left_out=[]))
    assert code == 1, text
    assert failing == {"runs in the store": "no frame-10fold in the summary, and its left_out does not name it: "
                                            "merbench leakage runs every variant and leaves one out only where it "
                                            "cannot apply, saying so there"}


def test_a_summary_written_before_it_recorded_its_settings_still_passes(study, run_cli, tmp_path):
    """A summary without settings_changed (merbench before 2026-12-05) read as "no settings changed": its study,
    made with --set, failed ("every run ran with dataset.subjects=..., the summary with ...")."""
    code, failing, text = audited(run_cli, tmp_path, study, lambda s: s.pop("settings_changed"))
    assert code == 0 and not failing, text
