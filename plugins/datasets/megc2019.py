"""Dataset ``megc2019``: the MEGC2019 3-class composite of SMIC-HS, CASME II and SAMM.

Classes negative, positive, surprise with the mapping of docs/datasets.md (each source's
section; CASME II others/fear/sadness and SAMM Other dropped). Every sample's ``domain``
is ``smic``, ``casme2`` or ``samm`` and its subject and id carry that prefix
(``casme2/sub01``), so subjects stay distinct and ``--protocol megc2019`` scores
each part. The three trees are found as:

* ``--set dataset.smic=DIR dataset.casme2=DIR dataset.samm=DIR`` (a relative
  path is taken under ``--root`` when given, else from the working folder; the
  summary's ``parts.NAME.root`` records the absolute folder read); or
* one ``--root`` whose sub-folders hold them: the only sub-folder whose name
  contains ``smic``, ``casme`` and ``samm`` respectively (e.g. ``SMIC/``,
  ``CASME2/``, ``SAMM/``), each in the layout of its own dataset plugin.

``dataset.list=official`` (the default) keeps exactly the samples of the
challenge's ground-truth list (``megc2019_official.csv``, 442 rows, shipped with
merbench) with the list's labels, matching its ids to the releases' spellings
(SMIC ``s01_ne_01`` = ``s1_ne_01``, SAMM subject ``6`` = ``006``); the summary's
``official_list`` names listed samples missing from your copies and samples
present but not listed. ``dataset.list=derived`` maps each release's emotions
instead (no list). ``dataset.fixes=known|none`` as for CASME II and SAMM.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from merbench.contracts import Dataset
from merbench.datafiles import check_cache_outside
from merbench.errors import DataError, UsageError
from merbench_plugins.datasets import casme2, samm, smic
from merbench_plugins.datasets.common import (
    COMPOSITE_CLASSES,
    Part,
    as_bool,
    class_counts,
    enforce_strict,
    folders_in,
)
from merbench_plugins.datasets.fixes import choose_mode, empty_report

PARTS = ("smic", "casme2", "samm")
HINTS = {"smic": "smic", "casme2": "casme", "samm": "samm"}
PREFERRED = {"casme2": re.compile(r"casme[\s_-]*(2|ii)(?![0-9i])")}
"""Which of several folders matching a part's hint is that part's: ``CASME2`` or ``CASME II`` beside ``CASME``
(CASME I) or ``CASME3`` (CAS(ME)³) in a folder of a lab's releases."""
LISTS = ("official", "derived")
OFFICIAL = Path(__file__).with_name("megc2019_official.csv")
OFFICIAL_SOURCE = "Facial-Micro-ExpressionGC/MEGC2019 images/combined_3class_gt.csv (the challenge's 442-row ground truth)"


def list_key(domain: str, subject: str, clip: str) -> tuple:
    """A sample's join key, the same for the list's and the releases' spellings of its ids."""
    clip = clip.strip().lower()
    if domain == "smic":
        match = re.fullmatch(r"s0*(\d+)_(ne|po|sur)_0*(\d+)", clip)
        return (domain, int(match.group(1)), match.group(2), int(match.group(3))) if match else (domain, clip)
    if domain == "samm":
        match = re.fullmatch(r"0*(\d+)_0*(\d+)_0*(\d+)", clip)
        return (domain, *map(int, match.groups())) if match else (domain, clip)
    number = re.search(r"\d+", subject)
    return (domain, int(number.group()) if number else subject.strip().lower(), clip)


def read_list(path: Path = OFFICIAL) -> dict[tuple, dict[str, str]]:
    """The official list's rows (``domain, subject, clip, label``) by join key."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {list_key(r["domain"], r["subject"], r["clip"]): r for r in rows}


def part_root(name: str, value: str, root: Path | None) -> Path:
    """The folder of one part, from ``dataset.NAME`` or a matching sub-folder of ``root``, as an absolute path (without
    ``..``, links kept, as ``--root`` is recorded): the summary records it, and a re-run of a relative
    ``dataset.NAME`` from another working folder reads it (``config.RECORDED_FOLDERS``)."""
    if value:
        path = Path(value).expanduser()
        if not path.is_absolute() and root is not None:
            path = root / path
        if not path.is_dir():
            what = f"{path} is a file, not a folder" if path.exists() else f"no such folder {path}"
            raise DataError(f"dataset.{name}={value}: {what}; give the folder of your {name} copy")
        folders_in(path)  # a DataError when the part's folder cannot be read
        return Path(os.path.abspath(path))
    if root is None:
        raise UsageError(
            "megc2019 needs SMIC, CASME II and SAMM: give --root DIR holding all three, or "
            "--set dataset.smic=DIR dataset.casme2=DIR dataset.samm=DIR"
        )
    matches = [d for d in folders_in(root) if HINTS[name] in d.name.lower()]
    preferred = [d for d in matches if name in PREFERRED and PREFERRED[name].search(d.name.lower())]
    if len(matches) > 1 and len(preferred) == 1:
        matches = preferred
    if len(matches) != 1:
        found = f"found {', '.join(d.name for d in matches)}" if matches else "found none"
        raise DataError(
            f"expected one sub-folder of {root} whose name contains '{HINTS[name]}' for {name} ({found}); "
            f"rename it or give --set dataset.{name}=DIR"
        )
    folders_in(matches[0])  # a DataError when the part's folder cannot be read
    return Path(os.path.abspath(matches[0]))


def part_source(name: str, value: str, folder: Path, root: Path | None) -> tuple[str, str]:
    """How a part's folder was given, as a message names it, and the option that gives it another."""
    where = f"dataset.{name}={value}" if value else f"the {folder.name} folder under --root {root}"
    return where, f"--set dataset.{name}=DIR"


def read_parts(roots: dict[str, Path], root: Path | None, options: dict[str, Any], classes: str,
               fixes: str) -> list[Part]:
    """The three parts in ``PARTS`` order; a part's DataError names the part, how its folder was given and the
    option that fixes it (not ``--root``, which gives the folder of all three)."""
    readers = {
        "smic": lambda folder, given: smic.read_part(folder, "hs", domain="smic", given=given),
        "casme2": lambda folder, given: casme2.read_part(folder, classes, str(options["casme2_frames"]),
                                                         domain="casme2", fixes=fixes, given=given),
        "samm": lambda folder, given: samm.read_part(folder, classes, domain="samm", fixes=fixes, given=given),
    }
    parts = []
    for name in PARTS:
        where, given = part_source(name, str(options[name] or ""), roots[name], root)
        try:
            parts.append(readers[name](roots[name], given))
        except DataError as exc:
            raise DataError(f"megc2019 part {name} ({where}): {exc}") from None
    return parts


def official_parts(parts: list[Part], listed: dict[tuple, dict[str, str]]) -> tuple[list[Part], dict[str, Any]]:
    """The parts cut down to the listed samples, labelled as the list says, and the coverage report."""
    release_label = {"smic": lambda e: e.label, "casme2": lambda e: casme2.CLASS_SETS["3"].get(e.extra.get("emotion", "")),
                     "samm": lambda e: samm.CLASS_SETS["3"].get(e.extra.get("emotion", ""))}
    found: set[tuple] = set()
    unlisted, mismatches, kept_parts = [], [], []
    for part in parts:
        kept = []
        for entry in part.entries:
            subject, _, clip = entry.id.partition("/")
            key = list_key(part.domain, subject, clip)
            composite = release_label[part.domain](entry)
            if key not in listed:
                unlisted.append({"domain": part.domain, "sample": entry.id, "emotion": entry.extra.get("emotion", entry.label),
                                 "composite": composite})
                continue
            found.add(key)
            label = listed[key]["label"]
            if composite != label:
                mismatches.append({"domain": part.domain, "sample": entry.id, "list": label, "release": composite})
            kept.append(dataclasses.replace(entry, label=label))
        kept_parts.append(Part(part.domain, COMPOSITE_CLASSES, kept, part.log, part.info))
    skipped = {}
    for part in parts:
        for entry in part.log.skipped:
            subject, _, clip = str(entry["sample"]).partition("/")
            skipped[list_key(part.domain, subject, clip)] = entry
    missing = []
    for key, row in listed.items():
        if key not in found:
            why = skipped.get(key)
            reason = f"in your copy but skipped: {why['reason']}" if why else "not in your copy"
            missing.append({**row, "reason": reason})
    per_domain = {
        name: {"listed": sum(1 for k in listed if k[0] == name), "found": sum(1 for k in found if k[0] == name)}
        for name in PARTS
    }
    report = {"list": OFFICIAL.name, "source": OFFICIAL_SOURCE, "listed": len(listed), "found": len(found),
              "per_domain": per_domain, "missing": missing, "unlisted": unlisted, "label_mismatches": mismatches}
    return kept_parts, report


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Load the three parts with the composite labels and join them (the official list's samples by default)."""
    if root is not None and not Path(root).is_dir():
        what = "is a file, not a folder" if Path(root).exists() else "no such folder"
        raise DataError(f"--root {root}: {what}; give the folder holding SMIC, CASME II and SAMM")
    which = str(options.get("list") or "official").strip().lower()
    if which not in LISTS:
        raise UsageError(f"dataset.list={options.get('list')}: choose official (the challenge's 442 samples) or derived "
                         "(every release row whose emotion maps to the 3 classes)")
    fixes = choose_mode(options.get("fixes", "known"))
    roots = {name: part_root(name, str(options[name] or ""), root) for name in PARTS}
    for folder in roots.values():
        check_cache_outside(folder, cache_dir)
    classes = "3" if which == "derived" else "all"
    parts = read_parts(roots, root, options, classes, fixes)
    parts[0].info["annotation_fixes"] = empty_report(fixes)
    coverage = None
    if which == "official":
        listed = read_list()
        parts, coverage = official_parts(parts, listed)

        def relevant(part: Part, entry: dict[str, Any]) -> bool:
            return list_key(part.domain, *_split(entry["sample"])) in listed
    else:
        def relevant(part: Part, entry: dict[str, Any]) -> bool:
            return True
    skipped = [entry for part in parts for entry in part.log.skipped if relevant(part, entry)]
    enforce_strict(skipped, as_bool(options["strict"]), "dataset 'megc2019'")
    samples = []
    for part in parts:
        for sample in part.samples(prefix=f"{part.domain}/"):
            # Each part numbers its own classes; re-number into the composite's.
            label = COMPOSITE_CLASSES.index(part.classes[sample.label])
            samples.append(dataclasses.replace(sample, label=label))
    summary: dict[str, Any] = {"parts": {}}
    for part in parts:
        part_samples = [s for s in samples if s.domain == part.domain]
        summary["parts"][part.domain] = {
            **part.summary(),
            "samples": len(part_samples),
            "subjects": len({s.subject for s in part_samples}),
            "class_counts": class_counts(COMPOSITE_CLASSES, (s.label for s in part_samples)),
        }
    summary["class_counts"] = class_counts(COMPOSITE_CLASSES, (s.label for s in samples))
    summary["skipped"] = len(skipped)
    summary["skipped_rows"] = skipped
    summary["fixed_rows"] = [entry for part in parts for entry in part.log.fixed if relevant(part, entry)]
    summary["fixed"] = len(summary["fixed_rows"])
    summary["dropped_by_class_set"] = {
        f"{part.domain}:{emotion}": count for part in parts for emotion, count in sorted(part.log.dropped.items())
    }
    summary["apex_middle_fallback"] = sum(1 for sample in samples if sample.apex is None)
    summary["frame_gap_rows"] = [entry for part in parts for entry in part.log.gaps if relevant(part, entry)]
    summary["frame_gaps"] = len(summary["frame_gap_rows"])
    summary["list"] = which
    if coverage is not None:
        summary["official_list"] = coverage
    summary["annotation_fixes"] = {
        "mode": fixes,
        **{key: [{"domain": part.domain, **entry} for part in parts for entry in part.info["annotation_fixes"][key]]
           for key in ("applied", "not_applied")},
    }
    return Dataset(name="megc2019", classes=COMPOSITE_CLASSES, samples=tuple(samples), summary=summary)


def _split(sample: str) -> tuple[str, str]:
    subject, _, clip = str(sample).partition("/")
    return subject, clip
