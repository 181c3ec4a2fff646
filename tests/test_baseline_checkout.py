"""benchmarks/baseline_checkout.py: a revision the checkout lacks skips a benchmark only in a shallow clone, where
``git fetch --unshallow`` can bring it; in a full clone it is a wrong revision, and the benchmark fails naming the
environment variable that gave it."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def outcome(module, revision: str) -> tuple[str, str]:
    """("ok" | "skipped" | "failed", what was said) of ``require_revision(revision)``."""
    try:
        module.require_revision(revision)
    except pytest.skip.Exception as exc:
        return "skipped", str(exc)
    except pytest.fail.Exception as exc:
        return "failed", str(exc)
    return "ok", ""


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """The module, and a repository of two commits with a shallow clone of its last; returns (module, full, shallow,
    the first commit)."""
    spec = importlib.util.spec_from_file_location("baseline_checkout", BENCHMARKS / "baseline_checkout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    full = tmp_path / "full"
    full.mkdir()
    git("init", "-q", cwd=full)
    for number in (1, 2):
        (full / "file.txt").write_text(f"{number}\n")
        git("add", "file.txt", cwd=full)
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", f"commit {number}", cwd=full)
    first = git("rev-parse", "HEAD~1", cwd=full)
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", f"file://{full}", str(shallow), cwd=tmp_path)
    for name in ("MERBENCH_BENCH_PREVIOUS", "MERBENCH_BENCH_BASELINE"):
        monkeypatch.delenv(name, raising=False)
    return module, full, shallow, first


def test_a_revision_a_shallow_clone_lacks_skips_with_the_unshallow_advice(checkout, monkeypatch):
    module, _, shallow, first = checkout
    monkeypatch.setattr(module, "REPOSITORY", shallow)
    what, said = outcome(module, first)
    assert what == "skipped", said
    assert f"needs revision {first} of the git history, which {shallow} lacks" in said
    assert said.endswith(": git fetch --unshallow")


@pytest.mark.parametrize("variable", ["MERBENCH_BENCH_PREVIOUS", "MERBENCH_BENCH_BASELINE"])
def test_a_revision_a_full_clone_lacks_fails_naming_its_variable(checkout, monkeypatch, variable):
    module, full, _, _ = checkout
    monkeypatch.setattr(module, "REPOSITORY", full)
    monkeypatch.setenv(variable, "deadbeef")
    what, said = outcome(module, "deadbeef")
    assert what == "failed", said
    assert said.startswith(f"{variable}=deadbeef: {full} has no such revision (")
    assert f"not a shallow clone, so fetching will not bring it; set {variable} to a commit of `git log`" in said
    assert "unshallow" not in said


def test_an_unknown_default_revision_fails_naming_both_variables(checkout, monkeypatch):
    module, full, _, _ = checkout
    monkeypatch.setattr(module, "REPOSITORY", full)
    what, said = outcome(module, "deadbeef")
    assert what == "failed", said
    assert said.startswith(f"the benchmark's default revision deadbeef is not in {full} (")
    assert "set MERBENCH_BENCH_PREVIOUS or MERBENCH_BENCH_BASELINE" in said and "unshallow" not in said


def test_a_revision_the_checkout_has_is_required_silently(checkout, monkeypatch):
    module, full, shallow, first = checkout
    monkeypatch.setattr(module, "REPOSITORY", full)
    assert outcome(module, first) == ("ok", "")
    monkeypatch.setattr(module, "REPOSITORY", shallow)
    assert outcome(module, git("rev-parse", "HEAD", cwd=shallow)) == ("ok", "")
