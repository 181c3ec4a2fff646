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
