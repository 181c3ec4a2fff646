"""Dataset ``synthetic``: procedural micro-expression clips, merbench's embedded default.

The clips are generated once per set of options into the cache directory
(``$MERBENCH_CACHE/synthetic/<key>/``) in a real-dataset-like layout,
``<subject>/<clip>/img_000.png`` plus ``annotations.csv`` with subject, clip,
label, onset, apex and offset, and are read back from there afterwards.

``dataset.preset`` chooses the generator: ``real`` (default, generator v3 in
``merbench_plugins.datasets.synthetic_real``: three pretend releases with the MEGC2019
composite's imbalance and difficulty) or ``easy`` (generator v2 in
``merbench_plugins.datasets.synthetic_faces``: balanced-ish, one domain, clearly
learnable; ``dataset.domains`` only relabels blocks of its subjects).
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

import cv2

from merbench.cache import content_key, publish_directory, remove_stale_leftovers
from merbench.contracts import Dataset, DatasetPlugin, Sample
from merbench.errors import DataError, UsageError
from merbench.hookspecs import hookimpl
from merbench.wording import numbered_order
from merbench_plugins.datasets import synthetic_domains as domains
from merbench_plugins.datasets import synthetic_faces as faces
from merbench_plugins.datasets import synthetic_real as real

ANNOTATIONS = "annotations.csv"
REGENERATE = "the generated data is damaged: run `merbench cache clear --only synthetic --yes` to regenerate it"
CLEARED_WHILE_WRITING = ("was removed while the synthetic data was being generated into it (the cache cleared at "
                         "the same time, e.g. by `merbench cache clear`?); nothing was kept: run the command again")
FIELDS = ("subject", "clip", "label", "variant", "onset", "apex", "offset", "n_frames")
FIELDS_REAL = ("subject", "clip", "label", "domain", "shown", "variant", "onset", "apex", "true_apex", "offset", "n_frames")
PRESETS = ("real", "easy")
GENERATOR_VERSIONS = {"real": real.GENERATOR_VERSION, "easy": faces.GENERATOR_VERSION}


def _check_options(options: dict[str, Any]) -> None:
    preset = str(options.get("preset", "real")).lower()
    if preset not in PRESETS:
        raise UsageError(f"dataset.preset={options['preset']}: choose one of {', '.join(PRESETS)} "
                         "(real: like the MEGC2019 composite, the default; easy: generator v2, clearly learnable)")
    if preset == "real" and int(options["domains"]) > len(domains.DOMAINS):
        raise UsageError(f"dataset.domains={options['domains']}: the real preset imitates at most {len(domains.DOMAINS)} releases "
                         f"({', '.join(domains.DOMAIN_NAMES)}); choose 1 to {len(domains.DOMAINS)}, or --set dataset.preset=easy")
    limits = {"subjects": 2, "clips_per_subject": 1, "size": 16, "frames": 6, "domains": 1}
    for key, minimum in limits.items():
        if int(options[key]) < minimum:
            raise UsageError(f"dataset.{key}={options[key]}: must be at least {minimum}")
    if int(options["domains"]) > int(options["subjects"]):
        raise UsageError(f"dataset.domains={options['domains']}: cannot exceed dataset.subjects={options['subjects']}")
    if int(options["seed"]) < 0:
        raise UsageError(f"dataset.seed={options['seed']}: must be 0 or more")


def _write_annotations(target: Path, fields: tuple[str, ...], rows: list[tuple]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    writer.writerows(rows)
    (target / ANNOTATIONS).write_text(buffer.getvalue(), encoding="utf-8")


def _write_frames(clip_dir: Path, frames) -> None:
    """Write a clip's frames into ``target/subject/clip``; the target folder is not made again (``FileNotFoundError``
    when it was removed meanwhile), and a frame OpenCV cannot write is an ``OSError`` (it only returns False)."""
    clip_dir.parent.mkdir(exist_ok=True)
    clip_dir.mkdir()
    for i, frame in enumerate(frames):
        path = clip_dir / f"img_{i:03d}.png"
        if not cv2.imwrite(str(path), frame):
            if not clip_dir.is_dir():
                raise FileNotFoundError(f"{clip_dir} is gone")
            raise OSError(f"cannot write {path}")


def generate_real(target: Path, options: dict[str, Any]) -> None:
    """Write the ``real`` preset's dataset (generator v3) described by ``options`` into the empty folder ``target``.

    ``subjects`` × ``clips_per_subject`` clips in all, shared unevenly among the subjects.
    """
    seed, size, n_frames = int(options["seed"]), int(options["size"]), int(options["frames"])
    n_subjects = int(options["subjects"])
    rows = []
    for subject_plan in domains.plan(seed, n_subjects, n_subjects * int(options["clips_per_subject"]), int(options["domains"])):
        subject = real.make_subject(seed, subject_plan.index, subject_plan.domain)
        subject_id = f"s{subject_plan.index + 1:02d}"
        for c, label in enumerate(subject_plan.labels):
            clip = real.make_clip(subject, c, seed, label, size=size, frames=n_frames)
            clip_id = f"{subject_id}_c{c + 1:03d}"
            _write_frames(target / subject_id / clip_id, clip.frames)
            apex = clip.apex if clip.apex_annotated else ""
            rows.append((subject_id, clip_id, faces.CLASSES[clip.label], subject_plan.domain.name, faces.CLASSES[clip.shown],
                         clip.variant, clip.onset, apex, clip.apex, clip.offset, len(clip.frames)))
    _write_annotations(target, FIELDS_REAL, rows)


def generate(target: Path, options: dict[str, Any]) -> None:
    """Write the ``easy`` preset's dataset (generator v2) described by ``options`` into the empty folder ``target``."""
    seed, size, n_frames = int(options["seed"]), int(options["size"]), int(options["frames"])
    rows = []
    for s in range(int(options["subjects"])):
        subject = faces.make_subject(seed, s)
        subject_id = f"s{s + 1:02d}"
        for c in range(int(options["clips_per_subject"])):
            clip = faces.make_clip(subject, c, seed, size=size, n_frames=n_frames)
            clip_id = f"{subject_id}_c{c + 1:03d}"
            _write_frames(target / subject_id / clip_id, clip.frames)
            rows.append((subject_id, clip_id, faces.CLASSES[clip.label], clip.variant, clip.onset, clip.apex, clip.offset, n_frames))
    _write_annotations(target, FIELDS, rows)


def domain_of(subject_index: int, n_subjects: int, n_domains: int) -> str:
    """The domain of a subject when the synthetic data imitates a composite of ``n_domains`` datasets."""
    if n_domains <= 1:
        return "synthetic"
    return f"synthetic-{subject_index * n_domains // n_subjects + 1}"


def _extra(row: dict[str, str]) -> dict[str, Any]:
    """What a row knows beyond the sample's fields: the variant shown and, for the real preset, the class shown and true apex."""
    extra: dict[str, Any] = {"variant": int(row["variant"])}
    if "shown" in row:
        extra.update(shown=row["shown"], true_apex=int(row["true_apex"]))
    return extra


def in_generation_order(subjects: Iterable[str]) -> list[str]:
    """Subject ids in the order they were generated: ``s09, s10, s99, s100`` (as text, ``s100`` would come before
    ``s11`` and move the blocks of an easy tree's domains)."""
    return sorted(subjects, key=numbered_order)


def read_tree(folder: Path, n_domains: int = 1) -> tuple[Sample, ...]:
    """Read a generated tree's annotations into samples.

    A tree of the real preset names each clip's domain and leaves the apex empty
    where its release has none; an easy tree has neither, and its subjects are
    split into ``n_domains`` blocks.
    """
    samples = []
    with open(folder / ANNOTATIONS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:  # cut off before its first row (a disk that filled up, a write cut short)
        raise DataError(f"{folder / ANNOTATIONS}: no rows; {REGENERATE}")
    subject_order = in_generation_order({row.get("subject", "") for row in rows})
    for row_number, row in enumerate(rows, start=2):
        try:
            n_frames = int(row["n_frames"])
            frames = tuple(folder / row["subject"] / row["clip"] / f"img_{i:03d}.png" for i in range(n_frames))
            samples.append(
                Sample(
                    id=row["clip"],
                    subject=row["subject"],
                    label=faces.CLASSES.index(row["label"]),
                    domain=row["domain"] if "domain" in row else domain_of(subject_order.index(row["subject"]), len(subject_order), n_domains),
                    frames=frames,
                    onset=int(row["onset"]),
                    apex=int(row["apex"]) if row["apex"] != "" else None,
                    offset=int(row["offset"]),
                    extra=_extra(row),
                )
            )
        except (KeyError, ValueError, TypeError) as exc:
            what = "cut off (cells missing)" if None in row.values() else f"malformed ({exc})"  # csv gives None then
            raise DataError(f"{folder / ANNOTATIONS} row {row_number}: {what}; {REGENERATE}") from None
    return tuple(samples)


def missing_frame(samples: tuple[Sample, ...]) -> Path | None:
    """The first frame of a generated tree that is not on disk (one stat per frame: milliseconds); ``None``."""
    return next((frame for sample in samples for frame in sample.frames if not frame.is_file()), None)


def check_frames(samples: tuple[Sample, ...]) -> None:
    """Raise ``DataError`` naming the first frame of a reused generated tree that is not on disk, so that a damaged
    tree gets the fix instead of "check the dataset tree" later."""
    missing = missing_frame(samples)
    if missing is not None:
        raise DataError(f"generated frame {missing} is missing; {REGENERATE}")


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Generate (first time) or reuse the synthetic dataset for ``options``.

    ``root`` is ignored (the spec's ``reads_root=False`` refuses one): the data lives in the cache directory.
    """
    _check_options(options)
    preset = str(options.get("preset", "real")).lower()
    keys = ("subjects", "clips_per_subject", "size", "frames", "seed") + (("domains",) if preset == "real" else ())
    params = {key: int(options[key]) for key in keys}
    version = GENERATOR_VERSIONS[preset]
    key = content_key("synthetic", version, preset, params)[:16]
    folder = cache_dir / "synthetic" / key
    expected = params["subjects"] * params["clips_per_subject"]
    generated = False
    if not (folder / ANNOTATIONS).is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key}."))
        try:
            try:
                (generate_real if preset == "real" else generate)(tmp, params)
                written = read_tree(tmp, int(options.get("domains", 1)))
            except FileNotFoundError:
                raise DataError(f"{tmp} {CLEARED_WHILE_WRITING}") from None
            except OSError as exc:  # a full disk: OpenCV says no more than that it could not write
                raise DataError(f"the synthetic data cannot be generated into {tmp} ({exc.strerror or exc}); free "
                                "space there, or set MERBENCH_CACHE to a folder on a disk with room") from None
            if len(written) != expected or missing_frame(written) is not None:
                raise DataError(f"{tmp} {CLEARED_WHILE_WRITING}")
            try:
                publish_directory(tmp, folder)
            except OSError:
                raise DataError(f"{tmp} {CLEARED_WHILE_WRITING}") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        remove_stale_leftovers(folder.parent, f".{key}.")  # what runs killed while generating this data left
        generated = True
    samples = read_tree(folder, int(options.get("domains", 1)))
    if len(samples) != expected:  # cut off at the end of a row: every row left reads well
        raise DataError(f"{folder / ANNOTATIONS}: {len(samples)} rows where dataset.subjects × dataset.clips_per_subject "
                        f"give {expected} clips; {REGENERATE}")
    if not generated:
        check_frames(samples)
    return Dataset(
        name="synthetic",
        classes=faces.CLASSES,
        samples=samples,
        summary={"annotation": "(generated: labels drawn with the clips)", "folder": str(folder), "generated_now": generated, "preset": preset, "generator_version": version, **params},
    )


@hookimpl
def merbench_register_datasets(register):
    """Register the ``synthetic`` dataset."""
    register(
        DatasetPlugin(
            name="synthetic",
            load=load,
            description="Procedural micro-expression clips (3 classes; preset real: like the MEGC2019 composite, "
                        "easy: generator v2), generated into the cache; no download",
            options={"preset": "real", "subjects": 28, "clips_per_subject": 7, "size": 64, "frames": 16, "seed": 0,
                     "domains": 3},
            option_ranges={"preset": PRESETS, "subjects": "[2, 1000]", "clips_per_subject": "[1, 1000]",
                           "size": "[16, 512]", "frames": "[6, 300]", "seed": "[0, 4294967295]", "domains": ">= 1"},
            profiles={
                "quick": {"preset": "easy", "subjects": 10, "clips_per_subject": 6, "size": 48, "frames": 10, "domains": 1},
                "default": {},
                "paper": {"subjects": 68, "clips_per_subject": 7},
            },
            needs_root=False,
            reads_root=False,
        )
    )
