"""``merbench leakage`` end to end (quick profile, tiny data), its summary, and where the summary is rendered."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from merbench.report import leakage_table
from merbench.tables import print_table

TINY = ["dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "protocol.pairs=2", "engine.epochs=3"]
BOX = set("┏┃━│└┡╇┳")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One quick study with one seed, stored and written with --json: (folder, exit code, summary, stdout)."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("leakage")
    summary, store = folder / "leakage.json", folder / "results.sqlite"
    stdout = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(stdout):
        code = main(["leakage", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--seeds", "1",
                     "--quiet", "--store", str(store), "--json", str(summary), "--set", *TINY])
    return folder, code, json.loads(summary.read_text()), stdout.getvalue()


def test_every_variant_runs_and_is_flagged(study):
    _, code, summary, _ = study
    assert code == 0
    variants = {v["name"]: v for v in summary["variants"]}
    assert list(variants) == ["honest", "sample-10fold", "frame-10fold", "select_on=test", "normalise_on=all"]
    assert variants["honest"]["leaks"] == [] and variants["honest"]["inflation"] is None
    for name, variant in variants.items():
        assert variant["leaks"] == variant["expected_leaks"], name
        assert len(variant["runs"]) == 1 and variant["runs"][0]["seed"] == 0
        if name != "honest":
            gain = variant["inflation"]
            assert gain["low"] <= gain["uf1"] <= gain["high"]
    assert variants["frame-10fold"]["n_samples"] == 2 * variants["honest"]["n_samples"]
    assert summary["bootstrap"]["resamples"] == 1000 and summary["protocol"] == "subject-10fold"


def test_the_runs_are_in_the_store_and_show_their_leak(study, run_cli):
    folder, _, summary, _ = study
    store = str(folder / "results.sqlite")
    shown = {}
    for variant in summary["variants"]:
        run_id = variant["runs"][0]["run_id"]
        result = run_cli("show", run_id, "--store", store, "--json", str(folder / f"{run_id}.json"))
        assert result.code == 0
        shown[variant["name"]] = (result.out, json.loads((folder / f"{run_id}.json").read_text()))
    assert "Warning: leakage" not in shown["honest"][0]
    assert "Warning: leakage (selection)" in shown["select_on=test"][0]
    assert "Warning: leakage (normalisation)" in shown["normalise_on=all"][0]
    assert "Warning: leakage (subjects, clips)" in shown["frame-10fold"][0]
    frames = shown["frame-10fold"][1]
    assert frames["leakage"]["clip_overlap_folds"] > 0 and all("#apex" in row["id"] and row["clip"] for row in frames["predictions"])
    assert shown["select_on=test"][1]["leakage"]["selection_uses_test_data"] is True
    assert all(fold["selected_on"] == "test" for fold in shown["select_on=test"][1]["folds"])
    assert shown["honest"][1]["leakage"]["leaks"] == []


def test_piped_table_is_plain_and_whole(study):
    _, _, summary, stdout = study
    assert not BOX & set(stdout)
    lines = stdout.splitlines()
    assert lines[0].startswith("Leakage: ststnet on synthetic") and "What leaks" in lines[1]
    assert lines[1].split()[:2] == ["Variant", "UF1"] and lines[1].rstrip().endswith("What leaks"), "docs/leakage.md"
    for variant in summary["variants"]:
        assert any(line.startswith(variant["name"] + " ") for line in lines)
    assert "epoch chosen on the test fold" in stdout and "ΔUF1 [95 % CI]" in stdout


def test_table_fits_80_columns_with_what_leaks(study):
    _, _, summary, _ = study
    console = Console(width=80, file=io.StringIO(), force_terminal=True, color_system=None)
    print_table(console, leakage_table(summary))
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "What leaks" in text and "Not shown at this width" not in text
    header = next(line for line in text.splitlines() if "Variant" in line)
    assert header.index("Variant") < header.index("What leaks") < header.index(" UF1") < header.index("ΔUF1"), \
        "docs/leakage.md gives this order"
    for variant in summary["variants"]:
        assert variant["name"] in text


def test_report_renders_the_summary_as_text_md_json_and_html(study, run_cli):
    folder, _, summary, _ = study
    path = str(folder / "leakage.json")
    text = run_cli("report", "--leakage", path)
    assert text.code == 0 and "select_on=test" in text.out
    for suffix in ("md", "json", "html"):
        target = folder / f"report.{suffix}"
        assert run_cli("report", "--leakage", path, "--output", str(target)).code == 0
    markdown = (folder / "report.md").read_text()
    # protocol.pairs=2 reached frame-10fold alone (subject-10fold has no pairs): its row says so, the title cannot
    assert "| `frame-10fold` † | frames of a clip in train and test; ran with protocol.pairs=2 |" in markdown
    assert "|---|---|---:|---:|---:|---:|" in markdown and "† a leaky variant: its scores are inflated" in markdown
    assert json.loads((folder / "report.json").read_text()) == summary
    page = (folder / "report.html").read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page and "frame-10fold †" in page
    assert "src=\"http" not in page and "<script src" not in page
    refused = run_cli("report", "--leakage", path, "--output", str(folder / "x.csv"))
    assert refused.code == 2 and "md, json, html" in refused.err


@pytest.mark.parametrize("selection", [["--model", "ststnet"], ["--profile", "quick"]])
def test_report_leakage_refuses_options_that_select_stored_runs(study, run_cli, selection):
    folder, _, _, _ = study
    refused = run_cli("report", "--leakage", str(folder / "leakage.json"), *selection)
    assert refused.code == 2 and f"drop {selection[0]} (they select stored runs)" in refused.err


@pytest.mark.parametrize("options", [["--output", "-"], ["--output", "-", "--format", "csv"],
                                     ["--output", "study.txt"]])
def test_report_leakage_offers_only_the_formats_it_writes(study, run_cli, options):
    folder, _, _, _ = study
    refused = run_cli("report", "--leakage", str(folder / "leakage.json"), *options)
    assert refused.code == 2 and ("md|json|html" in refused.err or "md, json, html" in refused.err)
    assert "csv" not in refused.err.replace("--format csv", "").replace("not csv", "") and "latex" not in refused.err


def test_report_refuses_a_file_that_is_not_a_summary(study, run_cli, tmp_path):
    other = tmp_path / "result.json"
    other.write_text(json.dumps({"model": "m"}))
    result = run_cli("report", "--leakage", str(other))
    assert result.code == 2 and "not a leakage summary" in result.err


@pytest.mark.parametrize("damage, said", [
    (lambda s: s.pop("model"), "model is missing"),
    (lambda s: s["variants"][1].update(uf1="0.7"), 'variants[1].uf1 is not a number ("0.7")'),
    (lambda s: s["variants"][1].update(inflation={"uf1": 0.1}), "variants[1].inflation.low is missing"),
    (lambda s: s["bootstrap"].update(confidence="x"), 'bootstrap.confidence is not a number ("x")'),
    (lambda s: s.update(seeds=3), "seeds is not a list (3)"),
    (lambda s: s.update(left_out=5), "left_out is not a list (5)"),
    (lambda s: s["variants"][2].update(leaks=5), "variants[2].leaks is not a list (5)"),
    (lambda s: s["variants"][0]["runs"][0].update(seed="a"), 'variants[0].runs[0].seed is not a whole number ("a")'),
    (lambda s: s["variants"].insert(1, 7), "variants[1] is not an object"),
], ids=["no-model", "text-score", "half-inflation", "confidence", "seeds", "left-out", "leaks", "run-seed", "variant"])
def test_report_refuses_a_damaged_summary_in_one_message(study, run_cli, tmp_path, damage, said):
    """A summary with the right kind but damaged contents once gave a KeyError/TypeError traceback."""
    folder = study[0]
    summary = json.loads((folder / "leakage.json").read_text())
    damage(summary)
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(summary))
    result = run_cli("report", "--leakage", str(damaged))
    assert result.code == 2 and said in " ".join(result.err.split()) and "Traceback" not in result.err, result.err


def test_readme_table_renders_from_a_stored_summary(study, tmp_path):
    from merbench.errors import UsageError
    from merbench.rendered_tables import render_text

    folder, _, summary, _ = study
    document = "intro\n<!-- merbench:table leakage leakage.json -->\nSTALE TABLE\n<!-- /merbench:table -->\n"
    rendered = render_text(document, folder)
    assert "<!-- generated from leakage.json: do not edit by hand -->" in rendered and "STALE TABLE" not in rendered
    assert "| **honest** (subject-10fold) | nothing |" in rendered
    honest = summary["variants"][0]
    assert f"| {100 * honest['uf1']:.1f} |" in rendered
    assert render_text(rendered, folder) == rendered  # stable: a --check finds nothing stale
    with pytest.raises(UsageError, match="summary missing.json"):
        render_text(document.replace("leakage.json", "missing.json"), folder)


@pytest.mark.parametrize("extra, message", [
    (["--protocol", "sample-10fold"], "must not leak"),
    (["--set", "engine.select_on=test"], "must not leak"),
    (["--seeds", "0"], "--seeds 0"),
])
def test_a_leaky_honest_run_is_refused_before_anything_runs(extra, message, run_cli, tmp_path):
    store = tmp_path / "results.sqlite"
    result = run_cli("leakage", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--store", str(store), *extra)
    assert result.code == 2 and message in result.err
    assert not store.exists()


def test_compare_and_html_report_flag_a_leaky_run(study, run_cli):
    from merbench.compare import build_comparison
    from merbench.html_report import render_report
    from merbench.result import RunResult

    folder, _, summary, _ = study
    results = {}
    for variant in summary["variants"][3:]:  # select_on=test, normalise_on=all
        run_id = variant["runs"][0]["run_id"]
        assert run_cli("show", run_id, "--store", str(folder / "results.sqlite"), "--json", str(folder / "r.json")).code == 0
        results[variant["name"]] = json.loads((folder / "r.json").read_text())
    for name, warning, words in (("select_on=test", "model selection used test data", "best epoch chosen on the test fold"),
                                 ("normalise_on=all", "normalisation statistics included test samples",
                                  "normalisation statistics include test samples")):
        result = results[name]
        typed = RunResult.from_dict(result)
        comparison = build_comparison([typed], "uf1", "fold")
        assert any(warning in text for text in comparison.warnings())
        page = render_report(comparison, [typed], draw=lambda run, metric: (b"", b""))
        assert f'<p class="warning">† Leakage: {words}.' in page


def test_stored_reuses_the_finished_runs_of_the_same_study(study, run_cli, tmp_path):
    folder, _, summary, _ = study
    again = tmp_path / "again.json"
    result = run_cli("leakage", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--seeds", "1",
                     "--quiet", "--store", str(folder / "results.sqlite"), "--json", str(again), "--stored",
                     "--set", *TINY)
    assert result.code == 0, result.err
    assert result.err.count(": stored run ") == 5 and "Run " not in result.err  # nothing ran again
    reused = json.loads(again.read_text())
    assert [v["uf1"] for v in reused["variants"]] == [v["uf1"] for v in summary["variants"]]
    assert result.err.count("reused (--stored; trained with this software)") == 5
    assert [entry["other_software"] for entry in reused["reused"]] == [[]] * 5
    runs_took = sum(run["seconds"] for variant in summary["variants"] for run in variant["runs"])
    assert reused["seconds_of_runs"] == pytest.approx(runs_took, abs=0.2) and summary["reused"] == []
    shown = reused["seconds_of_runs"]  # the line prints the summary's figure; runs_took may round the other way
    assert f"in {shown:.0f} s of runs (5 of 5 reused from the store; this command" in " ".join(result.err.split())


def test_a_reused_run_trained_with_other_software_is_named_and_counted(study, run_cli, tmp_path):
    """As grid and regress --stored say: a stored run of another torch does not measure this code."""
    import torch
    from result_samples import store_trained_with

    folder, _, _, _ = study
    store = store_trained_with(folder / "results.sqlite", tmp_path / "results.sqlite", "1.0.0")
    target = tmp_path / "again.json"
    result = run_cli("leakage", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--seeds", "1",
                     "--quiet", "--store", str(store), "--json", str(target), "--stored", "--set", *TINY)
    assert result.code == 0, result.err
    said = " ".join(result.err.split())
    assert said.count("trained with other software than this study") == 5
    assert f"Stored → now: torch 1.0.0 → {torch.__version__}" in said
    assert "5 of 5 reused from the store, 5 of them trained with other software" in said
    assert json.loads(target.read_text())["reused"][0]["other_software"] == [f"torch 1.0.0 → {torch.__version__}"]


def test_an_interrupted_study_says_how_to_continue(run_cli, tmp_path, monkeypatch):
    import merbench.recording as recording

    finished = []
    original = recording.run_recorded

    def stop_on_the_third(*args, **kwargs):
        if len(finished) == 2:
            raise KeyboardInterrupt
        finished.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(recording, "run_recorded", stop_on_the_third)
    result = run_cli("leakage", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--seeds", "1",
                     "--quiet", "--store", str(tmp_path / "s.sqlite"), "--set", *TINY)
    assert result.code == 130
    assert "2 of 5 runs of the study finished and are stored: run the same command with --stored to reuse them" in \
        " ".join(result.err.split())


def test_a_cross_dataset_study_gives_each_run_its_protocol_options(run_cli, tmp_path):
    summary = tmp_path / "cross.json"
    result = run_cli("leakage", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--protocol", "cross-dataset", "--json", str(summary), "--set", "dataset.domains=2",
                     "protocol.train=synthetic-1", "protocol.test=synthetic-2", *TINY)
    assert result.code == 0, result.err
    variants = {v["name"]: v for v in json.loads(summary.read_text())["variants"]}
    assert [v["protocol"] for v in variants.values()] == ["cross-dataset", "sample-10fold", "frame-10fold",
                                                          "cross-dataset", "cross-dataset"]
    assert "pools the domains" in variants["sample-10fold"]["note"] and "note" not in variants["normalise_on=all"]
    assert "pools the domains" in " ".join(result.out.split())


def test_a_dataset_of_images_runs_the_study_without_frame_10fold_and_says_so(run_cli, tmp_path):
    # frame-10fold (several frame pairs per clip) refused the whole study on a dataset of precomputed images.
    import realtrees as rt

    root = tmp_path / "images"
    root.mkdir()
    rt.build_manifest_images(root, subjects=6, per_subject=4)
    summary_path = tmp_path / "study.json"
    result = run_cli("leakage", "--model", "ststnet", "--dataset", "manifest", "--root", str(root), "--profile", "quick",
                     "--set", "dataset.manifest=labels.csv", "protocol.n_splits=3", "--no-store", "--quiet",
                     "--json", str(summary_path))
    assert result.code == 0, result.err
    summary = json.loads(summary_path.read_text())
    assert [variant["name"] for variant in summary["variants"]] == [
        "honest", "sample-10fold", "select_on=test", "normalise_on=all"]
    assert [item["name"] for item in summary["left_out"]] == ["frame-10fold"]
    said = "Not run: frame-10fold (dataset 'manifest' gives one precomputed image per sample"
    assert said in " ".join(result.out.split())
    rendered = tmp_path / "study.md"
    assert run_cli("report", "--leakage", str(summary_path), "--output", str(rendered)).code == 0
    assert "Not run: `frame-10fold` (dataset 'manifest' gives one precomputed image" in rendered.read_text()


def test_each_rows_inflation_is_the_difference_of_the_uf1_columns_as_printed():
    """The committed convmixer study: normalise_on=all's UF1 68.4 against the honest 68.8 once showed -0.5 (the
    unrounded difference) beside columns that say -0.4. Read back from what the README and the plain table print."""
    from merbench.leakage_summary import load_summary
    from merbench.rendered_tables import render_leakage

    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "benchmarks" / "leakage").glob("*.json")):
        summary = load_summary(path)
        readme = [[cell.strip() for cell in line.strip("|").split("|")] for line in
                  render_leakage(summary, path.name).splitlines() if line.startswith("| ") and "---" not in line][1:]
        plain = [line.split() for line in leakage_table(summary).plain_lines()[2:2 + len(summary["variants"])]]
        for rows, uf1_at, delta_at in ((readme, 2, 5), (plain, 1, 4)):
            honest = float(rows[0][uf1_at])
            for row in rows[1:]:
                delta = float(row[delta_at].split()[0])
                assert round(float(row[uf1_at]) - honest, 1) == delta, (path.name, row)


def test_report_format_takes_the_table_formats_every_command_takes(run_cli, tmp_path):
    """`report --leakage F --format plain` was refused: report's --format named only file formats."""
    shipped = str(Path(__file__).resolve().parent.parent / "benchmarks" / "leakage" / "synthetic-default-ststnet.json")
    boxed = run_cli("report", "--leakage", shipped, "--format", "table")
    plain = run_cli("report", "--leakage", shipped, "--format", "plain")
    assert boxed.code == plain.code == 0, boxed.err + plain.err
    assert "│" in boxed.out and "│" not in plain.out and "frame-10fold" in plain.out
    written = run_cli("report", "--leakage", shipped, "--format", "plain", "--output", str(tmp_path / "leak.md"))
    assert written.code == 0, written.err
    assert (tmp_path / "leak.md").read_text().startswith("| variant | what leaks |"), "md, from the suffix"


def test_leakage_takes_executor_as_run_grid_and_tune_do(run_cli):
    """`leakage --executor ray` was refused as an unknown option; it sets executor.name for every variant."""
    from merbench.config import with_executor_flag
    from merbench.leakage import plan_study
    from merbench.registry import get_registry

    study = plan_study(get_registry(), model="ststnet", dataset="synthetic", protocol=None, profile="quick", seed=None,
                       seeds=1, device="cpu", root=None, epochs=None, sets=with_executor_flag({}, "ray"))
    assert {config.sections["executor"]["name"] for _, config in study.configs()} == {"ray"}
    clash = run_cli("leakage", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--no-store",
                    "--executor", "ray", "--set", "executor.name=local")
    assert clash.code == 2 and "--executor ray and --set executor.name=local disagree" in clash.err


def test_report_leakage_shows_control_characters_of_the_summary_as_written(study, run_cli, tmp_path):
    folder, _, summary, _ = study
    odd = json.loads(json.dumps(summary))
    odd["model"] = "esc\x1b[31mRED\x07\nline"
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(odd))
    written = run_cli("report", "--leakage", str(path), "--output", str(tmp_path / "odd.md"))
    line = next(text for text in written.err.splitlines() if text.startswith("Leakage study of"))
    assert written.code == 0 and "\x1b" not in written.err and "\x07" not in written.err, repr(written.err)
    assert line.startswith("Leakage study of esc\\x1b[31mRED\\x07\\x0aline on synthetic written to"), repr(line)
