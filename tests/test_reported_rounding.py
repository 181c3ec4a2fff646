"""A paper's reported score shows the same two decimals everywhere: half up from its decimal digits, as ``compare``'s
reported column always showed it (before: ``info``, ``show``, the HTML report, regress notes and the rendered tables
formatted the binary float, 73.535 as 73.53 beside compare's 73.54)."""

from __future__ import annotations

from merbench.compare import reported_pct
from merbench.wording import paper_points

REPORTING = '''
from merbench.contracts import ModelPlugin, ReportedScore
from merbench.hookspecs import hookimpl


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="halfway", build="merbench_plugins.models.ststnet:build_model", input="flow-uvs",
                         description="reports a score of three decimals", citation="original work",
                         reported=(ReportedScore("synthetic", "subject-10fold", "uf1", 73.535, "a paper"),)))
'''


def test_paper_points_round_half_up_from_the_decimals_as_written():
    assert [paper_points(value) for value in (73.535, 73.525, 76.05, 99.0, 0.005)] == [
        "73.54", "73.53", "76.05", "99.00", "0.01"]
    assert paper_points(73.535) == reported_pct(0.73535)


def test_info_shows_a_three_decimal_reported_score_as_compare_does(install_plugin, run_cli):
    install_plugin("merbench-halfway", "halfway", "merbench_halfway_plugin", REPORTING)
    info = run_cli("info", "halfway")
    assert info.code == 0, info.err
    row = next(line for line in info.out.splitlines() if line.startswith("synthetic") and "UF1" in line)
    assert "73.54" in row and "73.53" not in row, row


def test_a_score_that_is_not_a_number_shows_a_dash_and_is_never_best():
    from merbench.compare import build_comparison
    from merbench.metrics import METRIC_KEYS
    from result_samples import minimal_result

    assert [paper_points(value) for value in (float("inf"), float("-inf"), float("nan"))] == ["—", "—", "—"]
    results = []
    for i, (model, uf1) in enumerate([("a", float("inf")), ("b", 0.5), ("c", 0.4)]):
        scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
        results.append(minimal_result(run_id=f"20250611-00000{i}-00000{i}", model=model, dataset="synthetic",
                                      protocol="subject-10fold", pooled=scores, fold_mean=scores,
                                      fold_std={key: 0.0 for key in scores},
                                      folds=[{"fold": f, "test_subjects": [f"s{f}"], "n_test": 2, "metrics": scores}
                                             for f in range(2)]))
    comparison = build_comparison(results)  # before: decimal.InvalidOperation from the inf score
    column = ("synthetic", "subject-10fold")
    assert [comparison.cells[(m, column)].best for m in "abc"] == [False, True, False]
