"""``merbench info``: each reported score is credited to the work that reported it."""

from __future__ import annotations


def test_lbptop_svm_megc2019_scores_are_credited_to_the_challenge_not_the_2007_method_paper(run_cli):
    """0.5882 / 0.5785 are the MEGC2019 organisers' LBP-TOP baseline; a 2007 paper cannot report the 2019 composite."""
    result = run_cli("info", "lbptop-svm")
    text = " ".join(result.out.split())
    assert result.code == 0
    assert "Source: See, Yap, Li, Hong, Wang: MEGC 2019 - The Second Facial Micro-Expressions Grand Challenge" in text
    assert "TPAMI 29(6), 2007 (MEGC2019 baseline)" not in text
