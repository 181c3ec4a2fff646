"""``merbench grid`` on the local executor: every cell a stored run, checked up front, ending with the comparison."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from merbench.errors import RunFailed, UsageError
from merbench.grid import parse_roots, split_names
from merbench.result import RunResult
from merbench.store import ResultStore

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=2", "engine.threads=1"]
GRID = ["grid", "--datasets", "synthetic", "--protocols", "subject-10fold", "--profile", "quick", "--quiet", *TINY]


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    """2 models × 1 dataset × 1 protocol × 2 seeds in its own store: (store, --json document, stdout)."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("grid")
    store, target = folder / "results.sqlite", folder / "grid.json"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out):
        patch.setenv("COLUMNS", "200")
        code = main([*GRID, "--models", "convmixer,ststnet", "--seeds", "2", "--store", str(store), "--json", str(target)])
    assert code == 0
    assert target.read_text().endswith("}\n"), "a --json file ends with a newline, as text files do"
    return store, json.loads(target.read_text()), out.getvalue()


def test_grid_records_every_cell_as_a_complete_run_with_all_seeds(local_grid):
    store, document, _ = local_grid
    with ResultStore(store) as results:
        runs = {run.model: run for run in results.list_runs()}
        assert sorted(runs) == ["convmixer", "ststnet"]
        for run in runs.values():
            assert (run.status, run.dataset, run.protocol, run.n_seeds, run.folds_done) == (
                "complete", "synthetic", "subject-10fold", 2, 4)  # 2 folds × 2 seeds
            assert set(results.stored_folds(run.id, 1)) == {0, 1}
    assert [(c["model"], c["status"]) for c in document["cells"]] == [("convmixer", "complete"), ("ststnet", "complete")]
    assert {c["run_id"] for c in document["cells"]} == {run.id for run in runs.values()}
    for cell, result in zip(document["cells"], document["results"]):
        assert result["run_id"] == cell["run_id"] and result["across_seeds"]["n"] == 2
        assert cell["pooled"] == result["pooled"] and len(result["seeds"]) == 2
    assert document["grid"] == {"models": ["convmixer", "ststnet"], "datasets": ["synthetic"],
                                "protocols": ["subject-10fold"], "seeds": 2, "executor": "local"}


def test_a_reused_cell_trained_with_other_software_says_what_differs_in_its_line_and_json(local_grid, run_cli, tmp_path):
    """As ``merbench regress --stored`` does: a stored run made by another torch (or commit) does not measure this code."""
    import torch

    from result_samples import store_trained_with

    store, _, _ = local_grid
    copy = store_trained_with(store, tmp_path / "results.sqlite", "1.0.0")
    target = tmp_path / "again.json"
    again = run_cli(*GRID, "--models", "convmixer", "--seeds", "2", "--store", str(copy), "--stored", "--json", str(target))
    assert again.code == 0, again.err
    line = " ".join(again.err.split())
    assert "trained with other software than this grid" in line and f"Stored → now: torch 1.0.0 → {torch.__version__}" in line
    document = json.loads(target.read_text())
    [cell] = document["cells"]
    assert cell["reused"] and cell["other_software"] == [f"torch 1.0.0 → {torch.__version__}"]
    # under the table too, where the scores are read (stdout, and the --json document), not only among the progress
    under_table = " ".join(again.out.split())
    assert (f"⚠ other software: convmixer × synthetic × subject-10fold shows stored run {cell['run_id']}, trained with "
            f"other software, so its scores do not measure this code (stored → now: torch 1.0.0 → "
            f"{torch.__version__})") in under_table
    assert document["other_software"] == [under_table.split("⚠ other software: ")[1].strip()]


def test_stored_reuses_every_finished_cell_and_runs_only_the_rest(local_grid, run_cli, tmp_path):
    """After an interruption, the same grid with --stored keeps the complete cells (same configuration and seed count)
    and trains the cell that has no complete run; the report is the same as the first grid's for the kept cells."""
    store, document, _ = local_grid
    copy = tmp_path / "results.sqlite"
    copy.write_bytes(store.read_bytes())
    target = tmp_path / "again.json"
    again = run_cli(*GRID, "--models", "convmixer,ststnet,lbptop-svm", "--seeds", "2", "--store", str(copy), "--stored",
                    "--json", str(target))
    assert again.code == 0, again.err
    cells = json.loads(target.read_text())["cells"]
    assert [c["run_id"] for c in cells[:2]] == [c["run_id"] for c in document["cells"]]
    assert [c["pooled"] for c in cells[:2]] == [c["pooled"] for c in document["cells"]]
    assert cells[2]["model"] == "lbptop-svm" and cells[2]["status"] == "complete"
    assert again.err.count("reused (--stored; trained with this software)") == 2, "made with this grid's software"
    assert [(c["reused"], c["other_software"]) for c in cells] == [(True, []), (True, []), (False, [])]
    with ResultStore(copy) as results:
        assert len(results.list_runs()) == 3, "only the new cell was run"
    one_seed = run_cli(*GRID, "--models", "ststnet", "--seeds", "1", "--store", str(copy), "--stored")
    assert one_seed.code == 0 and "reused" not in one_seed.err, "a 2-seed run is not a 1-seed cell's result"
    refused = run_cli(*GRID, "--models", "ststnet", "--stored", "--no-store")
    assert refused.code == 2 and "--no-store cannot be combined with --store or --stored" in refused.err


def test_grid_ends_with_the_table_compare_prints_for_its_runs(local_grid, run_cli):
    store, document, out = local_grid
    assert "Comparison: UF1" in out and "synthetic · subject-10fold" in out
    for result in document["results"]:
        row = next(line for line in out.splitlines() if line.startswith(f"{result['model']} "))
        mean, std = (100 * value for value in RunResult.from_dict(result).fold_stat("uf1"))  # over both seeds' folds
        assert f"{mean:.1f} ± {std:.1f}" in row
    compared = run_cli("compare", *[c["run_id"] for c in document["cells"]], "--store", str(store))
    assert compared.code == 0
    table = out[out.index("Comparison"):]
    shown = compared.out[:compared.out.index("*: best per column")]
    assert table.startswith(shown)
    assert records_match(document)
    ids = [c["run_id"] for c in document["cells"]]
    as_json = json.loads(run_cli("compare", *ids, "--store", str(store), "--json").out)
    reported = json.loads(run_cli("report", *ids, "--store", str(store), "--format", "json", "--output", "-").out)
    assert as_json == reported == document["comparison"], "one comparison object from compare, report and grid"


def records_match(document: dict) -> bool:
    """The --json comparison records hold each cell's fold-mean UF1 (over every seed's folds)."""
    by_model = {r["model"]: r["mean"] for r in document["comparison"]["rows"]}
    return all(by_model[r["model"]] == pytest.approx(RunResult.from_dict(r).fold_stat("uf1")[0])
               for r in document["results"])


def test_a_bad_cell_stops_the_grid_before_anything_runs(run_cli, tmp_path):
    store = tmp_path / "results.sqlite"
    result = run_cli(*GRID, "--models", "convmixer,no-such-model", "--store", str(store))
    assert result.code == 2
    assert "grid cell no-such-model × synthetic × subject-10fold" in result.err and "no-such-model" in result.err
    assert "Traceback" not in result.err and "Preprocessing" not in result.err
    assert not store.exists() or not sqlite3.connect(store).execute(
        "SELECT name FROM sqlite_master WHERE name = 'runs'").fetchone()


def test_a_bad_setting_or_metric_is_refused_before_running(run_cli, tmp_path):
    result = run_cli(*GRID, "--models", "convmixer", "--set", "model.no_such_option=1", "--no-store")
    assert result.code == 2 and "grid cell convmixer × synthetic" in result.err and "model.no_such_option" in result.err
    result = run_cli(*GRID, "--models", "convmixer", "--metric", "f2", "--no-store")
    assert result.code == 2 and "--metric f2: choose one of" in result.err and "Grid:" not in result.err


def test_a_cell_that_fails_is_recorded_as_failed_and_the_others_complete(run_cli, tmp_path, monkeypatch):
    import merbench.runner

    original = merbench.runner.run_with_seeds

    def fail_for_ststnet(config, *args, **kwargs):
        if config.model == "ststnet":
            raise RunFailed("the loss became NaN (test)")
        return original(config, *args, **kwargs)

    monkeypatch.setattr(merbench.runner, "run_with_seeds", fail_for_ststnet)
    store, target = tmp_path / "results.sqlite", tmp_path / "grid.json"
    result = run_cli(*GRID, "--models", "ststnet,convmixer", "--store", str(store), "--json", str(target))
    assert result.code == 1
    with ResultStore(store) as results:
        assert {run.model: run.status for run in results.list_runs()} == {"ststnet": "failed", "convmixer": "complete"}
        failed_id = next(run.id for run in results.list_runs() if run.model == "ststnet")
    # the failed cell names its stored run (for `merbench show`), in its lines and its JSON cell
    assert f"ststnet × synthetic × subject-10fold (stored run {failed_id}): the loss became NaN (test)" in result.out
    assert f"failed (stored run {failed_id})" in " ".join(result.err.split())
    assert "convmixer" in result.out.split("Comparison")[1] and "1 of 2 cells failed" in result.err
    document = json.loads(target.read_text())
    assert [c["status"] for c in document["cells"]] == ["failed", "complete"]
    assert document["cells"][0]["run_id"] == failed_id
    assert [r["model"] for r in document["results"]] == ["convmixer"]


def test_names_and_roots_are_parsed_per_dataset():
    assert split_names(["a,b", "b, c", ""]) == ["a", "b", "c"]
    assert parse_roots(["/data/CASME2"], ["casme2"]) == {"casme2": Path("/data/CASME2")}
    assert parse_roots(["casme2=/d/c", "samm=/d/s"], ["casme2", "samm"]) == {"casme2": Path("/d/c"), "samm": Path("/d/s")}
    with pytest.raises(UsageError, match="several datasets"):
        parse_roots(["/data/x"], ["casme2", "samm"])
    with pytest.raises(UsageError, match="'smic' is not one of"):
        parse_roots(["smic=/d"], ["casme2", "samm"])
    with pytest.raises(UsageError, match="given twice"):
        parse_roots(["casme2=/a", "casme2=/b"], ["casme2", "samm"])
    with pytest.raises(UsageError, match=r"'casme2' is not one of the grid's datasets \(synthetic\)"):
        parse_roots(["casme2=/d/c"], ["synthetic"])  # one dataset: a NAME=DIR for another is not its folder
    for empty, said in (("casme2=", "no folder after '='"), ("casme2= ", "no folder after '='"), ("", "empty")):
        with pytest.raises(UsageError, match=said):  # Path("") would be the current folder
            parse_roots([empty], ["casme2"])


def test_a_root_for_a_dataset_outside_the_grid_and_a_store_under_it_name_the_root(run_cli, tmp_path):
    made = tmp_path / "data"
    made.mkdir()
    other = run_cli("grid", "--models", "ststnet", "--datasets", "synthetic", "--root", f"casme2={made}", "--quiet")
    assert other.code == 2 and "'casme2' is not one of the grid's datasets (synthetic)" in other.err
    under = run_cli("grid", "--models", "ststnet", "--datasets", "synthetic", "--root", str(tmp_path), "--quiet",
                    "--store", str(made / "results.sqlite"))
    assert under.code == 2 and "reads no folder" in under.err and "lies inside" not in under.err, under.err


def test_a_missing_root_folder_is_refused_before_running(run_cli, tmp_path):
    result = run_cli("grid", "--models", "ststnet", "--datasets", "casme2", "--root", str(tmp_path / "absent"),
                     "--no-store", "--quiet")
    assert result.code == 2 and "no such folder" in result.err and "casme2" in result.err


def test_ray_executor_without_ray_says_how_to_install_it(monkeypatch):
    from merbench.ray_cluster import connect

    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(UsageError, match=r'pip install -e "\.\[ray\]"'):
        connect("auto")


def test_an_unreachable_cluster_address_fails_fast_with_a_fix():
    from merbench.ray_cluster import probe

    with pytest.raises(UsageError, match="cannot reach a Ray cluster there.*ray start --head"):
        probe("127.0.0.1:1")
    with pytest.raises(UsageError, match="expected auto, HOST:PORT"):
        probe("not an address")


def test_cuda_cells_on_ray_without_a_gpu_per_task_are_refused_up_front(run_cli):
    result = run_cli(*GRID, "--models", "convmixer", "--executor", "ray", "--device", "cuda", "--no-store")
    assert result.code == 2 and "executor.num_gpus=1" in result.err and "Ray:" not in result.err


def test_an_unreachable_ray_address_in_the_environment_is_reported(monkeypatch):
    ray = pytest.importorskip("ray")
    from merbench.ray_cluster import connect

    if ray.is_initialized():
        pytest.skip("Ray is already initialised in this process; connect() reuses it")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    with pytest.raises(UsageError, match="RAY_ADDRESS=127.0.0.1:1: cannot reach a Ray cluster there"):
        connect("auto")


def test_protocol_options_go_to_the_cells_whose_protocol_has_them():
    from merbench.grid import plan_grid
    from merbench.registry import get_registry

    cells = plan_grid(get_registry(), ["ststnet"], ["synthetic"], ["subject-10fold", "loso"], profile="quick",
                      sets={"protocol.n_splits": 3})
    options = {cell.protocol: dict(cell.config.section("protocol")) for cell in cells}
    assert options["subject-10fold"]["n_splits"] == 3 and "n_splits" not in options["loso"]
    with pytest.raises(UsageError, match="grid cell ststnet × synthetic × loso: unknown setting 'protocol.n_splits'"):
        plan_grid(get_registry(), ["ststnet"], ["synthetic"], ["loso"], profile="quick", sets={"protocol.n_splits": 3})


def test_protocol_options_of_a_config_file_go_to_the_cells_whose_protocol_has_them_too(tmp_path):
    # the same option moved from --set into --config refused the loso cell
    from merbench.grid import plan_grid
    from merbench.registry import get_registry

    config = tmp_path / "grid.yaml"
    config.write_text("protocol:\n  n_splits: 3\ndataset:\n  subjects: 6\n")
    cells = plan_grid(get_registry(), ["ststnet"], ["synthetic"], ["subject-10fold", "loso"], profile="quick",
                      config_file=config)
    options = {cell.protocol: dict(cell.config.section("protocol")) for cell in cells}
    assert options["subject-10fold"]["n_splits"] == 3 and "n_splits" not in options["loso"]
    assert all(cell.config.section("dataset")["subjects"] == 6 for cell in cells)
    config.write_text("protocol:\n  n_split: 3\n")  # an option no protocol of the grid has is still named
    with pytest.raises(UsageError, match="unknown setting 'protocol.n_split'"):
        plan_grid(get_registry(), ["ststnet"], ["synthetic"], ["subject-10fold", "loso"], profile="quick",
                  config_file=config)


def test_a_ray_cluster_that_cannot_be_joined_leaves_no_failed_runs_behind(run_cli, tmp_path):
    pytest.importorskip("ray")
    store = tmp_path / "s.sqlite"
    result = run_cli(*GRID, "--models", "ststnet,lbptop-svm", "--executor", "ray", "--set",
                     "executor.address=127.0.0.1:1", "--store", str(store))
    assert result.code == 2 and "cannot reach a Ray cluster there" in " ".join(result.err.split())
    listed = run_cli("runs", "--store", str(store))
    assert "failed" not in listed.out, "joining the cluster is a check before the grid, like a bad setting"


def test_a_misspelt_protocol_is_named_as_such_not_blamed_on_a_valid_cell():
    from merbench.grid import plan_grid
    from merbench.registry import get_registry

    with pytest.raises(UsageError, match="^--protocols losso: unknown protocol 'losso'"):
        plan_grid(get_registry(), ["ststnet"], ["synthetic"], ["subject-10fold", "losso"], profile="quick")


def test_a_local_grid_on_a_missing_gpu_is_refused_once_before_any_cell_runs(run_cli, monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    store = tmp_path / "results.sqlite"
    result = run_cli(*GRID, "--models", "convmixer,ststnet", "--device", "cuda", "--store", str(store))
    assert result.code == 2
    assert result.err.count("no CUDA device is available here") == 1 and "use --device cpu or auto" in result.err
    assert "Cell 1/2" not in result.err and not store.exists()


def test_cell_errors_name_the_grids_own_flags(run_cli, tmp_path):
    composite = run_cli(*GRID, "--models", "ststnet", "--protocols", "megc2019", "--no-store")
    assert composite.code == 2
    assert "use --datasets megc2019" in composite.err and "or --protocols loso" in " ".join(composite.err.split())
    licensed = " ".join(run_cli("grid", "--models", "ststnet", "--datasets", "casme2", "--profile", "quick",
                                "--no-store").err.split())
    assert "give its folder with --root casme2=DIR" in licensed
    assert "`merbench datasets check casme2 --root DIR`" in licensed  # another command's flags stay its own


def interrupted_grid(run_cli, monkeypatch, grid: list[str], after_folds: int):
    """Run ``merbench grid`` with Ctrl-C once ``after_folds`` folds are stored: (its result, the run id of each
    stored fold)."""
    from interrupting import stopped_after_folds

    stopped, stored_folds = stopped_after_folds(run_cli, monkeypatch, grid, after_folds)
    assert stopped.code == 130, stopped.err
    return stopped, stored_folds


def test_an_interrupted_grid_continues_the_interrupted_cell_with_stored(run_cli, monkeypatch, tmp_path):
    store = tmp_path / "results.sqlite"
    grid = [*GRID, "--models", "ststnet,offapexnet", "--store", str(store)]
    # the first cell's two folds, then the second cell's first fold
    stopped, stored_folds = interrupted_grid(run_cli, monkeypatch, grid, after_folds=3)
    assert ("1 finished cell is stored; run the same command with --stored to keep it, continue the interrupted "
            "cell from its finished folds and run the rest") in " ".join(stopped.err.split())
    interrupted = stored_folds[-1]
    with ResultStore(store) as opened:
        assert {run.id: run.status for run in opened.list_runs()}[interrupted] == "interrupted"

    again = run_cli(*grid, "--stored", "--json", str(tmp_path / "grid.json"))
    assert again.code == 0, again.err
    cells = {cell["model"]: cell for cell in json.loads((tmp_path / "grid.json").read_text())["cells"]}
    assert cells["ststnet"]["reused"] and cells["ststnet"]["run_id"] == stored_folds[0]
    assert cells["offapexnet"]["run_id"] == interrupted and not cells["offapexnet"]["reused"]
    assert cells["offapexnet"]["continued_folds"] == 1 and cells["ststnet"]["continued_folds"] is None
    assert (f"Cell offapexnet × synthetic × subject-10fold: stored as run {interrupted}, continued from where it was "
            "interrupted (1 fold kept)") in " ".join(again.err.split())
    with ResultStore(store) as opened:  # no third run: the interrupted one was continued, not started anew
        assert {run.id: run.status for run in opened.list_runs()} == {stored_folds[0]: "complete",
                                                                        interrupted: "complete"}


def test_an_interrupted_grid_with_no_finished_cell_does_not_say_cells_are_stored():
    from merbench.commands.grid import interrupted_note

    assert interrupted_note([], "local", 2).startswith("No cell finished; run the same command with --stored to "
                                                       "continue the interrupted cell")
    assert interrupted_note([], "ray", 2).startswith("No cell finished; run the same command with --stored to run "
                                                     "the rest: on Ray an interrupted cell starts again")


def test_an_interrupted_cell_that_cannot_be_continued_is_trained_anew(run_cli, monkeypatch, tmp_path):
    from merbench.errors import UsageError as Refused

    store = tmp_path / "results.sqlite"
    grid = [*GRID, "--models", "ststnet", "--store", str(store), "--json", str(tmp_path / "grid.json")]
    _, stored_folds = interrupted_grid(run_cli, monkeypatch, grid, after_folds=1)
    interrupted = stored_folds[0]
    record_inputs = ResultStore.record_inputs

    def inputs_changed(self, run_id, *args, **kwargs):  # what a changed dataset copy gives the resumed run
        if run_id == interrupted:
            raise Refused(f"run {run_id}: the preprocessed inputs differ from those the run started with")
        return record_inputs(self, run_id, *args, **kwargs)

    monkeypatch.setattr(ResultStore, "record_inputs", inputs_changed)
    again = run_cli(*grid, "--stored")
    assert again.code == 0, again.err
    [cell] = json.loads((tmp_path / "grid.json").read_text())["cells"]
    assert cell["status"] == "complete" and cell["run_id"] != interrupted and cell["continued_folds"] is None


def test_a_grid_whose_cells_are_all_stored_needs_no_device_to_show_them(local_grid, run_cli, monkeypatch, tmp_path):
    """Re-showing a GPU server's grid on a laptop: with --stored, only cells left to train need the device."""
    import merbench.runner
    from merbench.errors import UsageError as Refused

    def no_device(config):
        raise Refused(f"--device {config.device}: no CUDA device is available here")

    monkeypatch.setattr(merbench.runner, "choose_run_device", no_device)
    store, _, _ = local_grid
    copy = tmp_path / "results.sqlite"
    copy.write_bytes(store.read_bytes())
    shown = run_cli(*GRID, "--models", "convmixer,ststnet", "--seeds", "2", "--store", str(copy), "--stored")
    assert shown.code == 0, shown.err
    left = run_cli(*GRID, "--models", "convmixer,ststnet,lbptop-svm", "--seeds", "2", "--store", str(copy), "--stored")
    assert left.code == 2 and "no CUDA device is available here" in left.err, "lbptop-svm has to train"
