"""A third-party dataset plugin that reports the rows it left out or repaired the documented way
(``summary={"skipped_rows": [...], "fixed_rows": [...]}``, no counts): ``datasets check`` counts them in its overview
as in its tables, and a run with ``dataset.strict=true`` refuses them as ``datasets check --strict`` does."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from merbench.contracts import Dataset, Sample
from merbench.dataset_check import check_strict_rows
from merbench.errors import DataError

PLUGIN = '''
import dataclasses

from merbench.contracts import DatasetPlugin
from merbench.hookspecs import hookimpl
from merbench_plugins.datasets.synthetic import load as load_synthetic


def load(root, options, cache_dir):
    dataset = load_synthetic(None, {"preset": "easy", "subjects": 8, "clips_per_subject": 6, "size": 32,
                                    "frames": 8, "seed": 0, "domains": 1}, cache_dir)
    left_out, repaired = dataset.samples[0], dataset.samples[1]
    summary = {"annotation": "labels.csv",
               "skipped_rows": [{"row": 2, "sample": left_out.id, "reason": "emotion 'others' is not a class"}],
               "fixed_rows": [{"row": 3, "sample": repaired.id, "note": "apex after the offset: set to the offset"}]}
    return dataclasses.replace(dataset, name="rowcorpus", samples=dataset.samples[1:], summary=summary)


@hookimpl
def merbench_register_datasets(register):
    register(DatasetPlugin(name="rowcorpus", load=load, description="synthetic clips, one row skipped, one fixed",
                           options={"strict": False}, needs_root=False))
'''


@pytest.fixture
def rowcorpus(install_plugin):
    install_plugin("merbench-rowcorpus", "rowcorpus", "merbench_rowcorpus", PLUGIN)


def _overview(out: str, fact: str) -> str:
    return next(re.sub(r"\s+", " ", line).strip() for line in out.splitlines() if line.strip().startswith(fact))


def test_check_counts_a_plugin_s_skipped_and_fixed_rows_in_its_overview(rowcorpus, run_cli):
    result = run_cli("datasets", "check", "rowcorpus")
    assert result.code == 0, result.err
    assert _overview(result.out, "rows skipped") == "rows skipped 1"
    assert _overview(result.out, "rows fixed") == "rows fixed 1"
    assert "Rows skipped (1)" in result.out and "Rows fixed (1)" in result.out
    assert "usable: 47 samples, 8 subjects, 1 row skipped" in result.out


# ------------------------------------------------------------------ dataset.strict=true on a run refuses the rows


RUN = ("run", "--model", "ststnet", "--protocol", "loso", "--profile", "quick", "--epochs", "1", "--no-store", "--quiet")


def test_a_strict_run_refuses_the_rows_a_plugin_s_loader_skipped(rowcorpus, run_cli):
    result = run_cli(*RUN, "--dataset", "rowcorpus", "--set", "dataset.strict=true")
    message = " ".join(result.err.split())
    assert result.code == 2, result.err
    assert ("merbench: error: dataset 'rowcorpus' with dataset.strict=true: its loader skipped 1 row, first row 2 "
            "(s01_c001): ") in message
    assert "emotion 'others' is not a class; fix them (`merbench datasets check rowcorpus` lists them" in message
    assert "or run with dataset.strict=false to leave them out" in message
    assert "Traceback" not in result.err and "Note:" not in result.err


def test_the_check_still_lists_every_row_before_its_strict_verdict(rowcorpus, run_cli):
    result = run_cli("datasets", "check", "rowcorpus", "--set", "dataset.strict=true")
    assert result.code == 2
    assert "Rows skipped (1)" in result.out
    assert "strict check (--strict or dataset.strict=true): 1 row skipped" in " ".join(result.err.split())


def test_a_built_in_loader_s_own_strict_refusal_is_said_once(run_cli, tmp_path):
    import realtrees as rt

    rt.build_casme2(tmp_path / "casme2")
    result = run_cli(*RUN, "--dataset", "casme2", "--root", str(tmp_path / "casme2"), "--set", "dataset.strict=true")
    message = " ".join(result.err.split())
    assert result.code == 2, result.err
    assert "dataset 'casme2': 2 rows cannot be used" in message and "its loader skipped" not in message


@pytest.mark.parametrize("options, refused", [({}, False), ({"strict": False}, False), ({"strict": "off"}, False),
                                              ({"strict": True}, True), ({"strict": "yes"}, True)])
def test_only_a_dataset_set_strict_refuses_its_skipped_rows(options, refused):
    frames = tuple(Path(f"f{i}.png") for i in range(3))
    samples = tuple(Sample(id=f"s{i}/c", subject=f"s{i}", label=i, domain="d", frames=frames, onset=0, apex=1,
                           offset=2) for i in range(2))
    dataset = Dataset("mine", ("a", "b"), samples,
                      summary={"skipped_rows": [{"row": 4, "sample": "s9/c", "reason": "no frames"}]})
    if refused:
        with pytest.raises(DataError, match=r"its loader skipped 1 row, first row 4 \(s9/c\): no frames"):
            check_strict_rows(dataset, "mine", None, options)
    else:
        check_strict_rows(dataset, "mine", None, options)
    check_strict_rows(dataclasses.replace(dataset, summary={}), "mine", None, {"strict": True})


BAD_ROWS = PLUGIN.replace('"reason": "emotion ' + "'others'" + ' is not a class"', '"why": "no such class"')


def test_reported_rows_without_sample_or_reason_are_one_error_naming_the_plugin(install_plugin, run_cli):
    """A skipped row without its sample or reason broke every report of it with a KeyError (run note, check, strict)."""
    assert BAD_ROWS != PLUGIN
    install_plugin("merbench-rowcorpus", "rowcorpus", "merbench_rowcorpus", BAD_ROWS)
    result = run_cli("datasets", "check", "rowcorpus")
    said = " ".join(result.err.split())
    assert result.code == 2 and "Traceback" not in result.err, result.out + result.err
    assert ("dataset plugin 'rowcorpus' (merbench-rowcorpus 0.1): its summary['skipped_rows'] entry 1 of 1 is {'row': "
            "2, 'sample': '") in said
    assert "each must be {\"row\": int or None, \"sample\": id, \"reason\": text}" in said
