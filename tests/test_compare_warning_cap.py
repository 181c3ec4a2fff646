"""``compare`` prints at most ``SHOWN_WARNINGS`` leakage warnings under its table and counts the rest (a year's store
gave 1,201 lines); the table marks every leaky cell and ``--json`` keeps every warning."""

from __future__ import annotations

import json

import merbench.commands.compare as compare_command

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "protocol.n_splits=3"]


def test_warnings_beyond_the_cap_are_counted_not_printed(run_cli, tmp_path, monkeypatch):
    store = tmp_path / "results.sqlite"
    for seed in ("0", "1"):
        made = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                       "--protocol", "sample-10fold", "--seed", seed, "--store", str(store), *TINY,
                       "model.C=" + ("1" if seed == "0" else "2"))
        assert made.code == 0, made.err
    every = run_cli("compare", "--store", str(store))
    assert every.code == 0 and every.out.count("⚠ leakage:") == 2
    monkeypatch.setattr(compare_command, "SHOWN_WARNINGS", 1)
    capped = run_cli("compare", "--store", str(store))
    assert capped.out.count("⚠ leakage:") == 2 and "and 1 more leaky cells" in " ".join(capped.out.split())
    listed = run_cli("compare", "--store", str(store), "--json")
    assert len(json.loads(listed.out)["warnings"]) == 2
