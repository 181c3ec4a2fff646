"""``merbench datasets check smic`` listed its subjects as text sorts them (``s1, s11, s12, … s2, s20, s3``); the
per-subject tables now number them as people do: ``s1, s2, s3, s11, s12, s20``, by domain first in a composite."""

from __future__ import annotations

import json

import realtrees as rt

SUBJECTS = [1, 2, 3, 11, 12, 20]


def _subject_rows(out: str, columns: int) -> list[list[str]]:
    lines = out.split("Samples per subject", 1)[1].strip().splitlines()
    rows = []
    for line in lines[1:]:
        if not line.split() or not line.split()[-1].isdigit():  # the table ends where its counts do
            break
        rows.append(line.split()[:columns])
    return rows


def test_smic_subjects_are_listed_by_number(run_cli, monkeypatch, tmp_path):
    clips = [(subject, label, 1) for subject in reversed(SUBJECTS) for label in ("negative", "surprise")]
    monkeypatch.setitem(rt.SMIC_CLIPS, "HS", clips)
    root = rt.build_smic(tmp_path / "smic", ("HS",))
    result = run_cli("datasets", "check", "smic", "--root", str(root), "--json", str(tmp_path / "check.json"))
    assert result.code == 0, result.err
    rows = _subject_rows(result.out, 1)
    assert rows == [[f"s{n}"] for n in SUBJECTS], result.out  # before: s1, s11, s12, s2, s20, s3
    record = json.loads((tmp_path / "check.json").read_text())  # for scripts: as it was, sorted as text
    assert [row["subject"] for row in record["per_subject"]] == sorted(f"s{n}" for n in SUBJECTS)


def test_a_composites_subjects_are_by_domain_then_number(run_cli, monkeypatch, tmp_path):
    clips = [(subject, label, 1) for subject in reversed(SUBJECTS) for label in ("negative", "surprise")]
    monkeypatch.setitem(rt.SMIC_CLIPS, "HS", clips)
    root = rt.build_megc(tmp_path / "megc")
    result = run_cli("datasets", "check", "megc2019", "--root", str(root), "--set", "dataset.list=derived")
    assert result.code == 0, result.err
    rows = _subject_rows(result.out, 2)
    smic = [subject for domain, subject in rows if domain == "smic"]
    assert smic == [f"smic/s{n}" for n in SUBJECTS], result.out
    domains = [domain for domain, _ in rows]
    assert domains == sorted(domains) and set(domains) == {"casme2", "samm", "smic"}
