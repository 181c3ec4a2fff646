"""A plugin name typed as papers write it (capitals, hyphens) is answered with the registered name."""
from __future__ import annotations

import pytest

from merbench.registry import close_names


@pytest.mark.parametrize("given, option, meant", [
    ("STSTNet", "--model", "ststnet"),
    ("OFF-ApexNet", "--model", "offapexnet"),
    ("CASME2", "--dataset", "casme2"),
    ("LOSO", "--protocol", "loso"),
])
def test_a_name_in_capitals_gets_the_registered_name_suggested(run_cli, given, option, meant):
    chosen = {"--model": "ststnet", "--dataset": "synthetic", "--protocol": "loso", option: given}
    result = run_cli("run", *[part for pair in chosen.items() for part in pair], "--profile", "quick", "--no-store")
    assert result.code == 2
    assert f"Did you mean '{meant}'?" in " ".join(result.err.split())
    assert "Traceback" not in result.err


def test_a_device_in_capitals_gets_its_spelling_suggested(run_cli):
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--device", "CPU", "--no-store")
    assert result.code == 2
    assert "(did you mean cpu?)" in " ".join(result.err.split())


def test_close_names_prefers_the_same_spelling_and_keeps_near_misses():
    known = ["convmixer", "convmixer-256-8", "ststnet", "offapexnet"]
    assert close_names("Off_ApexNet", known) == ["offapexnet"]
    assert close_names("CONVMIX", known) == ["convmixer", "convmixer-256-8"]
    assert close_names("lbp", known) == []
