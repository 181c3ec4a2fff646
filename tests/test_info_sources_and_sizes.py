"""`merbench info` describes a model whose every profile is refused (a timm network that takes 224-px inputs only)
instead of exiting with the refusal, and advises the `--set` of `merbench run`, which info does not take; scores
another source published (the MEGC 2019 organisers for `lbptop-svm`) are not called "the paper's"."""

from __future__ import annotations

import json

from rich.console import Console


def _joined(text: str) -> str:
    return " ".join(text.split())


def test_info_describes_a_model_every_profile_refuses_and_points_its_advice_at_run(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    shown = run_cli("info", "timm:efficientformer_l1", "--json", str(tmp_path / "info.json"))
    assert shown.code == 0, shown.err
    text = _joined(shown.out)
    assert "Citation: Wightman" in text and "Options of timm:efficientformer_l1 per profile" in text
    assert "cannot take inputs of 32x32 pixels" in text
    assert "merbench run --model timm:efficientformer_l1 --set flow.size=224" in text
    assert "e.g. --set" not in text  # info has no --set
    assert max(map(len, shown.out.splitlines())) <= 80
    profiles = json.loads((tmp_path / "info.json").read_text())["profiles"]
    assert all("cannot take inputs" in profiles[p]["error"] for p in ("quick", "default", "paper"))


def test_info_still_refuses_a_name_the_family_does_not_know(run_cli):
    unknown = run_cli("info", "timm:resnet1")
    assert unknown.code == 2 and "'timm:resnet1' is not a timm architecture. Did you mean" in unknown.err
    assert not unknown.out and "Traceback" not in unknown.err


def test_info_says_published_where_another_source_gave_the_scores(run_cli):
    other = _joined(run_cli("info", "lbptop-svm").out)
    assert "Published scores (percent; cited, not measured by merbench)" in other
    assert "Reported by the paper" not in other and "The paper reports" not in other
    assert "Source: See, Yap, Li, Hong, Wang: MEGC 2019" in other
    own = _joined(run_cli("info", "ststnet").out)
    assert "Reported by the paper (percent" in own and "Published scores" not in own


def test_the_run_report_names_the_paper_only_where_its_scores_come_from_it():
    from result_samples import minimal_result

    from merbench.registry import get_registry
    from merbench.report import reported_table
    from merbench.tables import print_table

    def title(model: str) -> str:
        spec = get_registry().get("models", model)
        reported = [{"dataset": s.dataset, "protocol": s.protocol, "metric": s.metric, "value": s.value,
                     "source": s.source} for s in spec.reported]
        console = Console(width=80, record=True, force_terminal=False)
        print_table(console, reported_table(minimal_result(model=model, reported=reported)))
        return _joined(console.export_text())

    assert "Published scores for lbptop-svm (%, for reference) vs measured here" in title("lbptop-svm")
    assert "Reported in the ststnet paper (%, for reference)" in title("ststnet")


def test_a_source_is_the_models_paper_when_it_begins_with_its_citation():
    from types import SimpleNamespace

    from merbench.report import from_own_paper

    citation = "Liong et al.: STSTNet, IEEE FG 2019"
    tabulated = [SimpleNamespace(source="Liong et al.:  STSTNet, IEEE FG 2019; as tabulated in Wang et al., Table 2")]
    assert from_own_paper(tabulated, citation)
    assert not from_own_paper([SimpleNamespace(source="See et al., MEGC 2019")], citation)
    assert not from_own_paper(tabulated + [SimpleNamespace(source="See et al., MEGC 2019")], citation)
    assert not from_own_paper(tabulated, "")  # no citation: "published", never "the paper"


def test_the_html_report_titles_reported_scores_as_the_terminal_does():
    """The run section's heading said "Reported in the model's paper" for every model, lbptop-svm's MEGC 2019 figures
    included."""
    from merbench.compare import build_comparison
    from merbench.export import to_html
    from merbench.registry import get_registry
    from result_samples import minimal_result

    for model, title in (("ststnet", "Reported in the ststnet paper"), ("lbptop-svm", "Published scores for lbptop-svm")):
        reported = [{"dataset": score.dataset, "protocol": score.protocol, "metric": score.metric,
                     "value": score.value, "source": score.source}
                    for score in get_registry().get("models", model).reported]
        result = minimal_result(run_id="r1", model=model, reported=reported)
        page = to_html(build_comparison([result]), [result])
        assert f"<h3>{title} vs measured here</h3>" in page, model
