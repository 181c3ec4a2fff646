"""A ``--resume`` after the dataset's labels were corrected reused the stored folds, trained and scored with the old
labels, and gave a result whose per-fold scores contradicted its pooled ones (exit 0, no warning): the inputs' key
leaves labels out. The run now also records what it splits and scores by, and a resume on other labels is refused."""

from __future__ import annotations

import csv
import json

import pytest

import realtrees as rt
from interrupting import stopped_after_folds
from merbench.cache import labels_key
from merbench.contracts import Dataset, Sample
from merbench.store import ResultStore, status_of


def _dataset(**changed) -> Dataset:
    samples = [Sample(f"s{i}/c", f"s{i}", i % 3, "a", (), 0, None, 0) for i in range(6)]
    samples[0] = Sample("s0/c", changed.get("subject", "s0"), changed.get("label", 0), changed.get("domain", "a"),
                        (), 0, None, 0)
    return Dataset("d", changed.get("classes", ("negative", "positive", "surprise")), tuple(samples))


def test_the_labels_key_follows_labels_subjects_domains_and_classes():
    same = labels_key(_dataset())
    assert labels_key(_dataset()) == same
    for change in ({"label": 1}, {"subject": "s9"}, {"domain": "b"}, {"classes": ("neg", "positive", "surprise")}):
        assert labels_key(_dataset(**change)) != same, change


def _stopped_run(run_cli, monkeypatch, tmp_path, subjects: int):
    """A LOSO manifest run of ``subjects`` subjects stopped after its first fold: (its labels.csv, store, run id)."""
    manifest = rt.build_manifest_images(tmp_path / "images", subjects=subjects, per_subject=3)
    store = tmp_path / "s.sqlite"
    args = ["run", "--model", "ststnet", "--dataset", "manifest", "--root", str(manifest.parent), "--set",
            "dataset.manifest=labels.csv", "--protocol", "loso", "--profile", "quick", "--quiet", "--store", str(store)]
    stopped, [run_id] = stopped_after_folds(run_cli, monkeypatch, args, 1)
    assert stopped.code == 130, stopped.err
    return manifest, store, run_id


def test_a_resume_after_a_label_was_corrected_is_refused_and_the_run_kept(run_cli, monkeypatch, tmp_path):
    manifest, store, run_id = _stopped_run(run_cli, monkeypatch, tmp_path, subjects=6)
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[0]["label"] = str((int(rows[0]["label"]) + 1) % 3)  # s0's first clip relabelled: ids and folds unchanged
    rt.write_csv(manifest, rows)
    refused = run_cli("run", "--resume", run_id, "--store", str(store))
    said = " ".join(refused.err.split())
    assert refused.code == 2, said
    assert (f"run {run_id}: the dataset's labels, subjects, domains or classes differ from those the run started "
            "with (seed 0): its stored folds were trained and scored with the old ones, so they cannot be resumed. Start a new run"
            in said)
    with ResultStore(store, create=False) as opened:
        assert status_of(opened.run_row(run_id)) == "interrupted"
        assert len(opened.stored_folds(run_id, 0)) == 1


@pytest.fixture
def old_run(run_cli, monkeypatch, tmp_path):
    """A manifest run stopped after its first fold and stored as an earlier merbench stored it, without a labels
    key: (its labels.csv, store, run id)."""
    manifest, store, run_id = _stopped_run(run_cli, monkeypatch, tmp_path, subjects=4)
    with ResultStore(store) as opened, opened.transaction() as db:
        recorded = json.loads(db.execute("SELECT preprocess_json FROM runs WHERE id = ?", (run_id,)).fetchone()[0])
        assert recorded.pop("labels_key")
        db.execute("UPDATE runs SET preprocess_json = ? WHERE id = ?", (json.dumps(recorded), run_id))
    return manifest, store, run_id


def test_a_run_stored_before_the_labels_key_resumes_as_before(run_cli, old_run):
    """A run interrupted under an earlier merbench recorded no labels key: its resume is not refused for that."""
    _, store, run_id = old_run
    resumed = run_cli("run", "--resume", run_id, "--store", str(store))
    assert resumed.code == 0, resumed.err
    assert "1 completed fold reused" in resumed.err


def test_a_run_stored_before_the_labels_key_is_refused_when_a_stored_folds_label_changed(run_cli, old_run):
    """Such a run has no key to compare: each reused fold's samples are compared with the labels stored with it."""
    manifest, store, run_id = old_run
    with ResultStore(store) as opened, opened.transaction() as db:
        tested = db.execute("SELECT sample_id, subject FROM predictions WHERE run_id = ?", (run_id,)).fetchall()
    subject = tested[0][1]
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # the stored fold's subject relabelled: ids, subjects and inputs unchanged
        if row["subject"] == subject:
            row["label"] = str((int(row["label"]) + 1) % 3)
    rt.write_csv(manifest, rows)
    refused = run_cli("run", "--resume", run_id, "--store", str(store))
    said = " ".join(refused.err.split())
    assert refused.code == 2, said
    assert any(f"run {run_id}: sample {sample_id} of fold 1 had label" in said for sample_id, _ in tested), said
    assert f"and subject {subject} when the fold was stored" in said
    assert "the fold was trained and scored with the old annotation, so the run cannot be resumed" in said
