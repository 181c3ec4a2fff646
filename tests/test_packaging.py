"""The built wheel: built-in plugins under a specific package name, registered by entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-w", str(out), "-q"],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stderr
    (found,) = out.glob("merbench-*.whl")
    return found


def test_wheel_does_not_claim_a_generic_top_level_name(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"merbench", "merbench_plugins"}
    repo = Path(__file__).resolve().parents[1]
    for folder, package in (("plugins", "merbench_plugins"), ("merbench", "merbench")):
        for source in (repo / folder).rglob("*.py"):
            if "__pycache__" not in source.parts:
                relative = source.relative_to(repo / folder).as_posix()
                assert f"{package}/{relative}" in names, f"{folder}/{relative} is missing from the wheel (pyproject packages)"


def test_wheel_registers_builtins_through_the_entry_point_group(wheel):
    archive = zipfile.ZipFile(wheel)
    (entry_points,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_points).decode()
    assert "[merbench]" in text and "merbench = merbench.cli:main" in text
    for target in ("datasets.synthetic", "preprocessors.flow", "models.convmixer", "protocols", "datasets", "models",
                   "preprocessors"):
        assert f"merbench_plugins.{target}" in text
