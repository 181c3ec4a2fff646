"""``merbench report --format html``: one self-contained page, checked as text and in headless Chromium."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import shutil
import subprocess

import pytest

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "engine.epochs=1"]
PNG = b"\x89PNG\r\n\x1a\n"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two quick runs (lbptop-svm, ststnet) in one store. Returns (store, [result, result])."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("html-report")
    store = folder / "results.sqlite"
    results = []
    for model in ("lbptop-svm", "ststnet"):
        target = folder / f"{model}.json"
        assert main(["run", "--model", model, "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY,
                     "--store", str(store), "--json", str(target)]) == 0
        results.append(json.loads(target.read_text()))
    return store, results


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory):
    """The report of both runs, written by the command line. Returns (path, text)."""
    from merbench.cli import main

    store, _ = runs
    path = tmp_path_factory.mktemp("page") / "report.html"
    assert main(["report", "--store", str(store), "--output", str(path)]) == 0
    return path, path.read_text(encoding="utf-8")


def _render(results, metric="uf1"):
    """The page of ``results`` (result dicts, as ``merbench run --json`` wrote them)."""
    from merbench.compare import build_comparison
    from merbench.html_report import render_report
    from merbench.result import RunResult

    typed = [RunResult.from_dict(result) for result in results]
    return render_report(build_comparison(typed, metric), typed)


def _images(text: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


def _footer(text: str) -> str:
    return text[text.index("<footer>"):text.index("</footer>")]


# ------------------------------------------------------------------ the page as text


def test_the_page_is_self_contained_with_every_figure_embedded(page, runs):
    _, text = page
    _, results = runs
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.I)  # nothing fetched from the network
    assert "<link" not in text and "<script src" not in text and "@import" not in text and "url(" not in text
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', text).group(1)
    assert "default-src 'none'" in policy and "img-src data:" in policy
    images = _images(text)
    assert len(images) == 2 * len(results)  # a confusion matrix and a per-fold plot per run
    assert all(image.startswith(PNG) and len(image) > 2000 for image in images)
    for kind in ("confusion matrix of", "uf1 per fold of"):
        for result in results:
            assert f'alt="{kind} {result["model"]} on synthetic · subject-10fold"' in text


def test_the_inline_script_and_style_are_the_ones_the_policy_allows(page):
    _, text = page
    policy = re.search(r'content="(default-src[^"]+)"', text).group(1)
    for tag in ("script", "style"):
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.S)
        assert len(bodies) == 1
        digest = base64.b64encode(hashlib.sha256(bodies[0].encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy


def test_the_page_holds_the_tables_and_provenance_of_each_run(page, runs):
    _, text = page
    _, results = runs
    for result in results:
        cell = f"{100 * result['fold_mean']['uf1']:.1f} ± {100 * result['fold_std']['uf1']:.1f}"
        assert cell in text  # the comparison
        assert f'data-sort="{result["pooled"]["uar"]!r}">{100 * result["pooled"]["uar"]:.1f}</td>' in text  # per dataset
        section = text[text.index(f'<h2>{result["model"]} on synthetic'):]
        section = section[:section.index("</section>")]
        folds = section[section.index("<h3>Per fold</h3>"):section.index("<h3>Confusion matrix</h3>")]
        assert folds.count("<tr>") == 1 + len(result["folds"]) + 3  # header, folds, mean/std/pooled
        for fold in result["folds"]:
            assert f">{', '.join(fold['test_subjects'])}</td>" in folds
        matrix = section[section.index("<h3>Confusion matrix</h3>"):]
        for row in result["confusion_matrix"]:
            assert re.search("".join(rf'<td class="c\d">{count}</td>' for count in row), matrix)
        environment = result["environment"]
        for value in (result["run_id"], environment["git_commit"], environment["device"], environment["torch"]):
            assert f"<dd>{value}</dd>" in section
        assert "<dt>seed</dt><dd>0</dd>" in section and "<dt>profile</dt><dd>quick</dd>" in section
        assert '&quot;n_splits&quot;: 3' in section  # the resolved configuration


def test_reported_scores_sit_beside_measured_ones_and_the_footer_explains_only_present_columns(runs):
    _, results = runs
    comparison = _render(results)
    comparison = comparison[comparison.index('<section id="comparison">'):comparison.index("</section>")]
    assert "reported" not in comparison  # no reported score for the synthetic data
    plain = _render([dict(result, reported=[]) for result in results])  # models whose paper reports nothing
    assert "reported" not in plain[plain.index("<body>"):plain.index("<script>")].lower()
    assert "<b>reported</b>" not in _footer(plain) and "<b>†</b>" not in _footer(plain)
    assert "<b>UF1</b>" in _footer(plain) and "<b>wF1</b>" in _footer(plain)

    # lbptop-svm's plugin reports MEGC2019 composite scores (UF1 58.82): present the run as such.
    composite = dict(results[0], dataset="megc2019", protocol="megc2019", settings_changed=[])
    shown = _render([composite, results[1]])
    comparison = shown[shown.index('<section id="comparison">'):shown.index("</section>")]
    header = re.findall(r"<th[^>]*>([^<]*)</th>", comparison)
    assert header == ["Model", "megc2019 · megc2019", "reported", "synthetic · subject-10fold"]
    assert '<td data-sort="0.5882" class="reported">58.82</td>' in comparison
    assert "<b>reported</b>" in _footer(shown)
    assert "<td class=\"text\">measured</td>" in shown  # the run's own row in its reported-vs-measured table
    # With the run's own protocol.n_splits=3 the paper's protocol is not what was measured.
    shrunk = _render([dict(results[0], dataset="megc2019", protocol="megc2019"), results[1]])
    assert "<td class=\"text\">measured*</td>" in shrunk and "Measured with protocol.n_splits=3" in shrunk


def test_runs_that_are_not_subject_independent_are_marked(runs):
    _, results = runs
    leaky = copy.deepcopy(results[1])
    leaky.update(protocol="sample-10fold", subject_independent=False)
    leaky["leakage"]["subject_overlap_folds"] = len(leaky["folds"])
    text = _render([results[0], leaky])
    assert re.search(r'<td data-sort="[0-9.e-]+" class="[a-z ]*leak">[0-9.]+ ± [0-9.]+ †</td>', text)
    assert "<li>† ststnet on synthetic · sample-10fold: not subject-independent" in text
    assert '<p class="warning">† Not subject-independent' in text and text.count('<p class="warning">') == 1
    assert '<td class="text leak">no †</td>' in text and "<b>†</b>" in _footer(text)


def test_result_text_is_escaped_and_prints_literally(runs):
    _, results = runs
    hostile = copy.deepcopy(results[0])
    hostile["model"] = "m<script>alert(1)</script>[/]"
    hostile["classes"] = ["<b>neg</b>", "pos [red]x[/]", "s&p \"quoted\""]
    hostile["folds"][0]["test_subjects"] = ["<img src=x onerror=alert(2)>"]
    hostile["environment"]["git_commit"] = "</dd><script>alert(3)</script>"
    text = _render([hostile])
    assert text.count("<script") == 1  # only the page's own script
    assert "<img src=x" not in text and "<b>neg</b>" not in text
    assert "m&lt;script&gt;alert(1)&lt;/script&gt;[/]" in text
    assert "&lt;b&gt;neg&lt;/b&gt;" in text and "pos [red]x[/]" in text and "s&amp;p &quot;quoted&quot;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text and "&lt;/dd&gt;&lt;script&gt;alert(3)" in text
    assert len(_images(text)) == 2  # the figures are drawn with such names too ($, [/] are not markup there)


def test_only_the_newest_run_of_a_cell_is_detailed(runs):
    _, results = runs
    older = dict(results[0], run_id="older-run")
    text = _render([older, *results])
    assert text.count("older-run") == 1 and len(_images(text)) == 4  # named in the note, not detailed
    assert "Not shown: 1 run of a cell shown here that finished before" in text


def test_a_result_with_only_the_minimum_keys_renders(runs):
    _, results = runs
    keys = ("model", "dataset", "protocol", "subject_independent", "classes", "n_samples", "n_subjects", "pooled",
            "fold_mean", "fold_std", "per_domain", "folds", "confusion_matrix", "seconds", "config")
    minimal = {key: copy.deepcopy(results[0][key]) for key in keys}  # docs/design.md, Result schema, without optional keys
    minimal["environment"] = {"merbench": "0.1.0", "torch": "2", "python": "3.11", "device": "cpu"}
    text = _render([minimal])
    assert len(_images(text)) == 2 and "<dt>git commit</dt><dd>unknown</dd>" in text
    assert "<dt>run id</dt><dd>—</dd>" in text and "Leakage audit" not in text


def test_markdown_footer_names_reported_only_when_the_column_is_there(runs):
    from merbench.compare import build_comparison
    from merbench.export import to_markdown
    from merbench.result import RunResult

    _, results = runs
    assert "Reported:" not in to_markdown(build_comparison([RunResult.from_dict(r) for r in results]))
    composite = RunResult.from_dict(dict(results[0], dataset="megc2019", protocol="megc2019", settings_changed=[]))
    assert "Reported: the model's published score" in to_markdown(build_comparison([composite]))


def test_figures_are_also_written_as_files_when_asked(runs, run_cli, tmp_path):
    store, results = runs
    result = run_cli("report", "--store", str(store), "--output", str(tmp_path / "r.html"),
                     "--figures", str(tmp_path / "figures"))
    assert result.code == 0, result.err
    assert len(list((tmp_path / "figures").glob("*.png"))) == 2 * len(results)
    assert len(_images((tmp_path / "r.html").read_text())) == 2 * len(results)


# ------------------------------------------------------------------ the page in a real browser


def _browser() -> str:
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("headless Chromium is not installed (Debian: apt-get install -y chromium); CI installs it")


def _chromium(path, tmp_path, *flags: str) -> subprocess.CompletedProcess:
    command = [_browser(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", *flags, path.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _console(stderr: str) -> list[str]:
    """Messages the page wrote to the browser console (errors, CSP violations, uncaught exceptions)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_chromium_renders_the_tables_every_figure_and_runs_the_script(page, runs, tmp_path):
    path, text = page
    _, results = runs
    dom = _chromium(path, tmp_path, "--dump-dom")
    assert _console(dom.stderr) == []
    tables = text.count('<table class="sortable">')
    assert tables >= 2 + len(results) and dom.stdout.count('data-sortable="ready"') == tables
    assert f'data-figures-shown="{2 * len(results)}"' in dom.stdout  # every <img> decoded by the browser
    assert dom.stdout.count("<img ") == 2 * len(results)
    assert "<h2>Comparison</h2>" in dom.stdout and "lbptop-svm" in dom.stdout and "ststnet" in dom.stdout

    from PIL import Image

    shot = tmp_path / "report.png"
    done = _chromium(path, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert _console(done.stderr) == []
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 50  # text, tables and figures: not a blank page


def test_clicking_a_heading_sorts_the_rows_in_chromium(page, tmp_path):
    path, text = page
    # A test script clicks the UF1 heading of the per-dataset table twice and records the model order each time.
    probe = """
    (function () {
      var table = document.querySelector("#datasets table");
      var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
      var uf1 = heads.filter(function (h) { return h.textContent.trim() === "UF1"; })[0];
      function order() {
        return Array.prototype.map.call(table.tBodies[0].rows, function (row) {
          return row.cells[0].textContent + "=" + row.cells[uf1.cellIndex].getAttribute("data-sort");
        }).join(",");
      }
      uf1.click(); document.body.setAttribute("data-ascending", order());
      uf1.click(); document.body.setAttribute("data-descending", order());
    }());
    """
    digest = base64.b64encode(hashlib.sha256(probe.encode()).digest()).decode()
    probed = text.replace("script-src ", f"script-src 'sha256-{digest}' ").replace("</body>", f"<script>{probe}</script></body>")
    copy_path = tmp_path / "probed.html"
    copy_path.write_text(probed, encoding="utf-8")
    dom = _chromium(copy_path, tmp_path, "--dump-dom")
    assert _console(dom.stderr) == []

    def parsed(name: str) -> list[tuple[str, float]]:
        value = re.search(rf'{name}="([^"]+)"', dom.stdout).group(1)
        return [(item.split("=")[0], float(item.split("=")[1])) for item in value.split(",")]

    ascending, descending = parsed("data-ascending"), parsed("data-descending")
    assert len(ascending) == 2 and [v for _, v in ascending] == sorted(v for _, v in ascending)
    assert descending == ascending[::-1]
