"""A model that lists two published scores for one setting (the original paper's and a re-implementation's): ``show``
and the HTML report give each its own row and source, and ``compare`` with its exports shows the first one the plugin
lists and names the other in a note (before: ``show`` printed one row of the last score credited to both sources,
``synthetic subject-10fold reported 70.00 1, 2``, while ``compare`` showed the first, 80.00 "from Paper A")."""

from __future__ import annotations

import json
import re

from merbench.compare import build_comparison
from merbench.export import to_html, to_markdown
from merbench.store import ResultStore
from result_samples import minimal_result

PAPER_A = "Paper A 2020 (original)"
PAPER_B = "Paper B 2024 (re-implementation)"
REPORTED = [{"dataset": "synthetic", "protocol": "subject-10fold", "metric": "uf1", "value": 80.0, "source": PAPER_A},
            {"dataset": "synthetic", "protocol": "subject-10fold", "metric": "uf1", "value": 70.0, "source": PAPER_B}]


def _result():
    return minimal_result(run_id="20250611-000001-000001", model="ststnet", dataset="synthetic",
                          protocol="subject-10fold", reported=REPORTED, seed=0, profile="quick",
                          config={"model": "ststnet", "dataset": "synthetic", "protocol": "subject-10fold",
                                  "profile": "quick", "seed": 0})


def _stored(tmp_path):
    path = tmp_path / "runs.sqlite"
    result = _result()
    with ResultStore(path) as store:
        store.begin_run(result.config, 1, {}, run_id=result.run_id)
        store.finish_run(result.run_id, result)
    return path


def test_show_gives_each_published_score_its_own_row_and_source(tmp_path, run_cli, monkeypatch):
    store = _stored(tmp_path)
    shown = run_cli("show", "20250611-000001-000001", "--store", str(store))
    assert shown.code == 0, shown.err
    rows = [line.split() for line in shown.out.splitlines() if line.startswith("synthetic")
            and ("reported" in line or "measured" in line)]
    assert rows == [["synthetic", "subject-10fold", "reported", "80.00", "1"],
                    ["synthetic", "subject-10fold", "reported", "70.00", "2"],
                    ["synthetic", "subject-10fold", "measured", "50.0"]], shown.out
    assert f"Sources: 1: {PAPER_A}; 2: {PAPER_B}" in " ".join(shown.out.split())


def test_the_html_run_section_gives_each_published_score_its_own_row_and_source():
    result = _result()
    page = to_html(build_comparison([result]), [result])
    table = page[page.index("<h3>Published scores for ststnet vs"):]  # two sources, neither its citation
    table = table[table.index("<tbody>"):table.index("</table>")]
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]
    assert [row[2:] for row in rows] == [["reported", "80.00", "1"], ["reported", "70.00", "2"],
                                         ["measured", "50.0", ""]], rows


def test_compare_and_its_exports_show_the_first_score_and_name_the_other_in_a_note(tmp_path, run_cli):
    store = _stored(tmp_path)
    shown = run_cli("compare", "--store", str(store), "--format", "plain")
    assert shown.code == 0, shown.err
    row = next(line for line in shown.out.splitlines() if line.startswith("ststnet"))
    assert row.split()[-1] == "80.00", shown.out
    text = " ".join(shown.out.split())
    assert f"from {PAPER_A}." in text
    other = f"ststnet on synthetic · subject-10fold: 70.00 from {PAPER_B}"
    assert other in text, text
    document = json.loads(run_cli("compare", "--store", str(store), "--json").out)
    assert document["rows"][0]["reported"] == 0.8 and document["rows"][0]["reported_source"] == PAPER_A
    assert any(other in note for note in document["notes"]), document["notes"]
    assert other in " ".join(to_markdown(build_comparison([_result()])).split())


def test_a_second_source_of_the_same_value_or_of_another_setting_is_no_other_score():
    same = [*REPORTED[:1], {**REPORTED[0], "source": PAPER_B},
            {**REPORTED[1], "dataset": "casme2", "protocol": "loso"}]
    result = minimal_result(model="ststnet", dataset="synthetic", protocol="subject-10fold", reported=same)
    assert not any(PAPER_B in note for note in build_comparison([result]).notes())
