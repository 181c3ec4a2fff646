"""``merbench tune`` reusing stored work: only for the same labels, saying when other software made it; the
loader's left-out rows and an unwritable storage said plainly."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from merbench import tuning  # noqa: E402
from realtrees import build_casme2  # noqa: E402

SPACE = "engine.lr: {type: float, low: 0.001, high: 0.02, log: true}\n"
SYNTHETIC = ["--dataset", "synthetic", "--set", "dataset.subjects=6", "dataset.clips_per_subject=3",
             "protocol.n_splits=2", "engine.epochs=1"]
EMOTIONS = ["happiness", "disgust", "surprise"]


def casme2_rows(relabel: bool = False, missing: bool = False) -> list[tuple[int, str, str, str]]:
    """6 subjects x 3 clips; ``relabel``: the first clip of every subject recoded happiness -> surprise (same ids);
    ``missing``: one more row whose frame folder is not on disk (the loader leaves it out)."""
    rows = [(s, f"EP0{k + 2}_0{s % 3 + 1}", "surprise" if relabel and k == 0 else emotion, "ok")
            for s in range(1, 7) for k, emotion in enumerate(EMOTIONS)]
    return rows + ([(1, "EP09_01", "disgust", "nofolder")] if missing else [])


def tune(run_cli, tmp_path: Path, *data: str, name: str = "tune"):
    """``merbench tune`` (1 trial per outer fold, 2 inner folds) on ``data``; (result, summary or None)."""
    target = tmp_path / f"{name}.json"
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    result = run_cli("tune", "--model", "ststnet", "--profile", "quick", "--quiet", "--trials", "1",
                     "--inner-folds", "2", "--space", str(space), "--storage", str(tmp_path / "trials.sqlite"),
                     "--json", str(target), *data)
    return result, (json.loads(target.read_text()) if target.exists() else None)


def casme2(root: Path) -> list[str]:
    return ["--dataset", "casme2", "--root", str(root), "--set", "protocol.n_splits=2", "engine.epochs=1"]


def test_changed_labels_start_new_studies_instead_of_reusing_the_old_ones(run_cli, tmp_path):
    root = build_casme2(tmp_path / "casme2", rows=casme2_rows())
    first, before = tune(run_cli, tmp_path, *casme2(root), name="before")
    assert first.code == 0, first.err
    build_casme2(root, rows=casme2_rows(relabel=True))  # the coding sheet corrected: same clip ids, other emotions
    again, after = tune(run_cli, tmp_path, *casme2(root), name="after")
    assert again.code == 0, again.err
    # Trials scored on the old labels are not reused: the new labels have studies of their own (the old 2 are kept).
    assert after["search"]["key"] != before["search"]["key"]
    studies = sqlite3.connect(tmp_path / "trials.sqlite").execute("SELECT study_name FROM studies").fetchall()
    assert len(studies) == 4
    assert [r["id"] for r in after["predictions"]] == [r["id"] for r in before["predictions"]]
    assert [r["label"] for r in after["predictions"]] != [r["label"] for r in before["predictions"]]
    assert "were made with other labels or classes for the same clips" in " ".join(again.err.split())


def test_resume_after_the_labels_changed_says_why_nothing_is_stored(run_cli, tmp_path):
    root = build_casme2(tmp_path / "casme2", rows=casme2_rows())
    assert tune(run_cli, tmp_path, *casme2(root))[0].code == 0
    build_casme2(root, rows=casme2_rows(relabel=True))
    result, _ = tune(run_cli, tmp_path, *casme2(root), "--resume")
    assert result.code == 2
    assert "made with other labels or classes" in " ".join(result.err.split())


def test_reused_work_of_other_software_is_said_once_and_recorded(run_cli, tmp_path, monkeypatch):
    from merbench import environment

    first, before = tune(run_cli, tmp_path, *SYNTHETIC, name="before")
    assert first.code == 0, first.err
    made_by = before["environment"]["git_commit"]
    stored = sqlite3.connect(tmp_path / "trials.sqlite").execute(
        "SELECT value_json FROM study_user_attributes WHERE key = 'software'").fetchall()
    assert stored and all(json.loads(value)["torch"] for value, in stored)  # recorded with each study
    same, unchanged = tune(run_cli, tmp_path, *SYNTHETIC, name="same")
    assert same.code == 0 and "reused" in same.err and "other software" not in same.out + same.err
    assert unchanged["warnings"] == [] and unchanged["search"]["reused_other_software"] == []

    monkeypatch.setattr(environment, "git_commit", lambda: "f" * 40)  # the code changed since
    again, after = tune(run_cli, tmp_path, *SYNTHETIC, name="after")
    assert again.code == 0, again.err
    change = f"git_commit {made_by or 'unknown'} → {'f' * 40}"
    assert after["search"]["reused_other_software"] == [change]
    [warning] = after["warnings"]
    assert "2 stored trials and 2 stored refits reused by this tune were made by other software" in warning
    assert warning.endswith(f"Stored → now: {change}")
    assert " ".join((again.out + again.err).split()).count("made by other software") == 1
    assert after["pooled"] == before["pooled"]  # still reused: the note says what the scores measure


def test_rows_the_loader_left_out_are_noted_once_and_recorded(run_cli, tmp_path):
    root = build_casme2(tmp_path / "casme2", rows=casme2_rows(missing=True))
    result, summary = tune(run_cli, tmp_path, *casme2(root))
    assert result.code == 0, result.err
    err = " ".join(result.err.split())
    assert err.count("1 annotation row left out by the casme2 loader") == 1, result.err
    assert summary["n_samples"] == 18
    assert any("1 annotation row left out by the casme2 loader" in w for w in summary["warnings"])


@pytest.fixture
def read_only_storage(tmp_path):
    """An Optuna storage file this process cannot write (``chattr +i`` as root, else mode 444)."""
    import optuna

    path = tmp_path / "archived.sqlite"
    optuna.create_study(study_name="kept", storage=f"sqlite:///{path}")
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available here")
        yield path
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    else:
        path.chmod(0o444)
        yield path
        path.chmod(0o644)


def test_a_storage_file_that_is_not_writable_is_one_clear_error(run_cli, tmp_path, read_only_storage, monkeypatch):
    monkeypatch.setattr(tuning, "load_dataset", lambda *a: pytest.fail("the storage is checked before loading data"))
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    result = run_cli("tune", "--model", "ststnet", "--profile", "quick", "--quiet", "--trials", "1",
                     "--space", str(space), "--storage", str(read_only_storage), *SYNTHETIC)
    assert result.code == 2, result.err
    err = " ".join(result.err.split())
    assert f"--storage {read_only_storage}: is not writable" in err
    assert "copy it to a writable place" in err and "Traceback" not in err


def test_a_storage_failure_names_its_cause(run_cli, tmp_path, monkeypatch):
    import optuna

    def fails(*args):
        try:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        except sqlite3.OperationalError as exc:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from exc

    monkeypatch.setattr(tuning, "tune_fold", fails)
    result, _ = tune(run_cli, tmp_path, *SYNTHETIC)
    assert result.code == 1
    assert "cause: attempt to write a readonly database" in " ".join(result.err.split())
