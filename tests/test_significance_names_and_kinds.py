"""``merbench significance``: a result whose recorded configuration leaks is warned about as the audit fails it (an
honest-looking leakage section hid ``engine.normalise_on=all``); two runs that differ only in their seed are named
by it (both were ``ststnet``); and its own ``--json`` output, given back as a run, is named for what it is (it read
as a damaged result: "not a merbench result (missing model, ...)")."""

from __future__ import annotations

import json

import pytest

from merbench.leaks import result_leaks
from merbench.result import RunResult


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """ststnet on the quick synthetic data (10 subjects, 10 folds), under seed 0 and seed 1."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("significance-names-and-kinds")
    made = {}
    for seed in ("0", "1"):
        path = folder / f"seed{seed}.json"
        assert main(["run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--seed", seed,
                     "--quiet", "--no-store", "--json", str(path)]) == 0
        made[f"seed{seed}"] = path
    return made


def _edited(source, target, **engine):
    """A copy of the result in ``source``, written to ``target``, whose recorded engine options are ``engine``;
    its leakage section stays honest."""
    document = json.loads(source.read_text())
    document["config"]["options"]["engine"].update(engine)
    target.write_text(json.dumps(document))
    return target


def _leak_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("⚠ leakage:")]


def test_a_recorded_configuration_that_normalises_on_all_samples_is_warned_about(runs, run_cli, tmp_path):
    leaky = _edited(runs["seed0"], tmp_path / "norm_cfg.json", normalise_on="all")
    audited = run_cli("audit", str(leaky))
    assert audited.code == 1 and "its recorded configuration sets engine.normalise_on=all" in audited.out
    shown = run_cli("significance", str(runs["seed0"]), str(leaky), "--bootstrap", "100", "--json", "-")
    assert shown.code == 0, shown.err
    assert _leak_lines(shown.err) == ["⚠ leakage: run B (ststnet) leaks (normalisation): normalisation statistics "
                                      "include test samples; its scores are inflated and must not be compared with "
                                      "honest results (docs/leakage.md)"]
    document = json.loads(shown.out)
    assert (document["a"]["leaks"], document["b"]["leaks"]) == ([], ["normalisation"])


def test_test_fold_selection_counts_only_where_there_were_epochs_to_choose_from(runs, run_cli, tmp_path):
    selecting = _edited(runs["seed0"], tmp_path / "select.json", select_on="test")
    shown = run_cli("significance", str(selecting), str(runs["seed0"]), "--bootstrap", "100")
    assert shown.code == 0, shown.err
    assert [line.split(":")[1] for line in _leak_lines(shown.out)] == [" run A (ststnet) leaks (selection)"]
    document = json.loads(selecting.read_text())
    for fold in document["folds"]:
        fold["epochs_trained"] = 1  # fitted once: no epoch to choose, as the audit reads it
    assert result_leaks(RunResult.from_dict(document)) == []
    assert result_leaks(RunResult.from_dict(json.loads(selecting.read_text()))) == ["selection"]


def test_runs_that_differ_only_in_their_seed_are_named_by_it(runs, run_cli, tmp_path):
    shown = run_cli("significance", str(runs["seed0"]), str(runs["seed1"]), "--bootstrap", "100", "--json", "-")
    assert shown.code == 0, shown.err
    assert ("UF1: B (ststnet, seed 1) vs A (ststnet, seed 0) on synthetic, subject-10fold, 10 folds"
            in " ".join(shown.err.split()))
    document = json.loads(shown.out)
    assert (document["a"]["name"], document["b"]["name"]) == ("ststnet, seed 0", "ststnet, seed 1")
    same_seed = run_cli("significance", str(runs["seed0"]),
                        str(_edited(runs["seed0"], tmp_path / "norm.json", normalise_on="all")), "--bootstrap", "100")
    assert "UF1: B (ststnet (normalise_on=all)) vs A (ststnet) on" in " ".join(same_seed.out.split())


def test_a_title_naming_seeds_fits_80_columns(runs):
    from rich.console import Console

    from merbench.commands.significance import comparison_table
    from merbench.significance import compare_runs
    from merbench.tables import print_table

    a, b = (RunResult.from_dict(json.loads(runs[name].read_text())) for name in ("seed0", "seed1"))
    console = Console(width=80, record=True, force_terminal=True)
    print_table(console, comparison_table(a, b, compare_runs(a, b, "uf1", 100), "UF1"))
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= 80
    assert "B (ststnet, seed 1) vs A (ststnet, seed 0)" in " ".join(text.split())


def test_a_significance_json_given_as_a_run_is_named_for_what_it_is(runs, run_cli, tmp_path):
    written = tmp_path / "sig.json"
    for _ in range(2):  # its own earlier output is rewritten, not refused as another kind of result
        shown = run_cli("significance", str(runs["seed0"]), str(runs["seed1"]), "--bootstrap", "100",
                        "--json", str(written))
        assert shown.code == 0, shown.err
    said = f"merbench: error: {written}: a significance comparison, not a run's result; "
    for command in (("audit", str(written)), ("significance", str(written), str(runs["seed0"]))):
        given = run_cli(*command)
        assert given.code == 2 and given.err.startswith(said), given.err
        assert "Traceback" not in given.err
    refused = run_cli("significance", str(runs["seed0"]), str(runs["seed1"]), "--bootstrap", "100",
                      "--json", str(_edited(runs["seed0"], tmp_path / "other.json")))
    assert refused.code == 2 and "holds a run's result" in refused.err


def test_an_audit_report_given_back_is_named_for_what_it_is(runs, run_cli, tmp_path):
    report = tmp_path / "audit.json"
    for _ in range(2):  # its own earlier report is rewritten, not refused as another kind of result
        audited = run_cli("audit", str(runs["seed0"]), "--json", str(report))
        assert audited.code == 0, audited.err
    said = f"merbench: error: {report}: an audit report, not a run's result; "
    for command in (("audit", str(report)), ("significance", str(report), str(runs["seed0"]))):
        given = run_cli(*command)
        assert given.code == 2 and given.err.startswith(said), given.err
        assert f"give `merbench {command[0]}` the result files it audited" in " ".join(given.err.split())
    kept = report.read_bytes()
    refused = run_cli("significance", str(runs["seed0"]), str(runs["seed1"]), "--bootstrap", "100",
                      "--json", str(report))
    assert refused.code == 2 and "holds an audit report (merbench audit --json)" in refused.err, refused.err
    assert report.read_bytes() == kept
