"""``regress --update`` refuses a baseline that shares values (YAML anchors, aliases, merge keys), before any run.

Rewritten round-trip, an anchor and its aliases are one node: writing one metric's (or entry's) measured value
wrote it into every other use, silently, while the printed table showed the right numbers. A plain check only
reads the file, so it still takes one.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

HEAD = """\
version: 1
defaults:
  dataset: synthetic
  profile: quick
  device: cpu
  metrics: [uf1, accuracy]
  set: {dataset.subjects: 6, protocol.n_splits: 3}
entries:
"""
ALIASED_METRICS = HEAD + """\
  - model: ststnet
    metrics:
      uf1: &band {expected: 0.40, tolerance: 0.2}
      accuracy: *band
"""
MERGED_ENTRY = HEAD + """\
  - &e {model: ststnet, metrics: {uf1: {expected: 0.40, tolerance: 0.2}}}
  - <<: *e
    set: {engine.epochs: 6}
"""
INLINE_MERGE = HEAD + """\
  - model: ststnet
    metrics:
      uf1: {expected: 0.40, tolerance: 0.2}
      accuracy:
        <<: {expected: 0.40}
        tolerance: 0.2
"""
CASES = [(ALIASED_METRICS, 11, "anchor &band"), (MERGED_ENTRY, 9, "anchor &e"), (INLINE_MERGE, 13, "merge key <<")]


def write(folder: Path, text: str) -> Path:
    path = folder / "baseline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def no_runs(monkeypatch):
    """Training fails the test: a refused baseline must be refused before its entries run."""
    import merbench.commands.regress as command

    def run(*args, **kwargs):
        raise AssertionError("an entry ran before the baseline was refused")

    monkeypatch.setattr(command, "_run_one", run)


@pytest.mark.parametrize(("text", "line", "what"), CASES, ids=["alias", "merge-alias", "inline-merge"])
def test_update_refuses_a_shared_value_before_running_and_leaves_the_file(run_cli, tmp_path, no_runs, text, line, what):
    path = write(tmp_path, text)
    result = run_cli("--format", "plain", "regress", "--baseline", str(path), "--update", "--quiet", "--no-store")
    message = " ".join((result.out + result.err).split())
    assert result.code == 2, message
    assert "Traceback" not in message and "Running" not in message
    assert f"--baseline {path}: line {line} has the YAML {what};" in message
    assert "--update cannot give an alias's uses different values" in message
    assert "Write each value out in full (no &anchors, *aliases or << merge keys)" in message
    assert message.count("error:") == 1
    assert path.read_text(encoding="utf-8") == text


def test_a_plain_check_still_reads_a_file_with_aliases(run_cli, tmp_path, monkeypatch):
    """Without --update nothing is written: the check goes on to run the entries (here: a failing run, exit 1)."""
    import merbench.commands.regress as command
    from merbench.errors import RunFailed
    from merbench.regress import load_baseline

    path = write(tmp_path, ALIASED_METRICS)
    [entry] = load_baseline(path).entries
    bands = [(e.metric, e.expected, e.tolerance) for e in entry.expectations]
    assert bands == [("uf1", 0.4, 0.2), ("accuracy", 0.4, 0.2)]

    def run(*args, **kwargs):
        raise RunFailed("stopped by the test")

    monkeypatch.setattr(command, "_run_one", run)
    result = run_cli("--format", "plain", "regress", "--baseline", str(path), "--quiet", "--no-store")
    assert result.code == 1, result.out + result.err
    assert "Run failed:" in result.out and "stopped by the test" in result.out
    assert path.read_text(encoding="utf-8") == ALIASED_METRICS


def test_load_baseline_for_update_refuses_a_shared_value(tmp_path):
    from merbench.errors import UsageError
    from merbench.regress import load_baseline

    path = write(tmp_path, MERGED_ENTRY)
    with pytest.raises(UsageError, match=rf"--baseline {path}: line 9 has the YAML anchor &e;"):
        load_baseline(path, update=True)


def test_write_baseline_refuses_a_file_that_came_to_share_values(tmp_path):
    """Edited to use an alias while its entries ran: the rewrite is refused too, never written through the alias."""
    from merbench.errors import UsageError
    from merbench.regress import write_baseline

    path = write(tmp_path, ALIASED_METRICS)
    document = yaml.safe_load(ALIASED_METRICS)
    document["entries"][0]["metrics"] = {"uf1": {"expected": 0.3682, "tolerance": 0.2},
                                         "accuracy": {"expected": 0.3889, "tolerance": 0.2}}
    with pytest.raises(UsageError, match=r"line 11 has the YAML anchor &band; .* the file is not updated"):
        write_baseline(path, document)
    assert path.read_text(encoding="utf-8") == ALIASED_METRICS


def test_updated_yaml_text_never_writes_one_use_of_an_alias_into_another():
    from merbench.yaml_update import updated_yaml_text

    new = {"a": {"x": 1}, "b": {"x": 2}}
    with pytest.raises(ValueError, match=r"line 1: anchor &s shares a value"):
        updated_yaml_text("a: &s {x: 0}\nb: *s\n", new)


def test_shared_value_finds_the_first_anchor_alias_or_merge_key_and_nothing_else():
    from merbench.yaml_update import shared_value

    assert shared_value(ALIASED_METRICS) == ("anchor &band", 11)
    assert shared_value("a:\n  b: [1, {c: 2}]\n  <<: {d: 3}\n") == ("merge key <<", 3)
    plain = textwrap.dedent("""\
        "<<": quoted key
        value: <<
        list: [<<, {k: <<}]
        nested: {a: 1, b: [x, y]}
    """)
    assert shared_value(plain) is None
    assert shared_value("not: [closed\n") is None


def test_write_baseline_keeps_windows_line_ends(tmp_path):
    # a CRLF baseline (a Windows checkout) came back all LF: every line showed as changed in its diff
    from merbench.regress import write_baseline

    path = tmp_path / "crlf.yaml"
    path.write_bytes(b"# lab notes\r\nversion: 1\r\ndefaults: {dataset: synthetic}\r\nentries:\r\n"
                     b"  - model: ststnet\r\n    metrics: {uf1: {expected: 0.4, tolerance: 0.1}}\r\n")
    document = {"version": 1, "defaults": {"dataset": "synthetic"},
                "entries": [{"model": "ststnet", "metrics": {"uf1": {"expected": 0.5, "tolerance": 0.1}}}]}
    write_baseline(path, document)
    data = path.read_bytes()
    assert b"# lab notes\r\n" in data and b"0.5" in data
    assert data.count(b"\n") == data.count(b"\r\n") > 4
