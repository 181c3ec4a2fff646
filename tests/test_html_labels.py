"""What the HTML report, the terminal tables and the figures name: the seed a ``--seeds N`` run's sections show, the
comparison row of each run, what UF1 averages over, and the leak of a paper's score under a leaky protocol."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from result_samples import minimal_result

DOCS = Path(__file__).resolve().parent.parent / "docs"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)


def _scores(value: float) -> dict[str, float]:
    return {"accuracy": value, "uf1": value, "uar": value}


def _seeded(**changes):
    """A run repeated over 3 seeds (0, 1, 2) whose first seed scored 0.25 and whose seeds average 0.5."""
    return minimal_result(
        run_id="seeded", model="ststnet", seed=0, pooled=_scores(0.25), fold_mean=_scores(0.25),
        seeds=[{"seed": i, "pooled": _scores(0.25 * (i + 1)), "fold_mean": _scores(0.25 * (i + 1)),
                "fold_std": _scores(0.0)} for i in range(3)],
        across_seeds={"n": 3, "mean": _scores(0.5), "std": _scores(0.25)}, **changes)


def _page(results, settings=None) -> str:
    from merbench.compare import build_comparison
    from merbench.html_report import render_report

    return render_report(build_comparison(results, settings=settings), results, draw=lambda result, metric: (PNG, PNG))


def _section(text: str, start: str, end: str = "</section>") -> str:
    part = text[text.index(start):]
    return part[:part.index(end)]


# ------------------------------------------------------------------ a --seeds N run: which seed each section shows


def test_every_section_of_a_seeds_run_that_shows_its_first_seed_says_so():
    reported = [{"dataset": "d", "protocol": "loso", "metric": "uf1", "value": 70.0, "source": "Paper"}]
    text = _page([_seeded(reported=reported), minimal_result(run_id="single", model="lbptop-svm")])
    label = "seed 0 (of 3 seeds)"
    datasets = _section(text, '<section id="datasets">')
    row = next(line for line in datasets.splitlines() if "ststnet" in line)
    assert label in row and '<td data-sort="0.25">25.0</td>' in row  # the first seed's pooled score, labelled
    assert "lbptop-svm" in datasets and datasets.count(label) == 1  # a run of one seed has no label
    run = _section(text, "<h2>ststnet on d")
    assert f"<h3>Per fold · {label}</h3>" in run and f"<h3>Confusion matrix · {label}</h3>" in run
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", run)
    assert len(captions) == 2 and all(caption.endswith(label) for caption in captions)
    assert f'<td class="text">measured · {label}</td>' in run
    assert "<dt>seed</dt><dd>0, the first of 3 seeds (0, 1, 2)</dd>" in run
    assert "<h3>Pooled scores over 3 seeds</h3>" in run  # the one table of the run that covers every seed
    single = _section(text, "<h2>lbptop-svm on d")
    assert "seed" not in single.replace("<dt>seed</dt>", "")


def test_the_terminal_tables_of_a_seeds_run_that_show_its_first_seed_say_so():
    """``show`` printed the first seed's per-domain scores and its measured row beside the paper's with no word of
    which seed they are (the mean over the seeds differs), though docs/results.md says show labels them."""
    from merbench.report import per_domain_table, reported_table

    reported = [{"dataset": "d", "protocol": "loso", "metric": "uf1", "value": 70.0, "source": "Paper"}]
    domains = {"a": _scores(0.25), "b": _scores(0.25)}
    seeded = _seeded(reported=reported, protocol="loso", per_domain=domains)
    assert per_domain_table(seeded).title == "Per domain (pooled, seed 0 (of 3 seeds))"
    assert "Measured: the pooled scores of seed 0 (of 3 seeds); their mean over the seeds is in the seeds table." \
        in reported_table(seeded).caption
    single = minimal_result(reported=reported, protocol="loso", per_domain=domains)
    assert per_domain_table(single).title == "Per domain (pooled)" and "seed" not in reported_table(single).caption


def test_the_figures_of_a_seeds_run_name_its_seed_and_the_metric_as_the_captions_do():
    from merbench.figures import _draw_folds, _pyplot, _title

    assert _title(_seeded()).endswith("· seed 0 (of 3 seeds)")
    assert "seed" not in _title(minimal_result())
    plt = _pyplot()
    figure = _draw_folds(plt, _seeded(), "uf1")
    try:
        axes = figure.axes[0]
        assert axes.get_ylabel() == "UF1 (%)"  # not "uf1 (%)": the captions and tables say UF1
        assert axes.get_title().endswith("seed 0 (of 3 seeds): UF1 per fold")
        assert list(axes.get_xticks()) == [1, 2]  # whole fold numbers
    finally:
        plt.close(figure)


def test_a_leaky_runs_figures_carry_its_mark_and_an_honest_runs_none():
    """A figure is often shown on its own: a select_on=test run's once read as the honest run's title."""
    from merbench.figures import _title

    leaky = minimal_result(protocol="sample-10fold", subject_independent=False)
    assert _title(leaky).endswith("· sample-10fold · † leaks: subjects"), _title(leaky)
    assert "†" not in _title(minimal_result())


def test_the_docs_say_which_json_fields_of_a_seeds_run_are_its_first_seeds():
    rows = [line for line in (DOCS / "results.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    first = next(row for row in rows if "the first seed only" in row)
    for field in ("pooled", "fold_mean", "fold_std", "folds", "confusion_matrix", "predictions"):
        assert f"`{field}`" in first.split("|")[1], field
    for field in ("seeds", "across_seeds"):
        assert "every seed" in next(row for row in rows if row.startswith(f"| `{field}` |"))
    assert "seed 0 (of 3 seeds)" in (DOCS / "report.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------ UF1 per fold is not the fold's macro F1


def test_the_footer_defines_uf1_per_fold_over_the_classes_in_the_folds_true_labels():
    from merbench.metrics import classification_metrics

    # A fold that predicts a class it does not hold: its UF1 (over true classes) is not its macro F1.
    fold = classification_metrics([0, 0, 1, 1], [0, 2, 1, 1], 3)
    assert fold["uf1"] != pytest.approx(fold["macro_f1"])
    text = _page([minimal_result()])
    footer = text[text.index("<footer>"):text.index("</footer>")]
    uf1 = re.search(r"<li><b>UF1</b>: ([^<]*)</li>", footer).group(1)
    assert "macro F1)" not in uf1 and "that fold&#x27;s true labels" in uf1
    assert "classes present in the true labels" in uf1
    for page in DOCS.glob("*.md"):
        assert "fold's macro F1" not in page.read_text(encoding="utf-8"), page.name


# ------------------------------------------------------------------ every section names a run by its comparison row


def test_each_run_is_named_by_its_comparison_row_in_the_tables_navigation_and_headings():
    quick = minimal_result(run_id="q", model="lbptop-svm", profile="quick")
    default = minimal_result(run_id="p", model="lbptop-svm", profile="default")
    longer = minimal_result(run_id="e", model="lbptop-svm", profile="default", pooled=_scores(0.75))
    text = _page([quick, default, longer], settings=[(), (), ("engine.epochs=2",)])
    rows = ["lbptop-svm (profile=default)", "lbptop-svm (profile=default, engine.epochs=2)",
            "lbptop-svm (profile=quick)"]
    comparison = _section(text, '<section id="comparison">')
    assert [re.search(r'<td class="text">([^<]*)</td>', line).group(1)
            for line in comparison.splitlines() if line.startswith("<tr><td")] == rows
    nav = _section(text, "<nav>", "</nav>")
    datasets = _section(text, '<section id="datasets">')
    for row in rows:
        assert f">{row} on d · loso</a></li>" in nav
        assert re.search(rf'<a href="#run-\d">{re.escape(row)}</a></td>', datasets)
        assert f"<h2>{row} on d · loso</h2>" in text
        assert f'alt="confusion matrix of {row} on d · loso"' in text
    assert "3 runs: 1 model in 3 rows on 1 dataset" in text


def test_a_row_label_from_plugin_text_is_escaped_everywhere():
    hostile = minimal_result(model="m<b>[red]x[/]", profile="p<i>")
    text = _page([hostile, minimal_result(model="m<b>[red]x[/]", profile="q")])
    assert "<b>[red]" not in text and "<i>" not in text
    assert text.count("m&lt;b&gt;[red]x[/] (profile=p&lt;i&gt;)") >= 4  # comparison, per dataset, nav, heading


# ------------------------------------------------------------------ a paper's score under a leaky protocol


REPORTED = [
    {"dataset": "samm", "protocol": "sample-10fold", "metric": "uf1", "value": 99.73, "source": "Paper [red]<b>"},
    {"dataset": "samm", "protocol": "sample-10fold", "metric": "accuracy", "value": 97.3, "source": "Paper [red]<b>"},
    {"dataset": "d", "protocol": "loso", "metric": "uf1", "value": 70.0, "source": "Paper [red]<b>"},
]


def test_a_reported_score_under_a_leaky_protocol_is_marked_in_the_html():
    text = _page([minimal_result(reported=REPORTED)])
    table = _section(text, "<h3>Published scores for m vs measured here", "</table>")  # m cites no paper here
    leaky = next(line for line in table.splitlines() if "99.73" in line)
    honest = next(line for line in table.splitlines() if "70.00" in line)
    assert '<td class="text leak">sample-10fold †</td>' in leaky and "†" not in honest
    assert "† the protocol leaks (sample-10fold: clips of one subject in training and test)" in table
    assert "Paper [red]&lt;b&gt;" in table and "<b>†</b>" in _section(text, "<footer>", "</footer>")

    # In the comparison, the reported score beside a measured run under sample-10fold is marked as the run is.
    leaky_run = minimal_result(protocol="sample-10fold", subject_independent=False, dataset="samm", reported=REPORTED)
    comparison = _section(_page([leaky_run]), '<section id="comparison">')
    assert '<td data-sort="0.9973" class="reported leak">99.73 †</td>' in comparison


@pytest.mark.parametrize("terminal", [True, False])
def test_a_reported_score_under_a_leaky_protocol_is_marked_on_the_terminal(terminal):
    from rich.console import Console

    from merbench.report import reported_table
    from merbench.tables import print_table

    two_sources = REPORTED + [{"dataset": "casme2", "protocol": "sample-10fold", "metric": "uf1", "value": 98.3,
                               "source": "Other 2024"}]
    for reported in (REPORTED, two_sources):
        console = Console(width=80, record=True, force_terminal=terminal)
        print_table(console, reported_table(minimal_result(reported=reported)))
        text = console.export_text()
        lines = text.splitlines()
        if terminal:
            assert max(len(line) for line in lines) <= 80
        flat = " ".join(line.strip() for line in lines)
        assert flat.count("sample-10fold ⚠") == len({r["dataset"] for r in reported if r["protocol"] == "sample-10fold"})
        assert "loso ⚠" not in flat and "Paper [red]<b>" in flat  # the source printed literally
        assert "⚠ the protocol leaks (sample-10fold: clips of one subject in training and test)" in flat
    if not terminal:
        assert next(line for line in lines if "98.30" in line).split()[-1] == "2"  # sources stay numbered


def test_the_cpu_device_says_one_thread_in_the_singular():
    from merbench.engine import choose_device, torch_threads

    with torch_threads(1):
        description = choose_device("cpu", "off").description
    assert description.startswith("cpu (1 thread, float32")


def test_a_one_fold_run_shows_no_fold_spread_in_the_terminal_table_and_the_html_report():
    """A cross-dataset run has one outer fold: its std row shows a dash ("one fold: no spread"), not 0.0, which
    would claim a perfectly stable score; a run of two folds keeps its std."""
    from merbench.report import result_table

    one = minimal_result(protocol="cross-dataset", fold_std=_scores(0.0), n_samples=2,
                         folds=[{"fold": 0, "test_subjects": ["s0"], "n_test": 2, "metrics": _scores(0.5)}])
    std_row = next(line for line in result_table(one).plain_lines() if line.split()[0] == "std")
    assert "—" in std_row and "0.0" not in std_row and "one fold: no spread" in std_row
    page = _page([one])
    assert re.search(r"<td>std</td><td></td>(<td>—</td>)+<td class=\"text\">one fold: no spread</td>", page)
    two = minimal_result(fold_std=_scores(0.125))
    assert "12.5" in next(line for line in result_table(two).plain_lines() if line.split()[0] == "std")
    assert "<td>std</td><td></td><td>12.5</td>" in _page([two])


def test_a_one_fold_run_has_no_spread_in_the_comparison_either():
    """compare, grid and the exports show a one-fold run's fold statistic without "± 0.0" (std null in JSON); a
    run of two folds keeps its ± std."""
    from merbench.compare import build_comparison, cell_text

    one = minimal_result(protocol="cross-dataset", fold_std=_scores(0.0), n_samples=2,
                         folds=[{"fold": 0, "test_subjects": ["s0"], "n_test": 2, "metrics": _scores(0.5)}])
    cell = next(iter(build_comparison([one]).cells.values()))
    assert cell.std is None and cell_text(cell) == "50.0"
    two = next(iter(build_comparison([minimal_result(fold_std=_scores(0.125))]).cells.values()))
    assert cell_text(two) == "50.0 ± 12.5"


def test_the_per_dataset_row_of_a_cross_dataset_run_names_its_domains():
    """docs/report.md: a cross-dataset run names the domain it trained on and the one it tested; its per-dataset row
    did not."""
    one = minimal_result(protocol="cross-dataset", n_samples=2, config={
        "options": {"protocol": {"train": "synthetic-1", "test": "synthetic-2"}}},
        folds=[{"fold": 0, "test_subjects": ["s0"], "n_test": 2, "metrics": _scores(0.5)}])
    section = _page([one]).split('id="datasets"', 1)[1].split("</section>", 1)[0]
    assert '<td class="text">cross-dataset (trained on synthetic-1, tested on synthetic-2)</td>' in section
