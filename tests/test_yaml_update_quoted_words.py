"""``regress --update`` keeps a baseline's comments and layout when it holds YAML 1.1 words and numbers.

ruamel writes YAML 1.2 and merbench reads with PyYAML (YAML 1.1): ``'off'`` was written back as a plain
``off``, which PyYAML reads as false, so the rewrite did not read back and the whole file was silently
rewritten plainly (every comment gone, flow maps in block style); ``5e-1`` came back as the string ``'5e-1'``.
"""

from __future__ import annotations

import yaml

from test_regress_baseline_checks import ROUNDED_AWAY, fake_runs, regress

LAB = """\
version: 1
defaults:
  profile: quick
  set: {engine.amp: 'off', protocol.n_splits: 3, dataset.subjects: 4, dataset.clips_per_subject: 6}   # keep amp off!
entries:   # one per model
  - model: lbptop-svm
    metrics:
      uf1: {expected: 0.3, tolerance: 5e-1}   # from Table 2
# end of lab baseline
"""


def test_a_quoted_yaml_1_1_word_keeps_the_files_comments_and_layout(run_cli, tmp_path, monkeypatch):
    fake_runs(monkeypatch, ROUNDED_AWAY)
    baseline = tmp_path / "lab.yaml"
    baseline.write_text(LAB)
    result = regress(run_cli, baseline, "--update")
    assert result.code == 0, result.out + result.err
    assert "comments and layout could not be kept" not in result.out
    text = baseline.read_text()
    spaced = lambda lines: [" ".join(line.split()) for line in lines.splitlines()]  # noqa: E731 - a comment keeps its column
    assert spaced(text) == spaced(LAB.replace("expected: 0.3,", "expected: 0.3027,")), text
    assert text.startswith(LAB.split("entries")[0]), "unchanged lines are unchanged"
    assert yaml.safe_load(text)["defaults"]["set"]["engine.amp"] == "off"
    assert regress(run_cli, baseline).code == 0  # it reads back, and passes


def test_new_strings_are_quoted_where_pyyaml_would_read_them_as_something_else():
    from merbench.yaml_update import updated_yaml_text

    original = "version: 1\nflags: {a: true, b: 1, c: 1.0}  # kept\nentries: []\n"
    new = {"version": 1, "flags": {"a": 1, "b": True, "c": 1},
           "entries": [{"model": "on", "set": {"engine.amp": "off", "no": "null", "x": "~", "y": "1_000", "z": "5e-1",
                                               "plain": "convmixer"}}]}
    text = updated_yaml_text(original, new)
    assert yaml.safe_load(text) == new, text
    assert "flags: {a: 1, b: true, c: 1}" in text and "# kept" in text, "a boolean is never kept for a number, nor one for it"
    assert "model: 'on'" in text and "engine.amp: 'off'" in text and "'no': 'null'" in text
    assert "plain: convmixer" in text
    grown = updated_yaml_text("set: {a: 1}  # note\n", {"set": {"a": 1, "off": 2}})  # a new key in a kept mapping
    assert yaml.safe_load(grown) == {"set": {"a": 1, "off": 2}} and "# note" in grown, grown


def test_values_that_did_not_change_are_written_as_the_file_has_them():
    from merbench.yaml_update import updated_yaml_text

    original = ("version: 1\nset: {engine.amp: 'off', model.kind: \"yes\", dataset.frames: 0o10}\n"
                "tolerance: 5e-1\nexpected: 0.30\nentries: []\n")
    assert updated_yaml_text(original, yaml.safe_load(original)) == original
    changed = updated_yaml_text("tolerance: 5e-1  # hand-set\n", {"tolerance": 0.5})  # text to PyYAML, now a number
    assert yaml.safe_load(changed) == {"tolerance": 0.5} and "# hand-set" in changed


def test_a_rewrite_that_cannot_keep_the_comments_says_so(run_cli, tmp_path, monkeypatch):
    import merbench.regress

    fake_runs(monkeypatch, ROUNDED_AWAY)
    monkeypatch.setattr(merbench.regress, "updated_yaml_text", lambda original, document: "entries: -\n  broken")
    baseline = tmp_path / "lab.yaml"
    baseline.write_text(LAB)
    result = regress(run_cli, baseline, "--update")
    assert result.code == 0, result.out + result.err
    out = " ".join(result.out.split())
    assert (f"Note: --baseline {baseline}: its comments and layout could not be kept (the rewrite that kept them did "
            "not read back as the new values), so it is written plainly under the standard header; copy back any "
            "comment you need from an earlier copy of the file.") in out, out
    assert "# keep amp off!" not in baseline.read_text()
    assert yaml.safe_load(baseline.read_text())["defaults"]["set"]["engine.amp"] == "off"
