"""The commands merbench advises after a run name the store the run is in, and the ``--json`` file it was to write
(before: "continue with: merbench run --resume ID" after a run with ``--store PATH``, which then failed with "no run
'ID' in the results store ~/.local/...", and never wrote the ``--json`` file the run was started with)."""

from __future__ import annotations

import json
import shlex

from interrupting import stopped_after_folds
from merbench.store import ResultStore

TINY = ["--profile", "quick", "--quiet", "--set", "dataset.subjects=4", "dataset.clips_per_subject=3",
        "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2", "engine.epochs=1"]


def said(text: str) -> str:
    return " ".join(text.split())


def test_the_continue_command_names_the_store_and_the_json_file_and_works_as_printed(run_cli, monkeypatch, tmp_path):
    store = tmp_path / "my runs" / "int3.sqlite"
    target = tmp_path / "out put.json"
    stopped, [run_id] = stopped_after_folds(run_cli, monkeypatch, [
        "run", "--model", "ststnet", "--dataset", "synthetic", *TINY, "--store", str(store), "--json", str(target)], 1)
    assert stopped.code == 130, stopped.err
    [advice] = [line.split("continue with: ")[1] for line in stopped.err.splitlines() if "continue with: " in line]
    assert advice == f"merbench run --resume {run_id} --store {shlex.quote(str(store))} --json {shlex.quote(str(target))}"
    shown = run_cli("show", run_id, "--store", str(store), "--json", str(tmp_path / "none.json"))
    assert f"`merbench run --resume {run_id} --store {shlex.quote(str(store))}`" in said(shown.err)
    resumed = run_cli(*shlex.split(advice)[1:])
    assert resumed.code == 0, resumed.err
    assert json.loads(target.read_text())["run_id"] == run_id
    assert f"(merbench show {run_id} --store {shlex.quote(str(store))})" in said(resumed.err)
    with ResultStore(store, create=False) as opened:
        assert opened.run_row(run_id)["status"] == "complete"


def test_the_default_store_is_not_named(run_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("MERBENCH_STORE", str(tmp_path / "default.sqlite"))
    stopped, [run_id] = stopped_after_folds(
        run_cli, monkeypatch, ["run", "--model", "ststnet", "--dataset", "synthetic", *TINY], 1)
    assert stopped.code == 130, stopped.err
    assert f"continue with: merbench run --resume {run_id}\n" in stopped.err
