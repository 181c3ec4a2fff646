"""``merbench leakage`` interrupted, then continued with ``--stored``: the interrupted variant's run is continued
from its finished folds (not trained anew beside it), and the study's scores are those of an uninterrupted one."""

from __future__ import annotations

import json

from merbench.store import ResultStore

TINY = ["dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "protocol.pairs=2", "engine.epochs=2"]
STUDY = ["leakage", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--seeds", "1", "--quiet",
         "--set", *TINY]


def said(text: str) -> str:
    """Output with every run of white space as one space (a wrapped line reads whole)."""
    return " ".join(text.split())


def test_stored_continues_the_interrupted_variant_to_the_scores_of_an_uninterrupted_study(run_cli, monkeypatch,
                                                                                          tmp_path):
    from interrupting import stopped_after_folds

    store = tmp_path / "s.sqlite"
    # the honest run's three folds, sample-10fold's three, frame-10fold's first
    stopped, stored_folds = stopped_after_folds(run_cli, monkeypatch, [*STUDY, "--store", str(store)], 7)
    assert stopped.code == 130, stopped.err
    left = stored_folds[-1]
    with ResultStore(store) as opened:
        assert {run.id: run.status for run in opened.list_runs()}[left] == "interrupted"

    again = run_cli(*STUDY, "--store", str(store), "--stored", "--json", str(tmp_path / "again.json"))
    assert again.code == 0, again.err
    with ResultStore(store) as opened:  # five runs, the interrupted one continued: none left behind
        runs = {run.id: run.status for run in opened.list_runs()}
    assert len(runs) == 5 and set(runs.values()) == {"complete"} and runs[left] == "complete"
    assert f"[3/5] frame-10fold, seed 0, continuing its interrupted run {left}" in said(again.err)
    assert (f"[3/5] frame-10fold, seed 0: stored as run {left}, continued from where it was interrupted (1 fold kept)"
            in said(again.err))

    clean = run_cli(*STUDY, "--no-store", "--json", str(tmp_path / "clean.json"))
    assert clean.code == 0, clean.err

    def scores(name: str) -> list:
        return [(v["name"], v["uf1"], v["uar"], v["accuracy"])
                for v in json.loads((tmp_path / name).read_text())["variants"]]

    assert scores("again.json") == scores("clean.json")
    assert ("2 of 5 runs of the study finished and are stored: run the same command with --stored to reuse them and "
            "continue the interrupted run from its finished folds") in said(stopped.err)


def test_an_interrupted_study_with_no_finished_run_says_what_stored_does():
    from merbench.commands.leakage import interrupted_note

    assert interrupted_note(0, 5) == ("No run of the study finished: run the same command with --stored to continue "
                                      "the interrupted run from its finished folds")
    assert interrupted_note(1, 5).startswith("1 of 5 runs of the study finished and is stored: run the same command "
                                             "with --stored to reuse it and continue")
