"""What the real-dataset loaders share: finding files, reading coding sheets, placing clips.

Loaders read annotation files and list frame folders; they never open a frame
(the preprocessor does, lazily) and never write inside a dataset root. A row
that cannot be used is *skipped* with its reason (``LoadLog``), a row that was
repaired is *fixed* with a note; both end up in ``Dataset.summary`` so that a
run's JSON and ``merbench datasets check`` show them. ``dataset.strict`` turns
skipped rows into an error.
"""

from __future__ import annotations

import datetime
import fnmatch
import os
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence
from xml.etree import ElementTree

from merbench.contracts import Dataset, Sample
from merbench.datafiles import check_root_folder, resolved_path
from merbench.errors import DataError, UsageError
from merbench.escaping import visible_text
from merbench.wording import counted, number_spans

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
COMPOSITE_CLASSES = ("negative", "positive", "surprise")
"""The MEGC2019 3-class set (docs/datasets.md, ``megc2019``)."""

NUMBER_AT_END = re.compile(r"(\d+)$")
OTHER_SHEET_SUFFIXES = (".xls", ".csv")
"""Formats a coding sheet is sometimes saved in (in any letter case); the loaders read only .xlsx."""


class SkipRow(Exception):
    """A row that cannot be used; the message says why."""


def norm(text: Any) -> str:
    """A header or label compared without case, spaces or underscores."""
    return re.sub(r"[\s_]+", "", str(text if text is not None else "")).lower()


def cell_value(name: str, value: Any, prefix: str = "") -> str:
    """A sheet cell for a message: ``PREFIX NAME 'value'``, or ``an empty NAME cell`` with the usual cause of a cell
    that looks filled in a spreadsheet program: a merged cell, whose value only its first row holds."""
    if str(value if value is not None else "").strip():
        return f"{prefix}{name} {value!r}"
    return f"an empty {name} cell (a merged cell holds its value in its first row only: unmerge it and fill each row)"


WINDOWS_DRIVE = re.compile(r"[A-Za-z]:.*")
"""The first part of a Windows path on a drive (``C:`` of ``C:\\data``, ``C:/data``, ``C:``; ``C:x.png`` too, which
Windows reads from the drive's current folder, outside any root)."""


def absolute_text(text: str) -> bool:
    """Whether a path read from a sheet or manifest cell is absolute on some system: ``/data``, ``\\\\server\\share``,
    or one on a Windows drive (``C:``, ``C:\\data``, ``C:/data``, ``C:x.png``). A ``:`` elsewhere (``12:30/a.png``)
    is a legal name."""
    posix = PurePosixPath(text.replace("\\", "/"))
    return posix.is_absolute() or Path(text).is_absolute() or bool(posix.parts
                                                                     and WINDOWS_DRIVE.fullmatch(posix.parts[0]))


def folder_cell(sheet_path: Path, row: int, column: str, text: str, example: str) -> str:
    """``text``, a coding-sheet cell that names a folder below the release's frame folder (a clip's ``Filename``,
    4DME's ``sub_ID`` and ``fold_name``), when it stays there: an absolute path or a ``..`` part would read frames
    from outside ``--root``, a DataError naming the sheet, the row and the cell (``example``: a good value)."""
    if absolute_text(text):
        raise DataError(f"{sheet_path} row {row}: {column} {text!r} is an absolute path; merbench reads a dataset only "
                        f"inside its --root: give the clip's folder name as the release spells it (e.g. {example})")
    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        raise DataError(f"{sheet_path} row {row}: {column} {text!r} leads out of the frame folder ('..'); merbench "
                        f"reads a dataset only inside its --root: give the clip's folder name as the release spells it "
                        f"(e.g. {example})")
    return text


def check_root(root: Path | None, name: str) -> Path:
    """The dataset root as a folder, or a DataError telling how to give it."""
    if root is None:
        raise UsageError(f"dataset '{name}' reads your own copy of the data: give its folder with --root DIR")
    root = Path(root)
    check_root_folder(root, name)
    folders_in(root)  # a DataError when --root cannot be read
    return root


def find_one(root: Path, patterns: Sequence[str], what: str, depth: int = 1, given: str = "--root") -> Path:
    """The single file matching one of ``patterns`` (in any letter case: ``named_like``) in ``root`` (or up to
    ``depth`` folders below); ``given`` is the option that gives ``root`` (``--set dataset.casme2=DIR`` for a
    composite's part), named in the fix."""
    found: list[Path] = []
    unusable: list[Path] = []  # named like the file but not one: a broken link, a folder, a FIFO
    for level in range(depth + 1):
        for pattern in patterns:
            for path in named_like(root, level, pattern):
                if not path.name.startswith(("~$", ".")):  # Excel's lock file, macOS's ._ copy: not the sheet
                    (found if path.is_file() else unusable).append(path)
        if found:
            break
    found = sorted(set(found))
    if not found and unusable:
        path = sorted(unusable)[0]
        raise DataError(f"{path}: the {what} annotation file {why_not_a_file(path)}; put the sheet itself there")
    if not found:
        other = other_formats(root, patterns, depth)
        if other:
            raise DataError(f"expected {' or '.join(patterns)} in {root} but found {other.relative_to(root)}; "
                            "save the sheet as .xlsx (File > Save As) in the same folder")
        raise DataError(f"expected {' or '.join(patterns)} in {root}; give the folder of your {what} copy with {given}")
    if len(found) > 1:
        listed = ", ".join(str(p.relative_to(root)) for p in found)
        raise DataError(f"several {what} annotation files in {root} ({listed}); keep one or point {given} at a folder with one")
    return found[0]


def other_formats(root: Path, patterns: Sequence[str], depth: int = 1) -> Path | None:
    """The first file named like one of the ``*.xlsx`` ``patterns`` but saved as .xls or .csv (``None``: none)."""
    stems = [p[:-len(".xlsx")] for p in patterns if p.lower().endswith(".xlsx")]
    for level in range(depth + 1):
        found = sorted({p for stem in stems for suffix in OTHER_SHEET_SUFFIXES
                        for p in named_like(root, level, stem + suffix)
                        if p.is_file() and not p.name.startswith(("~$", "."))})
        if found:
            return found[0]
    return None


def named_like(root: Path, level: int, pattern: str) -> list[Path]:
    """The entries ``level`` folders below ``root`` whose name matches the glob ``pattern`` in any letter case
    (``casme2-coding-20140508.XLSX`` for ``CASME2-coding-*.xlsx``): copies lower-case names, and Windows and macOS
    do not tell case apart, so a copy made there keeps whatever case it was given."""
    wanted = pattern.lower()
    return [path for path in root.glob("*/" * level + "*") if fnmatch.fnmatchcase(path.name.lower(), wanted)]


def find_dir(root: Path, names: Sequence[str], depth: int = 1) -> Path | None:
    """The first folder named one of ``names`` (any case) in ``root`` or up to ``depth`` levels below."""
    wanted = [n.lower() for n in names]
    level_dirs = [root]
    for _ in range(depth + 1):
        for name in wanted:
            for folder in level_dirs:
                for child in searched_folders(folder):
                    if child.name.lower() == name:
                        return child
        level_dirs = [c for d in level_dirs for c in searched_folders(d)]
    return None


def searched_folders(folder: Path, frames_stop: int = 0) -> list[Path]:
    """The sub-folders of ``folder`` by name, for a search: none when it cannot be read (a root-owned ``lost+found``).

    Entries are told apart by the type ``os.scandir`` reads with the names (no ``stat`` per file: a search that passes
    a frame package stays cheap on network storage). With ``frames_stop``, a folder in which that many image files
    (``IMAGE_SUFFIXES``) are met is a clip's or a trial's frame folder: reading it stops there and it has no
    sub-folders to search, so a search never lists a frame folder through."""
    found: list[Path] = []
    images = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if frames_stop and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                    images += 1
                    if images >= frames_stop:
                        return []
                elif entry.is_dir() and not (entry.is_symlink() and _leads_back(Path(entry.path), folder)):
                    found.append(Path(entry.path))
    except OSError:
        return []
    return sorted(found)


def _leads_back(link: Path, folder: Path) -> bool:
    """Whether the folder link ``link`` in ``folder`` leads to ``folder`` itself or a folder above it (``same -> .``,
    ``up -> ..``): a search through it would meet the same folders again, at every level, or leave the dataset. A link
    leading elsewhere (a clip folder on another disk) is followed."""
    try:
        target, here = resolved_path(link), resolved_path(folder)
    except (OSError, RuntimeError):  # a loop (on every Python: resolved_path): nothing to search there
        return True
    return target == here or target in here.parents


def folders_in(folder: Path) -> list[Path]:
    """The sub-folders of a folder the loader must read (a subject's, a part's), by name; ``unreadable`` when it cannot."""
    try:
        return sorted(c for c in folder.iterdir() if c.is_dir())
    except OSError as exc:
        raise unreadable(folder, exc) from None


def unreadable(folder: Path, exc: OSError) -> DataError:
    """The error for a folder that cannot be read: names it and the fix."""
    return DataError(f"{folder}: folder not readable ({exc.strerror or exc}); make it readable "
                     f"(chmod -R a+rX '{folder}' as its owner) or run merbench as a user who can read it")


def blocked(folder: Path, exc: OSError) -> DataError:
    """``unreadable`` for the folder above ``folder`` that keeps it from being looked at (its subject folder)."""
    above = folder.parent
    while above.parent != above:
        try:
            above.stat()
            break
        except OSError:
            above = above.parent
    return unreadable(above, exc)


def to_int(value: Any) -> int | None:
    """An integer cell (int, float 12.0 or digit text); ``None`` for empty or ``/``; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != int(value):
            raise ValueError(value)
        return int(value)
    text = str(value).strip()
    if text in ("", "/", "-", "\\"):
        return None
    return int(float(text)) if re.fullmatch(r"\d+(\.0*)?", text) else int(text)


def frame_numbers(cells: Mapping[str, Any], keys: tuple[str, ...] = ("onset", "apex", "offset")) -> tuple[int | None, ...]:
    """The onset, apex and offset frame numbers of a sheet row (``None`` for an empty cell).

    Raises ``SkipRow`` naming the cell that is not a whole frame number.
    """
    numbers = []
    for key in keys:
        try:
            numbers.append(to_int(cells[key]))
        except ValueError:
            if isinstance(cells[key], (datetime.date, datetime.time)):
                raise SkipRow(f"{key} frame {cells[key]!r} is a date or time cell, not a whole frame number: format "
                              "the column as Number in the sheet (its cells then show the frame numbers again)") from None
            raise SkipRow(f"{key} frame {cells[key]!r} is not a whole frame number") from None
    return tuple(numbers)


# ------------------------------------------------------------------ coding sheets


@dataclass
class Sheet:
    """Rows of a coding sheet as ``(excel row number, {column key: value})``."""

    path: Path
    header_row: int
    rows: list[tuple[int, dict[str, Any]]]


class MissingColumn(DataError):
    """A header row without one of the required columns; keeps the row number and its header cells."""

    def __init__(self, message: str, row: int, header: Sequence[str]):
        super().__init__(message)
        self.row = row
        self.header = list(header)


def read_sheet(
    path: Path,
    columns: Mapping[str, str],
    optional: Mapping[str, str] | None = None,
    anchors: Sequence[str] = ("subject", "filename"),
    scan: int = 60,
) -> Sheet:
    """Read an xlsx coding sheet whose header row is found, not assumed.

    ``columns`` maps a key to the header text (compared by ``norm``); the header
    row is the first of the first ``scan`` rows of any sheet holding every
    ``anchors`` header, on the first sheet with data rows below it (a sheet
    holding the header only is passed over, and is a DataError naming file and
    sheet when no sheet has data rows). A missing column is a ``MissingColumn``
    (a DataError) naming file, row and column; ``optional`` columns are ``None``
    when absent. Two header cells of one column are read as one when every data
    row holds the same value in both (``same_columns``), and are a DataError
    otherwise.
    """
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip or XML errors of a damaged file
        raise unreadable_workbook(path, exc) from None
    header_only: list[tuple[str, int]] = []  # (sheet, header row) of sheets with the header and no data rows
    try:
        for worksheet in book.worksheets:
            worksheet.reset_dimensions()  # read every row, not the size the writing program recorded (can be short)
            rows = worksheet.iter_rows(values_only=True)
            for number, values in enumerate(rows, start=1):
                if number > scan:
                    break
                headers = [norm(v) for v in values]
                if not all(norm(a) in headers for a in anchors):
                    continue
                index: dict[str, list[int]] = {}
                for key, title in columns.items():
                    if norm(title) not in headers:
                        cells = [str(v).strip() for v in values if v is not None]
                        raise MissingColumn(
                            f"{path} row {number}: column '{title}' not found in the header "
                            f"({', '.join(map(repr, cells))}); is this the right, unedited annotation file?",
                            number, cells,
                        )
                    index[key] = [i for i, cell in enumerate(headers) if cell == norm(title)]
                for key, title in (optional or {}).items():
                    if norm(title) in headers:
                        index[key] = [i for i, cell in enumerate(headers) if cell == norm(title)]
                titles = {**columns, **(optional or {})}
                data = []
                empty: dict[int, list[int]] = {}  # row number: read columns whose cell came back empty
                for row_number, row in enumerate(rows, start=number + 1):
                    if row is None or all(v is None or str(v).strip() == "" for v in row):
                        continue
                    for key, positions in index.items():
                        if len(positions) > 1:
                            same_columns(path, worksheet.title, number, row_number, row, positions, titles[key])
                    empty_here = [i for positions in index.values() for i in positions if _cell(row, i) is None]
                    if empty_here:
                        empty[row_number] = empty_here
                    data.append((row_number, {key: _cell(row, index[key][0] if key in index else None)
                                              for key in titles}))
                if not data:
                    header_only.append((worksheet.title, number))
                    break
                if empty:
                    refuse_unsaved_formulas(path, worksheet.title, empty)
                return Sheet(path, number, data)
    except (ElementTree.ParseError, zipfile.BadZipFile, EOFError) as exc:  # read lazily: a damaged or hostile sheet
        raise unreadable_workbook(path, exc) from None
    finally:
        book.close()
    if header_only:
        title, number = header_only[0]
        raise DataError(f"{path} sheet '{title}': header at row {number} but no data rows; fill in the annotation rows "
                        "below the header, or copy the released annotation file again")
    raise DataError(
        f"{path}: no header row with {', '.join(repr(a) for a in anchors)} in the first {scan} rows of any sheet; "
        "is this the right annotation file?"
    )


OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""The first bytes of an OLE2 compound file: an old Excel .xls workbook (Excel 97-2003), not a zipped .xlsx."""


def unreadable_workbook(path: Path, exc: Exception) -> DataError:
    """The error for a workbook openpyxl cannot read: an old .xls workbook with an .xlsx name is said so, with how to
    convert it; any other file is damaged (``exc`` says how) and is copied again."""
    try:
        with open(path, "rb") as handle:
            old = handle.read(len(OLE2_SIGNATURE)) == OLE2_SIGNATURE
    except OSError:
        old = False
    if old:
        return DataError(f"{path} is an old Excel .xls workbook (Excel 97-2003) with an .xlsx name, which cannot be "
                         "read as .xlsx; open it in a spreadsheet program and save it as .xlsx (Excel Workbook)")
    return DataError(f"cannot read {path} as an .xlsx workbook ({type(exc).__name__}: {exc}); re-copy the file")


def refuse_unsaved_formulas(path: Path, sheet: str, empty: Mapping[int, Sequence[int]]) -> None:
    """A DataError when one of the ``empty`` cells (row number: column positions), read empty from the values the
    workbook stores, holds a formula: a program that edits a sheet without computing it (openpyxl, a script) writes
    ``=D2+3`` with no saved value, which would otherwise be read as an empty cell (an apex ``/``: the middle frame).

    The sheet is refused, not the row skipped: such cells come from one program saving the whole file, and one
    action fixes them all, where skipping would silently shrink the dataset the benchmark reports on."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    book = openpyxl.load_workbook(path, read_only=True)  # a second reading, of formulas as text
    try:
        worksheet = book[sheet]
        worksheet.reset_dimensions()
        first, last = min(empty), max(empty)
        found = []
        for row_number, row in enumerate(worksheet.iter_rows(min_row=first, max_row=last, values_only=True),
                                         start=first):
            for position in empty.get(row_number, ()):
                text = getattr(_cell(row, position), "text", _cell(row, position))  # an array formula: its text
                if isinstance(text, str) and text.startswith("="):
                    found.append((f"{get_column_letter(position + 1)}{row_number}", text))
        saved_text = _saved_as_text(path, getattr(worksheet, "_worksheet_path", None), {cell for cell, _ in found})
        found = [(cell, formula) for cell, formula in found if cell not in saved_text]
    finally:
        book.close()
    if found:
        cell, formula = found[0]
        more = f" ({counted(len(found) - 1, 'other cell')} too)" if len(found) > 1 else ""
        raise DataError(f"{path} sheet '{sheet}': {cell} holds a formula {formula} with no saved value{more}; open "
                        "and save the sheet in Excel or LibreOffice so its values are stored")


def _saved_as_text(path: Path, part: str | None, cells: set[str]) -> set[str]:
    """Those of ``cells`` (``E2``) whose formula has a saved text result, in the workbook's XML ``part`` (the sheet's
    file in the .xlsx archive): Excel and LibreOffice store a formula's empty-text result (``=IF(…,"",…)``) as
    ``t="str"`` with an empty value, which reads as empty like a formula never computed (no type: what openpyxl and
    scripts write). Without the part (another openpyxl), none: the formulas are refused as not computed."""
    import zipfile
    from xml.etree.ElementTree import iterparse

    if not part or not cells:
        return set()
    found = set()
    with zipfile.ZipFile(path) as archive, archive.open(part.lstrip("/")) as xml:
        for _, element in iterparse(xml):
            if element.tag.endswith("}c") and element.get("r") in cells and element.get("t") == "str":
                found.add(element.get("r"))
            if element.tag.endswith("}row"):
                element.clear()
    return found


def same_columns(path: Path, sheet: str, header_row: int, row: int, cells: Sequence[Any], positions: Sequence[int],
                 title: str) -> None:
    """Two or more header cells reading ``title`` (a second ``Onset`` beside the first): one column when data row
    ``row`` holds the same value in each, else a DataError naming the sheet, the columns by letter and that row, the
    first that differs, since which of them holds the data cannot be told and the column order must not decide."""
    from openpyxl.utils import get_column_letter

    values = [_cell(cells, position) for position in positions]
    shown = [_shown(value) for value in values]
    if len(set(shown)) == 1:
        return
    letters = [get_column_letter(position + 1) for position in positions]
    differing = ", ".join(f"{letter}: {value or 'empty'}" for letter, value in zip(letters, shown))
    raise DataError(f"{path} sheet '{sheet}': {len(positions)} columns headed {title!r} in row {header_row} "
                    f"({', '.join(letters[:-1])} and {letters[-1]}) differ from row {row} on ({differing}); merbench "
                    f"cannot tell which one holds the data: keep one and rename or delete the other")


def _shown(value: Any) -> str:
    """A cell as compared between two columns of one header: ``5``, ``5.0``, ``'5'`` and ``'5 '`` alike, empty as
    ``''``."""
    text = "" if value is None else str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _cell(row: Sequence[Any], position: int | None) -> Any:
    return row[position] if position is not None and position < len(row) else None


# ------------------------------------------------------------------ frames


def shown_folder(folder: Path, root: Path | None) -> Path:
    """``folder`` as messages name it: relative to ``root`` when inside it, else as given (a frames folder outside
    ``--root``, or spelled absolute beside a relative root)."""
    return folder.relative_to(root) if root is not None and folder.is_relative_to(root) else folder


def list_frames(folder: Path, root: Path | None = None, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> dict[int, Path]:
    """Image files of a clip folder (``suffixes``) by the frame number at the end of their name.

    Hidden files are not frames (``._img46.jpg``, the resource-fork copies macOS leaves beside each file on a
    drive it wrote; an editor's ``.img46.jpg.swp``). Raises ``SkipRow`` when the folder cannot be read, or when two
    files carry one frame number (``img44.jpg`` and ``img044.jpg``: which one is the clip's cannot be told), named
    relative to ``root`` when given.
    """
    frames: dict[int, Path] = {}
    if not folder.is_dir():
        return frames
    where = shown_folder(folder, root)
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                path = Path(entry.path)
                if path.name.startswith(".") or path.suffix.lower() not in suffixes or not entry.is_file():
                    continue
                match = NUMBER_AT_END.search(path.stem)
                if not match:
                    continue
                number = int(match.group(1))
                if number in frames:
                    first, second = sorted((frames[number].name, path.name))
                    raise SkipRow(f"folder {where} has two files for frame {number}: {first} and {second}; keep the "
                                  "clip's own frame and move the other away to use this clip")
                frames[number] = path
    except OSError as exc:
        raise SkipRow(f"folder {where} not readable ({exc.strerror or exc}); make it readable to use this clip") from None
    return dict(sorted(frames.items()))


def unnumbered_images(folder: Path, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> str:
    """Why ``list_frames`` found fewer frames than a folder's images, for a skip reason: ``"; it holds 8 image files
    whose names do not end in a frame number (img40_crop.jpg, ...)..."``, or ``""`` when there are none such."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder)
                       if not entry.name.startswith(".") and Path(entry.name).suffix.lower() in suffixes
                       and entry.is_file() and not NUMBER_AT_END.search(Path(entry.name).stem))
    except OSError:
        return ""
    if not names:
        return ""
    return (f"; it holds {counted(names, 'image file')} whose names do not end in a frame number ({names[0]}"
            f"{', ...' if len(names) > 1 else ''}): merbench reads the number at the end of each name (img46.jpg), "
            "so rename them as the release names them")


@dataclass
class Placed:
    """A clip's frames in order and the positions of onset, apex (``None``: unknown) and offset."""

    frames: tuple[Path, ...]
    onset: int
    apex: int | None
    offset: int
    fix: str | None = None
    gaps: str | None = None
    """Frame numbers missing between onset and offset, in words (``frames 41, 43-45 missing of 40..60``)."""


def missing_frames(numbers: Iterable[int], first: int, last: int) -> str | None:
    """The numbers in ``first..last`` that ``numbers`` lacks, as ``frames 41, 43-45 missing of 40..60 (4 of 21)``;
    ``None`` when none is missing. Frames are matched by number, so onset and apex stay right, but a chain that reads
    the whole clip (magnification, a motion-peak apex) sees a jump there."""
    present = set(numbers)
    absent = [n for n in range(first, last + 1) if n not in present]
    if not absent:
        return None
    runs = number_spans(absent)
    shown = ", ".join(runs[:6])
    more = ", ..." if len(runs) > 6 else ""
    return (f"{'frame' if len(absent) == 1 else 'frames'} {shown}{more} missing of {first}..{last} "
            f"({len(absent)} of {last - first + 1})")


def middle_is_onset(count: int, span: str, fix: str) -> str:
    """Why a clip without apex of ``count`` frames (fewer than 3) is left out: the middle frame, which steps take
    for its apex, would be its onset, and the onset→apex motion nothing."""
    return (f"no apex annotated and only {counted(count, 'frame')} ({span}): the middle frame used as the apex would "
            f"be the onset itself, giving no motion; {fix} to use this clip")


def missing_folder_hint(folder: Path, root: Path, taken: Collection[Path] = frozenset()) -> str:
    """Why a clip folder the sheet names is not there, when the copy shows it: a file of that name, or the first
    missing folder on its way spelt otherwise (``Sub02`` or ``s02`` for ``sub02``, ``6`` for ``006``); else ``""``.

    A folder in ``taken`` (``named_folders``: what other rows read) is not offered for renaming: that would take it
    from them; the hint then points at this row's cells instead."""
    try:
        if folder.exists():
            return " (a file of that name is there, not a folder of frames)"
        missing = _first_missing(folder, root)
        if missing.is_symlink():  # there, but leading nowhere
            return f" ({missing.relative_to(root)} is a broken symbolic link to {os.readlink(missing)}: repair or remove it)"
        siblings = sorted(entry.name for entry in missing.parent.iterdir() if entry.is_dir())
    except OSError:
        return ""
    alike = sorted((name for name in siblings if _spelt_alike(name, missing.name)),
                   key=lambda name: visible_text(name) != visible_text(missing.name))  # one differing only so first
    if not alike:
        return ""
    parent = missing.parent
    where = parent.relative_to(root) if parent != root and parent.is_relative_to(root) else "the root"
    free = [name for name in alike if parent / name not in taken]
    if not free:
        return f" ({where} holds {alike[0]}/, which another row reads: check this row's cells, not the folder)"
    alike = free
    if visible_text(alike[0]) == visible_text(missing.name):
        return invisible_difference(alike[0], missing.name, where)
    if has_odd_characters(alike[0]) or has_odd_characters(missing.name):
        return (f" ({missing.name!r}/ is not in {where}, but {alike[0]!r}/ is: rename it {visible_text(missing.name)!r}"
                f"{', and fix the sheet cell to read the same' if has_odd_characters(missing.name) else ''})")
    return f" ({missing.name}/ is not in {where}, but {alike[0]}/ is: rename it {missing.name}, as the sheet names it)"


def named_folders(folders: Iterable[Path]) -> frozenset[Path]:
    """``folders`` and every folder above them: what rows read, so that no hint offers one for renaming."""
    return frozenset(path for folder in folders for path in (folder, *folder.parents))


def has_odd_characters(name: str) -> bool:
    """Whether ``name`` holds surrounding spaces or invisible characters (``visible_text`` differs)."""
    return visible_text(name) != name


def invisible_difference(found: str, wanted: str, where: Any) -> str:
    """The hint for a folder ``found`` in ``where`` whose name differs from the sheet's ``wanted`` only in spaces or
    invisible characters: both quoted (escaped), so the difference shows, and the fix where the odd characters are:
    the sheet's cell when it holds them (a folder name must not get them), else the folder's name."""
    same = f"{found!r}/ in {where} differs from the sheet's {wanted!r} only in spaces or invisible characters"
    if has_odd_characters(wanted):
        return f" ({same}: fix the sheet cell to read {visible_text(wanted)!r})"
    return f" ({same}: rename the folder {wanted!r})"


def why_not_a_file(path: Path) -> str:
    """Why ``path``, which a sheet or manifest names, is not a file to read: ``not found``, ``is a broken symbolic
    link (to X)``, ``is a folder`` or ``is not a regular file (a FIFO or device)``."""
    if path.is_symlink() and not path.exists():
        return f"is a broken symbolic link (to {os.readlink(path)})"
    if path.is_dir():
        return "is a folder, not a file"
    if path.exists():
        return "is not a regular file (a FIFO or device)"
    return "not found"


def _first_missing(folder: Path, root: Path) -> Path:
    """The outermost folder on the way to ``folder`` (below ``root``) that does not exist."""
    missing = folder
    while missing.parent != root and missing.parent != missing and not missing.parent.exists():
        missing = missing.parent
    return missing


def _spelt_alike(name: str, wanted: str) -> bool:
    """The same folder name but for letter case (``Sub02``), spaces or invisible characters (``EP04_01 ``), leading
    zeros (``6``) or a shortened prefix (``s02`` for ``sub02``): the same numbers, and letters that begin the wanted
    ones."""
    name, wanted = visible_text(name), visible_text(wanted)
    if name.lower() == wanted.lower():
        return True
    numbers = [int(n) for n in re.findall(r"\d+", name)]
    letters = re.sub(r"\d+", "", name.lower())
    return (bool(numbers) and numbers == [int(n) for n in re.findall(r"\d+", wanted)]
            and re.sub(r"\d+", "", wanted.lower()).startswith(letters))


def place_clip(folder: Path, root: Path, onset: int | None, apex: int | None, offset: int | None,
               taken: Collection[Path] = frozenset()) -> Placed:
    """Match annotated frame numbers to the frames on disk, repairing a wrong offset.

    Raises ``SkipRow`` when the folder or the onset/apex frame is missing, the folder
    cannot be read, the apex lies outside onset..offset, or no apex is given and onset..offset
    holds fewer than 3 frames (its middle frame would be the onset) (a DataError when a folder
    above it cannot be read). An offset that is not on disk, or lies before
    an apex that is on disk, is replaced by the last frame on disk (noted in ``fix``).
    ``taken`` (folders other rows read) keeps the reason for a missing folder from suggesting to rename one of them.
    """
    where = shown_folder(folder, root)
    try:
        found = folder.is_dir()
    except OSError as exc:  # a folder above the clip cannot be read
        raise blocked(folder, exc) from None
    if not found:
        raise SkipRow(f"no frame folder {where}{missing_folder_hint(folder, root, taken)}")
    frames = list_frames(folder, root)
    if not frames:
        raise SkipRow(f"frame folder {where} holds no image files{unnumbered_images(folder)}")
    numbers = list(frames)
    first, last = numbers[0], numbers[-1]
    if onset is None:
        raise SkipRow("no onset frame in the sheet")
    if onset not in frames:
        raise SkipRow(f"onset frame {onset} not on disk (frames {first}..{last} in {where})")
    fix = None
    swapped = ""
    annotated = offset
    apex_on_disk = apex is not None and apex in frames
    if offset is None or offset not in frames or offset <= onset or (apex_on_disk and apex > offset):
        if offset is not None and 0 < offset < onset:  # not a placeholder 0 or -1
            swapped = "; onset and offset look swapped in the sheet"
        if last <= onset or (apex is not None and last < apex):
            shown = "missing" if offset is None else offset
            raise SkipRow(f"offset {shown} unusable and the frames end at {last} (onset {onset}, apex {apex}){swapped}")
        why = "not on disk" if offset is None or offset not in frames else "not after the onset and apex"
        stated = "no offset in the sheet" if offset is None else f"offset {offset} {why}"
        fix = f"{stated}; used the last frame {last}{swapped}"
        offset = last
    if apex is not None:
        if not onset <= apex <= offset:
            sheet = ""
            if fix:
                given = "the sheet has no offset" if annotated is None else f"the sheet's offset {annotated} is {why}"
                sheet = f" ({given}, so the last frame was used)"
            raise SkipRow(f"apex {apex} outside onset {onset}..offset {offset}{sheet}{swapped}")
        if apex not in frames:
            raise SkipRow(f"apex frame {apex} not on disk (frames {first}..{last} in {where})")
    position = {n: i for i, n in enumerate(numbers)}
    if apex is None and position[offset] - position[onset] < 2:
        raise SkipRow(middle_is_onset(position[offset] - position[onset] + 1, f"onset {onset}..offset {offset}",
                                      "add the apex to the sheet"))
    return Placed(
        frames=tuple(frames.values()),
        onset=position[onset],
        apex=position[apex] if apex is not None else None,
        offset=position[offset],
        fix=fix,
        gaps=missing_frames(numbers, onset, offset),
    )


# ------------------------------------------------------------------ what a load did


ONE_ON_CASELESS_DISK = "on a case-insensitive disk (macOS, Windows) both name one clip, read twice"


@dataclass
class LoadLog:
    """Skipped and fixed rows, dropped emotions and apex fallbacks of one load."""

    source: str
    skipped: list[dict[str, Any]] = field(default_factory=list)
    fixed: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    by_option: Counter = field(default_factory=Counter)
    """Rows left out because a dataset option asked for it (``dataset.occluded=drop``), by that option: chosen, so
    not skipped rows (which ``dataset.strict`` refuses)."""
    apex_fallback: list[str] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    seen: dict[str, tuple[str, int | str]] = field(default_factory=dict)
    """Each claimed sample id, without letter case: the id as given, and its row (or folder)."""

    def skip(self, row: int | None, sample: str, reason: str) -> None:
        """Record a row that is left out."""
        self.skipped.append({"row": row, "sample": sample, "reason": reason, "source": self.source})

    def fix(self, row: int | None, sample: str, note: str) -> None:
        """Record a row that was repaired."""
        self.fixed.append({"row": row, "sample": sample, "note": note, "source": self.source})

    def placed(self, row: int | None, sample: str, placed: Placed) -> None:
        """Record what placing a kept clip's frames noted: a repaired offset, an unknown apex, frames missing inside."""
        if placed.fix:
            self.fix(row, sample, placed.fix)
        if placed.apex is None:
            self.apex_fallback.append(sample)
        if placed.gaps:
            self.gaps.append({"row": row, "sample": sample, "note": placed.gaps, "source": self.source})

    def claim(self, sample: str, row: int | None, where: str, folder: str | None = None) -> None:
        """Refuse a sample seen twice: a DataError naming both sheet rows of ``where``, or both folders.

        Ids are compared without letter case: ``sub01/EP02_01F`` and ``sub01/EP02_01f`` name one folder on a
        case-insensitive disk (macOS, Windows), one clip read twice; no release spells two of its clips so.
        Loaders without a sheet (SMIC) give ``row=None`` and the sample's ``folder``
        (relative to ``where``, the dataset root).
        """
        key = sample.casefold()
        if key not in self.seen:
            self.seen[key] = (sample, folder if folder is not None else (row if row is not None else -1))
            return
        other, first = self.seen[key]
        if folder is not None and other != sample:
            raise DataError(f"{where}: samples {other} and {sample} differ only in letter case ({first} and {folder}); "
                            f"{ONE_ON_CASELESS_DISK}: keep one of the two folders (move the other out of the dataset root)")
        if folder is not None:
            raise DataError(f"{where}: sample {sample} is in two folders, {first} and {folder}; "
                            "keep one of the two folders (move the other out of the dataset root)")
        case = "" if other == sample else f" ({other}) but for letter case; {ONE_ON_CASELESS_DISK}"
        raise DataError(f"{where} row {row}: sample {sample} duplicates row {first}{case}; remove one of the two rows")

    def summary(self) -> dict[str, Any]:
        """The JSON-ready part of ``Dataset.summary`` this log contributes."""
        return {
            "rows": self.rows,
            "skipped": len(self.skipped),
            "skipped_rows": list(self.skipped),
            "fixed": len(self.fixed),
            "fixed_rows": list(self.fixed),
            "dropped_by_class_set": dict(sorted(self.dropped.items())),
            "left_out_by_option": dict(sorted(self.by_option.items())),
            "apex_middle_fallback": len(self.apex_fallback),
            "apex_middle_fallback_samples": list(self.apex_fallback),
            "frame_gaps": len(self.gaps),
            "frame_gap_rows": list(self.gaps),
        }


def describe(entry: Mapping[str, Any]) -> str:
    """``row 37 (sub04/EP12_01f): reason`` for a skipped or fixed entry."""
    row = f"row {entry['row']} " if entry.get("row") is not None else ""
    return f"{row}({entry['sample']}): {entry.get('reason') or entry.get('note')}"


def enforce_strict(skipped: Iterable[Mapping[str, Any]], strict: bool, where: str) -> None:
    """With ``strict``, any skipped row is a DataError naming the first one and the count."""
    skipped = list(skipped)
    if strict and skipped:
        raise DataError(
            f"{where}: {counted(skipped, 'row')} cannot be used, first {describe(skipped[0])}; "
            "fix the annotation or frames, or drop --strict / dataset.strict to skip them"
        )


def class_counts(classes: Sequence[str], labels: Iterable[int]) -> dict[str, int]:
    """Samples per class name."""
    counts = Counter(labels)
    return {name: counts.get(i, 0) for i, name in enumerate(classes)}


def choose_classes(value: Any, sets: Mapping[str, Sequence[str]], dataset: str) -> str:
    """Validate a ``dataset.classes`` choice against the named class sets."""
    choice = str(value).strip().lower()
    if choice not in sets:
        raise UsageError(f"dataset.classes={value}: choose one of {', '.join(sets)} for {dataset}")
    return choice


def as_bool(value: Any) -> bool:
    """An option that may arrive as text."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


# ------------------------------------------------------------------ one loaded part


@dataclass
class Entry:
    """A usable row before labels become integers."""

    row: int | None
    id: str
    subject: str
    label: str
    placed: Placed
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Part:
    """One dataset read from its tree: class names, usable entries, the log and facts about the tree."""

    domain: str
    classes: tuple[str, ...]
    entries: list[Entry]
    log: LoadLog
    info: dict[str, Any] = field(default_factory=dict)

    def samples(self, prefix: str = "") -> list[Sample]:
        """The entries as samples; ``prefix`` (e.g. ``casme2/``) makes ids and subjects unique in a composite."""
        position = {name: i for i, name in enumerate(self.classes)}
        return [
            Sample(
                id=prefix + entry.id,
                subject=prefix + entry.subject,
                label=position[entry.label],
                domain=self.domain,
                frames=entry.placed.frames,
                onset=entry.placed.onset,
                apex=entry.placed.apex,
                offset=entry.placed.offset,
                extra=entry.extra,
            )
            for entry in self.entries
        ]

    def summary(self) -> dict[str, Any]:
        """Facts about the tree plus the log, JSON-ready."""
        return {**self.info, **self.log.summary()}


def to_dataset(name: str, part: Part, strict: bool) -> Dataset:
    """The ``Dataset`` of a single part, after the strict check."""
    enforce_strict(part.log.skipped, strict, f"dataset '{name}'")
    samples = tuple(part.samples())
    summary = part.summary()
    summary["class_counts"] = class_counts(part.classes, (s.label for s in samples))
    summary["absent_classes"] = [c for c in part.info.get("class_set_names", ()) if c not in part.classes]
    return Dataset(name=name, classes=part.classes, samples=samples, summary=summary)


def order_classes(found: Iterable[str], canonical: Sequence[str]) -> tuple[str, ...]:
    """Class names present in ``found``, in the canonical order."""
    present = set(found)
    return tuple(name for name in canonical if name in present)


# ------------------------------------------------------------ rows of a coding sheet


@dataclass(frozen=True)
class SheetRules:
    """How one release's coding sheet names subjects, clips and emotions (CASME II, SAMM).

    ``subject_folder`` turns a Subject cell into the subject's folder name
    (ValueError when it cannot); ``extra_columns`` maps keys of a sample's
    ``extra`` to optional sheet columns copied as text.
    """

    subject_folder: Callable[[Any], str]
    subject_hint: str
    filename_example: str
    emotions: Sequence[str]
    aliases: Mapping[str, str]
    emotion_names: str
    extra_columns: Mapping[str, str] = field(default_factory=dict)


def sheet_folders(sheet: Sheet, rules: SheetRules) -> list[str]:
    """``subject/filename`` of each row of a coding sheet that names both (the rest are refused while reading)."""
    folders = []
    for _, cells in sheet.rows:
        filename = str(cells["filename"] or "").strip()
        try:
            folders.append(f"{rules.subject_folder(cells['subject'])}/{filename}")
        except ValueError:
            continue
    return [folder for folder in folders if not folder.endswith("/")]


def coded_entries(
    sheet: Sheet, sheet_path: Path, rules: SheetRules, clip_base: Path, root: Path, mapping: Mapping[str, str], log: LoadLog
) -> list[Entry]:
    """The usable entries of a coding sheet's rows; rows of dropped emotions are counted, bad rows skipped and logged.

    A row that makes the whole sheet unusable (no subject number, no file name,
    an unknown emotion) raises ``DataError`` naming the file and row.
    """
    entries: list[Entry] = []
    taken = named_folders(clip_base / folder for folder in sheet_folders(sheet, rules))
    for row, cells in sheet.rows:
        filename = str(cells["filename"] or "").strip()
        try:
            subject = rules.subject_folder(cells["subject"])
        except ValueError:
            raise DataError(
                f"{sheet_path} row {row}: {cell_value('Subject', cells['subject'])} is not {rules.subject_hint}; fix the cell"
            ) from None
        if not filename:
            raise DataError(
                f"{sheet_path} row {row}: empty Filename; fill it in (e.g. {rules.filename_example}) or delete the row"
            )
        folder_cell(sheet_path, row, "Filename", filename, rules.filename_example)
        sample_id = f"{subject}/{filename}"
        log.claim(sample_id, row, str(sheet_path))
        emotion = norm(cells["emotion"])
        emotion = rules.aliases.get(emotion, emotion)
        if emotion not in rules.emotions:
            raise DataError(
                f"{sheet_path} row {row} ({sample_id}): {cell_value('emotion', cells['emotion'], 'unknown ')}; "
                f"expected one of {rules.emotion_names}"
            )
        if emotion not in mapping:
            log.dropped[emotion] += 1
            continue
        try:
            onset, apex, offset = frame_numbers(cells)
            placed = place_clip(clip_base / subject / filename, root, onset, apex, offset, taken)
        except SkipRow as exc:
            log.skip(row, sample_id, str(exc))
            continue
        log.placed(row, sample_id, placed)
        extra: dict[str, Any] = {"emotion": emotion}
        extra.update({key: str(cells.get(column) or "").strip() for key, column in rules.extra_columns.items()})
        extra["row"] = row
        entries.append(Entry(row, sample_id, subject, mapping[emotion], placed, extra))
    return entries


def coded_part(domain: str, root: Path, sheet_path: Path, sheet: Sheet, rules: SheetRules, clip_base: Path,
               classes: str, class_sets: Mapping[str, Mapping[str, str]], canonical: Mapping[str, Sequence[str]],
               **tree_facts: Any) -> Part:
    """A coded release (CASME II, SAMM) read into a ``Part``: its sheet's usable rows with labels of set ``classes``.

    ``tree_facts`` (e.g. ``frames="cropped"``) join the facts every part records
    about its tree (root, sheet, header row, frame folder, class set).
    """
    log = LoadLog(domain)
    log.rows = len(sheet.rows)
    entries = coded_entries(sheet, sheet_path, rules, clip_base, root, class_sets[classes], log)
    info = {
        "root": str(root),
        "annotation": str(sheet_path),
        "header_row": sheet.header_row,
        **tree_facts,
        "frames_folder": str(clip_base),
        "class_set": classes,
        "class_set_names": list(canonical[classes]),
    }
    return Part(domain, order_classes((e.label for e in entries), canonical[classes]), entries, log, info)
