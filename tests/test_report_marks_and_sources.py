"""What a comparison's exports say beside the measured scores: a paper's score under a leaky protocol marked † in
every table (md and LaTeX as well as the terminal and HTML), where the reported scores come from, the published
score's decimals, the settings every run changed in each csv record, and the names of rows in notes, figures and
hints (``merbench.compare``, ``merbench.export``, ``merbench.figures``, ``merbench.outputs``, ``merbench info``)."""

from __future__ import annotations

import csv
import io
import json
import shlex
from pathlib import Path

import pytest

from merbench.compare import build_comparison, comparison_table
from merbench.export import to_csv, to_json, to_latex, to_markdown
from result_samples import minimal_result

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)
SOURCE = "Talib et al., IEEE Access 2025 (abstract; F1 averaging not stated)"


def _reported(value: float, metric: str = "uf1", protocol: str = "loso", source: str = SOURCE) -> list[dict]:
    return [{"dataset": "d", "protocol": protocol, "metric": metric, "value": value, "source": source}]


def _leaky_and_honest():
    """A run under a protocol that is not subject-independent whose paper reported 99.4, and an honest one."""
    leaky = minimal_result(run_id="20250611-000001-000001", model="convmixer", protocol="sample-10fold",
                           subject_independent=False, reported=_reported(99.4, protocol="sample-10fold"))
    honest = minimal_result(run_id="20250611-000002-000002", model="ststnet",
                            reported=_reported(73.53, source="Liong et al., FG 2019"))
    return leaky, honest


def _row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.lstrip("| ").startswith(name))


# ------------------------------------------------------------------ 1: md and LaTeX mark the leaky reported score


def test_md_and_latex_mark_a_reported_score_under_a_leaky_protocol_as_compare_and_html_do():
    leaky, honest = _leaky_and_honest()
    comparison = build_comparison([leaky, honest])
    markdown = to_markdown(comparison)
    assert _row(markdown, "convmixer").split("|")[3].strip() == "99.40 †", markdown
    assert _row(markdown, "ststnet").split("|")[5].strip() == "73.53", "an honest protocol's score is not marked"
    latex = to_latex(comparison)
    assert _row(latex, "convmixer").split("&")[2].strip() == r"99.40 $^\dagger$", latex
    assert r"73.53 \\" in _row(latex, "ststnet")


def test_md_latex_and_the_terminal_name_where_the_reported_scores_come_from():
    leaky, honest = _leaky_and_honest()
    comparison = build_comparison([leaky, honest])
    markdown = " ".join(to_markdown(comparison).split())
    assert "F1 averaging not stated" in markdown and "Liong et al., FG 2019" in markdown
    assert "† on a reported score: the paper used a protocol that is not subject-independent" in markdown
    latex = to_latex(comparison)
    assert any(line.endswith("\\par") and "Talib et al., IEEE Access 2025" in line for line in latex.splitlines())
    caption = str(comparison_table(comparison).caption)
    assert "Talib et al., IEEE Access 2025" in caption and "Liong et al., FG 2019" in caption
    assert "⚠ on a reported score" in caption
    honest_only = build_comparison([honest])
    assert "on a reported score" not in to_markdown(honest_only), "the mark is explained only where it is used"


# ------------------------------------------------------------------ 3: the published decimals, without float noise


def test_a_reported_score_keeps_its_published_decimals_and_its_fraction_has_no_float_noise():
    ststnet = minimal_result(run_id="20250611-000001-000001", model="ststnet", reported=_reported(76.05, "uar"))
    comparison = build_comparison([ststnet], metric="uar")
    assert "| 76.05 |" in to_markdown(comparison), "the paper's 76.05, not the binary float's 76.0"
    assert r"& 76.05 \\" in to_latex(comparison)
    table = comparison_table(comparison)
    assert table.rows[0][0][-1] == "76.05"
    scores = {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5, "macro_f1": 0.5}
    casme = minimal_result(run_id="20250611-000002-000002", model="convmixer", reported=_reported(99.4, "f1"),
                           pooled=scores, fold_mean=scores, fold_std={key: 0.0 for key in scores},
                           folds=[{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores}
                                  for i in range(2)])
    f1 = build_comparison([casme], metric="macro_f1")
    record = next(csv.DictReader(io.StringIO(to_csv(f1))))
    assert record["reported"] == "0.994", record["reported"]
    assert json.loads(to_json(f1))["rows"][0]["reported"] == 0.994
    from merbench.html_report import render_report

    page = render_report(f1, [casme], draw=lambda result, metric: (PNG, PNG))
    assert 'data-sort="0.994" class="reported">99.40</td>' in page


def test_a_reported_score_rounds_as_a_decimal():
    from merbench.compare import reported_pct

    assert reported_pct(0.57845) == "57.85" and reported_pct(0.7605) == "76.05" and reported_pct(None) == "—"


# ------------------------------------------------------------------ 2: csv records carry every setting of the run


def _configured(run_id: str, model: str, **sets):
    from merbench.config import resolve_config
    from merbench.metrics import METRIC_KEYS
    from merbench.registry import get_registry

    config = resolve_config(get_registry(), model=model, dataset="synthetic", profile="quick", seed=0,
                            protocol="subject-10fold",
                            sets={key.replace("__", "."): value for key, value in sets.items()}).to_dict()
    scores = {key: 0.5 for key in METRIC_KEYS}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores} for i in range(2)]
    return minimal_result(run_id=run_id, model=model, dataset="synthetic", protocol="subject-10fold", seed=0,
                          profile="quick", config=config, pooled=scores, fold_mean=scores,
                          fold_std={key: 0.0 for key in scores}, folds=folds)


def test_every_csv_record_carries_the_settings_every_compared_run_changed():
    from merbench.registry import get_registry
    from merbench.run_settings import changed_settings_of

    results = [_configured("20250611-000001-000001", "ststnet", engine__epochs=2, dataset__subjects=6),
               _configured("20250611-000002-000002", "offapexnet", engine__epochs=2, dataset__subjects=6,
                           model__dropout=0.1)]
    comparison = build_comparison(results, settings=changed_settings_of(results, get_registry()))
    assert comparison.common_settings == ("dataset.subjects=6", "engine.epochs=2")
    rows = {row["run_id"]: row["settings"] for row in csv.DictReader(io.StringIO(to_csv(comparison)))}
    assert rows == {"20250611-000001-000001": "dataset.subjects=6; engine.epochs=2",
                    "20250611-000002-000002": "dataset.subjects=6; engine.epochs=2; model.dropout=0.1"}
    alone = build_comparison(results[1:], settings=changed_settings_of(results[1:], get_registry()))
    assert next(csv.DictReader(io.StringIO(to_csv(alone))))["settings"] == rows["20250611-000002-000002"], \
        "a run's record says the same whatever it is compared with"


# ------------------------------------------------------------------ 4: the mkdir hint can be pasted


def test_the_mkdir_hint_quotes_a_folder_with_a_space(run_cli, tmp_path):
    folder = tmp_path / "no dir"
    result = run_cli("report", "--output", str(folder / "x.md"), "--store", str(tmp_path / "runs.sqlite"))
    assert result.code == 2
    hint = result.err[result.err.index("(mkdir -p ") + 1:result.err.rindex(")")]
    assert shlex.split(hint) == ["mkdir", "-p", str(folder)], hint


# ------------------------------------------------------------------ 5: figures name the row


def _titles(monkeypatch) -> list[str]:
    """Collect the title of every figure drawn (``merbench.figures._png``), which then gives a tiny PNG."""
    import merbench.figures as figures

    titles: list[str] = []

    def spy(draw, *args):
        plt = figures._pyplot()
        figure = draw(plt, *args)
        titles.append(figure.axes[0].get_title())
        plt.close(figure)
        return PNG

    monkeypatch.setattr(figures, "_png", spy)
    return titles


def _two_rows_of_one_model():
    plain = minimal_result(run_id="20250611-000001-000001", model="ststnet")
    other = minimal_result(run_id="20250611-000002-000002", model="ststnet")
    return [plain, other], [("dataset.manifest=labels.csv",), ("dataset.manifest=math.csv",)]


def test_the_figures_of_two_rows_of_one_model_are_titled_with_their_rows(monkeypatch, tmp_path):
    from merbench.figures import write_figures
    from merbench.html_report import render_report

    titles = _titles(monkeypatch)
    results, settings = _two_rows_of_one_model()
    comparison = build_comparison(results, settings=settings)
    rows = {id(run): row for (row, _), run in comparison.runs.items()}
    write_figures(results, tmp_path / "figures", "uf1", [rows[id(run)] for run in results])
    assert titles[0] == "ststnet (dataset.manifest=labels.csv)\nd · loso", titles
    assert titles[2].startswith("ststnet (dataset.manifest=math.csv)\nd · loso"), titles
    assert len(set(titles)) == 4
    del titles[:]
    render_report(comparison, results)  # the HTML report's figures too
    assert sum("(dataset.manifest=math.csv)" in title for title in titles) == 2, titles


def test_report_figures_are_titled_with_the_table_rows(run_cli, monkeypatch, tmp_path):
    from merbench.store import ResultStore

    titles = _titles(monkeypatch)
    results = [_configured("20250611-000001-000001", "ststnet"),
               _configured("20250611-000002-000002", "ststnet", model__dropout=0.3)]
    with ResultStore(tmp_path / "runs.sqlite") as store:
        for result in results:
            store.begin_run(result.config, 1, {}, run_id=result.run_id)
            store.finish_run(result.run_id, result)
    done = run_cli("report", "--store", str(tmp_path / "runs.sqlite"), "--figures", str(tmp_path / "figures"))
    assert done.code == 0, done.err
    assert sorted(titles) == ["ststnet (model.dropout=0.3)\nsynthetic · subject-10fold",
                              "ststnet (model.dropout=0.3)\nsynthetic · subject-10fold: UF1 per fold",
                              "ststnet · synthetic · subject-10fold",
                              "ststnet · synthetic · subject-10fold: UF1 per fold"], titles


def test_a_figure_of_a_run_alone_keeps_its_one_line_title():
    from merbench.figures import _title

    result = minimal_result(model="ststnet")
    assert _title(result) == _title(result, "ststnet") == "ststnet · d · loso"


# ------------------------------------------------------------------ 6: line breaks, sample std, info's leak mark


def test_a_setting_with_a_line_break_is_named_on_one_line_in_the_notes_and_the_latex_table():
    from merbench.escaping import note_text

    odd = minimal_result(run_id="20250611-000001-000001", model="ststnet", seed=0, subject_independent=False)
    other = minimal_result(run_id="20250611-000002-000002", model="ststnet", seed=5)
    comparison = build_comparison([odd, other], settings=[("dataset.manifest=nl\n\n\\end{table}.csv",), ()])
    notes = [note_text(note) for note in comparison.notes()] + comparison.warnings()  # notes escape data's backslashes
    assert any("dataset.manifest=nl  \\end{table}.csv) on" in note or "dataset.manifest=nl  \\end{table}.csv):" in note
               for note in notes), notes
    assert not any("\n" in note for note in notes), notes
    assert "(seed 0: ststnet (dataset.manifest=nl  \\end{table}.csv)" in note_text(comparison.seeds_note())
    body = to_latex(comparison).split(r"\midrule")[1].split(r"\bottomrule")[0]
    assert "\n\n" not in body and body.count(r"\\") == 2, body


def test_pooled_scores_over_seeds_say_their_std_is_the_sample_std():
    from merbench.html_report import render_report

    scores = {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}
    seeded = minimal_result(run_id="seeded", model="ststnet", seed=0,
                            seeds=[{"seed": i, "pooled": scores, "fold_mean": scores, "fold_std": scores}
                                   for i in range(3)],
                            across_seeds={"n": 3, "mean": scores, "std": scores})
    comparison = build_comparison([seeded], stat="pooled")
    assert "sample std over seeds, n − 1" in comparison.description
    assert "sample std over seeds, n − 1" in to_markdown(comparison)
    page = render_report(comparison, [seeded], draw=lambda result, metric: (PNG, PNG))
    table = page[page.index("<h3>Pooled scores over 3 seeds</h3>"):]
    table = table[:table.index("</table>")]
    assert "the sample standard deviation over the seeds (n − 1)" in table


def test_info_marks_the_papers_scores_under_a_leaky_protocol(run_cli):
    result = run_cli("info", "convmixer")
    assert result.code == 0, result.err
    rows = [line for line in result.out.splitlines() if line.startswith(("samm ", "casme2 "))]
    assert len(rows) == 8 and all("sample-10fold ⚠" in row for row in rows), rows
    text = " ".join(result.out.split())
    assert "⚠ the protocol leaks (sample-10fold: clips of one subject in training and test)" in text
    assert "the paper's as well as measured ones, are inflated" in text
    honest = run_cli("info", "ststnet")
    assert "⚠" not in honest.out


@pytest.mark.parametrize("doc", ["report.md", "results.md"])
def test_the_docs_say_what_the_exports_now_carry(doc):
    text = " ".join((Path(__file__).resolve().parent.parent / "docs" / doc).read_text().split())
    assert {"report.md": "in the md and LaTeX tables as well", "results.md": "the settings every compared run "
            "changed included"}[doc] in text


def test_a_fold_mean_uf1_is_not_called_megc2019s_and_the_reported_note_says_the_paper_pooled():
    """The paper's UF1 is MEGC2019's, on predictions pooled over all folds; the default comparison cell is a mean
    of per-fold UF1s (much lower under LOSO with few clips per subject). The caption and the reported note say so,
    and --stat pooled keeps the MEGC2019 name."""
    from merbench.compare import build_comparison
    from result_samples import minimal_result

    reported = [{"dataset": "megc2019", "protocol": "megc2019", "metric": "uf1", "value": 73.53, "source": "a paper"}]
    result = minimal_result(dataset="megc2019", protocol="megc2019", reported=reported)
    fold = build_comparison([result], metric="uf1", stat="fold")
    assert "MEGC2019 unweighted F1" not in fold.description and "per fold" in fold.description
    assert "pooled over all folds; the measured cells here are fold means" in (fold.reported_note("†") or "")
    pooled = build_comparison([result], metric="uf1", stat="pooled")
    assert pooled.description.startswith("UF1 (MEGC2019 unweighted F1) on predictions pooled over all folds")
    assert "fold means" not in (pooled.reported_note("†") or "")


def test_latex_lists_why_a_cell_is_marked_as_text_under_the_table():
    """The reasons stood only in % comments, so the compiled table showed a dagger that nothing explained."""
    leaky, honest = _leaky_and_honest()
    latex = to_latex(build_comparison([leaky, honest]))
    body = latex[latex.index(r"\end{tabular}"):latex.index(r"\end{table}")]
    reasons = [line for line in body.splitlines() if line.startswith(r"$^\dagger$ ")]
    assert reasons and all(line.endswith(r"\par") for line in reasons), body
    assert not any(line.startswith("%") for line in latex.splitlines())
