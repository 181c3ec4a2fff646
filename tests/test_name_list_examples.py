"""The refusal of an empty name in a name filter (``NameList``) gives an example that the option takes as it is
given: several words only where the option takes several values, and names of the kind the option filters."""

from __future__ import annotations

import pytest

from merbench.store import ResultStore
from test_delete_runs import _stored


@pytest.mark.parametrize("option, example", [("--model", "convmixer,ststnet"), ("--dataset", "casme2,samm"),
                                             ("--protocol", "loso,subject-10fold")])
def test_delete_of_one_value_per_option_advises_names_separated_by_commas(run_cli, option, example):
    refused = run_cli("delete", "--status", "interrupted", option, "")
    said = " ".join(refused.err.split())
    assert refused.code == 2 and f"give names separated by commas, e.g. {option} {example}" in said, said
    assert "spaces" not in said


def test_the_advice_of_delete_selects_both_names_and_no_run_id(run_cli, tmp_path, monkeypatch):
    path = tmp_path / "r.sqlite"
    monkeypatch.setenv("MERBENCH_STORE", str(path))
    with ResultStore(path) as store:
        convmixer = _stored(store, "interrupted", model="convmixer")
        ststnet = _stored(store, "interrupted", model="ststnet")
        _stored(store, "interrupted", model="other")
    listed = run_cli("delete", "--status", "interrupted", "--model", "convmixer,ststnet")
    assert convmixer in listed.out + listed.err and ststnet in listed.out + listed.err
    assert "no run" not in listed.err, listed.err


@pytest.mark.parametrize("command, option, example", [
    ("compare", "--model", "convmixer ststnet"), ("compare", "--dataset", "casme2 samm"),
    ("compare", "--protocol", "loso subject-10fold"), ("compare", "--profile", "quick default"),
    ("runs", "--model", "convmixer ststnet"), ("runs", "--dataset", "casme2 samm"),
    ("runs", "--protocol", "loso subject-10fold"), ("regress", "--model", "convmixer ststnet"),
])
def test_options_of_several_values_advise_spaces_or_commas_with_names_of_their_kind(run_cli, command, option, example):
    refused = run_cli(command, option, "")
    said = " ".join(refused.err.split())
    assert refused.code == 2 and f"separated by spaces or commas, e.g. {option} {example}" in said, said
