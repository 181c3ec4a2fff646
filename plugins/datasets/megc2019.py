"""Dataset ``megc2019``: the MEGC2019 3-class composite of SMIC-HS, CASME II and SAMM.

Classes negative, positive, surprise with the mapping of DESIGN.md section 3
(CASME II others/fear/sadness and SAMM Other dropped). Every sample's ``domain``
is ``smic``, ``casme2`` or ``samm`` and its subject and id carry that prefix
(``casme2/sub01``), so subjects stay distinct and ``--protocol megc2019`` scores
each part. The three trees are found as:

* ``--set dataset.smic=DIR dataset.casme2=DIR dataset.samm=DIR`` (a relative
  path is taken under ``--root`` when given, else from the working folder); or
* one ``--root`` whose sub-folders hold them: the only sub-folder whose name
  contains ``smic``, ``casme`` and ``samm`` respectively (e.g. ``SMIC/``,
  ``CASME2/``, ``SAMM/``), each in the layout of its own dataset plugin.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from merbench.contracts import Dataset
from merbench.errors import DataError, UsageError
from merbench_plugins.datasets import casme2, samm, smic
from merbench_plugins.datasets.common import COMPOSITE_CLASSES, as_bool, check_cache_outside, class_counts, enforce_strict

PARTS = ("smic", "casme2", "samm")
HINTS = {"smic": "smic", "casme2": "casme", "samm": "samm"}


def part_root(name: str, value: str, root: Path | None) -> Path:
    """The folder of one part, from ``dataset.NAME`` or a matching sub-folder of ``root``."""
    if value:
        path = Path(value).expanduser()
        if not path.is_absolute() and root is not None:
            path = root / path
        if not path.is_dir():
            raise DataError(f"dataset.{name}={value}: no such folder {path}; give the folder of your {name} copy")
        return path
    if root is None:
        raise UsageError(
            "megc2019 needs SMIC, CASME II and SAMM: give --root DIR holding all three, or "
            "--set dataset.smic=DIR dataset.casme2=DIR dataset.samm=DIR"
        )
    matches = sorted(d for d in root.iterdir() if d.is_dir() and HINTS[name] in d.name.lower())
    if len(matches) != 1:
        found = f"found {', '.join(d.name for d in matches)}" if matches else "found none"
        raise DataError(
            f"expected one sub-folder of {root} whose name contains '{HINTS[name]}' for {name} ({found}); "
            f"rename it or give --set dataset.{name}=DIR"
        )
    return matches[0]


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Load the three parts with the composite labels and join them."""
    if root is not None and not Path(root).is_dir():
        raise DataError(f"--root {root}: no such folder; give the folder holding SMIC, CASME II and SAMM")
    roots = {name: part_root(name, str(options[name] or ""), root) for name in PARTS}
    for folder in roots.values():
        check_cache_outside(folder, cache_dir)
    parts = [
        smic.read_part(roots["smic"], "hs", domain="smic"),
        casme2.read_part(roots["casme2"], "3", str(options["casme2_frames"]), domain="casme2"),
        samm.read_part(roots["samm"], "3", domain="samm"),
    ]
    skipped = [entry for part in parts for entry in part.log.skipped]
    enforce_strict(skipped, as_bool(options["strict"]), "dataset 'megc2019'")
    samples = []
    for part in parts:
        for sample in part.samples(prefix=f"{part.domain}/"):
            # Each part numbers its own (present) classes; re-number into the composite's.
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
    summary["fixed_rows"] = [entry for part in parts for entry in part.log.fixed]
    summary["fixed"] = len(summary["fixed_rows"])
    summary["dropped_by_class_set"] = {
        f"{part.domain}:{emotion}": count for part in parts for emotion, count in sorted(part.log.dropped.items())
    }
    summary["apex_middle_fallback"] = sum(len(part.log.apex_fallback) for part in parts)
    return Dataset(name="megc2019", classes=COMPOSITE_CLASSES, samples=tuple(samples), summary=summary)
