"""An output path may not replace one of the command's own inputs (its --config, a leakage summary) nor lie inside a
dataset's folder: refused before any work, exit 2, the input untouched."""

from __future__ import annotations

import json

import pytest

QUICK = ["--profile", "quick", "--quiet", "--no-store", "--set", "dataset.subjects=4", "protocol.n_splits=2"]


@pytest.mark.parametrize("command", [
    ["run", "--model", "lbptop-svm", "--dataset", "synthetic", *QUICK],
    ["preprocess", "--model", "lbptop-svm", "--dataset", "synthetic", "--quiet"],
])
def test_json_over_the_config_file_is_refused(run_cli, tmp_path, command):
    config = tmp_path / "cfg.yaml"
    config.write_text("engine:\n  epochs: 2\n")
    result = run_cli(*command, "--config", str(config), "--json", str(config))
    assert result.code == 2 and "is the --config file" in result.err
    assert config.read_text() == "engine:\n  epochs: 2\n"


@pytest.mark.parametrize("command", [
    ["run", "--model", "lbptop-svm", "--dataset", "manifest", "--root", "{root}"],
    ["grid", "--models", "lbptop-svm", "--datasets", "manifest", "--root", "manifest={root}"],
    ["tune", "--model", "lbptop-svm", "--dataset", "manifest", "--root", "{root}", "--trials", "1",
     "--space", "benchmarks/spaces/lbptop-svm.yaml"],
])
def test_json_inside_a_dataset_folder_is_refused(run_cli, tmp_path, command):
    root = tmp_path / "data"
    root.mkdir()
    (root / "labels.csv").write_text("subject,label,path\n")
    target = root / "sub" / ".." / "labels.csv"
    result = run_cli(*[part.format(root=root) for part in command], "--json", str(target))
    assert result.code == 2 and "lies inside the dataset folder given with --root" in result.err, result.err
    assert (root / "labels.csv").read_text() == "subject,label,path\n"


def test_report_leakage_output_over_its_summary_is_refused(run_cli, tmp_path):
    summary = tmp_path / "leak.json"
    summary.write_text(open("benchmarks/leakage/synthetic-default-lbptop-svm.json", encoding="utf-8").read())
    before = summary.read_text()
    result = run_cli("report", "--leakage", str(summary), "--format", "md", "--output", str(summary))
    assert result.code == 2 and "is the leakage summary" in result.err
    assert summary.read_text() == before and json.loads(before)["kind"] == "merbench-leakage"


def test_a_result_that_cannot_be_written_after_the_run_says_how_to_get_it(run_cli, tmp_path, monkeypatch):
    """The run is done and stored; only its --json copy failed (a full disk): exit 1 with the command that writes it."""
    import merbench.outputs
    from merbench.errors import UsageError

    def full(target, data):
        raise UsageError(f"cannot write {target}: No space left on device; free some space or choose another path")

    store = tmp_path / "runs.sqlite"
    monkeypatch.setattr(merbench.outputs, "write_output", full)
    target = tmp_path / "r.json"
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--store", str(store), "--set", "dataset.subjects=4", "protocol.n_splits=2", "--json", str(target))
    message = " ".join(result.err.split())
    assert result.code == 1 and "No space left on device" in message
    [run_id] = [word for word in message.split() if word.startswith("20") and "-" in word][:1]
    assert (f"the run itself finished and its result is stored: write it again with `merbench show {run_id} "
            f"--store {store} --json {target}`") in message, message


def test_a_link_loop_among_the_protected_files_is_not_blamed_on_the_output(tmp_path):
    """A results store that is a link loop is the store's problem (said when it is opened), not --json's."""
    from merbench.outputs import check_output_path

    loop = tmp_path / "loop.sqlite"
    loop.symlink_to(loop)
    target = tmp_path / "out.json"
    assert check_output_path(target, "--json", [loop], {"the --config file": loop}) == target.resolve()


def test_a_dataset_folder_that_is_a_link_loop_is_named_by_the_dataset_check(run_cli, tmp_path):
    """The output check resolved --root first and ended in a RuntimeError traceback on a link loop."""
    loop = tmp_path / "casme2"
    loop.symlink_to(loop)
    result = run_cli("run", "--model", "ststnet", "--dataset", "casme2", "--root", str(loop), "--profile", "quick",
                     "--no-store", "--json", str(tmp_path / "o.json"))
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert f"--root {loop}" in " ".join(result.err.split())
