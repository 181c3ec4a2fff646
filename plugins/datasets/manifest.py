"""Dataset ``manifest``: samples listed in a CSV file, paths relative to ``--root``.

``--set dataset.manifest=FILE`` (a relative FILE is looked for in the working
folder, then under ``--root``). Columns (header names without case):

* ``subject`` and ``label`` (required); ``domain`` and ``id`` (optional); two
  header cells that read as one of these columns (``label``, ``Label ``) are refused;
  two subject ids that differ only in case (``S01``, ``s01``) or in leading zeros
  (``006``, ``6``) are refused;
* either ``path``: one precomputed 3-channel image per row (e.g. u/v/strain
  flow images), used as model input directly (the ``image`` chain by default);
* or ``onset`` and ``apex`` (and optionally ``offset``): frame files that go
  through the preprocessor chain like any clip (default ``flow``).

Labels are class names (compared without case: ``Negative`` is ``negative``,
spelled as first seen) or integers (``1`` or ``1.0``);
``--set dataset.classes=negative,positive,surprise`` names the integers
(0 → negative) and fixes the class order; labels that are all among its names
are read as names (``dataset.classes=1,2,3`` for labels 1..3). Without it, names are sorted and
integers keep their numeric order. Every path must stay inside
``--root`` ("row 4: path ../x escapes the root"); the check is on the path text,
so a tree of symbolic links still works. A row whose file is missing is skipped
and reported (an error with ``dataset.strict``), as is a row that repeats the
header (two manifests joined).
"""

from __future__ import annotations

import csv
import os
import re
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any

from merbench.contracts import Dataset, Sample
from merbench.datafiles import check_cache_outside
from merbench.errors import DataError, UsageError
from merbench.escaping import LEADING_ZEROS, number_key, printable_line, spelling_key
from merbench_plugins.datasets.common import (LoadLog, absolute_text, as_bool, check_root, class_counts, enforce_strict,
                                              why_not_a_file)
from merbench.wording import plural

DEFAULT_DOMAIN = "manifest"


def manifest_file(value: str, root: Path) -> Path:
    """The CSV named by ``dataset.manifest`` (working folder first, then ``root``)."""
    if not value:
        raise UsageError("dataset 'manifest' needs its CSV: --set dataset.manifest=FILE (paths in it are relative to --root)")
    path = Path(value).expanduser()
    candidates = (path, root / path) if not path.is_absolute() else (path,)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    folder = next((candidate for candidate in candidates if candidate.is_dir()), None)
    if folder is not None:
        raise DataError(f"dataset.manifest={value}: {folder} is a folder, not a file; name the CSV file in it "
                        "(--set dataset.manifest=FOLDER/labels.csv)")
    raise DataError(f"dataset.manifest={value}: file not found (looked in the working folder and in {root})")


def inside(root: Path, text: str, row: int, column: str, manifest: Path | str = "manifest") -> Path:
    """``root / text`` when the path stays inside ``root``; a DataError naming the manifest file and row otherwise."""
    text = text.strip()
    if not text:
        raise DataError(f"{manifest} row {row}: empty {column}; give a path relative to --root")
    posix = PurePosixPath(text.replace("\\", "/"))
    if absolute_text(text):
        raise DataError(f"{manifest} row {row}: {column} {text} is absolute; give it relative to --root {root}")
    normal = os.path.normpath(posix.as_posix())
    if normal == ".." or normal.startswith("../"):
        raise DataError(f"{manifest} row {row}: {column} {text} escapes the root {root}; give paths inside --root")
    return root / normal


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header (lower-cased) and rows with the line number each starts on in the file (header = row 1)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            written = next(reader, [])
            if not any(cell.strip() for cell in written):
                check_header_first(reader, path)
            header = [h.strip().lower() for h in written]
            check_columns_once(written, header, path)
            rows = []
            start = reader.line_num + 1
            for values in reader:
                if any(v.strip() for v in values):
                    check_field_count(values, header, start, path)
                    rows.append((start, dict(zip(header, (v.strip() for v in values)))))
                start = reader.line_num + 1
    except UnicodeDecodeError:
        raise DataError(f"{path} {_first_non_utf8(path)} is not UTF-8 text; save the manifest as CSV UTF-8") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"cannot read the manifest {path} as a CSV file ({exc}); save it as CSV UTF-8") from None
    return header, rows


def check_header_first(reader: Any, path: Path) -> None:
    """``DataError`` for blank lines above the header (``reader`` has read the first, blank, one): the header must
    be the first line. A file with nothing but blank lines is left to the missing-columns message."""
    blank = reader.line_num
    for cells in reader:
        if any(cell.strip() for cell in cells):
            lines = "line 1 is" if blank == 1 else f"lines 1 to {blank} are"
            raise DataError(f"{path}: {lines} blank; the header (subject,label,...) must be the first line: delete "
                            f"the blank {plural(blank, 'line')} above it")
        blank = reader.line_num


def check_field_count(values: list[str], header: list[str], row: int, path: Path) -> None:
    """``DataError`` for a row with more filled cells than the header has columns: an unquoted comma in a path
    (``images/a,b.png``) splits its cell in two, and the row read by the header would lose the cells past the last
    column. Empty cells past the header (a spreadsheet's trailing commas) are allowed."""
    used = max((i + 1 for i, value in enumerate(values) if value.strip()), default=0)
    if used > len(header):
        raise DataError(f"{path} row {row} has {used} fields but the header has {len(header)} columns; quote the "
                        "cell that holds a comma (\"images/a,b.png\"), or give its column a header")


COLUMNS = ("subject", "label", "domain", "id", "path", "onset", "apex", "offset")
"""The columns the loader reads (header names without case and surrounding spaces)."""


def check_columns_once(written: list[str], header: list[str], path: Path) -> None:
    """``DataError`` for two header cells that read as one column the loader uses (``label`` and ``Label ``): a row
    would keep only the later one's value, so which column holds the labels would be decided by the column order.
    Other repeated names (two ``notes``, the empty cells Excel leaves after the last column) are never read."""
    for name in COLUMNS:
        positions = [i for i, cell in enumerate(header) if cell == name]
        if len(positions) > 1:
            named = [f"'{printable_line(written[i])}' (column {i + 1})" for i in positions]
            raise DataError(f"{path} row 1: columns {', '.join(named[:-1])} and {named[-1]} are one column "
                            f"'{name}' (headers are compared without case and surrounding spaces); merbench cannot "
                            "tell which one holds the data: rename or remove one of them")


def _first_non_utf8(path: Path) -> str:
    """Where a file stops being UTF-8: ``line N (byte 0xAB)``."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return f"line {line} (byte 0x{data[exc.start]:02x})"
    return "somewhere"


def label_number(text: str) -> int | None:
    """The integer a label stands for (``"1"``, ``"-2"``, ``"1.0"`` → 1, -2, 1); ``None`` for a name or ``"1.5"``."""
    match = re.fullmatch(r"(-?\d+)(?:\.0*)?", text.strip())
    return int(match.group(1)) if match else None


def label_kind(text: str) -> str:
    """How a label that is not an integer reads in a message: a fraction or a name."""
    try:
        float(text)
    except ValueError:
        return "a name"
    return "not a whole number"


def class_names(labels: list[tuple[int, str]], given: list[str], path: Path) -> tuple[tuple[str, ...], list[int]]:
    """Class names and each row's label index, from names or integers (``given`` names the integers).

    Names are compared without case and spaces (``label_key``): ``negative``, ``Negative`` and ``nega tive`` are one
    class, as the coding-sheet loaders read emotions, spelled as in ``given`` or else as first seen in the file, and
    sorted by that key. Integer labels may be written as whole floats (``1.0`` is 1).
    """
    numbers = [label_number(text) for _, text in labels]
    if given:
        return given_names(labels, numbers, given, path)
    if all(n is not None for n in numbers):
        values = sorted(set(numbers))
        return tuple(str(v) for v in values), [values.index(n) for n in numbers]
    if any(n is not None for n in numbers):
        numeric = [n is not None for n in numbers]
        odd = sum(numeric) * 2 <= len(numeric)  # report the first label of the rarer kind
        row, text = next(label for label, is_number in zip(labels, numeric) if is_number == odd)
        raise DataError(
            f"{path} row {row}: label {text!r} is {'an integer' if odd else label_kind(text)} but most labels are "
            f"{'names' if odd else 'integers'}; use one kind, or name the integers with --set dataset.classes=a,b,c"
        )
    spelling: dict[str, str] = {}
    for _, text in labels:
        spelling.setdefault(label_key(text), text)
    keys = sorted(spelling)
    return tuple(spelling[k] for k in keys), [keys.index(label_key(text)) for _, text in labels]


def label_key(text: str) -> str:
    """What two spellings of one class name share: the name without case and spaces (a stray space typed inside a
    label in one row would otherwise make a class of one sample)."""
    return "".join(text.split()).casefold()


def class_key(text: str) -> str:
    """What a label and a ``dataset.classes`` name share when they name one class: an integer's value (``1.0`` is
    the class ``1``), else ``label_key``."""
    number = label_number(text)
    return f"#{number}" if number is not None else label_key(text)


def given_names(labels: list[tuple[int, str]], numbers: list[int | None], given: list[str],
                path: Path) -> tuple[tuple[str, ...], list[int]]:
    """Each row's index into ``given`` (``dataset.classes``): by name without case and spaces when every label is one
    of the names (``dataset.classes=1,2,3`` with labels 1..3 are names, not indices), else by integer 0..n-1 or by
    name; where a name is an integer (``1``), a file mixing the two readings is a DataError naming a row of each."""
    names = tuple(given)
    keys = [class_key(name) for name in names]
    twice = next((name for i, name in enumerate(names) if keys[i] in keys[:i]), None)
    if twice is not None:
        raise UsageError(f"dataset.classes={','.join(names)}: {twice!r} is given twice (names are compared without "
                         "case and spaces); give each class once")
    if all(class_key(text) in keys for _, text in labels):
        return names, [keys.index(class_key(text)) for _, text in labels]
    # Indices and names can be told apart unless a name is itself an integer: then a file mixing the two is refused.
    numeric_names = any(label_number(name) is not None for name in names)
    named = next(((row, text) for row, text in labels if class_key(text) in keys), None) if numeric_names else None
    index = []
    for (row, text), number in zip(labels, numbers):
        if class_key(text) in keys:
            index.append(keys.index(class_key(text)))
        elif number is not None and 0 <= number < len(names) and named is not None:
            raise DataError(
                f"{path} row {row}: label {text!r} is not one of dataset.classes={','.join(names)}, so it would be "
                f"read as the index of class {names[number]!r}, but row {named[0]} names a class ({named[1]!r}); "
                f"use one kind of label: class names, or integers 0..{len(names) - 1}")
        elif number is not None and 0 <= number < len(names):
            index.append(number)
        else:
            raise DataError(
                f"{path} row {row}: label {text!r} is not one of dataset.classes={','.join(names)} "
                f"(nor an integer 0..{len(names) - 1})"
            )
    return names, index


def check_listed_once(listed: dict[tuple[Path, ...], tuple[int, str]], files: tuple[Path, ...], row: int,
                      sample_id: str, path: Path) -> None:
    """``DataError`` for a row whose image (or onset and apex frames) an earlier row lists: one clip under two ids
    (or two subjects) would be trained on and tested, its score a memory of itself. ``listed`` records each row."""
    key = tuple(Path(os.path.realpath(f)) for f in files)  # ./a.png, a.png and a link to it are one file
    first = listed.setdefault(key, (row, sample_id))
    if first[0] != row:
        what = "image" if len(files) == 1 else "onset and apex frames"
        raise DataError(f"{path} row {row}: sample {sample_id} lists the same {what} as row {first[0]} (sample "
                        f"{first[1]}); one clip listed twice would be trained on and tested as two samples: remove "
                        "one of the two rows")


def check_subject_spelling(rows: list[tuple[int, dict[str, str]]], path: Path) -> None:
    """``DataError`` for two subject ids that differ only in case (``S01`` and ``s01``), in invisible characters (a
    zero-width space), in Unicode form (a full-width ``Ｓ``) or in the leading zeros of a number (``006`` and ``6``,
    as a CSV re-saved by Excel writes them): as two subjects, one person's clips could sit on both sides of a
    subject-independent split; as one, merbench would guess."""
    first: dict[str, tuple[str, int]] = {}
    first_number: dict[str, tuple[str, int]] = {}
    for row, cells in rows:
        subject = cells.get("subject") or ""
        spelled, where = first.setdefault(spelling_key(subject), (subject, row))
        if spelled == subject:
            spelled, where = first_number.setdefault(number_key(subject), (subject, row))
        if spelled != subject:
            raise DataError(f"{path} row {row}: subject '{printable_line(subject)}' differs from "
                            f"'{printable_line(spelled)}' (row {where}) only {how_spelled_apart(subject, spelled)}; "
                            "spell each subject one way (ids are compared exactly), or rename one if they are two "
                            "people")


def check_domain_spelling(rows: list[tuple[int, dict[str, str]]], path: Path) -> None:
    """``DataError`` for two domains that differ only in case, invisible characters or Unicode form (``casme2`` and
    ``CASME2``): read as two, a leave-one-domain-out protocol would split one source in two."""
    first: dict[str, tuple[str, int]] = {}
    for row, cells in rows:
        domain = cells.get("domain") or ""
        spelled, where = first.setdefault(spelling_key(domain), (domain, row))
        if spelled != domain:
            raise DataError(f"{path} row {row}: domain '{printable_line(domain)}' differs from "
                            f"'{printable_line(spelled)}' (row {where}) only {how_spelled_apart(domain, spelled)}; "
                            "write one spelling (domains are compared exactly)")


def how_spelled_apart(subject: str, other: str) -> str:
    """How two subject ids of one ``number_key`` differ, for ``check_subject_spelling``'s message."""
    if spelling_key(subject) != spelling_key(other):
        alike = LEADING_ZEROS.sub("", subject) == LEADING_ZEROS.sub("", other)
        return "in leading zeros" + ("" if alike else " and in case (or invisible characters, Unicode form)") + \
            " (Excel drops them when it re-saves a CSV)"
    return "in case" if subject.casefold() == other.casefold() else "in invisible characters or Unicode form"


def skip_repeated_headers(rows: list[tuple[int, dict[str, str]]], header: list[str],
                          log: LoadLog) -> list[tuple[int, dict[str, str]]]:
    """``rows`` without those that repeat the header (in any case), each recorded in ``log`` as skipped: two
    manifests joined into one file carry the second one's header (after its byte-order mark when both were saved
    as Excel's CSV UTF-8 and joined with ``cat``), which is no sample (its "file" ``path`` is
    not missing, and its "subject" ``Subject`` is no second spelling of a subject)."""
    kept = []
    for row, cells in rows:
        if all(cells.get(name, "").lstrip("\ufeff").strip().lower() == name for name in header):
            log.skip(row, "header", "repeats the header row (row 1), as two manifests joined into one do; delete it")
        else:
            kept.append((row, cells))
    return kept


def clip_frames(files: tuple[Path, ...]) -> tuple[Path, ...]:
    """A frames row's clip: onset, apex and offset files, the apex left out where it is the onset file (a one-frame
    clip, whose apex index is then the onset's, so ``datasets check`` and a run's warnings see the apex on the
    onset), and likewise an offset that is the onset file."""
    onset = files[0]
    return (onset,) + tuple(f for f in files[1:] if f != onset)


def load(root: Path | None, options: dict[str, Any], cache_dir: Path) -> Dataset:
    """Read the manifest CSV into samples (see the module docstring)."""
    root = check_root(root, "manifest")
    check_cache_outside(root, cache_dir)
    path = manifest_file(str(options["manifest"] or ""), root)
    header, rows = read_rows(path)
    missing = [c for c in ("subject", "label") if c not in header]
    image_mode = "path" in header
    if not image_mode and not {"onset", "apex"} <= set(header):
        missing.append("path (or onset and apex)")
    if missing:
        raw = ",".join(header)
        other = ("; the file is not comma-separated: save it as CSV with commas"
                 if "," not in raw and {";", "\t"} & set(raw) else "")
        raise DataError(f"{path} row 1: missing {plural(missing, 'column')} {', '.join(missing)}; "
                        f"the header has {', '.join(header) or 'nothing'}{other}")
    if image_mode and ("onset" in header or "apex" in header):
        raise DataError(f"{path} row 1: has both a path column and onset/apex columns; keep one of the two forms")
    if not rows:
        raise DataError(f"{path}: no rows under the header; list one sample per row")

    log = LoadLog(path.name)  # rows are named by the file the user wrote: "labels.csv row 4"
    log.rows = len(rows)
    rows = skip_repeated_headers(rows, header, log)
    check_subject_spelling(rows, path)
    check_domain_spelling(rows, path)
    columns = ("path",) if image_mode else tuple(c for c in ("onset", "apex", "offset") if c in header)
    kept: list[tuple[int, dict[str, str], tuple[Path, ...], str]] = []
    listed: dict[tuple[Path, ...], tuple[int, str]] = {}
    for row, cells in rows:
        for column in ("subject", "label"):
            if not cells.get(column):
                raise DataError(f"{path} row {row}: empty {column}; fill it in or delete the row")
        for column in ("subject", "label", "domain", "id"):
            text = cells.get(column) or ""
            if any(unicodedata.category(ch) == "Cc" for ch in text):
                raise DataError(f"{path} row {row}: the {column} '{printable_line(text)}' holds a control character "
                                "(a tab or line break, often from a quoted cell pasted with one); remove it")
        files = tuple(inside(root, cells.get(column, ""), row, column, path)
                      for column in columns if cells.get(column) or column != "offset")
        sample_id = cells.get("id") or (files[0] if image_mode else files[1]).relative_to(root).as_posix()
        log.claim(sample_id, row, str(path))
        check_listed_once(listed, files[:1] if image_mode else files[:2], row, sample_id, path)
        absent = [f for f in files if not f.is_file()]
        if absent:
            reason = why_not_a_file(absent[0])
            log.skip(row, sample_id, f"file {absent[0].relative_to(root)} "
                                     f"{'not found under the root' if reason == 'not found' else reason}")
            continue
        kept.append((row, cells, files, sample_id))
    enforce_strict(log.skipped, as_bool(options["strict"]), f"dataset 'manifest' ({path})")
    if not kept:
        raise DataError(f"{path}: none of its {log.rows} rows can be used ({log.skipped[0]['reason']}, ...); check --root {root}")

    classes, labels = class_names([(row, cells["label"]) for row, cells, _, _ in kept], list(options["classes"]), path)
    samples = []
    for (row, cells, files, sample_id), label in zip(kept, labels):
        frames = files if image_mode else clip_frames(files)
        samples.append(
            Sample(
                id=sample_id,
                subject=cells["subject"],
                label=label,
                domain=cells.get("domain") or DEFAULT_DOMAIN,
                frames=frames,
                onset=0,
                apex=0 if image_mode or files[1] == files[0] else 1,
                offset=len(frames) - 1,
                extra={"row": row},
            )
        )
    summary = {
        "root": str(root),
        "manifest": str(path.absolute()),  # found in the working folder, a relative name would not say which file
        "mode": "precomputed images (path)" if image_mode else "frames (onset, apex)",
        **log.summary(),
        "class_counts": class_counts(classes, labels),
    }
    return Dataset(name="manifest", classes=classes, samples=tuple(samples), summary=summary,
                   gives="image" if image_mode else "frames")


def gives(root: Path | None, options: dict[str, Any]) -> str:
    """``"image"`` when the manifest has a ``path`` column, else ``"frames"`` (reads the CSV, no image)."""
    if root is None or not Path(root).is_dir():
        return "frames"
    header, _ = read_rows(manifest_file(str(options["manifest"] or ""), Path(root)))
    return "image" if "path" in header else "frames"
