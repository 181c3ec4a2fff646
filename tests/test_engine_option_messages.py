"""Engine options said plainly: a section given one value in a --config file, a list given for a text option, and
how the folds were trained ("in 2 worker processes", not "Folds trained 2 worker processes")."""

from __future__ import annotations

import pytest

from merbench.result import trained_how

QUICK = ("--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--protocol", "loso", "--no-store",
         "--set", "dataset.subjects=4")


def _said(result) -> str:
    return " ".join(result.err.split())


@pytest.mark.parametrize("how", ["config", "set"])
def test_a_section_given_one_value_is_called_a_section(run_cli, tmp_path, how):
    given = ["--config", str(tmp_path / "c.yaml")] if how == "config" else ["--set", "engine=5"]
    (tmp_path / "c.yaml").write_text("engine: 5\n")
    result = run_cli("run", *QUICK, *given)
    said = _said(result)
    assert result.code == 2, said
    assert "'engine' is a section, not a setting: give its options as a mapping (engine: {epochs: VALUE}) or as " \
           "engine.epochs=VALUE; its options: engine.epochs, engine.batch_size" in said, said
    assert "did you mean" not in said and "Traceback" not in result.err


def test_a_list_for_a_text_option_is_shown_as_a_list(run_cli, tmp_path):
    (tmp_path / "c.yaml").write_text("engine: {parallel_folds: [2]}\n")
    result = run_cli("run", *QUICK, "--config", str(tmp_path / "c.yaml"))
    assert result.code == 2
    assert "engine.parallel_folds=[2]: expected one value (text), not a list or mapping" in _said(result)


@pytest.mark.parametrize("description, shown", [
    ("2 worker processes", "in 2 worker processes"),
    ("1 worker process", "in 1 worker process"),
    ("Ray tasks (1 CPU each, up to 2 retries)", "as Ray tasks (1 CPU each, up to 2 retries)"),
    ("fold by fold in this process", "fold by fold in this process"),
    ("2 folds at once: this process and 1 worker process (when the folds take long enough)",
     "2 folds at once: this process and 1 worker process (when the folds take long enough)"),
])
def test_how_folds_were_trained_reads_as_a_sentence(description, shown):
    assert trained_how(description) == shown


def test_a_run_in_worker_processes_says_so_in_its_report(run_cli):
    result = run_cli("run", *QUICK, "--epochs", "1", "--set", "engine.parallel_folds=2")
    assert result.code == 0, result.err
    said = " ".join(result.out.split())
    assert "Folds trained in 2 worker processes, 1 torch thread per fold" in said, said
