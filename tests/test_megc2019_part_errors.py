"""Under megc2019 a part's wrong folder names the part, how its folder was given and the option that fixes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import realtrees as rt


@pytest.fixture(scope="module")
def megc(tmp_path_factory) -> Path:
    return rt.build_megc(tmp_path_factory.mktemp("megc_parts") / "M")


def flat(text: str) -> str:
    return " ".join(text.split())


def swapped(megc: Path, **wrong: str) -> list[str]:
    """``--set`` giving each part its own folder except those in ``wrong`` (part → sub-folder)."""
    folders = {"smic": "SMIC", "casme2": "CASME2", "samm": "SAMM", **wrong}
    return ["--set", *(f"dataset.{name}={megc / folder}" for name, folder in folders.items())]


@pytest.mark.parametrize("part, folder, expected", [
    ("casme2", "SAMM", "expected CASME2-coding-*.xlsx or CASME2*coding*.xlsx in {path}; "
                       "give the folder of your CASME II copy with --set dataset.casme2=DIR"),
    ("samm", "CASME2", "expected SAMM_Micro_FACS_Codes*.xlsx or SAMM*Codes*.xlsx in {path}; "
                       "give the folder of your SAMM copy with --set dataset.samm=DIR"),
    ("smic", "CASME2", "expected the folder HS/ in {path} (SMIC layout HS/s1/micro/negative/s1_ne_01/image000123.bmp); "
                       "give the folder of your SMIC copy, which holds HS/, with --set dataset.smic=DIR"),
])
def test_part_given_with_set_names_the_part_and_its_option(run_cli, megc, part, folder, expected):
    result = run_cli("datasets", "check", "megc2019", *swapped(megc, **{part: folder}))
    message = flat(result.err)
    assert result.code == 2, result.out
    assert f"megc2019 part {part} (dataset.{part}={megc / folder}): " in message, message
    assert expected.format(path=megc / folder) in message, message
    assert "with --root" not in message and "Traceback" not in result.err


def test_part_found_under_root_says_so(run_cli, megc, tmp_path):
    root = tmp_path / "M"
    shutil.copytree(megc, root)
    (root / "CASME2" / "CASME2-coding-20140508.xlsx").unlink()
    result = run_cli("datasets", "check", "megc2019", "--root", str(root))
    message = flat(result.err)
    assert result.code == 2, result.out
    assert f"megc2019 part casme2 (the CASME2 folder under --root {root}): expected CASME2-coding-*.xlsx" in message
    assert message.endswith("give the folder of your CASME II copy with --set dataset.casme2=DIR"), message
    fixed = run_cli("datasets", "check", "megc2019", "--root", str(root), "--set", f"dataset.casme2={megc / 'CASME2'}")
    assert "megc2019 part" not in flat(fixed.err), fixed.err
