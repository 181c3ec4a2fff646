"""A ``--resume`` refused once the run was claimed (its inputs changed, exit 2) leaves the run as it was: interrupted,
with its environment (before: the run became ``failed``, which ``delete --status failed`` deletes, and its recorded
environment was the refused process's)."""

from __future__ import annotations

import merbench.environment as environment
from interrupting import stopped_after_folds
from merbench.store import ResultStore, status_of

TINY = ["--profile", "quick", "--quiet", "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2", "engine.epochs=1"]


def _row(store, run_id: str) -> dict:
    with ResultStore(store, create=False) as opened:
        row = opened.run_row(run_id)
        return {**dict(row), "status": status_of(row)}


def test_a_resume_refused_for_other_inputs_leaves_the_run_interrupted_as_it_was(run_cli, monkeypatch, tmp_path):
    store = tmp_path / "s.sqlite"
    stopped, [run_id] = stopped_after_folds(
        run_cli, monkeypatch, ["run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--store", str(store)], 1)
    assert stopped.code == 130, stopped.err
    with ResultStore(store) as opened, opened.transaction() as db:  # as if the dataset's files had changed since
        key = db.execute("SELECT inputs_key FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
        db.execute("UPDATE runs SET inputs_key = 'other data' WHERE id = ?", (run_id,))
    before = _row(store, run_id)
    monkeypatch.setattr(environment, "git_commit", lambda: "0123abc-dirty.456def")
    refused = run_cli("run", "--resume", run_id, "--store", str(store))
    assert refused.code == 2
    assert "the preprocessed inputs differ from those the run started with" in " ".join(refused.err.split())
    after = _row(store, run_id)
    assert after["status"] == "interrupted" and after["error"] is None
    for column in ("environment_json", "git_commit", "device", "torch_version", "pid", "host", "preprocess_json"):
        assert after[column] == before[column], column
    listed = run_cli("runs", "--store", str(store), "--status", "failed")
    assert run_id not in listed.out
    with ResultStore(store) as opened, opened.transaction() as db:
        db.execute("UPDATE runs SET inputs_key = ? WHERE id = ?", (key, run_id))
    resumed = run_cli("run", "--resume", run_id, "--store", str(store), "--quiet")
    assert resumed.code == 0, resumed.err
    assert "1 completed fold reused" in resumed.err
