"""Known annotation errors of the releases and their usual fixes, applied as an explicit, recorded step.

``dataset.fixes=known`` (the default) applies the table below to the coding
sheet's cells before any row is read; ``none`` reads the sheet as released.
Every fix names the sample, the field, the value it expects to replace
(``None``: any), the new value and where the fix comes from. A fix is applied
only when the sheet still holds the expected old value, so a corrected sheet or
a row that is not the one the fix was written for is left alone and reported as
*not applied* with the reason. The report goes into ``Dataset.summary`` under
``annotation_fixes``, so a run's result says which annotations it scored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from merbench.errors import UsageError

MODES = ("known", "none")
MISSING = "(missing)"
"""As ``old``: the fix applies only when the cell is empty or ``/``."""
ALTERNATIVES = "(… or …)"
"""As ``old``: the fix applies only when the cell offers alternatives (``R12 or R14``)."""

MEB = "MEB (tvaranka/meb f731b0a) meb/datasets/datasets.py"
MEB_CASME2 = f"{MEB} Casme2 row {{row}}; which sample MEB's row is was inferred from the public 2019 sheet (uncertain)"
C3_FULL = "official CAS(ME)3_part_A_v2.xls (jingtingEmmaLi/CAS-ME-3)"
C3_ZHOUJU = "official exception/casme3_partA_error_list_ZhouJu.xlsx"


@dataclass(frozen=True)
class Fix:
    """One known error: ``field`` of ``sample`` holds ``old`` (``None``: any value) and should hold ``new``."""

    sample: str
    field: str
    old: Any
    new: Any
    source: str


def _casme2_apex(row: int, sample: str, apex: int) -> Fix:
    return Fix(sample, "apex", MISSING, apex, f"{MEB_CASME2.format(row=row)}; apex from optical flow")


def _mmew(sample: str, apex: int, offset: int, old: tuple[Any, Any] = (None, None)) -> list[Fix]:
    source = f"{MEB} Mmew: apex and offset wrong in the sheet"
    subject = sample[:3]
    return [Fix(f"{subject}/{sample}", "apex", old[0], apex, source), Fix(f"{subject}/{sample}", "offset", old[1], offset, source)]


KNOWN: dict[str, tuple[Fix, ...]] = {
    "casme2": (
        Fix("sub07/EP06_01", "offset", 68, 91, MEB_CASME2.format(row=60) + "; 'mistake in file'"),
        _casme2_apex(29, "sub04/EP12_01f", 279),
        _casme2_apex(35, "sub05/EP03_01", 68),
        _casme2_apex(60, "sub07/EP06_01", 78),
        _casme2_apex(203, "sub20/EP16_04", 103),
        _casme2_apex(234, "sub25/EP09_02", 98),
        _casme2_apex(237, "sub25/EP12_01", 153),
        _casme2_apex(238, "sub25/EP18_04f", 98),
    ),
    "samm": (
        Fix("013/013_1_9", "offset", None, 5739, f"{MEB} Samm row 56: 'mistake in file'"),
        Fix("028/028_4_1", "apex", 1143, 1105, f"{MEB} Samm row 125: apex after offset 1134"),
        Fix("032/032_3_1", "apex", 1930, 4945, f"{MEB} Samm row 132: apex before onset 4896"),
        Fix("032/032_3_2", "apex", 5127, 5130, f"{MEB} Samm row 133"),
        Fix("007/007_6_1", "aus", "(R6 or R12)+R15", "R12+R15", f"{MEB} Samm row 15: 'or' resolved by optical flow"),
        Fix("007/007_6_5", "aus", ALTERNATIVES, "R12+R15", f"{MEB} Samm row 18: 'or' resolved by optical flow"),
        Fix("011/011_4_2", "aus", "L12 or L14", "L14", f"{MEB} Samm row 41: 'or' resolved by optical flow"),
        Fix("014/014_5_2", "aus", "R12 or R14", "R14", f"{MEB} Samm row 64: 'or' resolved by optical flow"),
        Fix("035/035_7_2", "aus", "R14A or 17A or 24A", "R14A", f"{MEB} Samm row 154: 'or' resolved by optical flow"),
    ),
    "casme3": (
        Fix("spNO.149/d/112", "apex", 83, 160, f"{C3_FULL} (apex 83 is before onset 112; MEB uses 123)"),
        Fix("spNO.216/d/3647", "onset", 3647, 2647, f"{C3_FULL}; {MEB} Casme3 row 749"),
        Fix("spNO.214/c/5", "offset", 3460, 34, f"{MEB} Casme3 row 708 (a 3,456-frame 'micro-expression')"),
        Fix("spNO.40/e/1812", "offset", 0, 1845, f"{C3_FULL}; {MEB} Casme3 row 796"),
        Fix("spNO.40/e/2327", "offset", 0, 2403, f"{C3_FULL}; {MEB} Casme3 row 798"),
        Fix("spNO.216/e/0", "onset", 0, 1, f"{C3_ZHOUJU} (frame 0.jpg does not exist); {MEB} Casme3 row 750"),
        Fix("spNO.216/e/0", "apex", 0, 1, f"{C3_ZHOUJU} (frame 0.jpg does not exist); {MEB} Casme3 row 750"),
    ),
    "mmew": tuple(
        fix
        for args in (
            ("S04-01-001", 40, 75, (27, 40)), ("S04-02-002", 15, 54), ("S04-02-003", 46, 59), ("S04-03-001", 20, 98),
            ("S04-03-002", 25, 80), ("S04-03-003", 20, 93), ("S04-04-001", 23, 58), ("S04-04-002", 28, 61),
            ("S04-06-001", 32, 68), ("S13-01-001", 56, 88), ("S13-01-002", 32, 80), ("S13-02-001", 27, 85),
            ("S13-02-002", 22, 61), ("S13-02-004", 29, 108), ("S13-03-006", 31, 72), ("S13-04-001", 38, 106),
        )
        for fix in _mmew(*args)
    ),
}


def choose_mode(value: Any) -> str:
    """Validate ``dataset.fixes``."""
    mode = str(value or "known").strip().lower()
    if mode not in MODES:
        raise UsageError(f"dataset.fixes={value}: choose known (apply the known annotation fixes) or none (the sheet as released)")
    return mode


def _same(a: Any, b: Any) -> bool:
    def key(value: Any) -> str:
        text = re.sub(r"\s+", "", "" if value is None else str(value)).lower()
        if text in ("", "/"):
            return MISSING
        return text[:-2] if re.fullmatch(r"\d+\.0", text) else text

    if b == ALTERNATIVES:
        return re.search(r"\bor\b", "" if a is None else str(a), re.IGNORECASE) is not None
    return key(a) == (MISSING if b == MISSING else key(b))


def _shown(value: Any) -> Any:
    return None if value is None or str(value).strip() == "" else value


def empty_report(mode: str) -> dict[str, Any]:
    """The ``annotation_fixes`` entry of a summary before any fix is tried."""
    return {"mode": mode, "applied": [], "not_applied": []}


def apply_fixes(
    rows: Iterable[tuple[int, dict[str, Any]]],
    domain: str,
    mode: Any,
    sample_of: Callable[[Mapping[str, Any]], str | None],
    titles: Mapping[str, str],
    table: Iterable[Fix] | None = None,
) -> dict[str, Any]:
    """Apply the known fixes of ``domain`` to the sheet's cells in place; returns the report.

    ``sample_of`` gives a row's sample id (``None`` when the row has none);
    ``titles`` maps a cell key to the sheet's column title for the report.
    """
    mode = choose_mode(mode)
    report = empty_report(mode)
    if mode == "none":
        return report
    by_sample: dict[str, list[Fix]] = {}
    for fix in KNOWN.get(domain, ()) if table is None else table:
        by_sample.setdefault(fix.sample, []).append(fix)
    seen: set[Fix] = set()
    for row, cells in rows:
        sample = sample_of(cells)
        for fix in by_sample.get(sample or "", ()):
            seen.add(fix)
            current = cells.get(fix.field)
            entry = {"sample": sample, "row": row, "field": titles.get(fix.field, fix.field), "old": _shown(current),
                     "new": fix.new, "source": fix.source}
            if _same(current, fix.new):
                report["not_applied"].append({**entry, "reason": "the sheet already holds the new value"})
            elif fix.old is not None and not _same(current, fix.old):
                expected = {MISSING: "an empty or '/' cell", ALTERNATIVES: "'A or B' alternatives"}.get(
                    fix.old, repr(fix.old))
                report["not_applied"].append({**entry, "reason": f"the sheet holds {current!r}, the fix expects {expected}"})
            else:
                cells[fix.field] = fix.new
                report["applied"].append(entry)
    for fixes in by_sample.values():
        for fix in fixes:
            if fix not in seen:
                report["not_applied"].append({"sample": fix.sample, "row": None, "field": titles.get(fix.field, fix.field),
                                              "old": fix.old, "new": fix.new, "source": fix.source,
                                              "reason": "no such sample in the sheet"})
    return report


def fix_coded_sheet(rows: Iterable[tuple[int, dict[str, Any]]], domain: str, mode: Any,
                    subject_folder: Callable[[Any], str], titles: Mapping[str, str]) -> dict[str, Any]:
    """``apply_fixes`` for a sheet whose samples are ``{subject folder}/{Filename}`` (CASME II, SAMM)."""

    def sample_of(cells: Mapping[str, Any]) -> str | None:
        try:
            return f"{subject_folder(cells['subject'])}/{str(cells['filename'] or '').strip()}"
        except ValueError:
            return None

    return apply_fixes(rows, domain, mode, sample_of, titles)
