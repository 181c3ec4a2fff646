"""``report --format csv`` carries the notes the other formats print under the table, each on the row of the cell it
concerns, in a ``notes`` column (before: a model listing two published scores for one setting had 80.00 "from Paper
A" in its row, and nothing in the file said that Paper B publishes 70.00, which md, LaTeX, HTML and json name)."""

from __future__ import annotations

import csv
import io

from merbench.export import RECORD_FIELDS
from result_samples import minimal_result, store_results

PAPER_A = "Paper A 2020 (original)"
PAPER_B = "Paper B 2024 (re-implementation)"
REPORTED = [{"dataset": "synthetic", "protocol": "subject-10fold", "metric": "uf1", "value": 80.0, "source": PAPER_A},
            {"dataset": "synthetic", "protocol": "subject-10fold", "metric": "uf1", "value": 70.0, "source": PAPER_B}]


def _runs():
    config = {"dataset": "synthetic", "profile": "quick", "seed": 0}
    two_sources = minimal_result(run_id="20250611-000001-000001", model="ststnet", dataset="synthetic",
                                 protocol="subject-10fold", reported=REPORTED, seed=0, profile="quick",
                                 config={**config, "model": "ststnet", "protocol": "subject-10fold"})
    leaky = minimal_result(run_id="20250611-000002-000002", model="offapexnet", dataset="synthetic",
                           protocol="sample-10fold", subject_independent=False, seed=0, profile="quick",
                           config={**config, "model": "offapexnet", "protocol": "sample-10fold"})
    return [two_sources, leaky]


def test_the_csv_names_the_other_published_score_on_its_cells_row(tmp_path, run_cli):
    store = store_results(tmp_path / "runs.sqlite", _runs())
    shown = run_cli("report", "--store", str(store), "--format", "csv", "--output", "-")
    assert shown.code == 0, shown.err
    lines = list(csv.reader(io.StringIO(shown.out)))
    assert lines[0] == [*RECORD_FIELDS, "notes"]
    assert {len(line) for line in lines} == {len(RECORD_FIELDS) + 1}  # every row parses to the header's columns
    rows = {row["model"]: row for row in csv.DictReader(io.StringIO(shown.out))}
    assert rows["ststnet"]["reported"] == "0.8" and rows["ststnet"]["reported_source"] == PAPER_A
    assert rows["ststnet"]["notes"] == (
        "Other sources publish other scores, not in the reported column (it shows the first that the model plugin "
        f"lists): ststnet on synthetic · subject-10fold: 70.00 from {PAPER_B}. `merbench show ID` sets each beside "
        "its run.")
    assert rows["offapexnet"]["warnings"].startswith("not subject-independent")  # a leaky row: in its warnings
    assert rows["offapexnet"]["notes"] == ""


def test_a_note_on_one_column_is_on_that_columns_rows_alone():
    from merbench.compare import build_comparison
    from merbench.export import to_csv

    runs = _runs()
    loso = minimal_result(run_id="20250611-000003-000003", model="ststnet", dataset="synthetic", protocol="loso",
                          seed=0, profile="quick", reported=[{**REPORTED[0], "protocol": "loso"}],
                          config={"model": "ststnet", "dataset": "synthetic", "protocol": "loso", "profile": "quick"})
    rows = list(csv.DictReader(io.StringIO(to_csv(build_comparison([*runs, loso])))))
    notes = {(row["model"], row["protocol"]): row["notes"] for row in rows}
    assert PAPER_B in notes[("ststnet", "subject-10fold")]
    assert notes[("ststnet", "loso")] == notes[("offapexnet", "sample-10fold")] == ""
