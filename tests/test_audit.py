"""``merbench audit``: re-checking stored results for leakage and consistency."""

from __future__ import annotations

import json

import pytest

FAST = ("--set", "protocol.n_splits=3", "engine.epochs=1")


@pytest.fixture
def result_file(quick_run, tmp_path):
    def make(*extra: str):
        result = quick_run(*FAST, *extra)
        path = tmp_path / f"audited-{len(list(tmp_path.glob('audited-*')))}.json"
        path.write_text(json.dumps(result))
        return path, result

    return make


def test_subject_independent_run_passes(run_cli, result_file):
    path, _ = result_file()
    audited = run_cli("audit", str(path))
    assert audited.code == 0, audited.out
    assert "FAIL" not in audited.out and audited.out.count("pass") == 5


def test_sample_level_run_fails_with_declared_overlap(run_cli, result_file):
    path, _ = result_file("--protocol", "sample-10fold")
    audited = run_cli("audit", str(path))
    assert audited.code == 1
    text = " ".join(audited.out.split())
    assert "3 of 3 folds share subjects (declared by the protocol)" in text


def test_undeclared_overlap_and_test_selection_fail(run_cli, result_file, tmp_path):
    path, result = result_file("--protocol", "sample-10fold")
    result["subject_independent"] = True
    result["leakage"]["model_selection"] = "best epoch on the test fold"
    result["leakage"]["selection_uses_test_data"] = True
    path.write_text(json.dumps(result))
    audited = run_cli("audit", str(path))
    assert audited.code == 1
    text = " ".join(audited.out.split())
    assert "NOT declared" in text
    assert "best epoch on the test fold" in text


def test_scores_that_do_not_follow_from_predictions_fail(run_cli, result_file):
    path, result = result_file()
    result["pooled"]["uf1"] = 0.99
    path.write_text(json.dumps(result))
    audited = run_cli("audit", str(path))
    assert audited.code == 1
    assert "pooled uf1 is 0.9900" in " ".join(audited.out.split())


@pytest.mark.parametrize("field, value, message", [
    ("fold_mean", 0.99, "fold_mean uf1 is 0.9900, the folds give"),
    ("fold_std", 0.0, "fold_std uf1 is 0.0000, the folds give"),
])
def test_a_mean_or_std_over_folds_that_does_not_follow_from_the_folds_fails(run_cli, result_file, field, value, message):
    path, result = result_file()
    assert result["fold_std"]["uf1"] > 0.001, "the tiny run's folds differ, so a std of 0 is wrong"
    result[field]["uf1"] = value
    path.write_text(json.dumps(result))
    audited = run_cli("audit", str(path))
    assert audited.code == 1 and message in " ".join(audited.out.split())


SEED_TAMPERING = [
    (lambda r: r["across_seeds"]["mean"].__setitem__("uf1", 0.9), "across_seeds mean uf1 is 0.9000, the seeds give"),
    (lambda r: r["across_seeds"]["std"].__setitem__("uf1", 0.0), "across_seeds std uf1 is 0.0000, the seeds give"),
    (lambda r: r["seeds"][0]["pooled"].__setitem__("uf1", 0.9), "seeds[0] (seed 0) pooled uf1 is 0.9000, the result's own"),
    (lambda r: r["across_seeds"].__setitem__("n", 3), "across_seeds is over 3 seeds, the result records 2"),
    (lambda r: (r.__setitem__("seeds", []), r["across_seeds"].__setitem__("n", 0)),
     "across_seeds is recorded without any seed's scores"),
]


def test_a_seeds_run_whose_scores_over_seeds_do_not_follow_fails(run_cli, result_file):
    """``across_seeds`` is what compare and report show with --stat pooled for a --seeds N run."""
    import copy

    path, result = result_file("--seeds", "2", "--set", "dataset.subjects=4", "dataset.clips_per_subject=6",
                               "dataset.size=32", "dataset.frames=8")
    honest = run_cli("audit", str(path))
    assert honest.code == 0 and "the mean ± std over its 2 seeds follows from each seed's scores" in " ".join(
        honest.out.split())
    for tamper, message in SEED_TAMPERING:
        changed = copy.deepcopy(result)
        tamper(changed)
        path.write_text(json.dumps(changed))
        audited = run_cli("audit", str(path))
        assert audited.code == 1 and message in " ".join(audited.out.split()), audited.out


@pytest.mark.parametrize("content, message", [("{not json", "not a JSON file"), ('{"model": "x"}', "not a merbench result")])
def test_a_file_that_is_not_a_result_exits_2(run_cli, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    audited = run_cli("audit", str(path))
    assert audited.code == 2
    assert message in audited.err and "Traceback" not in audited.err


def test_early_stopping_run_records_validation_subjects_and_passes(run_cli, result_file):
    path, result = result_file("engine.early_stopping=1", "engine.epochs=4")
    assert "validation UF1 on held-out training subjects" in result["leakage"]["model_selection"]
    for fold in result["folds"]:
        assert fold["validation_subjects"]
        assert set(fold["validation_subjects"]) <= set(fold["train_subjects"])
        assert not set(fold["validation_subjects"]) & set(fold["test_subjects"])
        assert 1 <= fold["selected_epoch"] <= fold["epochs_trained"] <= 4
    assert run_cli("audit", str(path)).code == 0

    result["folds"][0]["validation_subjects"] = result["folds"][0]["test_subjects"]
    path.write_text(json.dumps(result))
    tampered = run_cli("audit", str(path))
    assert tampered.code == 1
    assert "validation subjects are not training subjects" in " ".join(tampered.out.split())


def test_a_tune_summary_gets_advice_that_can_be_followed(run_cli, tmp_path):
    """A tune stores no runs and its summary lists no run ids: no advice to `merbench show RUN_ID`."""
    path = tmp_path / "tune.json"
    path.write_text(json.dumps({"kind": "tune", "model": "ststnet", "folds": [], "leakage": {"leaks": []}}))
    audited = run_cli("audit", str(path))
    text = " ".join(audited.err.split())
    assert audited.code == 2
    assert "a tune summary, not a run's result" in text
    assert "RUN_ID" not in text and "merbench show" not in text
    assert "stores no runs" in text and "'leakage' and 'warnings' record" in text


def test_several_files_end_with_one_line_saying_which_failed(run_cli, result_file, tmp_path):
    good, _ = result_file()
    leaky, _ = result_file("--protocol", "sample-10fold")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    audited = run_cli("audit", str(good), str(leaky), str(broken))
    assert audited.code == 2  # a file that is no result outranks a failed check
    last = " ".join(audited.out.split()).rsplit("Audit: ", 1)[1]
    assert last == f"1 of 3 files passed every check; 1 failed a check ({leaky}); 1 could not be read as a result " \
                   f"({broken})"
    alone = run_cli("audit", str(good))
    assert "Audit: " not in alone.out, "one file: its table says it all"


def test_a_run_id_given_to_audit_says_how_to_write_its_result_file(run_cli, tmp_path, monkeypatch):
    """audit reads result files; a stored run's id once got only "file not found"."""
    monkeypatch.chdir(tmp_path)
    result = run_cli("audit", "20261204-225151-cc205b")
    said = " ".join(result.err.split())
    assert result.code == 2 and "audit reads result files" in said, said
    assert "`merbench show 20261204-225151-cc205b --json 20261204-225151-cc205b.json`" in said
    plain = run_cli("audit", "missing.json")
    assert plain.code == 2 and "merbench show" not in plain.err


def test_audit_json_holds_every_files_checks_and_stdout_holds_the_json_alone(run_cli, result_file, tmp_path):
    honest, _ = result_file()
    leaky, _ = result_file("--protocol", "sample-10fold")
    broken = tmp_path / "not-a-result.json"
    broken.write_text("{}")
    audited = run_cli("audit", str(honest), str(leaky), str(broken), "--json", "-")
    assert audited.code == 2  # one file could not be read: as without --json
    document = json.loads(audited.out)  # stdout is the JSON alone; the tables went to stderr
    assert "Audit of" in audited.err
    assert (document["kind"], document["passed"], document["failed"], document["unreadable"]) == \
        ("merbench-audit", 1, 1, 1)
    first, second, third = document["files"]
    assert (first["file"], first["passed"], first["protocol"]) == (str(honest), True, "subject-10fold")
    assert all(check["passed"] for check in first["checks"]) and len(first["checks"]) == 5
    failed = [check for check in second["checks"] if not check["passed"]]
    assert second["passed"] is False and [check["name"] for check in failed] == ["subject overlap"]
    assert "share subjects" in failed[0]["finding"]
    assert third["readable"] is False and "not a merbench result" in third["error"]

    target = tmp_path / "audit.json"
    written = run_cli("audit", str(honest), "--json", str(target))
    assert written.code == 0 and "Audit of" in written.out
    assert json.loads(target.read_text())["files"][0]["passed"] is True
    refused = run_cli("audit", str(honest), "--json", str(honest))
    assert refused.code == 2 and "the audited file" in refused.err
    assert json.loads(honest.read_text())["model"] == "convmixer", "the audited file is kept"
