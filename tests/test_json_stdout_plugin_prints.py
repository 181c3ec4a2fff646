"""``--json -``: stdout holds the JSON alone. What a plugin prints while the command runs (a model's ``build()``, also
in a fold worker process; a dataset's ``load()``, also straight to the file descriptor 1) goes to stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from plugin_sources import MEAN_HEAD_NET

CHATTY = '''
import os

import torch

from merbench.contracts import DatasetPlugin, ModelPlugin
from merbench.hookspecs import hookimpl
from merbench_plugins.datasets.synthetic import load as synthetic_load

TINY = {"preset": "real", "subjects": 4, "clips_per_subject": 6, "size": 32, "frames": 8, "seed": 0, "domains": 3}

{net}

def build(options, in_channels, n_classes, input_size):
    print(f"building model in process {os.getpid()}", flush=True)
    return Net(in_channels, n_classes)


def load(root, options, cache_dir):
    print("loading the chatty dataset", flush=True)
    os.write(1, b"written to descriptor 1 while loading\\n")
    return synthetic_load(root, options, cache_dir)


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="chatty-net", build=build, description="prints as it builds", input="flow-uvs",
                         profiles={"quick": {}, "default": {}, "paper": {}}, citation="test"))


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="chatty-data", load=load, description="prints as it loads", options=TINY,
                           needs_root=False, reads_root=False))
'''.replace("{net}", MEAN_HEAD_NET)


def _merbench(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """``python -m merbench ARGS`` with the test's plugin importable and a throw-away cache; ``args`` of the result
    holds the process id of merbench."""
    environment = {**os.environ, "MERBENCH_CACHE": str(tmp_path / "cache"), "COLUMNS": "100",
                   "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), *sys.path])}
    with subprocess.Popen([sys.executable, "-m", "merbench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=environment) as process:
        out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.pid, process.returncode, out, err)


def test_a_run_whose_model_prints_in_fold_workers_writes_json_alone_to_stdout(install_plugin, tmp_path):
    install_plugin("merbench-chatty", "chatty", "merbench_chatty_stdout_plugin", CHATTY)
    ran = _merbench(tmp_path, "run", "--model", "chatty-net", "--dataset", "synthetic", "--profile", "quick",
                    "--epochs", "1", "--no-store", "--quiet", "--json", "-", "--set", "dataset.subjects=4",
                    "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8", "protocol.n_splits=2",
                    "engine.parallel_folds=2")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["model"] == "chatty-net" and len(result["folds"]) == 2
    builders = {int(pid) for pid in re.findall(r"building model in process (\d+)", ran.stderr)}
    assert builders - {ran.args}, f"the folds were meant to be built in worker processes: {ran.stderr}"


def test_datasets_check_json_holds_only_the_json_when_the_loader_prints(install_plugin, tmp_path):
    install_plugin("merbench-chatty", "chatty", "merbench_chatty_stdout_plugin", CHATTY)
    checked = _merbench(tmp_path, "datasets", "check", "chatty-data", "--quiet", "--json", "-")
    assert checked.returncode == 0, checked.stderr
    record = json.loads(checked.stdout)
    assert record["samples"] == 24, record
    assert "loading the chatty dataset" in checked.stderr
    assert "written to descriptor 1 while loading" in checked.stderr


def test_list_json_still_parses_and_a_run_to_a_file_keeps_its_stdout(install_plugin, tmp_path):
    install_plugin("merbench-chatty", "chatty", "merbench_chatty_stdout_plugin", CHATTY)
    listed = _merbench(tmp_path, "list", "datasets", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "chatty-data" in [record["name"] for record in json.loads(listed.stdout)["datasets"]]
    checked = _merbench(tmp_path, "datasets", "check", "chatty-data", "--quiet")
    assert checked.returncode == 0, checked.stderr
    assert "loading the chatty dataset" in checked.stdout, "without --json -, stdout is left as it is"
