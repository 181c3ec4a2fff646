"""The HTML report says what md, LaTeX and the terminal say, and reads well in a narrow window: the reported note of
the comparison, the reported table's caption and numbered sources, tables that scroll on their own with names kept
whole, a well-formed leakage page whose empty cells sort last, a cross-dataset run's domains; the figures' one
warning for characters no font has, and a LaTeX caption that explains only the marks its table holds."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

from result_samples import minimal_result

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)
LEAKAGE = Path(__file__).resolve().parent.parent / "benchmarks" / "leakage" / "synthetic-default-ststnet.json"


def _page(results, **options) -> str:
    from merbench.compare import build_comparison
    from merbench.html_report import render_report

    return render_report(build_comparison(results, **options), results, draw=lambda result, metric: (PNG, PNG))


def _section(text: str, start: str, end: str = "</section>") -> str:
    part = text[text.index(start):]
    return part[:part.index(end)]


def _reported(*entries: tuple[str, str, str, float, str]) -> list[dict]:
    return [{"dataset": dataset, "protocol": protocol, "metric": metric, "value": value, "source": source}
            for dataset, protocol, metric, value, source in entries]


def _captions(text: str) -> list[str]:
    return [html.unescape(caption) for caption in re.findall(r"<caption>(.*?)</caption>", text, re.S)]


# ------------------------------------------------------------------ 1: the comparison's reported note


def test_the_html_comparison_says_a_published_uf1_is_pooled_while_its_cells_are_fold_means_as_md_does():
    from merbench.compare import build_comparison
    from merbench.export import to_markdown

    result = minimal_result(run_id="r1", reported=_reported(("d", "loso", "uf1", 55.55, "Paper A, Table 2")))
    comparison = build_comparison([result])
    note = comparison.reported_note("†", " only")
    assert note and "A published UF1 is MEGC2019's" in note
    assert "A published UF1 is MEGC2019's" in " ".join(to_markdown(comparison).split())
    section = html.unescape(_section(_page([result]), '<section id="comparison">'))
    assert note in section, section
    assert section.count("Paper A, Table 2") == 1, "the note names the source once"


# ------------------------------------------------------------------ 2, 3: the table of reported scores


def test_the_reported_caption_gives_why_a_measured_row_is_not_comparable_only_under_such_a_row():
    # The paper reports on megc2019; the run is on d: no measured row beside the paper's, so no "* Measured with".
    elsewhere = minimal_result(run_id="r1", settings_changed=["protocol.n_splits=3"],
                               reported=_reported(("megc2019", "megc2019", "uf1", 73.53, "Paper A")))
    text = _page([elsewhere])
    assert "measured*" not in text
    caption = next(c for c in _captions(text) if c.startswith("In %. Paper A"))
    assert "Measured with" not in caption, caption
    assert caption == "In %. Paper A."

    beside = minimal_result(run_id="r2", settings_changed=["protocol.n_splits=3"],
                            reported=_reported(("d", "loso", "uf1", 73.53, "Paper A")))
    text = _page([beside])
    assert '<td class="text">measured*</td>' in text
    caption = next(c for c in _captions(text) if c.startswith("In %. Paper A"))
    assert caption.startswith("In %. Paper A. * Measured with protocol.n_splits=3: other samples"), caption


def test_the_reported_caption_ends_each_sentence_with_one_full_stop():
    leaky = minimal_result(run_id="r1", protocol="sample-10fold", subject_independent=False,
                           settings_changed=["protocol.n_splits=3"],
                           reported=_reported(("d", "sample-10fold", "uf1", 99.4, "Talib et al., 2025.")))
    caption = next(c for c in _captions(_page([leaky])) if c.startswith("In %. Talib"))
    assert ".." not in caption, caption
    assert "(docs/leakage.md). * Measured with protocol.n_splits=3" in caption
    assert caption.startswith("In %. Talib et al., 2025. † the protocol leaks") and caption.endswith("its scores.")


def test_the_reported_table_numbers_its_sources_as_the_terminals_source_column_does():
    from merbench.report import reported_table

    result = minimal_result(run_id="r1", reported=_reported(("d", "loso", "uf1", 55.55, "Paper A"),
                                                            ("d", "loso", "uar", 66.6, "Paper B"),
                                                            ("megc2019", "megc2019", "uf1", 70.0, "Paper A")))
    terminal = reported_table(result)
    assert terminal is not None and "Sources: 1: Paper A; 2: Paper B" in terminal.caption
    text = _page([result])
    table = _section(text, "<h3>Published scores for m vs", "</table>")
    assert re.findall(r"<th[^>]*>([^<]*)</th>", table) == ["Dataset", "Protocol", "Scores", "UF1", "UAR", "Source"]
    rows = re.findall(r"<tr>(.*?)</tr>", table[table.index("<tbody>"):])
    assert len(rows) == 4  # a row per source of a setting, each naming its own
    assert rows[0].startswith('<td class="text">d</td>') and rows[0].endswith("<td>1</td>"), rows[0]
    assert rows[1].startswith('<td class="text">d</td>') and rows[1].endswith("<td>2</td>"), rows[1]
    assert '<td class="text">measured</td>' in rows[2] and rows[2].endswith("<td></td>"), rows[2]
    assert rows[3].startswith('<td class="text">megc2019</td>') and rows[3].endswith("<td>1</td>"), rows[3]
    assert "In %. Sources: 1: Paper A; 2: Paper B." in _captions(text)

    one = minimal_result(run_id="r2", reported=_reported(("d", "loso", "uf1", 55.55, "Paper A"),
                                                         ("d", "loso", "uar", 66.6, "Paper A")))
    alone = _section(_page([one]), "<h3>Published scores for m vs", "</table>")
    assert "Source</th>" not in alone and "<caption>In %. Paper A.</caption>" in alone


# ------------------------------------------------------------------ 4: narrow windows


def _wide_runs():
    """Runs in five columns, with hyphenated names, settings and a long subject id: a comparison wider than 800 px."""
    runs = []
    for i, (dataset, protocol) in enumerate((("casme2-cropped", "subject-10fold"), ("samm-long-name", "loso"),
                                             ("smic-hs", "cross-dataset"), ("cas-me-3", "subject-10fold"),
                                             ("mmew-part-a", "loso"))):
        runs.append(minimal_result(run_id=f"2025-0{i}", model="lbptop-svm-with-a-long-name", dataset=dataset,
                                   protocol=protocol,
                                   folds=[{"fold": 0, "test_subjects": ["subject-" + "x" * 40], "n_test": 2,
                                           "metrics": {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}},
                                          {"fold": 1, "test_subjects": ["s-1"], "n_test": 2,
                                           "metrics": {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}}]))
    return runs


def test_every_table_sits_in_its_own_box_that_scrolls_sideways():
    text = _page(_wide_runs())
    assert text.count("<table") == text.count('<div class="scroll"><table') > 5
    assert text.count("</table></div>") == text.count("<table")
    style = re.search(r"<style>(.*?)</style>", text, re.S).group(1)
    assert re.search(r"div\.scroll\{overflow-x:auto", style)
    assert "td.text{white-space:normal}" not in style, "names and ids are not wrapped (at hyphens either)"


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("headless Chromium is not installed (Debian: apt-get install -y chromium); CI installs it")


def _probe(text: str, probe: str, tmp_path: Path, width: int = 800) -> dict:
    """Run ``probe`` (a script that stores JSON in ``body[data-probe]``) on the page in headless Chromium."""
    digest = base64.b64encode(hashlib.sha256(probe.encode()).digest()).decode()
    probed = text.replace("script-src ", f"script-src 'sha256-{digest}' ", 1).replace(
        "</body>", f"<script>{probe}</script></body>")
    path = tmp_path / "probed.html"
    path.write_text(probed, encoding="utf-8")
    command = [_browser(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
               f"--window-size={width},1200", "--dump-dom", path.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    found = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert found, done.stdout[-2000:]
    return json.loads(html.unescape(found.group(1)))


LAYOUT = """
(function () {
  var out = {viewport: window.innerWidth, page: document.documentElement.scrollWidth, unboxed: [], broken: []};
  Array.prototype.forEach.call(document.querySelectorAll("table"), function (table) {
    if (getComputedStyle(table.parentElement).overflowX !== "auto") { out.unboxed.push(table.rows[0].textContent); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("td.text:not(.prose)"), function (cell) {
    var range = document.createRange();
    range.selectNodeContents(cell);
    var lines = {};
    Array.prototype.forEach.call(range.getClientRects(), function (r) { if (r.width > 0) { lines[Math.round(r.top)] = 1; } });
    if (Object.keys(lines).length > 1) { out.broken.push(cell.textContent); }
  });
  document.body.setAttribute("data-probe", JSON.stringify(out));
}());
"""


@pytest.mark.parametrize("width", [800, 500])
def test_in_a_narrow_window_the_page_keeps_its_width_and_names_stay_on_one_line(tmp_path, width):
    found = _probe(_page(_wide_runs()), LAYOUT, tmp_path, width)
    assert found["page"] <= found["viewport"], found  # only a table's own box scrolls, never the page
    assert found["unboxed"] == []
    assert found["broken"] == [], "a name or id split over lines (at a hyphen)"


# ------------------------------------------------------------------ 5, 6: the leakage page


class _Nesting(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-3:]}")
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass


def _nesting(text: str) -> tuple[list[str], list[str]]:
    parser = _Nesting()
    parser.feed(text)
    return parser.errors, parser.stack


def test_the_leakage_page_closes_every_section():
    from merbench.html_report import render_leakage_page

    text = render_leakage_page(json.loads(LEAKAGE.read_text(encoding="utf-8")))
    assert _nesting(text) == ([], [])
    runs = _section(text, '<section id="runs">')
    assert "<h2>Runs</h2>" in runs and "Provenance" not in runs


def test_a_cell_without_a_value_sorts_last_both_ways(tmp_path):
    from merbench.html_report import render_leakage_page

    text = render_leakage_page(json.loads(LEAKAGE.read_text(encoding="utf-8")))
    honest = next(row for row in re.findall(r"<tr>.*?</tr>", _section(text, '<section id="variants">'))
                  if '<td class="text">honest</td>' in row)
    assert honest.endswith('<td data-sort="">—</td></tr>'), honest
    probe = """
    (function () {
      var table = document.querySelector("#variants table");
      var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
      var gain = heads.filter(function (h) { return h.textContent.indexOf("UF1 [") > 0; })[0];
      function order() {
        return Array.prototype.map.call(table.tBodies[0].rows, function (row) { return row.cells[0].textContent; });
      }
      var out = {};
      gain.click(); out.ascending = order();
      gain.click(); out.descending = order();
      document.body.setAttribute("data-probe", JSON.stringify(out));
    }());
    """
    found = _probe(text, probe, tmp_path)
    assert found["ascending"][-1] == "honest" and found["descending"][-1] == "honest", found
    assert found["ascending"][:-1] == found["descending"][:-1][::-1]


def test_a_score_that_is_not_a_number_sorts_as_no_value():
    nan = {"accuracy": float("nan"), "uf1": float("nan"), "uar": float("nan")}
    text = _page([minimal_result(run_id="r1", pooled=nan, fold_mean=nan)])
    assert 'data-sort="nan"' not in text
    assert '<td data-sort="">—</td>' in _section(text, '<section id="datasets">')


# ------------------------------------------------------------------ 7, 8: a run's heading line


def test_a_run_of_one_fold_says_1_fold():
    one = minimal_result(run_id="r1", n_subjects=1, folds=[{"fold": 0, "test_subjects": ["s0"], "n_test": 4,
                                                           "metrics": {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}}])
    meta = re.search(r'<p class="meta">Run r1 · ([^<]*)</p>', _page([one])).group(1)
    assert meta.startswith("4 clips, 1 subject, 1 fold · classes:"), meta


def test_a_cross_dataset_run_says_which_domain_trained_and_which_tested_and_counts_the_tested_clips():
    crossed = minimal_result(run_id="r1", protocol="cross-dataset", n_samples=24, n_subjects=4,
                             config={"protocol": "cross-dataset",
                                     "options": {"protocol": {"train": "synthetic-1", "test": "synthetic-2"}}},
                             folds=[{"fold": 0, "test_subjects": ["s3", "s4"], "n_test": 12,
                                     "metrics": {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}}])
    text = _page([crossed])
    meta = re.search(r'<p class="meta">Run r1 · ([^<]*)</p>', text).group(1)
    assert "24 clips, 4 subjects, 1 fold · trained on synthetic-1, tested on synthetic-2 (12 clips) ·" in meta, meta
    row = re.search(r"<tr><td class=\"text\"><a href=\"#run-1\">.*?</tr>", _section(text, '<section id="datasets">'))
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(0))
    assert cells[2:5] == ["12", "4", "1"], cells  # the clips its scores are on, subjects, folds
    plain = re.search(r'<p class="meta">Run r2 · ([^<]*)</p>', _page([minimal_result(run_id="r2")])).group(1)
    assert "trained on" not in plain



def test_the_clips_tested_column_counts_clips_where_the_protocol_made_several_samples_of_each():
    rows = [{"id": f"c{clip}-p{pair}", "subject": f"s{fold}", "domain": None, "fold": fold, "label": 0,
             "prediction": 0, "clip": f"c{clip}"} for fold in range(2) for clip in (2 * fold, 2 * fold + 1)
            for pair in range(3)]
    framed = minimal_result(run_id="r1", protocol="frame-10fold", subject_independent=False, n_samples=12,
                            predictions=rows,
                            folds=[{"fold": i, "test_subjects": [f"s{i}"], "n_test": 6,
                                    "metrics": {"accuracy": 0.5, "uf1": 0.5, "uar": 0.5}} for i in range(2)])
    text = _section(_page([framed]), '<section id="datasets">')
    assert "Clips tested" in text
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", re.search(r"<tr><td class=\"text\"><a href=.*?</tr>", text).group(0))
    assert cells[2:5] == ["4", "2", "2"], cells  # 4 clips of 12 frame-pair samples, 2 subjects, 2 folds
    plain = _section(_page([minimal_result(run_id="r2")]), '<section id="datasets">')
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", re.search(r"<tr><td class=\"text\"><a href=.*?</tr>", plain).group(0))
    assert cells[2] == "4", cells  # a result stored without predictions counts its tested samples


# ------------------------------------------------------------------ 9: characters no font has


def test_characters_no_font_has_get_one_warning_and_the_labels_stay_the_class_names(monkeypatch):
    from merbench import figures

    monkeypatch.setattr(figures, "_missing_named", set(), raising=False)
    first = minimal_result(run_id="r1", classes=["微表情", "a-b", "c"])
    second = minimal_result(run_id="r2", classes=["微表情", "情", "c"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for result in (first, second):
            figures.confusion_png(result)
            figures.folds_png(result)
    messages = [str(warning.message) for warning in caught]
    assert not [m for m in messages if m.startswith("Glyph ")], messages  # matplotlib's one per character and figure
    named = [m for m in messages if "no glyph for" in m]
    assert len(named) <= 1, messages
    if named:  # a machine with a font that has them draws them and says nothing
        assert "微 表 情" in named[0] and "install a font" in named[0]

    plt = figures._pyplot()
    figure = figures._draw_confusion(plt, first)
    try:
        assert [label.get_text() for label in figure.axes[0].get_yticklabels()] == ["微表情", "a-b", "c"]
    finally:
        plt.close(figure)



@pytest.mark.parametrize("wording", ["Glyph 24494 (\\N{CJK UNIFIED IDEOGRAPH-5FAE}) missing from font(s) DejaVu Sans.",
                                     "Glyph 24494 (\\N{CJK UNIFIED IDEOGRAPH-5FAE}) missing from current font."])
def test_matplotlibs_missing_glyph_warning_of_before_and_since_3_9_becomes_the_one_warning(monkeypatch, wording):
    from merbench import figures

    monkeypatch.setattr(figures, "_missing_named", set(), raising=False)
    monkeypatch.setattr(figures, "default_font", lambda: "DejaVu Sans", raising=False)
    drawn = [warnings.WarningMessage(UserWarning(wording), UserWarning, "matplotlib/_text_helpers.py", 1)] * 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures._show(drawn)
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 1, messages
    assert "no glyph for 微 (of a class or model name) in the font DejaVu Sans" in messages[0], messages


def test_an_installed_fallback_font_draws_what_the_default_one_lacks(monkeypatch):
    from merbench import figures

    monkeypatch.setattr(figures, "FALLBACK_FONTS", ("No Such Font Family", "DejaVu Serif"), raising=False)
    figures.font_settings.cache_clear()
    try:
        settings = dict(figures.font_settings())
    finally:
        figures.font_settings.cache_clear()
    assert settings["font.family"][1:] == ("DejaVu Serif",), settings  # after the default, installed ones only


# ------------------------------------------------------------------ 10: captions and notes


def test_the_latex_caption_explains_only_the_marks_its_table_holds():
    from merbench.compare import build_comparison
    from merbench.export import to_latex

    alone = [minimal_result(run_id="r1", model="a"), minimal_result(run_id="r2", model="b", dataset="e")]
    caption = next(line for line in to_latex(build_comparison(alone)).splitlines() if line.startswith(r"\caption"))
    assert "bold" not in caption and "dagger" not in caption, caption
    better = {"accuracy": 0.9, "uf1": 0.9, "uar": 0.9}
    rivals = [minimal_result(run_id="r1", model="a"),
              minimal_result(run_id="r2", model="b", pooled=better, fold_mean=better),
              minimal_result(run_id="r3", model="c", protocol="sample-10fold", subject_independent=False)]
    caption = next(line for line in to_latex(build_comparison(rivals)).splitlines() if line.startswith(r"\caption"))
    assert r"Best per column in bold; $^\dagger$: leakage warning.}" in caption, caption


def test_a_command_a_note_names_in_backticks_is_code_in_the_page():
    older, newer = minimal_result(run_id="older-run"), minimal_result(run_id="newer-run")
    note = _section(_page([older, newer]), '<section id="comparison">', "</p>")
    assert "Not shown: 1 run of a cell" in note
    assert "<code>merbench show ID</code>" in note and "`" not in note, note
    from merbench.html_report import _with_code

    # Only a command is code; other backticks (in a name) are shown as written, and everything is escaped.
    assert _with_code("net`<b>x</b>` ran; see `merbench show ID`") == \
        "net`&lt;b&gt;x&lt;/b&gt;` ran; see <code>merbench show ID</code>"
