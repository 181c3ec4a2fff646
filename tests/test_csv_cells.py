"""``report --format csv`` text cells: a spreadsheet never runs one as a formula, and control characters show as
``\\xNN`` as in every other format (before: ``=cmd|' /C calc'!A0`` from a plugin's reported source and a raw ESC were
written as they came)."""

from __future__ import annotations

import csv
import io

from merbench.compare import build_comparison
from merbench.export import csv_text, to_csv
from merbench.metrics import METRIC_KEYS
from result_samples import minimal_result


def test_text_cells_that_a_spreadsheet_would_run_get_a_leading_quote_and_numbers_stay_numbers():
    assert [csv_text(value) for value in ("=cmd|' /C calc'!A0", "+1", "-x", "@SUM(A1)", "\tx", "convmixer")] == [
        "'=cmd|' /C calc'!A0", "'+1", "'-x", "'@SUM(A1)", "\\x09x", "convmixer"]
    assert [csv_text(value) for value in (-0.5, 0.25, True, None)] == [-0.5, 0.25, True, None]


def test_a_comparisons_csv_holds_no_formula_and_no_control_character():
    scores = {key: 0.5 for key in METRIC_KEYS}
    odd = minimal_result(run_id="20250611-000000-000000", model="=HYPERLINK(\"http://x\")", dataset="synthetic",
                         protocol="subject-10fold", pooled=scores, fold_mean=scores,
                         fold_std={key: 0.0 for key in scores}, warnings=["esc\x1b[31m red"],
                         folds=[{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores} for i in range(2)])
    text = to_csv(build_comparison([odd]))
    assert "\x1b" not in text
    (record,) = list(csv.DictReader(io.StringIO(text)))
    assert record["model"] == "'=HYPERLINK(\"http://x\")" and float(record["mean"]) == 0.5


def test_md_and_latex_notes_show_a_named_command_as_code_not_as_backticks():
    from merbench.export import to_latex, to_markdown

    scores = {key: 0.5 for key in METRIC_KEYS}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores} for i in range(2)]
    older, newer = (minimal_result(run_id=f"20250611-00000{i}-00000{i}", model="ststnet", dataset="synthetic",
                                   protocol="subject-10fold", pooled=scores, fold_mean=scores,
                                   fold_std={key: 0.0 for key in scores}, folds=folds) for i in (1, 2))
    comparison = build_comparison([older, newer])  # the older run is not shown: its note names merbench show
    markdown, latex = to_markdown(comparison), to_latex(comparison)
    assert "See it with `merbench show ID`, or" in markdown and "\\`" not in markdown
    assert r"See it with \texttt{merbench show ID}, or" in latex and "textasciigrave" not in latex
