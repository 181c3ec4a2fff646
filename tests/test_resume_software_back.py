"""A run resumed under other software and then resumed again under its first software names the setup in between,
and which folds it trained (before: ``earlier_software`` kept only the first software, the final one's, so the
result read as one software's and ``--stored`` would reuse it as such, the folds of the other hidden)."""

from __future__ import annotations

import json

import merbench.environment as environment
from interrupting import stopped_after_folds
from merbench.environment import trained_with
from merbench.store import ResultStore

TINY = ["--profile", "quick", "--quiet", "--set", "dataset.subjects=6", "dataset.clips_per_subject=2",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=6", "engine.epochs=1"]


def said(text: str) -> str:
    return " ".join(text.split())


def test_a_run_resumed_under_other_software_and_back_names_the_folds_of_the_other(run_cli, monkeypatch, tmp_path):
    store = tmp_path / "s.sqlite"
    stopped, ids = stopped_after_folds(
        run_cli, monkeypatch, ["run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--store", str(store)], 3)
    assert stopped.code == 130, stopped.err
    run_id = ids[0]
    with ResultStore(store, create=False) as opened:
        first = opened.run_row(run_id)["git_commit"]
    resume = ["run", "--resume", run_id, "--store", str(store), "--quiet"]
    with monkeypatch.context() as patch:
        patch.setattr(environment, "git_commit", lambda: "0123abc-dirty.456def")  # the checkout changed
        again, _ = stopped_after_folds(run_cli, monkeypatch, resume, 2)
    assert again.code == 130, again.err
    finished = run_cli(*resume, "--json", str(tmp_path / "r.json"))  # and changed back
    assert finished.code == 0, finished.err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["environment"]["git_commit"] == first
    [mixed] = [w for w in result["warnings"] if w.startswith("resumed")]
    assert mixed.startswith("resumed under other software than 2 of its 5 stored folds were trained with (folds 4-5: "
                            f"git_commit 0123abc-dirty.456def → {first})"), mixed
    assert said(mixed) in said(finished.err)
    [other] = result["environment"]["earlier_folds"]
    assert other["folds"] == {str(result["seed"]): [3, 4]} and other["setup"]["git_commit"] == "0123abc-dirty.456def"
    assert result["environment"]["earlier_software"]["git_commit"] == "0123abc-dirty.456def"
    assert trained_with(result["environment"])["git_commit"] == f"0123abc-dirty.456def + {first}"
    shown = run_cli("show", run_id, "--store", str(store))
    assert f"Warning: {said(mixed)}" in said(shown.out)


def test_each_earlier_setup_that_trained_folds_is_named_and_one_that_trained_none_is_not():
    from merbench.environment import earlier_folds, with_earlier_setups

    a, b, c = ({"git_commit": commit, "torch": "2.4"} for commit in ("aaa", "bbb", "ccc"))
    stored = with_earlier_setups(a, b, [(0, 0), (0, 1)])  # a trained folds 1-2, then b resumed
    stored = with_earlier_setups(stored, c, [(0, 0), (0, 1), (0, 2)])  # b trained fold 3, then c resumed
    stored = with_earlier_setups(stored, a, [(0, 0), (0, 1), (0, 2)])  # c trained none, a resumed
    named = earlier_folds(stored["earlier_setups"], a)
    assert [(entry["setup"]["git_commit"], entry["folds"], entry["software"]) for entry in named] == [
        ("bbb", {"0": [2]}, ["git_commit bbb → aaa"])]
    named = earlier_folds(stored["earlier_setups"], c)
    assert [entry["setup"]["git_commit"] for entry in named] == ["aaa", "bbb"]
