"""``merbench info MODEL --json FILE``: what the tables show, for scripts (scores as fractions 0..1)."""

from __future__ import annotations

import json

import pytest
from test_models import BASELINE_TEXT  # its entries with set: or another profile are not shown


@pytest.fixture
def baseline(monkeypatch, tmp_path):
    from merbench import modelinfo

    path = tmp_path / "synthetic-default.yaml"
    path.write_text(BASELINE_TEXT)
    monkeypatch.setattr(modelinfo, "SYNTHETIC_BASELINE", path)
    return path


def test_info_json_to_stdout_holds_the_facts_the_tables_show(run_cli, baseline):
    from merbench.modelinfo import model_facts
    from merbench.registry import get_registry

    result = run_cli("info", "convmixer", "--json", "-")
    assert result.code == 0, result.err
    document = json.loads(result.out)  # stdout holds the JSON alone
    assert "Options of convmixer per profile" in result.err  # the tables went to stderr
    assert document["model"] == "convmixer" and "10.1109/ACCESS.2024.3525151" in document["citation"]
    assert document["options"]["dim"] == {"quick": 16, "default": 64, "paper": 256}
    default = document["profiles"]["default"]
    facts = model_facts(get_registry(), "convmixer", "default")
    assert (default["params"], default["flops"], default["shape"]) == (facts.params, facts.flops, list(facts.shape))
    assert default["preprocessing"]["flow"]["channels"] == ["u", "v"]
    accuracy = [row for row in document["reported"] if (row["dataset"], row["metric"]) == ("samm", "accuracy")]
    assert accuracy == [{**accuracy[0], "protocol": "sample-10fold", "value": 0.9973, "protocol_leaks": ["subjects"]}]
    measured = document["measured"]
    assert measured["date"] == "2031-01-02" and measured["machine"] == "test box"
    rows = {row["protocol"]: row for row in measured["rows"]}
    assert rows["subject-10fold"]["subject_independent"] is True and rows["sample-10fold"]["subject_independent"] is False
    assert rows["subject-10fold"]["mean"] == {"uf1": 0.6123, "uar": 0.6234, "accuracy": 0.6346}
    assert rows["subject-10fold"]["runs"] == 3 and rows["sample-10fold"]["seconds_per_run"] == 87.6
    assert "changes UF1 by +8.8 points" in measured["note"]


def test_info_json_file_keeps_the_tables_on_stdout_and_says_why_nothing_was_measured(run_cli, baseline, tmp_path):
    baseline.write_text("entries: []")
    target = tmp_path / "info.json"
    result = run_cli("info", "ststnet", "--json", str(target))
    assert result.code == 0, result.err
    assert "Options of ststnet per profile" in result.out
    document = json.loads(target.read_text())
    assert document["measured"]["rows"] == []
    assert document["measured"]["note"] == f"no default-profile entry for ststnet in {baseline}."


def test_info_json_of_a_family_names_the_member_it_describes(run_cli, baseline):
    result = run_cli("info", "timm:", "--json", "-")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["model"] == "timm:" and document["shown_as"] == "timm:resnet18"
    assert document["profiles"]["default"]["params"] > 10_000


def test_info_json_in_a_missing_folder_is_refused_before_anything_is_shown(run_cli, tmp_path):
    result = run_cli("info", "ststnet", "--json", str(tmp_path / "missing" / "info.json"))
    assert result.code == 2
    assert "missing" in result.err and "Options of" not in result.out
