"""``merbench runs --limit 9223372036854775807`` (a script's "all") passed N + 1 to SQLite's LIMIT, which takes
numbers below 2**63: a raw OverflowError traceback, exit 1. A limit beyond any store's size now lists every run,
as ``--limit 0`` does; a negative or non-numeric one is still refused with exit 2."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def store(run_cli, tmp_path):
    path = tmp_path / "results.sqlite"
    for seed in ("0", "1"):
        done = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                       "--seed", seed, "--store", str(path))
        assert done.code == 0, done.err
    return path


@pytest.mark.parametrize("limit", ["9223372036854775807", "99999999999999999999"])
def test_a_limit_beyond_sqlites_numbers_lists_every_run(store, run_cli, limit):
    listed = run_cli("runs", "--json", "--limit", limit, "--store", str(store))
    assert listed.code == 0, listed.err
    every = run_cli("runs", "--json", "--limit", "0", "--store", str(store))
    assert len(json.loads(listed.out)) == 2 and listed.out == every.out
    shown = run_cli("runs", "--limit", limit, "--store", str(store))
    assert shown.code == 0 and "Traceback" not in shown.err


@pytest.mark.parametrize("limit", ["-1", "lots"])
def test_a_limit_that_is_no_number_of_runs_is_still_refused(run_cli, tmp_path, limit):
    refused = run_cli("runs", "--limit", limit, "--store", str(tmp_path / "results.sqlite"))
    assert refused.code == 2 and "is not a number of runs: give N >= 1 (e.g. --limit 5), or 0 for all" in refused.err
