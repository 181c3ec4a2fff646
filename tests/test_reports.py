"""``merbench compare`` and ``merbench report``: the stored runs' numbers, in every format."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os

import pytest

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "engine.epochs=1"]
SMALL_MIXER = ["model.dim=8", "model.depth=1"]
SMALL_ROW = "convmixer-256-8 (model.depth=1, model.dim=8)"  # its row names what it changed (merbench.run_settings)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Three runs in one store: two models subject-independent, one leaky protocol. Returns (store, results)."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("reports")
    path = folder / "results.sqlite"
    runs = {
        "convmixer": ("--model", "convmixer"),
        "small": ("--model", "convmixer-256-8", "--set", *SMALL_MIXER),
        "leaky": ("--model", "convmixer", "--protocol", "sample-10fold"),
    }
    results = {}
    for name, args in runs.items():
        target = folder / f"{name}.json"
        assert main(["run", *args, "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY,
                     "--store", str(path), "--json", str(target)]) == 0
        results[name] = json.loads(target.read_text())
    return path, results


def report(run_cli, store_path, output, *extra):
    result = run_cli("report", "--store", str(store_path), "--output", str(output), *extra)
    assert result.code == 0, result.err
    return output.read_text()


def test_json_and_csv_exports_hold_the_runs_scores(store, run_cli, tmp_path):
    path, results = store
    data = json.loads(report(run_cli, path, tmp_path / "table.json"))
    rows = {(r["row"], r["protocol"]): r for r in data["rows"]}
    assert len(rows) == 3 and data["metric"] == "uf1" and data["stat"] == "fold"
    for name, key in (("convmixer", ("convmixer", "subject-10fold")), ("small", (SMALL_ROW, "subject-10fold")),
                      ("leaky", ("convmixer", "sample-10fold"))):
        assert rows[key]["mean"] == results[name]["fold_mean"]["uf1"]
        assert rows[key]["std"] == results[name]["fold_std"]["uf1"]
        assert rows[key]["run_id"] == results[name]["run_id"]
    assert rows[("convmixer", "sample-10fold")]["subject_independent"] is False
    assert any("not subject-independent" in w for w in data["warnings"])
    pooled = json.loads(report(run_cli, path, tmp_path / "pooled.json", "--stat", "pooled", "--metric", "accuracy"))
    assert {r["run_id"]: r["mean"] for r in pooled["rows"]} == {r["run_id"]: r["pooled"]["accuracy"] for r in results.values()}

    table = list(csv.DictReader(io.StringIO(report(run_cli, path, tmp_path / "table.csv"))))
    assert len(table) == 3
    assert {(r["row"], r["protocol"]): float(r["mean"]) for r in table} == {k: v["mean"] for k, v in rows.items()}


def test_best_value_per_column_is_marked(store, run_cli, tmp_path):
    path, results = store
    data = json.loads(report(run_cli, path, tmp_path / "table.json", "--protocol", "subject-10fold"))
    best = [r["row"] for r in data["rows"] if r["best"]]
    scores = {"convmixer": results["convmixer"]["fold_mean"]["uf1"], SMALL_ROW: results["small"]["fold_mean"]["uf1"]}
    assert best == [m for m, v in scores.items() if v == max(scores.values())]


def test_markdown_latex_and_html_contain_every_row(store, run_cli, tmp_path):
    path, results = store
    markdown = report(run_cli, path, tmp_path / "table.md")
    latex = report(run_cli, path, tmp_path / "table.tex")
    page = report(run_cli, path, tmp_path / "table.html")
    lines = [line for line in markdown.splitlines() if line.startswith("| convmixer")]
    assert len(lines) == 2  # two models as rows
    for result in results.values():
        cell = f"{100 * result['fold_mean']['uf1']:.1f} ± {100 * result['fold_std']['uf1']:.1f}"
        assert cell in markdown and cell.replace(" ± ", r" $\pm$ ") in latex and cell in page
    assert r"\begin{tabular}{l" in latex and latex.count(r" \\") == 3 and "convmixer-256-8" in latex
    assert "sample-10fold" in markdown and "† convmixer on synthetic · sample-10fold: not subject-independent" in markdown
    assert "UF1 (unweighted F1) per fold, mean ± std over folds" in markdown
    assert "MEGC2019's UF1 is computed on the predictions pooled over all folds (--stat pooled)" in markdown


def test_compare_prints_the_table_with_leakage_warnings(store, run_cli):
    path, results = store
    shown = run_cli("compare", "--store", str(path))
    assert shown.code == 0, shown.err
    for result in results.values():
        assert f"{100 * result['fold_mean']['uf1']:.1f} ± {100 * result['fold_std']['uf1']:.1f}" in shown.out
    assert "leakage" in shown.out and "not subject-independent" in " ".join(shown.out.split())
    only = run_cli("compare", results["small"]["run_id"], "--store", str(path))
    assert "convmixer-256-8" in only.out and "sample-10fold" not in only.out
    none = run_cli("compare", "--store", str(path), "--dataset", "casme2")
    assert none.code == 2 and "no complete runs match --dataset casme2; the store's complete runs have these " \
        "datasets: synthetic (names are matched exactly" in " ".join(none.err.split())
    models = sorted({result["model"] for result in results.values()})
    mistyped = run_cli("report", "--store", str(path), "--model", "ConvMixer", "--output", str(path.parent / "r.md"))
    assert mistyped.code == 2 and f"models: {', '.join(models)} (" in " ".join(mistyped.err.split())


def test_reported_score_from_the_model_metadata_sits_beside_the_measured_one(store):
    from merbench.compare import build_comparison
    from merbench.export import to_markdown
    from merbench.result import RunResult

    _, results = store
    # The convmixer plugin reports CABM-FMER's SAMM scores under sample-10fold; present the leaky run as SAMM.
    leaky = dict(results["leaky"], dataset="samm", settings_changed=[])  # as if on the paper's 10 folds
    comparison = build_comparison([RunResult.from_dict(leaky)], metric="accuracy", stat="pooled")
    [record] = comparison.records()
    reported = [r for r in leaky["reported"] if r["dataset"] == "samm" and r["metric"] == "accuracy"][0]
    assert record["reported"] == pytest.approx(reported["value"] / 100)
    assert f"{reported['value']:.1f}" in to_markdown(comparison) and "reported" in to_markdown(comparison)


def test_figures_are_png_files(store, run_cli, tmp_path):
    path, results = store
    result = run_cli("report", "--store", str(path), "--figures", str(tmp_path / "figures"))
    assert result.code == 0, result.err
    files = sorted((tmp_path / "figures").iterdir())
    assert len(files) == 2 * len(results)
    for run in results.values():
        for kind in ("confusion", "folds"):
            png = tmp_path / "figures" / f"{run['run_id']}-{kind}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000


def test_a_figure_that_cannot_be_written_leaves_no_output_behind(store, run_cli, tmp_path):
    path, results = store
    run_id = next(iter(results.values()))["run_id"]
    figures = tmp_path / "figures"
    (figures / f"{run_id}-folds.png").mkdir(parents=True)
    output = tmp_path / "report.md"
    result = run_cli("report", "--store", str(path), "--output", str(output), "--figures", str(figures))
    assert result.code == 2 and f"{run_id}-folds.png is a folder where a figure goes" in " ".join(result.err.split())
    assert not output.exists() and [p.name for p in figures.iterdir()] == [f"{run_id}-folds.png"]


def test_a_fifo_where_a_figure_goes_is_named_with_advice_for_a_folder(store, run_cli, tmp_path):
    path, results = store
    run_id = next(iter(results.values()))["run_id"]
    figures = tmp_path / "figures"
    figures.mkdir()
    os.mkfifo(figures / f"{run_id}-folds.png")
    result = run_cli("report", "--store", str(path), "--output", str(tmp_path / "r.md"), "--figures", str(figures))
    said = " ".join(result.err.split())
    assert result.code == 2 and f"--figures {figures}: {run_id}-folds.png is not a regular file" in said
    assert "give another --figures folder" in said and "standard output" not in said
    assert not (tmp_path / "r.md").exists() and [p.name for p in figures.iterdir()] == [f"{run_id}-folds.png"]


def test_figures_are_those_of_the_runs_the_table_shows(run_cli, tmp_path):
    store = tmp_path / "two.sqlite"
    ids = []
    for seed in ("0", "1"):  # the same model, dataset and protocol: the table shows the newer run
        target = tmp_path / f"svm-{seed}.json"
        done = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY,
                       "--seed", seed, "--store", str(store), "--json", str(target))
        assert done.code == 0, done.err
        ids.append(json.loads(target.read_text())["run_id"])
    result = run_cli("report", "--store", str(store), "--figures", str(tmp_path / "figures"))
    assert result.code == 0, result.err
    assert sorted(path.name for path in (tmp_path / "figures").iterdir()) == [f"{ids[1]}-confusion.png",
                                                                              f"{ids[1]}-folds.png"]


def test_unknown_format_and_metric_are_usage_errors(store, run_cli, tmp_path):
    path, _ = store
    assert run_cli("report", "--store", str(path), "--output", str(tmp_path / "t.docx")).code == 2
    bad = run_cli("compare", "--store", str(path), "--metric", "f2")
    assert bad.code == 2 and "choose one of" in bad.err


def test_a_leaky_engine_variant_gets_its_own_row_and_is_never_best():
    from merbench.compare import build_comparison
    from result_samples import minimal_result

    def run(run_id: str, uf1: float, engine: dict | None = None, leaks: list | None = None):
        scores = {"accuracy": uf1, "uf1": uf1, "uar": uf1}
        leakage = {"leaks": leaks or [], "normalisation_uses_test_data": bool(leaks)}
        return minimal_result(run_id=run_id, model="ststnet", fold_mean=scores, pooled=scores, leakage=leakage,
                              config={"options": {"engine": engine or {}}})

    honest = run("a", 0.5)
    leaky = run("b", 0.9, {"normalise_on": "all"}, ["normalisation"])  # newer than the honest run, as in a study
    other = run("c", 0.4)
    comparison = build_comparison([honest, leaky, dataclasses.replace(other, model="convmixer")])
    assert comparison.models == ["convmixer", "ststnet", "ststnet (normalise_on=all)"]
    cells = {model: comparison.cells[(model, ("d", "loso"))] for model in comparison.models}
    assert cells["ststnet"].mean == 0.5, "the honest run keeps its cell"
    assert cells["ststnet"].best and not cells["ststnet (normalise_on=all)"].best


def test_reported_scores_from_two_sources_each_name_their_source():
    from rich.console import Console

    from merbench.report import reported_table
    from merbench.tables import print_table
    from result_samples import minimal_result

    reported = [{"dataset": "d", "protocol": "loso", "metric": "uf1", "value": 75.1, "source": "Author 2024, Table 3"},
                {"dataset": "e", "protocol": "loso", "metric": "uf1", "value": 55.5, "source": "Author 2024, Table 4"}]
    console = Console(width=80, record=True, force_terminal=False)
    print_table(console, reported_table(minimal_result(reported=reported)))
    lines = console.export_text().splitlines()
    assert next(line for line in lines if "75.10" in line).split()[-1] == "1"
    assert next(line for line in lines if "55.50" in line).split()[-1] == "2"
    assert "Sources: 1: Author 2024, Table 3; 2: Author 2024, Table 4" in " ".join(lines)
    single = Console(width=80, record=True, force_terminal=False)
    print_table(single, reported_table(minimal_result(reported=reported[:1])))
    text = single.export_text()
    assert "Source" not in text.split() and "Author 2024, Table 3" in text


def test_a_score_measured_on_part_of_an_official_list_is_not_set_beside_the_papers_as_comparable():
    from rich.console import Console

    from merbench.report import reported_table
    from merbench.tables import print_table
    from result_samples import minimal_result

    reported = [{"dataset": "megc2019", "protocol": "megc2019", "metric": "uf1", "value": 73.53, "source": "Paper"}]

    def shown(summary):
        console = Console(width=80, record=True, force_terminal=False)
        print_table(console, reported_table(minimal_result(dataset="megc2019", protocol="megc2019", reported=reported,
                                                          dataset_summary=summary)))
        return " ".join(console.export_text().split())

    partial = shown({"official_list": {"listed": 442, "found": 14}})
    assert "measured on 14/442" in partial
    assert "Measured on 14 of the 442 samples of the official list (the rest are not in your copies): not comparable " \
           "with the reported scores" in partial
    whole = shown({"official_list": {"listed": 442, "found": 442}})
    assert "measured on" not in whole and "not comparable" not in whole and " measured " in whole
    from merbench.compare import build_comparison
    from merbench.export import to_html

    result = minimal_result(dataset="megc2019", protocol="megc2019", reported=reported,
                            dataset_summary={"official_list": {"listed": 442, "found": 14}})
    page = " ".join(to_html(build_comparison([result]), [result]).split())
    assert "measured on 14/442" in page and "Measured on 14 of the 442 samples of the official list" in page


def test_a_reported_cell_under_a_leaky_protocol_is_marked_in_the_terminal_comparison():
    from rich.console import Console

    from merbench.compare import build_comparison, comparison_table
    from merbench.tables import print_table
    from result_samples import minimal_result

    reported = [{"dataset": "d", "protocol": "loso", "metric": "uf1", "value": 99.1, "source": "Paper, Table 1"}]
    leaky = minimal_result(run_id="20250611-000001-000001", reported=reported, subject_independent=False)
    console = Console(width=80, record=True, force_terminal=False)
    print_table(console, comparison_table(build_comparison([leaky])))
    row = next(line for line in console.export_text().splitlines() if line.startswith("m "))
    assert row.split()[-2:] == ["99.10", "⚠"]


def test_the_comparison_legend_names_only_the_markers_the_table_holds():
    from merbench.compare import build_comparison, comparison_table
    from result_samples import minimal_result

    plain = comparison_table(build_comparison([minimal_result(run_id="20250611-000001-000001")]))
    assert "best per column" not in (plain.caption or "") and "⚠" not in (plain.caption or "")
    assert "Reported" not in (plain.caption or "")
    reported = [{"dataset": "d", "protocol": "loso", "metric": "uf1", "value": 60.0, "source": "Paper"}]
    two = build_comparison([minimal_result(run_id="20250611-000001-000001", model="a", subject_independent=False),
                            minimal_result(run_id="20250611-000002-000002", model="b", reported=reported)])
    caption = comparison_table(two).caption
    assert "*: best per column" in caption and "⚠: leakage warning" in caption and "Reported:" in caption


def test_a_score_on_a_derived_list_or_other_folds_or_classes_is_not_set_beside_the_papers_as_comparable():
    """The measured row beside a paper's scores says when the run changed what is scored: the derived sample list,
    the protocol's folds (2 instead of the paper's 10) or the class set."""
    from rich.console import Console

    from merbench.report import reported_table
    from merbench.tables import print_table
    from result_samples import minimal_result

    reported = [{"dataset": "samm", "protocol": "sample-10fold", "metric": "accuracy", "value": 99.73,
                 "source": "Paper"}]

    def shown(**changes):
        console = Console(width=80, record=True, force_terminal=False)
        fields = {"dataset": "samm", "protocol": "sample-10fold", "reported": reported, "subject_independent": False,
                  **changes}
        print_table(console, reported_table(minimal_result(**fields)))
        return " ".join(console.export_text().split())

    changed = shown(settings_changed=["dataset.classes=3", "engine.epochs=5", "protocol.n_splits=2"])
    assert "measured*" in changed
    assert "* Measured with dataset.classes=3, protocol.n_splits=2: other samples, classes or folds than the " \
           "protocol the paper reports, so not comparable with its scores" in changed
    assert "(docs/leakage.md). * Measured with" in changed and ".." not in changed
    derived = shown(dataset="megc2019", protocol="megc2019", dataset_summary={"list": "derived"},
                    reported=[{"dataset": "megc2019", "protocol": "megc2019", "metric": "uf1", "value": 73.53,
                               "source": "Paper"}])
    assert "measured*" in derived and "Measured with dataset.list=derived" in derived
    plain = shown(settings_changed=["engine.epochs=5"])
    assert "measured*" not in plain and "Measured with" not in plain and " measured " in plain


def test_a_cross_dataset_runs_table_says_which_domain_trained_and_which_tested():
    from rich.console import Console

    from merbench.report import result_table
    from merbench.tables import print_table
    from result_samples import minimal_result

    crossed = minimal_result(protocol="cross-dataset", n_samples=24, n_subjects=4,
                             config={"protocol": "cross-dataset",
                                     "options": {"protocol": {"train": "synthetic-1", "test": "synthetic-2"}}},
                             folds=[{"fold": 0, "test_subjects": ["s3", "s4"], "n_test": 12,
                                     "metrics": {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}}])
    console = Console(width=80, record=True, force_terminal=False)
    print_table(console, result_table(crossed))
    text = " ".join(console.export_text().split())
    assert "24 clips, 4 subjects · trained on synthetic-1, tested on synthetic-2 (12 clips)" in text, text


def test_a_store_of_unfinished_runs_only_says_so_and_how_to_go_on(run_cli, monkeypatch, tmp_path):
    from interrupting import stopped_after_folds

    store = tmp_path / "unfinished.sqlite"
    stopped, _ = stopped_after_folds(run_cli, monkeypatch, ["run", "--model", "lbptop-svm", "--dataset", "synthetic",
                                                            "--profile", "quick", "--quiet", "--store", str(store)], 1)
    assert stopped.code == 130, stopped.err
    for command in (["compare"], ["report", "--output", str(tmp_path / "r.md")]):
        refused = run_cli(*command, "--store", str(store))
        said = " ".join(refused.err.split())
        assert refused.code == 2 and "none of the store's 1 run is complete (1 interrupted)" in said, said
        assert "merbench run --resume ID" in said  # before: "no complete runs match", as of an empty store


@pytest.mark.parametrize("overlap, said", [
    (0, "not subject-independent by design (no fold happened to share a subject (0 of 2 folds), which another seed "
        "or dataset does not promise)"),
    (1, "not subject-independent (1 of 2 folds share subjects between training and test): scores are inflated"),
])
def test_compare_words_a_sample_level_run_by_what_its_folds_shared(overlap, said):
    """"0 of 3 folds share subjects ...: scores are inflated" contradicted itself; run and show worded it right."""
    from merbench.compare import _leakage_warnings
    from result_samples import minimal_result

    result = minimal_result(subject_independent=False, protocol="sample-10fold",
                            leakage={"subject_overlap_folds": overlap, "clip_overlap_folds": 0,
                                     "selection_uses_test_data": False, "normalisation_uses_test_data": False})
    assert _leakage_warnings(result) == [said]
