"""A Ctrl-C in the moment after the work is done: the note says what is done, never "continue" a finished run.

``merbench run`` stopped after its run's last commit said "continue with: merbench run --resume ID", which then
refused the complete run; ``regress --update`` stopped after it had rewritten the baseline said nothing of it; a grid
stopped while its table was shown gave no hint at all.
"""

from __future__ import annotations

import json

import yaml

from merbench.store import ResultStore

TINY = ["--profile", "quick", "--quiet", "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2", "engine.epochs=1"]


def said(text: str) -> str:
    return " ".join(text.split())


def _stop_after(monkeypatch, module, name: str) -> None:
    """Make ``module.name`` do its work, then raise KeyboardInterrupt, as a Ctrl-C right after it would."""
    original = getattr(module, name)

    def then_stop(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, name, then_stop)


def test_run_stopped_after_its_last_commit_says_it_finished(run_cli, monkeypatch, tmp_path):
    from merbench import recording

    store, target = tmp_path / "s.sqlite", tmp_path / "r.json"
    original = recording.run_recorded

    def finished_then_stopped(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(recording, "run_recorded", finished_then_stopped)
    stopped = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--store", str(store),
                      "--json", str(target))
    assert stopped.code == 130
    with ResultStore(store, create=False) as opened:
        [run] = opened.list_runs()
    assert run.status == "complete"
    assert (f"Run {run.id} had finished and is stored (merbench show {run.id} --store {store}); nothing to resume; "
            f"--json was not written: `merbench show {run.id} --store {store} --json {target}` writes it"
            ) in said(stopped.err)
    assert "--resume" not in stopped.err and not target.exists()


def test_run_stopped_while_its_result_is_printed_says_it_finished(run_cli, monkeypatch, tmp_path):
    from merbench import report

    store, target = tmp_path / "s.sqlite", tmp_path / "r.json"
    _stop_after(monkeypatch, report, "print_result")
    stopped = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--store", str(store),
                      "--json", str(target))
    assert stopped.code == 130
    assert "had finished and is stored" in said(stopped.err) and "--json was not written" in said(stopped.err)
    assert said(stopped.err).endswith("merbench: interrupted")


def _baseline(path):
    path.write_text(yaml.safe_dump({"version": 1, "defaults": {"profile": "quick", "set": {
        "dataset.subjects": 4, "dataset.clips_per_subject": 3, "dataset.size": 32, "dataset.frames": 8,
        "protocol.n_splits": 2, "engine.epochs": 1}, "tolerance": 0.05}, "entries": [{"model": "ststnet"}]}))
    return path


def test_regress_stopped_after_rewriting_the_baseline_says_it_is_updated(run_cli, monkeypatch, tmp_path):
    from merbench import regress

    baseline = _baseline(tmp_path / "b.yaml")
    before = baseline.read_text()
    _stop_after(monkeypatch, regress, "write_baseline")
    stopped = run_cli("regress", "--baseline", str(baseline), "--update", "--quiet", "--store",
                      str(tmp_path / "s.sqlite"), "--json", str(tmp_path / "r.json"))
    assert stopped.code == 130
    assert baseline.read_text() != before
    assert (f"Interrupted after every entry had run; their runs are stored; the baseline {baseline} is updated; --json "
            f"was not written; `merbench regress --baseline {baseline} --stored` checks the stored runs against it "
            "again") in said(stopped.err)


def test_grid_stopped_while_its_table_is_shown_says_every_cell_is_stored(run_cli, monkeypatch, tmp_path):
    from merbench import compare

    _stop_after(monkeypatch, compare, "comparison_table")
    stopped = run_cli("grid", "--models", "ststnet", "--datasets", "synthetic", *TINY, "--store",
                      str(tmp_path / "s.sqlite"), "--json", str(tmp_path / "g.json"))
    assert stopped.code == 130
    assert ("Interrupted after every cell had ended: 1 finished cell is stored; run the same command with --stored "
            "to show the table and write the --json file without training again") in said(stopped.err)
    monkeypatch.undo()
    again = run_cli("grid", "--models", "ststnet", "--datasets", "synthetic", *TINY, "--store",
                    str(tmp_path / "s.sqlite"), "--json", str(tmp_path / "g.json"), "--stored")
    assert again.code == 0 and json.loads((tmp_path / "g.json").read_text())["cells"]


def test_a_ctrl_c_while_a_sigterm_is_handled_leaves_the_sigterm_to_decide(run_cli, monkeypatch, tmp_path):
    """SIGTERM, then a Ctrl-C 50 ms later while the run said what it kept: it exited 130, "interrupted"."""
    from interrupting import stopped_after_folds
    from merbench.cli import Terminated
    import merbench.commands.run as run_command

    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_command, "_folds_kept", ctrl_c)
    stopped, _ = stopped_after_folds(run_cli, monkeypatch, ["run", "--model", "ststnet", "--dataset", "synthetic", *TINY,
                                                            "--store", str(tmp_path / "s.sqlite")], 1, Terminated)
    assert stopped.code == 143 and said(stopped.err).endswith("merbench: terminated (SIGTERM)"), stopped.err
