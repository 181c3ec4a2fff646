"""Dataset ``synthetic``: procedural micro-expression clips, merbench's embedded default.

The clips are generated once per set of options into the cache directory
(``$MERBENCH_CACHE/synthetic/<key>/``) in a real-dataset-like layout,
``<subject>/<clip>/img_000.png`` plus ``annotations.csv`` with subject, clip,
label, onset, apex and offset, and are read back from there afterwards. The
generator is described in ``merbench_plugins.synthetic_faces``.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

import cv2

from merbench.cache import content_key, publish_directory
from merbench.contracts import Dataset, DatasetPlugin, Sample
from merbench.errors import DataError, UsageError
from merbench.hookspecs import hookimpl
from merbench_plugins import synthetic_faces as faces

ANNOTATIONS = "annotations.csv"
FIELDS = ("subject", "clip", "label", "variant", "onset", "apex", "offset", "n_frames")


def _check_options(options: dict[str, Any]) -> None:
    limits = {"subjects": 2, "clips_per_subject": 1, "size": 16, "frames": 6, "domains": 1}
    for key, minimum in limits.items():
        if int(options[key]) < minimum:
            raise UsageError(f"dataset.{key}={options[key]}: must be at least {minimum}")
    if int(options["domains"]) > int(options["subjects"]):
        raise UsageError(f"dataset.domains={options['domains']}: cannot exceed dataset.subjects={options['subjects']}")
    if int(options["seed"]) < 0:
        raise UsageError(f"dataset.seed={options['seed']}: must be 0 or more")


def generate(target: Path, options: dict[str, Any]) -> None:
    """Write the whole dataset described by ``options`` into the empty folder ``target``."""
    seed, size, n_frames = int(options["seed"]), int(options["size"]), int(options["frames"])
    rows = []
    for s in range(int(options["subjects"])):
        subject = faces.make_subject(seed, s)
        subject_id = f"s{s + 1:02d}"
        for c in range(int(options["clips_per_subject"])):
            clip = faces.make_clip(subject, c, seed, size=size, n_frames=n_frames)
            clip_id = f"{subject_id}_c{c + 1:03d}"
            clip_dir = target / subject_id / clip_id
            clip_dir.mkdir(parents=True)
            for i, frame in enumerate(clip.frames):
                cv2.imwrite(str(clip_dir / f"img_{i:03d}.png"), frame)
            rows.append((subject_id, clip_id, faces.CLASSES[clip.label], clip.variant, clip.onset, clip.apex, clip.offset, n_frames))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FIELDS)
    writer.writerows(rows)
    (target / ANNOTATIONS).write_text(buffer.getvalue(), encoding="utf-8")


def domain_of(subject_index: int, n_subjects: int, n_domains: int) -> str:
    """The domain of a subject when the synthetic data imitates a composite of ``n_domains`` datasets."""
    if n_domains <= 1:
        return "synthetic"
    return f"synthetic-{subject_index * n_domains // n_subjects + 1}"


def read_tree(folder: Path, n_domains: int = 1) -> tuple[Sample, ...]:
    """Read a generated tree's annotations into samples (subjects split into ``n_domains`` blocks)."""
    samples = []
    with open(folder / ANNOTATIONS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    subject_order = sorted({row.get("subject", "") for row in rows})
    for row_number, row in enumerate(rows, start=2):
        try:
            n_frames = int(row["n_frames"])
            frames = tuple(folder / row["subject"] / row["clip"] / f"img_{i:03d}.png" for i in range(n_frames))
            samples.append(
                Sample(
                    id=row["clip"],
                    subject=row["subject"],
                    label=faces.CLASSES.index(row["label"]),
                    domain=domain_of(subject_order.index(row["subject"]), len(subject_order), n_domains),
                    frames=frames,
                    onset=int(row["onset"]),
                    apex=int(row["apex"]),
                    offset=int(row["offset"]),
                    extra={"variant": int(row["variant"])},
                )
            )
        except (KeyError, ValueError) as exc:
            raise DataError(
                f"{folder / ANNOTATIONS} row {row_number}: malformed ({exc}); the generated data is damaged: run `merbench cache clear --only synthetic --yes` "
                "to regenerate it"
            ) from None
    return tuple(samples)


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Generate (first time) or reuse the synthetic dataset for ``options``.

    ``root`` is ignored: the data lives in the cache directory.
    """
    _check_options(options)
    params = {key: int(options[key]) for key in ("subjects", "clips_per_subject", "size", "frames", "seed")}
    key = content_key("synthetic", faces.GENERATOR_VERSION, params)[:16]
    folder = cache_dir / "synthetic" / key
    generated = False
    if not (folder / ANNOTATIONS).is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key}."))
        try:
            generate(tmp, params)
            publish_directory(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        generated = True
    samples = read_tree(folder, int(options.get("domains", 1)))
    return Dataset(
        name="synthetic",
        classes=faces.CLASSES,
        samples=samples,
        summary={"folder": str(folder), "generated_now": generated, "generator_version": faces.GENERATOR_VERSION, **params},
    )


@hookimpl
def merbench_register_datasets(register):
    """Register the ``synthetic`` dataset."""
    register(
        DatasetPlugin(
            name="synthetic",
            load=load,
            description="Procedural micro-expression clips (3 classes, several subjects), generated into the cache; no download",
            options={"subjects": 16, "clips_per_subject": 12, "size": 64, "frames": 16, "seed": 0, "domains": 1},
            option_ranges={"subjects": ">= 2", "clips_per_subject": ">= 1", "size": ">= 16", "frames": ">= 6",
                           "seed": ">= 0", "domains": ">= 1"},
            profiles={
                "quick": {"subjects": 10, "clips_per_subject": 6, "size": 48, "frames": 10},
                "default": {},
                "paper": {"subjects": 24, "clips_per_subject": 16},
            },
            needs_root=False,
        )
    )
