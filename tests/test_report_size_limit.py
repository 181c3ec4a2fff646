"""An HTML report or ``--figures`` of more runs than it can draw in reasonable time is refused with a hint to
narrow it (a year's store gave a 174 MB page after 5 minutes); md, csv, json and latex, which hold no figures, are
written whatever the size."""

from __future__ import annotations

import merbench.commands.report as report_command


def test_too_many_runs_to_draw_is_refused_with_how_to_narrow_the_report(run_cli, tmp_path, monkeypatch):
    store = tmp_path / "results.sqlite"
    assert run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                   "--store", str(store)).code == 0
    assert run_cli("report", "--store", str(store), "--output", str(tmp_path / "one.html")).code == 0
    monkeypatch.setattr(report_command, "MAX_DRAWN_RUNS", 0)
    for option in (["--output", str(tmp_path / "r.html")], ["--figures", str(tmp_path / "figures")]):
        refused = run_cli("report", "--store", str(store), *option)
        said = " ".join(refused.err.split())
        assert refused.code == 2 and "1 run shown, two figures each, where at most 0 are drawn" in said, said
        assert "narrow the report with --model, --dataset" in said
    assert not (tmp_path / "r.html").exists() and not list((tmp_path / "figures").glob("*.png"))
    assert run_cli("report", "--store", str(store), "--output", str(tmp_path / "r.md")).code == 0
    with_figures = run_cli("report", "--store", str(store), "--output", str(tmp_path / "f.md"), "--figures",
                           str(tmp_path / "figures"))
    said = " ".join(with_figures.err.split())  # before: "or write it as md, ..." to one writing md
    assert with_figures.code == 2 and said.endswith("or drop --figures: the table alone is not limited"), said
