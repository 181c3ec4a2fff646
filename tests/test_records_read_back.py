"""A run read back later says what it said when it ran, and is never taken for a run of one software when its folds
were trained under two.

``merbench show`` printed none of the warnings a result keeps (a resume under other software, batched folds' dropout
masks, an option without effect); ``grid --stored`` and ``regress --stored`` called a run resumed under another
commit "trained with this software".
"""

from __future__ import annotations

import json

from interrupting import stopped_after_folds
from merbench.store import ResultStore

TINY = ["--profile", "quick", "--quiet", "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2", "engine.epochs=1"]


def said(text: str) -> str:
    return " ".join(text.split())


def test_show_prints_the_warnings_the_result_keeps_once(run_cli, tmp_path):
    store = tmp_path / "s.sqlite"
    ran = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "engine.lr=0",
                  "engine.select_on=test", "--store", str(store))
    assert ran.code == 0, ran.err
    with ResultStore(store, create=False) as opened:
        [run] = opened.list_runs()
    shown = run_cli("show", run.id, "--store", str(store))
    assert shown.code == 0, shown.err
    text = said(shown.out)
    assert "Warning: engine.lr=0: the model never changes from its initial weights" in text
    assert text.count("engine.select_on=test") >= 1
    assert "Warning: Each fold's" not in text  # the leak is said by the leakage lines, not twice


def test_a_run_resumed_under_another_commit_is_not_reused_as_this_softwares(run_cli, monkeypatch, tmp_path):
    from merbench.environment import ReuseCheck

    store = tmp_path / "s.sqlite"
    command = ["run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--store", str(store)]
    stopped, [run_id] = stopped_after_folds(run_cli, monkeypatch, command, 1)
    assert stopped.code == 130
    with ResultStore(store) as opened, opened.transaction() as db:  # as if the first fold ran under an older commit
        environment = json.loads(db.execute("SELECT environment_json FROM runs WHERE id = ?", (run_id,)).fetchone()[0])
        environment["git_commit"] = "0123abc"
        db.execute("UPDATE runs SET environment_json = ? WHERE id = ?", (json.dumps(environment), run_id))
    resumed = run_cli("run", "--resume", run_id, "--store", str(store))
    assert resumed.code == 0, resumed.err
    assert "resumed under other software than its 1 stored fold was trained with" in said(resumed.err)
    with ResultStore(store, create=False) as opened:
        result = opened.result(run_id)
    assert result.environment["earlier_software"]["git_commit"] == "0123abc"
    changed = ReuseCheck("grid").other_software(result.environment)
    assert any(line.startswith("git_commit 0123abc + ") for line in changed), changed
    again = run_cli("grid", "--models", "ststnet", "--datasets", "synthetic", *TINY, "--store", str(store), "--stored")
    assert again.code == 0, again.err
    assert "trained with other software than this grid" in said(again.err + again.out)
    assert f"stored run {run_id} reused (--stored; trained with this software)" not in said(again.err)
