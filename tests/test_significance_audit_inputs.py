"""``merbench significance`` and ``merbench audit`` on odd inputs, and outputs that would replace a merbench result:
an empty argument, runs on other folds, a run with itself, a results store given as a file, and ``report --output``
over a run's result file."""

from __future__ import annotations

import json

import pytest

TINY = ("--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--set",
        "dataset.subjects=4", "protocol.n_splits=2")
"""The smallest run that makes folds: 4 subjects in 2 folds (6 clips each, or ``dataset.clips_per_subject``)."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Result files of two tiny runs with 3 clips per subject (``a`` and ``b``: a model option apart) and one with
    6 (``six``), all stored in ``store``."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("significance-audit-inputs")
    made = {"store": folder / "store.sqlite"}
    for name, extra in {"a": ("dataset.clips_per_subject=3",),
                        "b": ("dataset.clips_per_subject=3", "model.C=0.01"),
                        "six": ()}.items():
        made[name] = folder / f"{name}.json"
        assert main(["run", *TINY, *extra, "--store", str(made["store"]), "--json", str(made[name])]) == 0
    return made


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", [["significance", "", "{a}"], ["significance", "{a}", " "], ["audit", ""],
                                     ["audit", "{a}", ""]])
def test_an_empty_argument_is_refused_not_read_as_the_current_folder(command, runs, run_cli):
    """Before: `Path('')` became `.`, and the refusal said ".: cannot be read (Is a directory)"."""
    result = run_cli(*[part.format(a=runs["a"]) for part in command])
    assert result.code == 2 and "Is a directory" not in result.err and "Traceback" not in result.err
    assert "an empty" in result.err and ".:" not in result.err


def test_runs_on_other_folds_are_named_with_the_settings_that_differ(runs, run_cli):
    """Before: "the runs were not made on the same folds ...; their data or protocol options differ (e.g.
    dataset.seed, protocol.n_splits)", naming neither run nor the setting that differs."""
    refused = run_cli("significance", str(runs["a"]), str(runs["six"]))
    text = flat(refused.err)
    assert refused.code == 2, refused.err
    assert f"run A (lbptop-svm, {runs['a']}) and run B (lbptop-svm, {runs['six']}) were not made on the same folds" \
        in text
    assert "they differ in dataset.clips_per_subject=3 vs 6;" in text and "e.g. dataset.seed" not in text


def test_runs_on_other_folds_made_with_the_same_settings_are_said_to_differ_in_their_data(runs, run_cli, tmp_path):
    other = json.loads(runs["six"].read_text())
    other["config"] = json.loads(runs["a"].read_text())["config"]  # as if made with A's settings on other data
    path = tmp_path / "other-data.json"
    path.write_text(json.dumps(other))
    refused = run_cli("significance", str(runs["a"]), str(path))
    assert refused.code == 2 and "the data itself differs" in flat(refused.err), refused.err


def _relabelled(runs, tmp_path, dataset_seed: int | None):
    """Run A's result with its first sample given another true label, and (``dataset_seed``) recorded as made with
    that ``dataset.seed``: as a run on the same samples of other synthetic data would be."""
    document = json.loads(runs["a"].read_text())
    row = document["predictions"][0]
    row["label"] = (row["label"] + 1) % len(document["classes"])
    if dataset_seed is not None:
        document["config"]["options"]["dataset"]["seed"] = dataset_seed
    path = tmp_path / "relabelled.json"
    path.write_text(json.dumps(document))
    return path


def test_runs_that_label_the_samples_apart_are_named_with_the_settings_that_differ(runs, run_cli, tmp_path):
    """Before: "the runs give different true labels to the same samples; compare runs of one dataset copy", naming
    neither run nor the dataset.seed that differed."""
    other = _relabelled(runs, tmp_path, dataset_seed=5)
    refused = run_cli("significance", str(runs["a"]), str(other))
    text = flat(refused.err)
    assert refused.code == 2 and "Traceback" not in refused.err, refused.err
    assert f"run A (lbptop-svm, {runs['a']}) and run B (lbptop-svm, {other}) give different true labels to the " \
        "same samples" in text
    assert "they differ in dataset.seed=" in text and "vs 5;" in text


def test_runs_that_label_the_samples_apart_with_the_same_settings_are_said_to_differ_in_their_data(runs, run_cli,
                                                                                                  tmp_path):
    refused = run_cli("significance", str(runs["a"]), str(_relabelled(runs, tmp_path, dataset_seed=None)))
    text = flat(refused.err)
    assert refused.code == 2 and "give different true labels" in text and "the data itself differs" in text


def test_a_folder_named_like_a_run_id_does_not_hide_the_stored_run(runs, run_cli, tmp_path, monkeypatch):
    """Before: a folder of the working directory named as the run (its id or the start of it) was read as a result
    file: "20261207-1734: cannot be read (Is a directory)"."""
    listed = run_cli("runs", "--json", "--store", str(runs["store"]))
    run_id = json.loads(listed.out)[-1]["id"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / run_id).mkdir()
    compared = run_cli("significance", run_id, str(runs["six"]), "--store", str(runs["store"]))
    assert "Is a directory" not in compared.err and "Traceback" not in compared.err
    assert compared.code == 2 and "were not made on the same folds" in flat(compared.err), compared.err
    (tmp_path / "results").mkdir()
    refused = run_cli("significance", "results", str(runs["six"]), "--store", str(runs["store"]))
    assert refused.code == 2 and "results: a folder, not a result file, and not a run of the results store" \
        in flat(refused.err), refused.err


@pytest.mark.parametrize("edit, said", [("twice", "sample {id} has 2 predictions"), ("lost", "")])
def test_a_result_listing_a_sample_twice_or_not_at_all_is_called_damaged(runs, run_cli, tmp_path, edit, said):
    """Before: a prediction listed twice (or one lost) was read as other folds, with advice on the options."""
    document = json.loads(runs["a"].read_text())
    rows = document["predictions"]
    if edit == "twice":
        rows.append(rows[0])
    else:
        rows.pop()
    path = tmp_path / f"{edit}.json"
    path.write_text(json.dumps(document))
    refused = run_cli("significance", str(runs["b"]), str(path))
    text = flat(refused.err)
    assert refused.code == 2 and f"run B (lbptop-svm, {path}):" in text, text
    counts = sum(map(sum, document["confusion_matrix"]))
    assert f"the confusion matrix counts {counts} samples, the result has {len(rows)} predictions" in text
    assert said.format(id=rows[0]["id"]) in text and "same folds" not in text and "e.g. dataset.seed" not in text


def test_a_run_compared_with_itself_is_refused(runs, run_cli, tmp_path, monkeypatch):
    """Before: `significance A A` printed a table of zero differences and exited 0 without a word."""
    run_id = json.loads(runs["a"].read_text())["run_id"]
    copy = tmp_path / "copy.json"
    copy.write_text(runs["a"].read_text())
    monkeypatch.chdir(runs["a"].parent)
    store = ("--store", str(runs["store"]))
    for pair in [(str(runs["a"]), str(runs["a"])), ("a.json", str(runs["a"])), (run_id, run_id),
                 (run_id, str(runs["a"])), (str(copy), "a.json")]:
        refused = run_cli("significance", *pair, *store)
        assert refused.code == 2 and "the same run twice" in flat(refused.err), (pair, refused.err)
        assert "give two different runs" in flat(refused.err) and not refused.out
    shown = run_cli("significance", str(runs["a"]), str(runs["b"]), "--bootstrap", "100", *store)
    assert shown.code == 0, shown.err


@pytest.mark.parametrize("command", [["audit", "{store}"], ["significance", "{store}", "{a}"]])
def test_a_results_store_given_as_a_result_file_is_named_as_one(command, runs, run_cli):
    """Before: "not a JSON file ('utf-8' codec can't decode byte ...)"."""
    result = run_cli(*[part.format(**runs) for part in command])
    text = flat(result.err)
    assert result.code == 2 and "codec" not in text and "not a JSON file" not in text, text
    assert f"{runs['store']}: an SQLite database (a results store), not a result file" in text
    assert "written by `merbench run --json`" in text and f"merbench runs --store {runs['store']}" in text
    assert ("`merbench show RUN_ID" in text) == (command[0] == "audit")


@pytest.mark.parametrize("command", [["report", "--output", "{kept}", "--store", "{store}"],
                                     ["report", "--output", "{kept}", "--format", "html", "--store", "{store}"],
                                     ["significance", "{a}", "{b}", "--json", "{kept}", "--store", "{store}"],
                                     ["audit", "{a}", "--json", "{kept}"]])
def test_an_output_over_a_run_result_file_is_refused(command, runs, run_cli, tmp_path):
    """Before: `report --output keep.json` replaced a run's result file, for a --no-store run its only record."""
    kept = tmp_path / "keep.json"
    kept.write_text(runs["six"].read_text())
    result = run_cli(*[part.format(kept=kept, **runs) for part in command])
    text = flat(result.err)
    assert result.code == 2 and f"{kept}: holds a run's result (merbench run --json)" in text, result.err
    assert "choose another path, or remove the file first" in text
    assert kept.read_text() == runs["six"].read_text() and not result.out


@pytest.mark.parametrize("command", [["info", "ststnet"], ["datasets", "check", "synthetic"],
                                     ["leakage", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick"],
                                     ["grid", "--models", "ststnet", "--datasets", "synthetic", "--profile", "quick"]])
def test_a_json_of_another_kind_over_a_run_result_file_is_refused(command, runs, run_cli, tmp_path):
    """Each command's --json says what it writes: a listing, a check or a study summary is no run's result, so it
    may not replace one (before: any --json rewrote any merbench result)."""
    kept = tmp_path / "keep.json"
    kept.write_text(runs["six"].read_text())
    result = run_cli(*command, "--json", str(kept))
    assert result.code == 2 and f"{kept}: holds a run's result (merbench run --json)" in flat(result.err), result.err
    assert kept.read_text() == runs["six"].read_text()


def test_an_output_of_the_same_kind_or_over_another_json_file_is_written(runs, run_cli, tmp_path):
    """`run --json r.json` run again rewrites its own kind; a JSON file that is no merbench result is no record."""
    kept = tmp_path / "keep.json"
    kept.write_text(runs["six"].read_text())
    again = run_cli("run", *TINY, "--no-store", "--json", str(kept))
    assert again.code == 0 and "run_id" not in json.loads(kept.read_text()), again.err
    other = tmp_path / "other.json"
    other.write_text('{"model": "not a result"}')
    written = run_cli("report", "--output", str(other), "--store", str(runs["store"]))
    assert written.code == 0 and "lbptop-svm" in other.read_text(), written.err
