"""Checking a dataset tree without training (``merbench datasets check``).

``check_dataset`` loads a dataset through its plugin (the same options as
``merbench run``), then opens the frames a run would read first (onset, apex or
the middle frame, and the offset that whole-clip chains read; or a manifest's
precomputed image), sniffs the clip's other frames (``in_clip_problems``: their first bytes and, from the
image header, their size) and reports
counts, skipped and fixed rows, and missing or unusable files (unreadable, or of
another size or bit depth than a run takes: a frame of another size than its clip's, one too thin for the
default chain's optical strain, an image of another size than the first one unless ``image.size`` resizes them). ``verdict``
says why a tree is not usable (``None`` when it is). ``check_dataset_input``
is also used by the runner: it refuses a preprocessing chain that cannot take
what the dataset gives.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from merbench.config import NO_FOLDER, dataset_gives, layout_docs, resolve_section
from merbench.contracts import Dataset, Sample, resolve_factory
from merbench.datafiles import (IMAGE_BIT_DEPTH_FIX, IMAGE_DECODING, STRAIN_SIZE_FIX, bit_depth_problem,
                                check_cache_outside_dataset, check_root_folder, decode_image, option_folders,
                                strain_size_problem, undecodable)
from merbench.errors import DataError, MerbenchError, PluginError, UsageError, error_line
from merbench.escaping import number_key, spelling_key
from merbench.wording import a_type, counted, plural

IMAGE_PREPROCESSOR = "image"
"""The preprocessor that reads precomputed images (``Dataset.gives == "image"``)."""


def check_dataset_input(dataset: Dataset, name: str, chain: Sequence[str]) -> None:
    """Refuse a chain that does not fit the dataset's samples, saying which ``--set preprocess`` to use."""
    chain = tuple(chain)
    if dataset.gives == "image" and chain != (IMAGE_PREPROCESSOR,):
        raise UsageError(
            f"dataset '{name}' gives precomputed images (Dataset.gives='image', e.g. a manifest with a path column), "
            f"which are model input already, but preprocess={','.join(chain)} works on frame clips; add --set "
            f"preprocess={IMAGE_PREPROCESSOR}"
        )
    if dataset.gives != "image" and IMAGE_PREPROCESSOR in chain:
        raise UsageError(
            f"preprocess={','.join(chain)}: '{IMAGE_PREPROCESSOR}' reads one precomputed image per sample, but dataset "
            f"'{name}' gives clips of frames; drop it (the default is --set preprocess=flow)"
        )


WHOLE_CLIP_ONLY = "offset"
"""The frame that only chains reading the whole clip open (``lbptop``, ``apex.rule=motion-peak``, ``magnify``),
not ``flow``."""

IN_CLIP = "in-clip frame"
"""A frame between onset and offset other than the apex: read by whole-clip chains only, like the offset."""


def frames_to_check(sample: Sample, gives: str) -> list[tuple[str, Path]]:
    """The files a run reads first for ``sample``, each with its role: onset, apex (or middle frame) and offset,
    or its image."""
    if gives == "image":
        return [("image", sample.frames[0])]
    return [(role, sample.frames[i]) for i, role in _roles(sample) if 0 <= i < len(sample.frames)]


def _roles(sample: Sample) -> list[tuple[int, str]]:
    """The positions a run reads first and their roles: onset, apex (or the middle frame when it is unknown),
    offset."""
    apex = (sample.apex, "apex") if sample.apex is not None else ((sample.onset + sample.offset) // 2, "middle frame")
    roles: dict[int, str] = {}
    for position, role in ((sample.onset, "onset"), apex, (sample.offset, WHOLE_CLIP_ONLY)):
        roles.setdefault(position, role)
    return list(roles.items())


@dataclass
class FrameProblem:
    """A file a run would read that is missing, cannot be decoded, or is of another size or bit depth than a run
    takes; ``frame`` is its role (onset, apex, …). ``stops_run``: a run stops at it whatever ``dataset.strict``
    says, rather than leaving its clip out (a precomputed image of another size than most)."""

    sample: str
    path: Path
    problem: str
    frame: str = ""
    stops_run: bool = False
    read_anyway: bool = False
    """A run reads the file as it is (a blank frame decodes): reported so that it is replaced, not left out."""

    @property
    def skips_clip(self) -> bool:
        """Whether a run with the default chain (``flow``) leaves the clip out: it reads all but the offset frame."""
        return not self.stops_run and not self.read_anyway and self.frame not in (WHOLE_CLIP_ONLY, IN_CLIP)


@dataclass
class CheckReport:
    """What ``check_dataset`` found."""

    dataset: Dataset
    files_checked: int = 0
    problems: list[FrameProblem] = field(default_factory=list)
    skips_clips: bool = True
    """Whether the dataset has a ``strict`` option, which a run reads to skip clips with unusable frames
    (``dataset.strict=false``); a dataset without it (many plugins) reads every clip it lists, and a run stops at the
    first unusable frame."""

    @property
    def blocking(self) -> list[FrameProblem]:
        """The problems that make a run with the default chain leave their clip out (all but offset frames)."""
        return [problem for problem in self.problems if problem.skips_clip]

    @property
    def stopping(self) -> list[FrameProblem]:
        """The problems a run stops at whatever ``dataset.strict`` says (``FrameProblem.stops_run``)."""
        return [problem for problem in self.problems if problem.stops_run]

    @property
    def clips_left_out(self) -> set[str]:
        """Ids of the clips a run with the default chain leaves out because a file it reads is missing or unusable."""
        return {problem.sample for problem in self.blocking}

    def counts(self, key: Callable[[Sample], str]) -> Counter:
        """Samples per value of ``key`` (class, subject, domain)."""
        return Counter(key(s) for s in self.dataset.samples)

    @property
    def classes_kept(self) -> list[str]:
        """The classes that still have a sample once the clips a run leaves out are left out, in class order."""
        left_out = self.clips_left_out
        present = {sample.label for sample in self.dataset.samples if sample.id not in left_out}
        return [name for label, name in enumerate(self.dataset.classes) if label in present]

    @property
    def skipped(self) -> list[Mapping[str, Any]]:
        """Rows the loader left out, with their reasons."""
        return list(self.dataset.summary.get("skipped_rows", []))

    @property
    def fixed(self) -> list[Mapping[str, Any]]:
        """Rows the loader repaired, with notes."""
        return list(self.dataset.summary.get("fixed_rows", []))

    @property
    def frame_gaps(self) -> list[Mapping[str, Any]]:
        """Kept clips with frame numbers missing between onset and offset (matched by number, so still used)."""
        return list(self.dataset.summary.get("frame_gap_rows", []))


def check_files(dataset: Dataset, on_progress: Callable[[int], None] | None = None,
                image_size: int = 0) -> tuple[int, list[FrameProblem]]:
    """Open the files of every sample that a run reads first; returns how many and the problems.

    Frames are decoded and compared by the run's own rules, in the run's words (``merbench.preprocess``): a frame
    of more than 8 bits (``bit_depth_problem``) or of another size than the clip's first decoded frame
    (``frame_size_problem``) or too thin for the optical strain of the default chain (``strain_size_problem``: 1 pixel
    high or wide) is a problem like an unreadable one: its clip is left out where a run reads it.
    Precomputed images of another size than the most common one (ties: the first image's) stop a run that keeps the
    stored sizes (``image_size`` 0, ``image.size``'s default; ``image_size_problems``), so the odd ones are named
    wherever they are; any other ``image_size`` resizes them.
    """
    from merbench.preprocess import BIT_DEPTH_FIX, decode_grey, frame_size_problem

    from merbench.preprocess import copy_of

    checked, problems = 0, []
    first: tuple[Path, np.ndarray] | None = None  # a clip's first decoded frame
    sized: list[tuple[int, FrameProblem, tuple[int, ...]]] = []  # each usable image: where its problem would go
    first_with: dict[bytes, Sample] = {}  # the digest of a clip's onset and apex files (or image) → its first clip
    for sample in dataset.samples:
        if dataset.gives != "image":
            first = None  # the clip's first decoded frame, whose size the others must have
        content, hashed, blank = hashlib.sha256(), 0, 0
        opened = frames_to_check(sample, dataset.gives)
        for role, path in opened:
            checked += 1
            try:
                blob = Path(path).read_bytes()
            except OSError as exc:
                what = "missing" if isinstance(exc, FileNotFoundError) else "not readable"
                problems.append(FrameProblem(sample.id, path, f"{role} frame {what} ({exc.strerror})", role))
                continue
            frame = decode_image(blob, IMAGE_DECODING) if dataset.gives == "image" else decode_grey(blob)
            if frame is None:
                problems.append(FrameProblem(sample.id, path, f"{role} unreadable (the file {undecodable(blob)})", role))
                continue
            deep = bit_depth_problem(frame)
            if role != WHOLE_CLIP_ONLY and not deep:  # the files a run's default chain reads (flow: onset and apex)
                content.update(hashlib.sha256(blob).digest())
                hashed += 1
            empty = None if deep else blank_problem(frame)
            if empty:
                blank += role != WHOLE_CLIP_ONLY
                problems.append(FrameProblem(sample.id, path, f"{role} {empty}", role, read_anyway=True))
            if dataset.gives == "image":
                if deep:
                    problems.append(FrameProblem(sample.id, path, f"{role} {deep}: {IMAGE_BIT_DEPTH_FIX}", role))
                elif not image_size:  # else a run resizes every image
                    sized.append((len(problems), FrameProblem(sample.id, path, "", role, stops_run=True),
                                  frame.shape[:2]))
                continue
            thin = None if deep or role == WHOLE_CLIP_ONLY else strain_size_problem(*frame.shape[:2])
            if thin:
                problems.append(FrameProblem(sample.id, path, f"{role} is {thin}: {THIN_FIX}", role))
            if deep:
                problems.append(FrameProblem(sample.id, path, f"{role} {deep}: {BIT_DEPTH_FIX}", role))
            elif first is None:
                first = (Path(path), frame)
            elif frame.shape != first[1].shape:
                problems.append(FrameProblem(sample.id, path, f"{role} {frame_size_problem(sample, frame, *first)}",
                                             role))
        read = sum(role != WHOLE_CLIP_ONLY for role, _ in opened)
        # Files that cannot be read (empty ones too) are their own problem, not a copy of another clip's.
        copied = first_with.setdefault(content.digest(), sample) if 0 < hashed == read else sample
        if copied.clip_id != sample.clip_id:  # as a run leaves it out (merbench.preprocess.same_input_files)
            reason = blank_copy(copied, [role for role, _ in opened if role != WHOLE_CLIP_ONLY]) if blank == read \
                else copy_of(copied)
            problems.append(FrameProblem(sample.id, Path(opened[0][1]), reason, "copy"))
        if dataset.gives != "image":
            sniffed, found = in_clip_problems(sample, first)
            checked += sniffed
            problems += found
        if on_progress:
            on_progress(1)
    for at, problem in reversed(image_size_problems(sized)):  # from the last: the earlier places stay where they are
        problems.insert(at, problem)
    return checked, problems


THIN_FIX = STRAIN_SIZE_FIX.format(channels="u,v")
"""What to do with a frame too thin for the optical strain of the default chain (``flow``, channels ``u,v,strain``)."""


def blank_problem(frame: np.ndarray) -> str | None:
    """Why a decoded 8-bit frame or image holds no picture (every pixel of one value, as a frame written blank or
    zeroed has), or ``None`` when it does. A run reads it as it is; its clip has no face and no motion."""
    if frame.size and (frame == frame[0, 0]).all():
        value = " ".join(str(int(v)) for v in np.atleast_1d(frame[0, 0]))
        return (f"blank (every pixel is {value}): the file holds no picture, and a run reads it as it is; replace "
                "it with the original image")
    return None


def blank_copy(first: Sample, roles: Sequence[str]) -> str:
    """Why a clip whose files a run reads (``roles``: onset, apex) are blank, with the same bytes as those of
    ``first``'s, is left out: a run cannot tell it from a copy of that clip (``merbench.preprocess.same_input_files``)."""
    return (f"its {' and '.join(roles)} {plural(roles, 'is', 'are')} blank, as are those of sample {first.id} "
            f"(subject {first.subject}): a run takes two clips of the same blank files for one clip given twice and "
            "leaves this one out; replace the blank files with the original ones")


def image_size_problems(sized: Sequence[tuple[int, FrameProblem, tuple[int, ...]]]) -> list[tuple[int, FrameProblem]]:
    """The usable precomputed images ``sized`` (each with its place among the problems, its problem to fill and its
    height and width) that are not of the most common size (ties: the first image's), each with its place and the
    reason: a run that keeps the stored sizes (``image.size=0``) stacks every image into one batch. Compared with the
    most common size rather than the first image's, as a run compares them, so that an odd first image is the one
    named."""
    def size(shape: tuple[int, ...]) -> str:
        return f"{shape[1]}×{shape[0]}"

    counts = Counter(shape for _, _, shape in sized)
    if len(counts) < 2:
        return []
    common = max(counts, key=counts.__getitem__)  # the first of the most common in the order the images came
    seen = next(problem.path for _, problem, shape in sized if shape == common)
    many = f"{counts[common]} of the {len(sized)} images {'is' if counts[common] == 1 else 'are'}"
    return [(at, dataclasses.replace(problem, problem=(
                f"image is {size(shape)} pixels but {many} {size(common)} (first {seen}); a run keeps the stored size "
                "(image.size=0, the default) and needs one size for every image: --set image.size=N resizes every "
                "image to N x N")))
            for at, problem, shape in sized if shape != common]


IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*")
"""The first bytes of the frame formats the loaders take: JPEG, PNG, BMP, TIFF (both byte orders)."""


def in_clip_problems(sample: Sample, first: tuple[Path, np.ndarray] | None = None) -> tuple[int, list[FrameProblem]]:
    """The clip's other frames between onset and offset, sniffed rather than decoded (a whole dataset's frames would
    take minutes): missing, empty, or not an image by their first bytes, or, from the image header, of another size
    than ``first`` (the clip's first decoded frame and its file), which a run that reads them refuses
    (``merbench.preprocess.frame_size_problem``). Returns how many and the problems."""
    from merbench.preprocess import frame_size_problem

    opened = {position for position, _ in _roles(sample)}
    positions = [i for i in range(max(sample.onset, 0), min(sample.offset, len(sample.frames) - 1) + 1)
                 if i not in opened]
    problems = []
    for position in positions:
        path = Path(sample.frames[position])
        try:
            with open(path, "rb") as handle:
                head = handle.read(16)
                size = header_size(handle) if first is not None and head.startswith(IMAGE_SIGNATURES) else None
        except OSError as exc:
            what = "missing" if isinstance(exc, FileNotFoundError) else "not readable"
            problems.append(FrameProblem(sample.id, path, f"{IN_CLIP} {what} ({exc.strerror})", IN_CLIP))
            continue
        if not head.startswith(IMAGE_SIGNATURES):
            found = "empty (0 bytes)" if not head else "not an image file"
            problems.append(FrameProblem(sample.id, path, f"{IN_CLIP} unreadable (the file is {found})", IN_CLIP))
        elif first is not None and size is not None and size != first[1].shape[:2]:
            size = _decoded_size(path, size)  # decoded only where the header disagrees: few frames, if any
            if size != first[1].shape[:2]:
                sized = np.broadcast_to(np.uint8(0), size)  # its shape is all frame_size_problem reads
                problems.append(FrameProblem(sample.id, path,
                                             f"{IN_CLIP} {frame_size_problem(sample, sized, *first)}", IN_CLIP))
    return len(positions), problems


def _decoded_size(path: Path, header: tuple[int, int]) -> tuple[int, int]:
    """The (height, width) a run decodes ``path`` at, for a frame whose ``header`` size differs from its clip's: the
    run's decoder has the last word (OpenCV turns a PNG by its EXIF orientation too, and the formats it turns depend on
    its version); ``header`` when the file cannot be decoded."""
    from merbench.preprocess import decode_grey

    try:
        frame = decode_grey(path.read_bytes())
    except OSError:
        return header
    return header if frame is None else tuple(frame.shape[:2])


HEADER_FORMATS = ("JPEG", "PNG", "BMP", "TIFF")
"""Pillow's names of the formats of ``IMAGE_SIGNATURES``: it tries only these."""

EXIF_TURNED = (5, 6, 7, 8)
"""EXIF orientations that turn a picture a quarter: OpenCV decodes such a JPEG turned, its width and height swapped."""


def header_size(handle: Any) -> tuple[int, int] | None:
    """The (height, width) a run decodes the image in the open file ``handle`` at, read from its header by Pillow
    (the pixels are not decoded); ``None`` when Pillow cannot tell (a run's decoder then has the last word)."""
    from PIL import Image

    handle.seek(0)
    try:
        with Image.open(handle, formats=HEADER_FORMATS) as image:
            width, height = image.size
            # OpenCV applies a JPEG's EXIF orientation; Pillow keeps the EXIF of a JPEG header without decoding
            if image.format == "JPEG" and image.getexif().get(0x0112) in EXIF_TURNED:
                width, height = height, width
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return height, width


DATASET_FIX = "fix the dataset plugin or report it to its author"


def load_plugin_dataset(registry: Any, name: str, root: Path | None, options: Mapping[str, Any], cache_dir: Path) -> Dataset:
    """Call dataset ``name``'s loader and check what it returns (``check_samples``); used by ``merbench run`` and
    ``merbench datasets check``.

    The loader gets ``root`` and ``cache_dir`` as absolute paths, so the frame paths it builds from them are
    absolute: a relative one is its mistake (``check_frames_inside``). merbench's own errors (a loader's
    ``DataError`` naming a file and row) pass unchanged; any other exception
    from the loader, or a result that is not a ``Dataset``, is one ``PluginError`` naming the plugin and its
    distribution. A full disk and a lack of memory are left to their own messages.
    """
    spec = registry.get("datasets", name)
    plugin = registry.label("datasets", name)
    load = resolve_factory(spec.load, plugin, "load")
    try:  # absolute folders: a loader's root / path then names one file wherever merbench runs
        dataset = load(_absolute(root), dict(options), _absolute(cache_dir))
    except MerbenchError:
        raise
    except Exception as exc:
        if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)):
            raise
        raise PluginError(f"{plugin}: its load() raised {error_line(exc)}; check the dataset options given "
                          "(`merbench datasets list` lists them) and --root, or report it to the plugin's author") from exc
    if not isinstance(dataset, Dataset):
        raise PluginError(f"{plugin}: its load() returned {a_type(dataset)}, not a merbench.contracts.Dataset; {DATASET_FIX}")
    check_samples(dataset, plugin)
    dataset = dataclasses.replace(dataset, summary=recordable_summary(dataset.summary, plugin))
    check_declared_gives(dataset, plugin, spec, root, options)
    check_frames_inside(dataset, plugin, root, [cache_dir, *option_folders(root, options, spec.options).values()])
    check_strict_rows(dataset, name, root, options, spec.options)
    if not dataset.samples and not dataset.summary.get("skipped_rows"):
        where = f"under --root {root}" if root is not None else "(it reads no folder)"
        raise DataError(f"{plugin}: its load() found no samples {where}: check that --root is the dataset's own folder "
                        f"(the layout it expects is in {layout_docs(registry, name)}) and the dataset options given "
                        "(`merbench datasets list` lists them)")
    return drop_classes_without_samples(dataset)


def _absolute(folder: Path | None) -> Path | None:
    """``folder`` as an absolute path (``..`` folded, links kept, as ``check_frames_inside`` judges frames)."""
    return None if folder is None else Path(os.path.abspath(folder))


def check_declared_gives(dataset: Dataset, plugin: str, spec: Any, root: Path | None,
                         options: Mapping[str, Any]) -> None:
    """Refuse a loaded dataset whose ``Dataset.gives`` is not what its plugin's ``DatasetPlugin.gives`` (``spec``'s)
    says before loading (``config.dataset_gives``), from which a run without ``--set preprocess`` chose its chain: the
    plugin's mistake, not the user's chain."""
    declared = dataset_gives(spec, root, options)
    if dataset.gives == declared:
        return
    said = (f"DatasetPlugin.gives is {declared!r}" if spec.gives in ("frames", "image")
            else f"DatasetPlugin.gives factory answers {declared!r} for this --root and options")
    raise PluginError(
        f"{plugin}: its {said}, but its load() returned a Dataset whose gives is {dataset.gives!r}; a run chooses its "
        "preprocessing from DatasetPlugin.gives before loading ('image': the precomputed images as they are; "
        "'frames': a chain that reads the clips, flow by default), so the two must agree: make its loader and its "
        f"DatasetPlugin say the same; {DATASET_FIX}")


def check_strict_rows(dataset: Dataset, name: str, root: Path | None, options: Mapping[str, Any],
                      defaults: Mapping[str, Any] | None = None) -> None:
    """Refuse a dataset loaded with ``dataset.strict=true`` whose loader still reports skipped rows
    (``summary["skipped_rows"]``), as ``merbench datasets check --strict`` refuses it: a plugin's loader need not
    apply the switch itself. merbench's own loaders refuse such rows before they return, so they never get here."""
    skipped = list(dataset.summary.get("skipped_rows", []))
    if not skipped or "strict" not in options:
        return
    from merbench.preprocess import skips_unreadable  # imports OpenCV: only for a dataset with skipped rows

    if skips_unreadable(options) is False:
        raise DataError(f"dataset '{name}' with dataset.strict=true: its loader skipped {counted(skipped, 'row')}, "
                        f"first {_describe(skipped[0])}; fix them (`{check_command(name, root, options, defaults)}` lists them "
                        "with their reasons), or run with dataset.strict=false to leave them out")


def check_frames_inside(dataset: Dataset, plugin: str, root: Path | None, also: Sequence[Path | None]) -> None:
    """Refuse a loaded dataset with a relative frame path (read from the working folder, wherever merbench runs), or
    whose frame files lie outside every folder it may read (``root``, and ``also``: the
    cache where a loader may write decoded frames, the folders its options name): judged on the path as written,
    ``..`` folded and links not followed, as a manifest's paths are, so that a link inside the root to frames kept
    on another disk is fine. A dataset that reads no folder (generated, ``root`` None) is not checked."""
    if root is None:
        return
    allowed = [os.path.join(os.path.abspath(folder), "") for folder in (root, *also) if folder is not None]
    for position, sample in enumerate(dataset.samples):
        for frame in sample.frames:
            if not os.path.isabs(frame):  # the loader was given absolute folders: it left out the root
                raise PluginError(
                    f"{plugin}: {_which(sample, position, len(dataset.samples))}: its frame {frame} is a relative "
                    f"path, which would be read from the folder merbench runs in, not from --root; a loader gives "
                    f"root / path (merbench passes root as an absolute path), e.g. root / {str(frame)!r}: "
                    f"{DATASET_FIX}")
            written = os.path.abspath(frame)
            if not any(written.startswith(folder) for folder in allowed):
                raise PluginError(
                    f"{plugin}: {_which(sample, position, len(dataset.samples))}: its frame {frame} lies outside "
                    f"--root {root}; a loader gives only files under --root (no '..' part, no absolute path "
                    f"elsewhere), so that a run reads the dataset it was given: {DATASET_FIX}")


def drop_classes_without_samples(dataset: Dataset) -> Dataset:
    """``dataset`` without the classes its loader declared but no sample has (``with_samples``), the dropped ones
    named in its summary's ``declared_classes_without_samples``: a model would get an output for such a class, could
    predict it, and per-class averages (macro F1) would count it as a zero."""
    if len({sample.label for sample in dataset.samples}) == len(dataset.classes):
        return dataset
    from merbench.preprocess import with_samples  # imports OpenCV: only for such a dataset

    trimmed = with_samples(dataset, dataset.samples)
    summary = dict(trimmed.summary)
    summary["declared_classes_without_samples"] = summary.pop("classes_without_samples")
    return dataclasses.replace(trimmed, summary=summary)


def declared_class_note(dataset: Dataset, name: str) -> str | None:
    """One line on the classes ``drop_classes_without_samples`` left out; ``None`` when none was."""
    unused = list(dataset.summary.get("declared_classes_without_samples", []))
    if not unused:
        return None
    return (f"the {name} loader declares {plural(unused, 'class')} {', '.join(unused)}, which no sample has: left out, "
            f"so the run classifies {counted(dataset.classes, 'class')} ({', '.join(dataset.classes)})")


def _is_index(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


TEXT_FIELDS = {
    "id": "the sample (results, skipped clips and the leakage audit name samples by it), e.g. 's01/clip3'",
    "subject": "the person (protocols split by it), e.g. 's01'",
    "domain": "the dataset or part the sample comes from, e.g. 'casme2'",
}
"""The ``Sample`` fields that must be non-empty text, and what each names (said when one is not)."""


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _text_problem(sample: Sample) -> str | None:
    """Which of ``TEXT_FIELDS`` of ``sample`` is not non-empty text, in words, or ``None``."""
    for name, meaning in TEXT_FIELDS.items():
        value = getattr(sample, name)
        if not _is_text(value):
            found = ("empty" if isinstance(value, str) else "None, not text" if value is None
                     else f"{value!r}, {a_type(value)}, not text")
            return f"its {name} is {found}; it must be a non-empty str naming {meaning}"
    return None


def _sample_problem(sample: Any, classes: Sequence[str]) -> str | None:
    """What is wrong with one sample a loader returned, or ``None``."""
    if not isinstance(sample, Sample):
        return f"it is {a_type(sample)}, not a merbench.contracts.Sample"
    text = _text_problem(sample)
    if text:
        return text
    n = len(classes)
    if not _is_index(sample.label):
        return f"its label is {sample.label!r}, not a class index (an int in 0..{n - 1})"
    if not 0 <= sample.label < n:
        names = f": {', '.join(classes)}" if n <= 10 else ""
        return f"its label {sample.label} is outside 0..{n - 1} ({counted(n, 'class')}{names})"
    try:
        count = len(sample.frames)
    except TypeError:
        return f"its frames are {a_type(sample.frames)}, not a sequence of frame files"
    if not count:
        return "it has no frames (every sample needs at least one frame file)"
    for role in ("onset", "apex", "offset"):
        value = getattr(sample, role)
        if role == "apex" and value is None:
            continue
        if not _is_index(value) or not 0 <= value < count:
            return (f"its {role} {value!r} is not an index into its {counted(count, 'frame')} "
                    f"({'0' if count == 1 else f'0..{count - 1}'})")
    if sample.onset > sample.offset:
        return f"its onset {sample.onset} is after its offset {sample.offset}"
    if sample.apex is not None and not sample.onset <= sample.apex <= sample.offset:
        return (f"its apex {sample.apex} is outside its onset {sample.onset}..offset {sample.offset} (flow would be "
                f"computed to a frame outside the expression; a loader leaves such a row out, or sets apex=None for "
                f"the middle frame)")
    return None


def check_samples(dataset: Dataset, plugin: str) -> None:
    """Refuse a loaded dataset that merbench cannot use as it is: class names that are not text or repeat, an id, subject or domain
    that is not non-empty text, a label outside the classes, a sample without frames or with onset/apex/offset that
    are not frame indices (onset after offset, apex outside them), a sample id used twice, a ``gives`` merbench does
    not know. One ``PluginError`` saying what, which sample, and how to fix it."""
    if dataset.gives not in ("frames", "image"):
        raise PluginError(f"{plugin}: its dataset gives {dataset.gives!r}; merbench knows 'frames' (clips of frame "
                          f"files, the default) and 'image' (one precomputed model-input image per sample): "
                          f"{DATASET_FIX}")
    problem = _class_names_problem(dataset.classes)
    if problem:
        raise PluginError(f"{plugin}: {problem}; {DATASET_FIX}")
    classes = list(dataset.classes)
    repeated = [name for name, count in Counter(classes).items() if count > 1]
    if repeated:
        raise PluginError(f"{plugin}: its dataset names the class '{repeated[0]}' {classes.count(repeated[0])} times "
                          f"({', '.join(classes)}); class names must be unique: {DATASET_FIX}")
    for position, sample in enumerate(dataset.samples):
        problem = _sample_problem(sample, classes)
        if problem:
            raise PluginError(f"{plugin}: {_which(sample, position, len(dataset.samples))}: {problem}; {DATASET_FIX}")
    shared = [(sample_id, count) for sample_id, count in Counter(s.id for s in dataset.samples).items() if count > 1]
    if shared:
        sample_id, count = shared[0]
        more = f" ({len(shared) - 1} more ids are shared too)" if len(shared) > 1 else ""
        raise PluginError(f"{plugin}: {count} samples have the id '{sample_id}'{more}; sample ids must be unique "
                          f"(results, skipped clips and the leakage audit name samples by id): {DATASET_FIX}")
    problem = _reported_rows_problem(dataset.summary)
    if problem:
        raise PluginError(f"{plugin}: {problem}; {DATASET_FIX}")


def recordable_summary(summary: Any, plugin: str) -> dict[str, Any]:
    """A loader's ``Dataset.summary`` as a result records it in JSON: paths as text, numpy numbers and arrays as
    Python numbers and lists, tuples as lists; a ``PluginError`` naming the entry that holds anything else (a set,
    an object), which the run's result could not record once it had trained."""
    if not isinstance(summary, Mapping):
        raise PluginError(f"{plugin}: its dataset summary is {a_type(summary)}, not a dict; {DATASET_FIX}")
    return {str(key): _recordable(value, f"summary[{key!r}]", plugin) for key, value in summary.items()}


def _recordable(value: Any, where: str, plugin: str) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(key): _recordable(item, f"{where}[{key!r}]", plugin) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_recordable(item, f"{where}[{position}]", plugin) for position, item in enumerate(value)]
    raise PluginError(f"{plugin}: its dataset {where} is {a_type(value)}, which a result cannot record as JSON; give "
                      f"text, numbers, lists or dicts of them (a path as str(path)): {DATASET_FIX}")


def _class_names_problem(classes: Any) -> str | None:
    """What is wrong with a loaded dataset's class names (``None``: nothing): a list or tuple of non-empty text, as
    results, tables and the result JSON's ``classes`` take them."""
    fix = "give Dataset.classes as a tuple of str in label order, e.g. ('negative', 'positive', 'surprise')"
    if not isinstance(classes, (list, tuple)):
        return f"its class names are {a_type(classes)}, not a tuple of text; {fix}"
    for position, name in enumerate(classes):
        if not _is_text(name):
            found = f"{name!r} (empty)" if isinstance(name, str) else f"{name!r} ({type(name).__name__})"
            shown = repr(tuple(classes)) if len(repr(tuple(classes))) <= 60 else repr(tuple(classes))[:57] + "..."
            return f"its class names must be text, got {found} for label {position} of {shown}; {fix}"
    return None


def _reported_rows_problem(summary: Mapping[str, Any]) -> str | None:
    """What is wrong with the rows a loader reports as skipped or fixed (``None``: nothing): a list of mappings,
    each with the ``sample`` it concerns and a ``reason`` (``note`` for a fixed row), as every report of them reads."""
    for key, why in (("skipped_rows", "reason"), ("fixed_rows", "note")):
        rows = summary.get(key, [])
        if not isinstance(rows, (list, tuple)):
            return f"its summary['{key}'] is a {type(rows).__name__}, not a list of rows"
        for position, row in enumerate(rows, start=1):
            if not isinstance(row, Mapping) or "sample" not in row or not (row.get(why) or row.get("reason")):
                shown = repr(row) if len(repr(row)) <= 80 else repr(row)[:77] + "..."
                return (f"its summary['{key}'] entry {position} of {len(rows)} is {shown}; each must be "
                        f"{{\"row\": int or None, \"sample\": id, \"{why}\": text}}")
    return None


def _which(sample: Any, position: int, count: int) -> str:
    """A sample in a message: by its id, or where it has none that can be shown, by its place in the samples."""
    if isinstance(sample, Sample) and _is_text(sample.id):
        return f"sample {sample.id}"
    where = f"sample {position + 1} of {count}"
    subject = getattr(sample, "subject", None)
    return f"{where} (subject {subject})" if isinstance(sample, Sample) and _is_text(subject) else where


def subject_warnings(dataset: Dataset) -> list[str]:
    """Subject ids that differ only in case, leading zeros, surrounding whitespace, invisible characters or Unicode
    form (``s01`` and ``S01``, ``006`` and ``6``; ``escaping.number_key``): probably one person under two ids, whom a
    subject-independent protocol would put on both sides of a fold."""
    spellings: dict[str, list[str]] = {}
    for subject in dict.fromkeys(str(s.subject) for s in dataset.samples):
        spellings.setdefault(number_key(subject), []).append(subject)
    groups = [ids for ids in spellings.values() if len(ids) > 1]
    if not groups:
        return []
    first = groups[0]
    more = f" ({len(groups) - 1} more such {plural(len(groups) - 1, 'group')})" if len(groups) > 1 else ""
    zeros = ", leading zeros" if spelling_key(first[0]) != spelling_key(first[1]) else ""
    return [f"subject ids {' and '.join(repr(subject) for subject in first[:2])} differ only in case{zeros} or "
            f"surrounding whitespace (or invisible characters, Unicode form){more}; if they are one person, a "
            "subject-independent protocol puts them on both sides of a fold: give each person one subject id in the "
            "dataset"]


def shared_across_domains_warnings(dataset: Dataset) -> list[str]:
    """The warning for subject ids that occur in more than one domain (source dataset), as ``subject_warnings``
    says its own: a subject-independent protocol treats each as one person (one LOSO fold, one side of every fold),
    which is right only if it is one; none when every id belongs to one domain."""
    domains: dict[str, set[str]] = {}
    for sample in dataset.samples:
        domains.setdefault(str(sample.subject), set()).add(str(sample.domain))
    shared = [subject for subject, found in domains.items() if len(found) > 1]
    if not shared:
        return []
    first = shared[0]
    more = f" ({len(shared) - 1} more such {plural(len(shared) - 1, 'id')})" if len(shared) > 1 else ""
    return [f"subject id {first!r} is in {len(domains[first])} domains ({', '.join(sorted(domains[first]))}){more}; "
            "the protocol treats it as one person, so its samples of every domain share one side of each fold: if "
            "they are different people, give each their own id (e.g. prefix the domain, as megc2019 does: "
            "casme2/sub01)"]


SAMPLE_FIELDS = ("id", "subject", "label", "domain")
"""What ``order_facts`` gives of each sample (the folds and the scores depend on them)."""


def order_facts(dataset: Dataset) -> dict[str, Any]:
    """The classes of ``dataset`` and each sample's ``SAMPLE_FIELDS``, in order, JSON-ready (values JSON lacks, as
    text): what ``merbench.testing.check_sample_order`` compares between loads in processes with other hash seeds."""
    samples = [[getattr(sample, field) for field in SAMPLE_FIELDS] for sample in dataset.samples]
    return json.loads(json.dumps({"classes": list(dataset.classes), "samples": samples}, default=str))


def load_for_check(registry: Any, name: str, root: Path | None, sets: Mapping[str, str], cache_dir: Path) -> tuple[Dataset, bool]:
    """Load dataset ``name`` as ``merbench run`` would; returns it and its ``dataset.strict`` setting (``False`` for
    a dataset without that option: its loader's skipped rows are then an error only with ``--strict``).

    The loader runs without the strict switch so that the check can show every
    skipped row before ``verdict`` applies it.
    """
    spec = registry.get("datasets", name)
    options = resolve_section(spec, "dataset", "default", sets)
    if spec.needs_root and root is None:
        raise UsageError(f"dataset '{name}' reads your own copy of the data: give its folder with --root DIR")
    if root is not None and not spec.reads_root:
        raise UsageError(NO_FOLDER.format(name=name, root=root))
    check_root_folder(root, name)
    check_cache_outside_dataset(root, options, spec.options, cache_dir)  # as a run checks it
    from merbench.preprocess import skips_unreadable

    strict = "strict" in options and not skips_unreadable(options)
    if "strict" in options:
        options["strict"] = False
    dataset = load_plugin_dataset(registry, name, root, options, cache_dir)
    # The check speaks of the dataset the user named; a plugin's Dataset may carry another name (its own short one).
    return (dataset if dataset.name == name else dataclasses.replace(dataset, name=name)), strict


def split_image_settings(registry: Any, sets: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``sets`` without its ``image.*`` settings, and the options of the ``image`` preprocessor those give, checked as
    a run checks them (its defaults when none is given): a dataset of precomputed images is checked at the size a
    run with the same settings reads (``image.size``)."""
    from merbench.preprocess import build_chain

    image = {key: value for key, value in sets.items() if str(key).partition(".")[0] == IMAGE_PREPROCESSOR}
    spec = registry.get("preprocessors", IMAGE_PREPROCESSOR)
    unknown = [key for key in image if str(key).partition(".")[2] not in spec.options]
    if unknown:
        valid = ", ".join(f"{IMAGE_PREPROCESSOR}.{option}" for option in spec.options)
        raise UsageError(f"unknown setting '{unknown[0]}'. Valid {IMAGE_PREPROCESSOR} settings: {valid}")
    options = resolve_section(spec, IMAGE_PREPROCESSOR, "default", image)
    build_chain([spec], {IMAGE_PREPROCESSOR: options})  # refuses what the run refuses (image.size=2)
    return {key: value for key, value in sets.items() if key not in image}, options


def check_image_settings(dataset: Dataset, sets: Mapping[str, Any]) -> None:
    """Refuse ``image.*`` settings (``sets``) for a dataset that gives clips of frames, which no run reads with the
    ``image`` preprocessor."""
    given = [key for key in sets if str(key).partition(".")[0] == IMAGE_PREPROCESSOR]
    if given and dataset.gives != "image":
        raise UsageError(
            f"--set {given[0]}: the '{IMAGE_PREPROCESSOR}' preprocessor reads precomputed images (a manifest with a "
            f"path column), but dataset '{dataset.name}' gives clips of frames, which a run reads with another chain; "
            "drop it")


def verdict(report: CheckReport, strict: bool) -> str | None:
    """Why the tree is not usable for a run, or ``None`` when it is. ``strict``: ``--strict`` or
    ``dataset.strict=true``; a dataset without that option (``report.skips_clips`` false) refuses unusable onset,
    apex or middle frames anyway, as its run would stop at them."""
    dataset = report.dataset
    skipped = report.skipped
    if not dataset.samples:
        first = f"; first skipped: {_describe(skipped[0])}" if skipped else ""
        return f"dataset '{dataset.name}' has no usable samples{first}"
    if len(set(dataset.labels.tolist())) < 2:
        return f"dataset '{dataset.name}' has samples of only one class ({dataset.classes[dataset.labels[0]]}); a classifier needs two"
    blocking = report.blocking
    kept_classes = report.classes_kept
    if blocking and not report.skips_clips:
        first = blocking[0]
        return (
            f"dataset '{dataset.name}' has no dataset.strict option, so a run reads every clip it lists and stops at "
            f"the first missing or unusable frame: {counted(report.clips_left_out, 'clip')} with "
            f"{counted(blocking, 'file')} a run reads first (onset, apex or middle frame) missing or unusable, first: "
            f"sample {first.sample}: {first.path} {first.problem}; replace the files or remove their samples, or fix "
            "the dataset plugin (one that declares a 'strict' option lets runs skip such clips with "
            "dataset.strict=false)"
        )
    stopping = report.stopping
    if stopping and not (blocking and strict):  # a strict run stops at the first unusable file before it compares
        first = stopping[0]
        return (
            f"dataset '{dataset.name}' has {counted(stopping, 'image')} of another size than the most common one, "
            f"and a run stops at them (exit 2, whatever dataset.strict says); first: sample {first.sample}: "
            f"{first.path} {first.problem} (this check takes it too), or store every image at one size"
        )
    if blocking and not strict and not kept_classes:
        first = blocking[0]
        return (
            f"dataset '{dataset.name}' has no usable sample left: each of its {counted(report.clips_left_out, 'clip')} "
            f"has a missing or unusable file that a run reads first, and a run leaves them out; first: sample "
            f"{first.sample}: {first.path} {first.problem}; replace the files or remove their samples"
        )
    if blocking and not strict and len(kept_classes) < 2:
        first = blocking[0]
        return (
            f"dataset '{dataset.name}' has samples of only one class ({kept_classes[0]}) once the "
            f"{counted(report.clips_left_out, 'clip')} with missing or unusable files are left out, as a run leaves "
            f"them out; a classifier needs two: replace the files, first: sample {first.sample}: {first.path} "
            f"{first.problem}"
        )
    if blocking and strict:
        first = blocking[0]
        return (
            f"strict check (--strict or dataset.strict=true): {counted(blocking, 'file')} a run reads first (onset, "
            f"apex or middle frame) missing or unusable, first: sample {first.sample}: {first.path} {first.problem}; "
            "replace the files or remove their rows, or check without --strict and with dataset.strict=false (the "
            "default) to skip their clips"
        )
    if strict and skipped:
        switch, lenient = (("--strict or dataset.strict=true", " and with dataset.strict=false (the default)")
                           if report.skips_clips else ("--strict", ""))
        return (
            f"strict check ({switch}): {counted(skipped, 'row')} skipped, first {_describe(skipped[0])}; fix them, or "
            f"check without --strict{lenient} to skip them"
        )
    return None


def warnings(report: CheckReport, strict: bool) -> list[str]:
    """What a usable tree still lacks: without ``strict``, clips a run skips because a file is missing or unusable;
    always, offset frames that only whole-clip chains read, and subject ids that differ only in case or spaces."""
    declared = declared_class_note(report.dataset, report.dataset.name)
    found = [declared] if declared else []
    left_out = report.blocking
    if left_out and not strict:
        first = left_out[0]
        found.append(f"{counted(report.clips_left_out, 'clip')} with missing or unusable files: a run skips them "
                     f"(dataset.strict is off); first: sample {first.sample}: {first.path} {first.problem}. Replace "
                     "the files, or use --strict to make this an error")
        lost = [name for name in report.dataset.classes if name not in report.classes_kept]
        if lost:
            found.append(f"{plural(lost, 'class')} {', '.join(lost)} {'has' if len(lost) == 1 else 'have'} no sample "
                         f"left once those clips are left out: a run classifies {counted(report.classes_kept, 'class')} "
                         f"({', '.join(report.classes_kept)})")
    skipped_anyway = report.clips_left_out  # a set computed from every problem: once, not per problem
    blank = [problem for problem in report.problems if problem.read_anyway and problem.sample not in skipped_anyway]
    if blank:
        first = blank[0]
        clips = {problem.sample for problem in blank}
        found.append(f"{counted(clips, 'clip')} with blank frames or images (every pixel of one value): a run reads "
                     f"{plural(clips, 'it', 'them')} as {plural(clips, 'a clip', 'clips')} without a face; first: "
                     f"sample {first.sample}: {first.path} {first.problem}")
    offsets = [problem for problem in report.problems if not problem.skips_clip and not problem.stops_run
               and not problem.read_anyway and problem.sample not in skipped_anyway]
    if offsets:
        first = offsets[0]
        clips = {problem.sample for problem in offsets}
        if not report.skips_clips:
            then = "stop the run there (the dataset has no dataset.strict option to skip clips)"
        elif strict:
            then = "stop the run there (exit 2: dataset.strict=true)"
        else:
            then = f"skip {plural(clips, 'it', 'them')}"
        found.append(f"{counted(clips, 'clip')} with a missing or unusable offset or in-clip frame: the default chain "
                     f"(flow) does not read it, so {plural(clips, 'it is', 'they are')} kept, but chains that read "
                     f"frames across the clip (apex.rule=motion-peak, magnify; lbptop where it samples that frame) "
                     f"{then}; first: sample {first.sample}: {first.path} {first.problem}")
    found.extend(subject_warnings(report.dataset))
    return found


def _describe(entry: Mapping[str, Any]) -> str:
    row = f"row {entry['row']} " if entry.get("row") is not None else ""
    source = f"{entry['source']} " if entry.get("source") else ""
    return f"{source}{row}({entry['sample']}): {entry.get('reason') or entry.get('note')}"


def check_command(name: str, root: Path | None, options: Mapping[str, Any] | None = None,
                  defaults: Mapping[str, Any] | None = None) -> str:
    """The ``merbench datasets check`` command that lists a dataset's skipped rows, quoted to be pasted into a shell:
    with ``--root`` and a ``--set dataset.KEY=VALUE`` for each option in ``options`` that differs from ``defaults``
    (the CSV a manifest reads; without ``defaults``, each one not empty), ``strict`` left out so that the check lists
    the rows rather than stopping at them."""
    words = ["merbench", "datasets", "check", name] + (["--root", str(root)] if root is not None else [])
    for key, value in (options or {}).items():
        if key != "strict" and (value not in ("", None, [], ()) if defaults is None else value != defaults.get(key)):
            words += ["--set", f"dataset.{key}={set_text(value)}"]
    return shlex.join(words)


def set_text(value: Any) -> str:
    """An option value as ``--set`` reads it back: ``true``/``false``, a list comma-separated, else its text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def loader_skip_note(dataset: Dataset, name: str, root: Path | None = None, options: Mapping[str, Any] | None = None,
                     defaults: Mapping[str, Any] | None = None) -> str | None:
    """One line on what the loader left out: annotation rows (a missing frame folder, an apex outside the clip...),
    for a composite with an official list (MEGC2019) the listed samples not found, and classes it declared that no
    sample has; so that a run on a smaller dataset than the sheet or list names says so. ``None`` when nothing was."""
    skipped = list(dataset.summary.get("skipped_rows", []))
    coverage = dataset.summary.get("official_list") or {}
    missing = int(coverage.get("listed", 0)) - int(coverage.get("found", 0)) if coverage else 0
    declared = declared_class_note(dataset, name)
    if not skipped and missing <= 0:
        return declared
    parts = []
    if missing > 0:
        parts.append(f"{coverage['found']} of the {coverage['listed']} samples of the official list found")
    if skipped:
        parts.append(f"{counted(skipped, 'annotation row')} left out by the {name} loader, first {_describe(skipped[0])}")
    text = f"{'; '.join(parts)}; `{check_command(name, root, options, defaults)}` lists them with their reasons"
    return f"{text}; {declared}" if declared else text


def au_summary(dataset: Dataset) -> dict[str, Any]:
    """Samples per action unit, over the samples whose loader parsed an AU column (``extra["aus"]``)."""
    from collections import Counter

    counts: Counter = Counter()
    coded = ambiguous = unparsed = 0
    for sample in dataset.samples:
        extra = sample.extra or {}
        if "aus" not in extra:
            continue
        coded += 1
        counts.update(extra["aus"])
        ambiguous += bool(extra.get("au_ambiguous"))
        unparsed += bool(extra.get("au_unparsed"))
    return {"samples": coded, "per_au": dict(sorted(counts.items())), "ambiguous": ambiguous, "unparsed": unparsed}


def check_record(report: CheckReport, root: Path | None, options: Mapping[str, Any], strict: bool,
                 image_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What ``merbench datasets check --json FILE`` writes: the dataset, its folder and resolved options (and, for
    precomputed images, the ``image`` preprocessor's), whether a run can use it (``usable``, and ``reason`` when not),
    the counts per class, domain and subject, every skipped, fixed and gapped row, every missing or unusable file, the
    warnings, and the annotation facts the loader gives (official list coverage, annotation fixes, action units), with
    the software that checked it."""
    from merbench.environment import current_software

    dataset = report.dataset
    classes = list(dataset.classes)
    left_out = report.clips_left_out
    kept = [sample for sample in dataset.samples if sample.id not in left_out]
    per_domain: dict[str, Counter] = {}
    per_subject: dict[tuple[str, str], Counter] = {}
    for sample in dataset.samples:
        per_domain.setdefault(sample.domain, Counter())[classes[sample.label]] += 1
        per_subject.setdefault((sample.domain, sample.subject), Counter())[classes[sample.label]] += 1
    summary = dataset.summary
    reason = verdict(report, strict)
    record = {
        "kind": "merbench-dataset-check", "version": 1,
        "dataset": dataset.name, "root": str(root) if root is not None else summary.get("root"),
        "options": dict(options), "image_options": dict(image_options) if image_options is not None else None,
        "strict": strict,
        "usable": reason is None, "reason": reason, "warnings": warnings(report, strict),
        "samples": len(dataset.samples), "usable_samples": len(kept),
        "subjects": len({sample.subject for sample in dataset.samples}),
        "usable_subjects": len({sample.subject for sample in kept}),
        "classes": classes, "classes_kept": report.classes_kept,
        "per_domain": {domain: {name: counts.get(name, 0) for name in classes} for domain, counts in sorted(per_domain.items())},
        "per_subject": [{"domain": domain, "subject": subject, "counts": {name: counts.get(name, 0) for name in classes}}
                        for (domain, subject), counts in sorted(per_subject.items())],
        "apex_unknown": sum(sample.apex is None for sample in dataset.samples),
        "apex_at_onset": apex_at_onset(dataset),
        "files_opened": report.files_checked,
        "problems": [{"sample": p.sample, "file": str(p.path), "frame": p.frame, "problem": p.problem,
                      "clip_left_out": p.skips_clip, "stops_run": p.stops_run} for p in report.problems],
        "skipped_rows": report.skipped, "fixed_rows": report.fixed,
        "frame_gaps": report.frame_gaps, "dropped_by_class_set": summary.get("dropped_by_class_set", {}),
        "left_out_by_option": summary.get("left_out_by_option", {}),
        "official_list": summary.get("official_list"), "annotation_fixes": summary.get("annotation_fixes"),
        "action_units": au_summary(dataset), "software": current_software(),
    }
    return _plain(record)


def apex_at_onset(dataset: Dataset) -> list[str] | None:
    """The ids of the clips annotated with their apex on the onset frame (CASME II's EP09_05f, 55 CAS(ME)^3 rows):
    kept as released, but no motion lies between the two frames an onset-to-apex flow compares. ``None`` (not
    applicable) for a dataset of precomputed images (``gives="image"``), whose samples have no onset or apex frame."""
    if dataset.gives != "frames":
        return None
    return [sample.id for sample in dataset.samples if sample.apex is not None and sample.apex == sample.onset]


def zero_flow_warning(dataset: Dataset, chain: Sequence[str], apex_options: Mapping[str, Any]) -> str | None:
    """Why a run's inputs would all be zero: every clip is annotated with its apex on its onset frame (one-frame
    clips, or a loader's indices gone wrong), and the chain compares those two frames (``flow``, with no ``apex``
    step replacing the annotated apex). ``None`` otherwise; a few such clips are real data, which
    ``datasets check`` lists."""
    at_onset = apex_at_onset(dataset)
    if not at_onset or len(at_onset) < len(dataset.samples) or "flow" not in chain:
        return None
    if "apex" in chain and bool(apex_options.get("override")):
        return None
    return (f"every clip of dataset '{dataset.name}' ({counted(at_onset, 'clip')}) has its apex on its onset frame, "
            "so the onset-to-apex flow the model reads is zero for all of them and the scores will sit at chance; "
            f"check the loader's onset and apex indices (`merbench datasets check {dataset.name}` shows them), or "
            "choose the apex from the motion (--set preprocess=apex,flow apex.rule=motion-peak apex.override=true)")


def _plain(value: Any) -> Any:
    """``value`` with what JSON lacks made plain: numpy numbers as numbers, paths and other objects as text."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
