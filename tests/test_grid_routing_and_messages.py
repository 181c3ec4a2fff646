"""``merbench grid``: Ctrl-C while the fold workers' fork server starts, ``--set`` routed per model and dataset,
the seeds in ``--json``'s ``cells[]``, and the wording of its help, ``--root`` and interruption messages."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from merbench.config import resolve_config, with_executor_flag
from merbench.errors import DataError, UsageError
from merbench.grid import GridCell, parse_roots, plan_grid
from merbench.registry import get_registry

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=2", "engine.threads=1"]

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux's")

# A script that starts the fork server as a run does (preloading merbench.workers alone, to be quick), with Ctrl-C
# at its default (a test runner may ignore it), then PROBE, then checks that the server is alive and forks workers.
SERVER_SCRIPT = """
import os, signal, sys, time
from multiprocessing import forkserver, util
from merbench import workers

signal.signal(signal.SIGINT, signal.default_int_handler)
workers.WORKER_PRELOAD = ["merbench.workers"]
{probe}
pid = forkserver._forkserver._forkserver_pid
print("server", "died" if pid is None or os.waitpid(pid, os.WNOHANG)[0] else "alive", flush=True)
with workers.running(workers.start_pool(1, os.getpid, ()), "a worker died") as pool:
    print("worker says", workers.submit(pool, abs, -3).result(timeout=60), flush=True)
"""


def run_server_script(probe: str) -> subprocess.CompletedProcess:
    script = SERVER_SCRIPT.format(probe=textwrap.dedent(probe))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


@linux_only
def test_ctrl_c_while_the_fork_server_starts_leaves_it_running_without_a_traceback():
    """Ctrl-C reaches the whole process group, the fork server too, from its first instant: Python's start-up and
    its preloads, before it could ignore Ctrl-C itself (a raw KeyboardInterrupt traceback, or a dead server)."""
    done = run_server_script("""
        workers.start_worker_server()
        server = forkserver._forkserver._forkserver_pid
        end = time.monotonic() + 0.5
        while time.monotonic() < end:  # from the server's exec on, through its start-up and preloads
            os.kill(server, signal.SIGINT)
            time.sleep(0.002)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["server alive", "worker says 3"], done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr


@linux_only
def test_ctrl_c_while_the_fork_server_starts_still_interrupts_the_run():
    """Ctrl-C is blocked in the run only while it starts the server: one that came meanwhile is delivered then."""
    done = run_server_script("""
        spawn = util.spawnv_passfds

        def ctrl_c_while_starting(path, args, passfds):  # as a terminal's Ctrl-C reaches the process group
            pid = spawn(path, args, passfds)
            if any("forkserver" in str(arg) for arg in args):
                os.kill(pid, signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)
            return pid

        util.spawnv_passfds = ctrl_c_while_starting
        try:
            workers.start_worker_server()
            time.sleep(0.5)
        except KeyboardInterrupt:
            print("run interrupted", flush=True)
        util.spawnv_passfds = spawn
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["run interrupted", "server alive", "worker says 3"], done.stderr
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------ --set routed to the cells whose plugin has it


def test_a_model_option_goes_to_the_cells_whose_model_has_it():
    registry = get_registry()
    cells = plan_grid(registry, ["ststnet", "lbptop-svm"], ["synthetic"], ["loso"], profile="quick",
                      sets={"dataset.subjects": "4", "model.C": "2.0", "model.dropout": "0.25"})
    options = {cell.model: cell.config.section("model") for cell in cells}
    assert options["lbptop-svm"]["C"] == 2.0 and "dropout" not in options["lbptop-svm"]
    assert options["ststnet"]["dropout"] == 0.25 and "C" not in options["ststnet"]


def test_a_model_option_two_models_share_goes_to_both():
    """``model.kernel`` is the SVM's kernel and STSTNet's kernel size: both cells get the value, and check it."""
    with pytest.raises(UsageError, match=r"grid cell ststnet × synthetic × loso: model.kernel=linear: must be an integer"):
        plan_grid(get_registry(), ["ststnet", "lbptop-svm"], ["synthetic"], ["loso"], profile="quick",
                  sets={"dataset.subjects": "4", "model.kernel": "linear"})


def test_a_dataset_option_goes_to_the_cells_whose_dataset_has_it(tmp_path):
    cells = plan_grid(get_registry(), ["ststnet"], ["synthetic", "casme2"], ["loso"], profile="quick",
                      roots={"casme2": tmp_path}, sets={"dataset.subjects": "4"})
    options = {cell.dataset: cell.config.section("dataset") for cell in cells}
    assert options["synthetic"]["subjects"] == 4 and "subjects" not in options["casme2"]


def test_an_option_in_the_config_file_is_routed_too(tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text("model:\n  C: 3.0\ndataset:\n  subjects: 4\n")
    cells = plan_grid(get_registry(), ["ststnet", "lbptop-svm"], ["synthetic"], ["loso"], profile="quick",
                      config_file=config)
    assert {cell.model: cell.config.section("model").get("C") for cell in cells} == {"ststnet": None, "lbptop-svm": 3.0}


def test_an_option_no_model_of_the_grid_has_is_refused_naming_them(tmp_path):
    registry = get_registry()
    with pytest.raises(UsageError) as refused:
        plan_grid(registry, ["ststnet", "lbptop-svm"], ["synthetic"], ["loso"], profile="quick",
                  sets={"model.Cx": "2.0"})
    message = str(refused.value)
    assert message.startswith("unknown setting 'model.Cx' (did you mean model.C?): none of the grid's models "
                              "(ststnet, lbptop-svm) has the option 'Cx'. In a grid a model.* setting goes to the cells "
                              "whose model has it. Options of each: ststnet: filters, kernel,"), message
    assert "lbptop-svm: kernel, C, class_weight" in message
    config = tmp_path / "grid.yaml"
    config.write_text("dataset:\n  subject: 4\n")
    with pytest.raises(UsageError, match=rf"^--config {config}: unknown setting 'dataset.subject' \(did you mean "
                                         r"dataset.subjects\?\): none of the grid's datasets \(synthetic, casme2\)"):
        plan_grid(registry, ["ststnet"], ["synthetic", "casme2"], ["loso"], roots={"casme2": tmp_path},
                  config_file=config)


def test_a_single_model_grid_still_refuses_an_option_its_model_lacks_in_the_cells_words():
    with pytest.raises(UsageError, match=r"^grid cell ststnet × synthetic × loso: unknown setting 'model.C'\. "
                                         r"Valid settings of model 'ststnet'"):
        plan_grid(get_registry(), ["ststnet"], ["synthetic"], ["loso"], profile="quick", sets={"model.C": "2.0"})


def test_sets_for_run_keeps_what_none_of_the_siblings_has_and_the_names():
    from merbench.config import sets_for_run

    registry = get_registry()
    sets = {"model.C": "2", "model.nope": "1", "model.name": "x", "engine.lr": "0.1", "protocol.n_splits": "2"}
    kept = sets_for_run(sets, registry, {"model": "ststnet", "protocol": "loso"},
                        {"model": ["ststnet", "lbptop-svm"], "protocol": ["loso", "subject-10fold"]})
    assert kept == {"model.nope": "1", "model.name": "x", "engine.lr": "0.1"}
    assert resolve_config(registry, model="lbptop-svm", dataset="synthetic", sets={"model.dropout": "0.2"},
                          sibling_models=["ststnet"]).section("model").get("dropout") is None


def test_the_set_help_says_how_model_and_dataset_options_are_routed(run_cli):
    shown = " ".join(run_cli("grid", "--help").out.split())
    assert ("a model.*, dataset.* or protocol.* option goes to the cells whose model, dataset or protocol has an "
            "option of that name" in shown)


# ------------------------------------------------------------------ --json cells[] and the help's examples


def test_json_cells_hold_every_seed_the_table_averages_and_what_each_cell_leaked(run_cli, tmp_path):
    target = tmp_path / "grid.json"
    done = run_cli("grid", "--models", "lbptop-svm", "--datasets", "synthetic", "--protocols",
                   "subject-10fold,sample-10fold", "--profile", "quick", "--quiet", "--no-store", "--seeds", "2",
                   "--json", str(target), *TINY)
    assert done.code == 0, done.err
    document = json.loads(target.read_text())
    cells = {cell["protocol"]: cell for cell in document["cells"]}
    cell, result = cells["subject-10fold"], document["results"][0]
    row = next(row for row in document["comparison"]["rows"] if row["protocol"] == "subject-10fold")
    assert cell["seed"] == 0 and cell["seeds"] == result["seeds"] and [s["seed"] for s in cell["seeds"]] == [0, 1]
    mean = sum(seed["fold_mean"]["uf1"] for seed in cell["seeds"]) / 2
    assert row["mean"] == pytest.approx(mean)
    assert (cell["leaks"], cell["subject_independent"]) == ([], True)
    assert (cells["sample-10fold"]["leaks"], cells["sample-10fold"]["subject_independent"]) == (["subjects"], False)


def test_the_help_resumes_the_same_grid_as_the_example_above_it():
    from merbench.commands.grid import EXAMPLES

    first, resume = EXAMPLES.splitlines()[1:3]
    command, _, comment = resume.partition("  # ")
    assert command == first + " --stored" and "after an interruption" in comment


# ------------------------------------------------------------------ --root messages


def test_a_plain_root_in_a_grid_of_several_datasets_suggests_a_quoted_root_for_a_dataset_without_one():
    with pytest.raises(UsageError) as refused:
        parse_roots(["casme2=/data/CASME2", "/my data/SAMM"], ["casme2", "samm"])
    assert str(refused.value).endswith("say which one the folder holds, e.g. --root 'samm=/my data/SAMM'")


def test_a_root_missing_on_a_ray_worker_keeps_the_dataset_name_and_says_where_it_was_looked_for(tmp_path):
    from merbench.grid import worker_error

    registry, root = get_registry(), tmp_path / "no such"
    config = resolve_config(registry, model="ststnet", dataset="casme2", protocol="loso", root=root)
    cell = GridCell("ststnet", "casme2", "loso", config)
    sent = DataError(f"--root {root}: no such folder; give the folder that holds your copy of 'casme2'")
    error = worker_error(sent, cell, "node-7")
    assert isinstance(error, DataError)
    assert str(error) == (f"--root casme2={root}: looked for on the Ray worker's node node-7: no such folder; give the "
                          "folder that holds your copy of 'casme2' (with --executor ray the folder must exist at that "
                          "path on every node)")
    unrelated = UsageError("model.depth=99: too deep")
    assert worker_error(unrelated, cell, "node-7") is unrelated


# ------------------------------------------------------------------ smaller wording and display


def test_an_interruption_after_one_finished_cell_says_keep_it():
    from merbench.commands.grid import interrupted_note

    one, two = [SimpleNamespace(result=object())], [SimpleNamespace(result=object())] * 2
    assert interrupted_note(one, "local", 3).startswith("1 finished cell is stored; run the same command with "
                                                        "--stored to keep it, continue the interrupted cell")
    assert "--stored to keep them, continue" in interrupted_note(two, "local", 3)
    assert "--stored to keep it and run the rest" in interrupted_note(one, "ray", 3)
    assert interrupted_note(two, "local", 2) == ("Interrupted after every cell had ended: 2 finished cells are stored; "
                                                 "run the same command with --stored to show the table without "
                                                 "training again")


@pytest.mark.parametrize("width, shown", [(40, False), (50, False), (100, True)])
def test_a_narrow_terminal_leaves_the_cell_label_out_of_the_bars_instead_of_printing_it_down_the_screen(width, shown):
    from merbench.progress import RichProgress

    screen = io.StringIO()
    console = Console(file=screen, width=width, force_terminal=True, color_system=None)
    with RichProgress(console) as progress:
        progress.start("cells", 4, "Grid cells")
        progress.advance("cells", 1, note="offapexnet × synthetic × loso")
    last = screen.getvalue().rsplit("\x1b[2K", 1)[-1]  # the bars as last drawn
    lines = [line.rstrip() for line in last.splitlines() if line.strip()]
    assert ("offapexnet" in last) is shown, last
    assert all(len(line.split()[-1]) > 1 for line in lines), last  # no column one letter wide


def test_an_executor_in_the_config_file_that_disagrees_with_the_flag_is_refused(tmp_path, run_cli):
    config = tmp_path / "grid.yaml"
    config.write_text("profile: quick\nexecutor:\n  name: ray\n")
    with pytest.raises(UsageError, match=rf"^--executor local and executor.name=ray in --config {config} disagree; "
                                         "give the executor once$"):
        with_executor_flag({}, "local", config)
    assert with_executor_flag({}, "ray", config) == {"executor.name": "ray"}
    recorded = tmp_path / "result.json"  # a run's recorded configuration: the flag says where to run it again
    recorded.write_text(json.dumps({"model": "ststnet", "dataset": "synthetic", "protocol": "loso",
                                    "options": {"executor": {"name": "ray"}}}))
    assert with_executor_flag({}, "local", recorded) == {"executor.name": "local"}
    refused = run_cli("grid", "--models", "ststnet", "--datasets", "synthetic", "--config", str(config),
                      "--executor", "local", "--no-store", "--quiet")
    assert refused.code == 2 and "give the executor once" in refused.err


def test_a_seed_range_overflow_is_refused_before_the_banner_and_the_store(run_cli, tmp_path):
    store = tmp_path / "results.sqlite"
    refused = run_cli("grid", "--models", "ststnet", "--datasets", "synthetic", "--profile", "quick", "--seed",
                      "4294967295", "--seeds", "2", "--store", str(store))
    assert refused.code == 2 and "--seeds 2 from seed 4294967295 reaches seed 4294967296" in refused.err
    assert "Grid:" not in refused.err and not store.exists()


def test_an_unknown_model_is_named_before_a_setting_only_it_could_have_had():
    """``model.C`` goes to no ststnet cell: the unknown name beside it (a misspelt lbptop-svm) is what to fix."""
    with pytest.raises(UsageError, match=r"^grid cell lbptop-svn × synthetic × loso: unknown model 'lbptop-svn'"):
        plan_grid(get_registry(), ["ststnet", "lbptop-svn"], ["synthetic"], ["loso"], sets={"model.C": "2.0"})


SPACES = Path(__file__).resolve().parent.parent / "benchmarks" / "spaces"


@pytest.mark.parametrize("command", [["run", "--model", "ststnet", "--dataset", "synthetic"],
                                     ["tune", "--model", "ststnet", "--dataset", "synthetic", "--trials", "1",
                                      "--space", str(SPACES / "ststnet.yaml")]])
def test_run_and_tune_refuse_a_config_executor_that_disagrees_with_the_flag(tmp_path, run_cli, command):
    config = tmp_path / "options.yaml"
    config.write_text("profile: quick\nexecutor:\n  name: ray\n")
    result = run_cli(*command, "--config", str(config), "--executor", "local", "--no-store"
                     if command[0] == "run" else "--json", *([] if command[0] == "run" else [str(tmp_path / "t.json")]))
    assert result.code == 2, result.err
    assert f"--executor local and executor.name=ray in --config {config} disagree" in " ".join(result.err.split())
