"""A run resumed more than once keeps what its earlier resumes changed: a run whose first folds were trained under
other software says so in its result however many interrupted resumes came between (before: a second resume under
the same software as the first resume recorded the run as one software's, ``warnings: []``)."""

from __future__ import annotations

import json

import merbench.environment as environment
from interrupting import stopped_after_folds
from merbench.store import ResultStore

TINY = ["--profile", "quick", "--quiet", "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=3", "engine.epochs=1"]


def test_the_earlier_software_survives_a_second_interrupted_resume(run_cli, monkeypatch, tmp_path):
    store = tmp_path / "s.sqlite"
    stopped, [run_id] = stopped_after_folds(
        run_cli, monkeypatch, ["run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--store", str(store)], 1)
    assert stopped.code == 130, stopped.err
    with ResultStore(store, create=False) as opened:
        first_commit = opened.run_row(run_id)["git_commit"]
    monkeypatch.setattr(environment, "git_commit", lambda: "0123abc-dirty.456def")  # the checkout changed
    resume = ["run", "--resume", run_id, "--store", str(store), "--quiet"]
    again, stored = stopped_after_folds(run_cli, monkeypatch, resume, 1)
    assert again.code == 130 and stored == [run_id], again.err
    with ResultStore(store, create=False) as opened:
        assert opened.folds_stored(run_id) == 2
    finished = run_cli(*resume, "--json", str(tmp_path / "r.json"))
    assert finished.code == 0, finished.err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["environment"]["git_commit"] == "0123abc-dirty.456def"
    assert result["environment"]["earlier_software"]["git_commit"] == first_commit
    [mixed] = [w for w in result["warnings"] if w.startswith("resumed")]
    assert mixed.startswith("resumed under other software than 1 of its 2 stored folds was trained with (fold 1: "), mixed
    assert f"git_commit {first_commit} → 0123abc-dirty.456def" in mixed
    with ResultStore(store, create=False) as opened:
        assert opened.result(run_id).environment["earlier_software"]["git_commit"] == first_commit
