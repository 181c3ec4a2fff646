"""The HTML report reads the same to a screen reader: every header cell says what it heads, every table of scores
has a caption, no header is empty, and the best cell of a column says so in words, not only in bold (before: no
scope, no caption on the comparison and per-dataset tables, an empty header over reported/measured)."""

from __future__ import annotations

from html.parser import HTMLParser

from merbench.compare import build_comparison
from merbench.html_report import render_report
from merbench.metrics import METRIC_KEYS
from result_samples import minimal_result

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


class Tables(HTMLParser):
    """Each table's caption, header cells (scope, text) and the text of its cells marked best."""

    def __init__(self):
        super().__init__()
        self.tables: list[dict] = []
        self._in: str | None = None
        self._header: dict | None = None
        self._best = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"caption": "", "headers": [], "best": []})
        elif tag == "caption":
            self._in = "caption"
        elif tag == "th" and self.tables:
            self._header = {"scope": attrs.get("scope"), "text": ""}
            self.tables[-1]["headers"].append(self._header)
        elif tag == "td" and "best" in (attrs.get("class") or "").split():
            self._best = True
            self.tables[-1]["best"].append("")

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in = None
        elif tag == "th":
            self._header = None
        elif tag == "td":
            self._best = False

    def handle_data(self, data):
        if self._in == "caption":
            self.tables[-1]["caption"] += data
        if self._header is not None:
            self._header["text"] += data
        if self._best:
            self.tables[-1]["best"][-1] += data


def _result(run_id: str, model: str, uf1: float):
    scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores} for i in range(2)]
    return minimal_result(run_id=run_id, model=model, dataset="synthetic", protocol="subject-10fold", pooled=scores,
                          fold_mean=scores, fold_std={key: 0.0 for key in scores}, folds=folds)


def test_headers_have_a_scope_and_text_score_tables_a_caption_and_the_best_cell_says_so():
    results = [_result("20250611-000001-000001", "ststnet", 0.6), _result("20250611-000002-000002", "convmixer", 0.7)]
    parser = Tables()
    parser.feed(render_report(build_comparison(results), results, draw=lambda result, metric: (PNG, PNG)))
    assert parser.tables
    for table in parser.tables:
        assert all(header["scope"] in ("col", "row") and header["text"].strip() for header in table["headers"]), table
    comparison = parser.tables[0]
    assert comparison["caption"].startswith("Models (rows) on each dataset and protocol (columns)")
    assert [text.strip() for text in comparison["best"]] == ["70.0 ± 0.0 (best in column)"]
    per_dataset = next(t for t in parser.tables if t["caption"].startswith("Runs on synthetic"))
    assert "Clips tested" in [header["text"] for header in per_dataset["headers"]]


def test_the_page_title_names_a_few_models_and_counts_the_rest():
    results = [_result(f"20250611-00000{i}-00000{i}", f"model{i}", 0.5 + i / 100) for i in range(6)]
    page = render_report(build_comparison(results), results, draw=lambda result, metric: (PNG, PNG))
    title = page[page.index("<title>") + 7:page.index("</title>")]
    assert title == "merbench report: model0, model1, model2, model3 and 2 more", title


def test_a_fold_figure_without_a_score_draws_no_mean_line_and_no_legend():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from merbench.figures import _draw_folds

    scored = _result("20250611-000001-000001", "ststnet", 0.6)
    unscored = minimal_result(run_id="20250611-000002-000002", model="nanmodel", dataset="synthetic",
                              protocol="subject-10fold",
                              pooled={**{key: 0.5 for key in METRIC_KEYS}, "uf1": float("nan")},
                              fold_mean={**{key: 0.5 for key in METRIC_KEYS}, "uf1": float("nan")},
                              fold_std={key: 0.0 for key in METRIC_KEYS},
                              folds=[{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2,
                                      "metrics": {**{key: 0.5 for key in METRIC_KEYS}, "uf1": float("nan")}}
                                     for i in range(2)])
    with_score, without = _draw_folds(plt, scored, "uf1"), _draw_folds(plt, unscored, "uf1")
    legend = with_score.axes[0].get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["mean 60.0"]
    assert without.axes[0].get_legend() is None  # before: "mean nan"
    plt.close("all")
