"""Output paths given on the command line (``--json``, ``--output``, ``--figures``).

Every output path is checked with :func:`check_output_path` before any work
starts, so a bad path costs nothing and never replaces what is there: the
results store, another SQLite file, a folder or a device node, or a merbench
result of another kind than the command writes there. ``-`` means
standard output. A symlink is written through to its target and survives.
:func:`write_output` then writes atomically, keeping the user's umask (or the
mode of the file it replaces).
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from merbench.cache import CACHE_PARTS, atomic_write_bytes, cache_root
from merbench.datafiles import lies_inside, link_holding, resolved_path
from merbench.errors import UsageError
from merbench.json_stdout import drop_the_rest
from merbench.result import document_kind, document_name
from merbench.store import default_store_path, is_sqlite_file, on_read_only_file_system

STDOUT = "-"
STDOUT_NAMES = (STDOUT, "/dev/stdout")
STDERR_NAMES = ("/dev/stderr", "/dev/fd/2", "/proc/self/fd/2")
STORE_SIDE_FILES = ("-wal", "-shm", "-journal")


def store_files(store: Path | None) -> list[Path]:
    """The results store ``store`` (default: ``$MERBENCH_STORE`` or the user's) and its SQLite side files."""
    path = Path(store).expanduser() if store is not None else default_store_path()
    if not path.name:  # `--store ''` or `/`: no file, which opening the store refuses in its own words
        return [path]
    return [path] + [path.with_name(path.name + side) for side in STORE_SIDE_FILES]


ANY_KIND = "any"
"""``check_output_path(writes=ANY_KIND)``: the output may replace a merbench result of any kind."""
_BY_OPTION = "by option"
"""``check_output_path``'s ``writes`` left out: ``ANY_KIND`` for ``--json``, which ``run``, ``show``, ``grid``,
``tune`` and ``leakage`` write results to, else ``None``: ``--output``, ``--figures`` and ``--baseline`` write none."""


def _written_kind(writes: str | None, option: str) -> str | None:
    """The kind of merbench result an output of ``option`` writes (``writes``, or what its option says)."""
    if writes != _BY_OPTION:
        return writes
    return ANY_KIND if option == "--json" else None


def merbench_result_kind(path: Path) -> str | None:
    """What merbench result the JSON file ``path`` holds (``result.document_kind``: ``run``, ``tune``, ``leakage``,
    ``grid``), or ``None``: none, or not a JSON object that can be read."""
    try:
        with open(path, "rb") as handle:
            if not handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):  # a JSON object, maybe after a BOM
                return None
            handle.seek(0)
            return document_kind(json.loads(handle.read().decode("utf-8-sig")))
    except (OSError, ValueError, RecursionError):  # ValueError: not UTF-8, not JSON
        return None


def _refuse_a_result(target: Path, shown: Any, option: str, writes: str | None) -> None:
    """Refuse to replace ``target`` (shown as ``shown``) when it holds a merbench result of another kind than
    ``writes``, the kind the command writes there (``None``: none; ``ANY_KIND``: any): a run's result file may be
    the only record of a run made with --no-store."""
    if writes == ANY_KIND:
        return
    kind = merbench_result_kind(target)
    if kind is None or kind == writes:
        return
    what = "a run's result" if kind == "run" else document_name(kind)
    raise UsageError(f"{option} {shown}: holds {what} (merbench {kind} --json); writing there would overwrite it "
                     "(for a run made with --no-store, its only record); choose another path, or remove the file first")


def _check_folder(folder: Path, option: str, path: Path, probe: bool = True) -> None:
    """Refuse ``path`` unless its folder exists, is a folder and accepts a new file (with ``probe``, a file is made
    there and removed, which changes the folder's modification time)."""
    if not folder.exists():
        raise UsageError(f"{option} {path}: the folder {folder} does not exist; create it first "
                         f"(mkdir -p {shlex.quote(str(folder))})")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: {folder} is not a folder; choose a path inside a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        if on_read_only_file_system(folder):
            raise UsageError(f"{option} {path}: the folder {folder} lies on a read-only file system; choose a path "
                             "elsewhere")
        raise UsageError(f"{option} {path}: cannot write in the folder {folder} (permission denied); choose another path")
    if not probe:
        return
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".merbench-probe.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot create a file in the folder {folder} "
                         f"({exc.strerror or exc}); choose another path") from None
    os.close(fd)
    Path(probe).unlink(missing_ok=True)


def _resolved(path: Path | str) -> Path | None:
    """``path`` with links resolved, or ``None`` when it cannot be (a link loop, an unreadable folder)."""
    try:
        return resolved_path(path)
    except (OSError, RuntimeError):
        return None


def check_output_path(path: Path | str, option: str, protect: Iterable[Path] = (),
                      inputs: Mapping[str, Path] | None = None, roots: Mapping[str, Path] | None = None,
                      example: str = "result.json", probe: bool = True,
                      writes: str | None = _BY_OPTION) -> Path | None:
    """Check an output path before any work; returns the file to write (symlinks resolved), or None for stdout
    (``-`` or ``/dev/stdout``).

    Raises ``UsageError`` naming ``option``, the path and the fix when the path is a folder,
    an existing non-regular file (device, FIFO, socket), one of ``protect`` (the results store
    and its side files), one of the command's ``inputs`` (described: path), a file inside one of
    the dataset folders ``roots`` (described: path; merbench never writes there), or another SQLite
    database, or when its folder is missing or unwritable. ``example`` is the file name a folder's
    message suggests inside it. Without ``probe`` no file is made in the folder to test it (a first check made
    before the dataset folders of the runs a command reads are known, which may hold it): the command checks the
    path again, with ``roots``, before writing. ``writes``: the kind of merbench result the command writes there
    (``result.document_kind``; ``None``: none; ``ANY_KIND``: it may be any), so that an existing file holding a
    result of another kind is refused, while one of its own is rewritten (``run --json r.json`` run again); left
    out, what its option says (``_BY_OPTION``).
    """
    if str(path) in STDOUT_NAMES:
        return None
    if str(path) in STDERR_NAMES:  # a file merbench cannot replace atomically, and its messages' stream
        raise UsageError(f"{option} {path}: merbench writes its messages there; give a file name, or - for stdout "
                         f"(e.g. {option} - 2>/dev/null)")
    given = Path(path).expanduser()
    try:
        target = resolved_path(given)
        mode = target.stat().st_mode if target.exists() else None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise UsageError(f"{option} {given}: cannot be used ({exc}); give another file name") from None
    protected = set(filter(None, (_resolved(p) for p in protect)))  # one that cannot be resolved is not the target
    read = {resolved: what for what, p in (inputs or {}).items() if (resolved := _resolved(p)) is not None}
    shown = given if target == given.absolute() else f"{given} (→ {target})"
    if target in protected:
        raise UsageError(f"{option} {shown}: is the results store (or one of its files); writing there would destroy "
                         "the stored runs; give another file name")
    if target in read:
        example = f"{target.stem}-out.json" if option == "--json" else f"{target.stem}-out{target.suffix}"
        raise UsageError(f"{option} {shown}: is {read[target]}; writing there would overwrite it; give another file "
                         f"name, e.g. {option} {example}")
    run_read = read_files(roots or {}).get(target)
    if run_read is not None:
        raise UsageError(f"{option} {shown}: is {run_read}; merbench never replaces {_kept(run_read)}; give another "
                         "path")
    holder = dataset_root_holding(given, roots or {})
    if holder is not None:
        raise UsageError(f"{option} {shown}: lies inside {holder[0]} ({holder[1]}); merbench never writes inside a "
                         "dataset's folder; give a file name outside it")
    _refuse_cache_part(given, shown, option, f"give a file name outside it, e.g. {option} {given.name}")
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise UsageError(f"{option} {shown}: is a folder; give a file name such as {given / example}")
        if not stat.S_ISREG(mode):
            raise UsageError(f"{option} {shown}: is not a regular file (a device, FIFO or socket) and will not be "
                             f"replaced; give a file name, or {STDOUT} for standard output")
        if is_sqlite_file(target):
            raise UsageError(f"{option} {shown}: is an SQLite database (perhaps a results store) and will not be "
                             "overwritten; give another file name")
        _refuse_a_result(target, shown, option, _written_kind(writes, option))
        if not os.access(target, os.W_OK):
            raise UsageError(f"{option} {shown}: the file is read-only; make it writable (chmod u+w) or give another name")
    _check_folder(target.parent, option, given, probe)
    return target


def check_output_folder(folder: Path, option: str, roots: Mapping[str, Path] | None = None,
                        probe: bool = True) -> Path:
    """Check a folder that files will be written into (created when missing); returns it resolved.

    Raises ``UsageError`` when it is an existing file, when it is or lies inside one of the dataset
    folders ``roots`` (described: path; merbench never writes there), or when it (or its nearest
    existing parent, for a folder still to be created) cannot be written. ``probe`` as for
    ``check_output_path``.
    """
    if str(folder) == "-":  # standard output everywhere else; a folder of PNG files cannot go there
        raise UsageError(f"{option} -: figures are PNG files written into a folder, not to standard output; give a "
                         f"folder, e.g. {option} figures/ (it is created when missing)")
    given = Path(folder).expanduser()
    try:
        target = resolved_path(given)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise UsageError(f"{option} {given}: cannot be used ({exc}); give another folder") from None
    holder = dataset_root_holding(given, roots or {}, itself=True)
    if holder is not None:
        shown = given if target == given.absolute() else f"{given} (→ {target})"
        where = "is" if target == holder[1] else "lies inside"
        raise UsageError(f"{option} {shown}: {where} {holder[0]} ({holder[1]}); merbench never writes inside a "
                         "dataset's folder; give a folder outside it")
    _refuse_cache_part(given, given if target == given.absolute() else f"{given} (→ {target})", option,
                       f"give a folder outside it, e.g. {option} {given.name or 'figures'}", itself=True)
    if target.exists():
        if not target.is_dir():
            raise UsageError(f"{option} {given}: is a file, not a folder; give a folder (it is created when missing)")
        _check_folder(target, option, given, probe)
        return target
    existing = target.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {given}: {existing} is a file, not a folder; give another folder")
    _check_folder(existing, option, given, probe)
    return target


def _refuse_cache_part(given: Path, shown: Any, option: str, fix: str, itself: bool = False) -> None:
    """Refuse an output ``given`` (shown as ``shown``) inside one of the folders merbench owns in its cache
    (``CACHE_PARTS``; with ``itself``, also one of them): only its own files go there (a user's file in
    ``preprocess/`` makes ``cache clear`` refuse to empty it). A cache path merbench cannot use is no reason to refuse:
    the command reports it when it needs the cache."""
    try:
        root = cache_root(create=False)
    except UsageError:
        return
    for part in CACHE_PARTS:
        if lies_inside(given, root / part, itself):
            where = "is" if itself and _resolved(given) == _resolved(root / part) else "lies inside"
            raise UsageError(f"{option} {shown}: {where} merbench's cache folder {root / part}, which holds only what "
                             f"merbench makes there; {fix}")


def write_output(target: Path | None, text: str | bytes) -> None:
    """Write ``text`` to ``target`` atomically (temp file + rename in its folder), or to stdout when None.

    Text ends with a newline, as text files and terminal lines should; bytes are written as given.
    A new file gets the user's umask; a replaced file keeps its mode.
    """
    if isinstance(text, str):
        data = (text if text.endswith("\n") else text + "\n").encode("utf-8")
    else:
        data = text
    if target is None:
        if sys.stdout is None:  # no stdout at all (`>&-`, a daemon): the output goes nowhere, as a console's does
            return
        if not data.endswith(b"\n"):
            data += b"\n"
        buffer = getattr(sys.stdout, "buffer", None)
        try:
            sys.stdout.flush()
            if buffer is not None:
                buffer.write(data)
                buffer.flush()
            else:
                sys.stdout.write(data.decode("utf-8"))
                sys.stdout.flush()
        except BrokenPipeError:  # the reader (e.g. `| head`) stopped: not an error, and nothing left to flush
            drop_the_rest(buffer if buffer is not None else sys.stdout)
        return
    try:
        mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else None
    except OSError:
        mode = None
    try:
        atomic_write_bytes(target, data, mode=mode, durable=True)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}; free some space or choose another path") from None


def check_command_output(path: Path | str, option: str, args: Any,
                         also_read: Mapping[str, Path] | None = None,
                         also_roots: Mapping[str, Path] | None = None, probe: bool = True,
                         writes: str | None = _BY_OPTION) -> Path | None:
    """``check_output_path`` for an output of a command with parsed arguments ``args``: besides the results store
    (``args.store``, else the default one), none of the command's input files (``input_paths``, and ``also_read``:
    further files it keeps, described) nor anything inside its dataset folders (``dataset_roots``, and
    ``also_roots``: the dataset folders of the runs it reads, ``stored_roots``). ``probe=False`` where a dataset
    folder is still to be read from the store (``run --resume``), and ``writes``, as for ``check_output_path``."""
    return check_output_path(path, option, store_files(getattr(args, "store", None)),
                             {**input_paths(args), **(also_read or {})}, {**dataset_roots(args), **(also_roots or {})},
                             probe=probe, writes=writes)


def check_store_outside_datasets(args: Any, path: Path | None = None, option: str | None = None) -> None:
    """Refuse a store the command writes (the results store: ``--store``, ``$MERBENCH_STORE`` or the default, unless
    ``--no-store``; or ``path``, named ``option``) inside one of its dataset folders (``dataset_roots``): merbench never
    writes inside a dataset; or inside one of the folders merbench owns in its cache (``CACHE_PARTS``): ``cache
    clear`` would then refuse to empty it."""
    if path is None:
        if getattr(args, "no_store", False):
            return
        given = getattr(args, "store", None)
        path = Path(given) if given else default_store_path()
        option = "--store" if given else ("$MERBENCH_STORE" if os.environ.get("MERBENCH_STORE") else "the results store")
    try:
        target = resolved_path(path)
    except (OSError, RuntimeError):
        return  # opening it reports the problem
    if option.startswith("--"):  # a file the user named: moving the results store would not move it
        fix = f"give a file outside it with {option} PATH"
    elif option == "the trials storage":  # tune's default, beside the results store
        fix = "give a file outside it with --storage PATH, or set $MERBENCH_STORE to a store elsewhere"
    else:
        fix = "give a store outside it (--store PATH, or $MERBENCH_STORE)"
    holder = dataset_root_holding(Path(path), dataset_roots(args))
    if holder is not None:
        raise UsageError(f"{option} {path}: lies inside {holder[0]}; merbench never writes inside a dataset's folder; "
                         f"{fix}")
    given_path = Path(path).expanduser()
    _refuse_cache_part(given_path, given_path if target == given_path.absolute() else f"{given_path} (→ {target})",
                       option, fix)


def dataset_root_holding(target: Path, roots: Mapping[str, Path], itself: bool = False) -> tuple[str, Path] | None:
    """The dataset folder of ``roots`` (described: path, shown resolved) that ``target`` lies inside, as given or
    with links resolved (``datafiles.lies_inside``), if any; with ``itself``, also the one ``target`` is (an output
    folder). A target reached through a link in a dataset folder (``datafiles.link_holding``) lies inside it too:
    described with the link, and the link's target as its path."""
    roots = {what: folder for what, folder in roots.items() if not _is_file(folder)}  # a file a run read holds none
    for what, folder in roots.items():
        if lies_inside(target, folder, itself):
            return what, _resolved(folder) or Path(folder)
    for what, folder in roots.items():  # the runs of a report often share a folder: its links are scanned once
        held = link_holding(target, folder)
        if held is not None:
            return f"{what}, through its link {held[0]}", held[1]
    return None


def _is_file(path: Path | str) -> bool:
    """Whether ``path`` is an existing file (through links); ``False`` where the file system cannot say."""
    try:
        return Path(path).expanduser().is_file()
    except (OSError, ValueError):
        return False


def _kept(what: str) -> str:
    """What merbench never replaces, said of the file a run read described as ``what``: a dataset's file (named by a
    dataset option) or any other (a model's weights, a cascade)."""
    return "a dataset's files" if "(dataset." in what else "a file a stored run read"


def read_files(roots: Mapping[str, Path]) -> dict[Path, str]:
    """The files among ``roots`` (``result_roots`` adds the files the runs read, ``stored_files``), by their path with
    links resolved, each described: an output written there would replace what a run read."""
    return {resolved: what for what, path in roots.items()
            if _is_file(path) and (resolved := _resolved(path)) is not None}


def input_paths(args: Any) -> dict[str, Path]:
    """The files a command reads, described: its ``--config``/``--space``/``--baseline`` file and every existing
    file an option names (``option_files``), for ``check_output_path(inputs=...)``: an output may not replace one of
    them."""
    given = {f"the --{option} file": Path(value) for option in ("config", "space", "baseline")
             if (value := getattr(args, option, None))}
    return {**option_files(args), **given}


def option_files(args: Any) -> dict[str, Path]:
    """The existing files that the values of a command's options name (``dataset.manifest=labels.csv``,
    ``model.weights=w.pth``, ``crop.cascade=c.xml``, from ``--set`` or ``--config``), described as ``option_roots``
    describes folders. Any value (or element of a list, or of a comma-separated text) that names a file, absolute or
    from the working folder (a file under ``--root`` is protected as inside it), counts: whichever option reads it, an
    output written there would replace what the command reads."""
    settings, origin = _given_settings(args)
    return files_named(settings, origin)


def stored_option_files(run_id: str, sections: Mapping[str, Mapping[str, Any]]) -> dict[str, Path]:
    """``option_files`` of a stored run's configuration (``RunConfig.sections``), described with the run's id: the
    files a resumed run reads again."""
    settings = {f"{section}.{key}": value for section, values in sections.items() if isinstance(values, Mapping)
                for key, value in values.items()}
    return files_named(settings, {key: ("", f" of run {run_id}") for key in settings})


def files_named(settings: Mapping[str, Any], origin: Mapping[str, tuple[str, str]]) -> dict[str, Path]:
    """The existing files that ``settings`` (dotted key → value) name, described with the words ``origin`` puts
    before and after ``KEY=VALUE``: see ``option_files``."""
    found: dict[str, Path] = {}
    for key, value in settings.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if not isinstance(item, (str, Path)):
                continue
            text = str(item).strip()
            for name in dict.fromkeys([text, *(part.strip() for part in text.split(",") if "," in text)]):
                if not name:
                    continue
                path = Path(name).expanduser()
                try:
                    is_file = path.is_file()
                except (OSError, ValueError):  # a name the file system cannot take is no file
                    continue
                if is_file:
                    before, after = origin[key]
                    found[f"the file {before}{key}={value}{after}"
                          + (f" (its part {name})" if name != text else "")] = path
    return found


def _given_settings(args: Any) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """The settings a command was given (``--config`` file, then ``--set``, later winning) by dotted key, and for each
    the words before and after ``KEY=VALUE`` that say where it was given. A ``--config`` that cannot be read adds
    nothing: the command reports it itself."""
    from merbench.config import load_config_file
    from merbench.errors import MerbenchError

    settings: dict[str, Any] = {}
    origin: dict[str, tuple[str, str]] = {}
    if getattr(args, "config", None):
        try:
            settings.update(load_config_file(Path(args.config)))
        except (MerbenchError, OSError):  # the command reports a bad --config file itself
            pass
        origin.update({key: ("given as ", f" in --config {args.config}") for key in settings})
    for group in getattr(args, "sets", None) or []:
        for item in group if isinstance(group, (list, tuple)) else [group]:
            key, sep, value = str(item).partition("=")
            if sep:
                settings[key.strip()] = value
                origin[key.strip()] = ("given with --set ", "")
    return settings, origin


def stored_roots(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, Path]:
    """The dataset folders that stored runs read, by run id → the run's stored configuration (``RunConfig.to_dict``):
    its ``root`` and the folders its dataset options name (``datafiles.option_folders``, when the dataset plugin is
    installed to say which options name folders), described with the run's id, for ``check_output_path(roots=...)``:
    an output of a command that reads stored runs does not go inside them either."""
    from merbench.datafiles import option_folders
    from merbench.errors import MerbenchError
    from merbench.registry import get_registry

    found: dict[str, Path] = {}
    for run_id, config in configs.items():
        if not isinstance(config, Mapping):
            continue
        root = Path(str(config["root"])).expanduser() if config.get("root") else None
        if root is not None and root.is_absolute():  # a relative one was relative to a folder nobody recorded
            found[f"the dataset folder of run {run_id}"] = root
        options = (config.get("options") or {}).get("dataset") if isinstance(config.get("options"), Mapping) else None
        if not isinstance(options, Mapping) or not config.get("dataset"):
            continue
        try:
            defaults = get_registry().get("datasets", str(config["dataset"])).options
        except MerbenchError:  # a dataset plugin not installed here: its --root is still known
            continue
        for key, folder in option_folders(root, options, defaults).items():
            found[f"the dataset folder dataset.{key}={options[key]} of run {run_id}"] = folder
    return found


def stored_files(run_id: str, config: Mapping[str, Any], summary: Any,
                 environment: Any = None) -> dict[str, Path]:
    """The files a stored run read, described with the run's id: for a dataset option whose file the dataset's summary
    records (``config.RECORDED_FILES``: the manifest), the recorded absolute path, else the option's value resolved
    against the run's ``root``; for any other dataset option, the existing file its value names (absolute, or under
    ``root``); each file its ``environment`` records reading (``environment.FILES_KEY``: ``model.weights``, a timm
    model's pretrained weights) at its recorded path; and the existing file an absolute value of any other option
    names (``crop.cascade=/x/c.xml``). An output may not replace one, wherever it lies."""
    from merbench.config import recorded_files

    sections = config.get("options") if isinstance(config.get("options"), Mapping) else {}
    options = sections.get("dataset")
    root = Path(str(config["root"])).expanduser() if config.get("root") else None
    recorded = recorded_files(config.get("dataset"), summary)
    found: dict[str, Path] = {}
    for key, value in (options.items() if isinstance(options, Mapping) else ()):
        if not isinstance(value, (str, Path)) or not str(value).strip():
            continue
        path = Path(str(value).strip()).expanduser()
        path = root / path if root is not None and not path.is_absolute() else path
        if key in recorded:
            path = Path(recorded[key]) if recorded[key] is not None else path
            found[f"the {key} that run {run_id} read (dataset.{key})"] = path
        elif path.is_absolute() and _is_file(path):
            found[f"the file that run {run_id} read (dataset.{key}={value})"] = path
    return {**found, **_option_files_read(run_id, sections), **_recorded_files_read(run_id, environment)}


def _recorded_files_read(run_id: str, environment: Any) -> dict[str, Path]:
    """The files a stored run's ``environment`` records reading (``environment.FILES_KEY``: ``KEY`` → its absolute
    ``path``, ``sha256`` and size), described with the run's id."""
    from merbench.environment import FILES_KEY

    files = environment.get(FILES_KEY) if isinstance(environment, Mapping) else None
    return {f"the file that run {run_id} read ({key})": Path(record["path"])
            for key, record in (files.items() if isinstance(files, Mapping) else ())
            if isinstance(record, Mapping) and isinstance(record.get("path"), str) and os.path.isabs(record["path"])}


def _option_files_read(run_id: str, sections: Mapping[str, Any]) -> dict[str, Path]:
    """The existing files that absolute values of a stored run's options outside its dataset section name (as
    ``files_named`` reads values), described with the run's id; a relative value was relative to a working folder
    nobody recorded."""
    settings = {f"{section}.{key}": value for section, values in sections.items()
                if section != "dataset" and isinstance(values, Mapping) for key, value in values.items()}
    named = files_named(settings, {key: (f"that run {run_id} read (", ")") for key in settings})
    return {what: path for what, path in named.items() if path.is_absolute()}


def result_roots(results: Iterable[Any]) -> dict[str, Path]:
    """``stored_roots`` of run results (``RunResult``), each named by its run id (or its place, ``#N``, when it has
    none): the dataset folders of the runs a command reads, which its outputs do not go inside; with the files those
    runs read (``stored_files``), which its outputs do not replace."""
    named = {result.run_id or f"#{number}": result for number, result in enumerate(results, 1)}
    files = {what: path for run_id, result in named.items() if isinstance(result.config, Mapping)
             for what, path in stored_files(run_id, result.config, result.dataset_summary,
                                            getattr(result, "environment", None)).items()}
    return {**stored_roots({run_id: result.config for run_id, result in named.items()}), **files}


def summary_roots(summary: Mapping[str, Any], where: Path | str, store: Path | None) -> dict[str, Path]:
    """The dataset folders and files the study of a leakage ``summary`` (read from ``where``) read, described, for
    ``check_output_path(roots=...)``: those the summary records (``dataset_folders``, ``files_read``), and
    ``result_roots`` of the runs it lists that the results store ``store`` (default: the user's) holds. A store that
    cannot be read, or a run it lacks, adds nothing: what the summary records still counts."""
    found = {f"the dataset folder of the study in {where}": Path(str(folder))
             for folder in summary.get("dataset_folders") or []}
    found.update({f"a file that the study in {where} read ({file})": Path(str(file))
                  for file in summary.get("files_read") or [] if isinstance(file, str) and os.path.isabs(file)})
    return {**found, **result_roots(_listed_runs(summary, store))}


def _listed_runs(summary: Mapping[str, Any], store: Path | None) -> list[Any]:
    """The runs a leakage summary lists that ``store`` holds (none when it cannot be opened)."""
    from merbench.errors import MerbenchError
    from merbench.store import ResultStore

    run_ids = [str(run["run_id"]) for variant in summary.get("variants") or [] if isinstance(variant, Mapping)
               for run in variant.get("runs") or [] if isinstance(run, Mapping) and run.get("run_id")]
    if not run_ids:
        return []
    results = []
    try:
        with ResultStore(store, create=False) as opened:
            for run_id in dict.fromkeys(run_ids):
                try:
                    results.append(opened.result(run_id, predictions=False))
                except MerbenchError:  # a run the store lacks: the audit says so; the summary's record still counts
                    continue
    except (MerbenchError, OSError):  # no store there, or one that cannot be read: the command says so if it reads it
        return []
    return results


def dataset_roots(args: Any) -> dict[str, Path]:
    """Each dataset folder a command reads (``--root DIR``, or ``--root NAME=DIR`` given once per dataset), described,
    for ``check_output_path(roots=...)``: merbench never writes inside one."""
    roots = getattr(args, "root", None)
    if not isinstance(roots, list):
        folders = [str(roots)] if roots else []
    else:  # NAME=DIR or DIR; a folder whose own name holds '=' counts whole too, as grid.parse_roots reads it
        folders = [str(root).partition("=")[2] or str(root) for root in roots]
        folders += [str(root) for root in roots if "=" in str(root) and Path(str(root)).expanduser().exists()]
    given = {f"the dataset folder given with --root {folder}": Path(folder) for folder in folders}
    return {**given, **option_roots(args)}


def option_roots(args: Any) -> dict[str, Path]:
    """The folders a command's dataset options name (megc2019's ``--set dataset.smic=DIR``, from ``--set`` or the
    ``dataset:`` section of ``--config``), described, as ``dataset_roots`` gives them (``datafiles.option_folders``
    says which options name folders). A setting that cannot be read here is left to the command to report."""
    from merbench.datafiles import option_folders
    from merbench.errors import MerbenchError
    from merbench.registry import get_registry

    settings, origin = _given_settings(args)
    options = {key.removeprefix("dataset."): value for key, value in settings.items() if key.startswith("dataset.")}
    several = getattr(args, "datasets", None) or []
    several = several.split(",") if isinstance(several, str) else several  # grid's --datasets a,b
    names = [getattr(args, "dataset", None) or settings.get("dataset"), *several]
    root = getattr(args, "root", None)
    root = Path(root) if isinstance(root, (str, Path)) else None
    found: dict[str, Path] = {}
    for name in filter(None, names) if options else ():
        try:
            defaults = get_registry().get("datasets", str(name)).options
        except MerbenchError:  # an unknown dataset: the command names it
            continue
        for key, folder in option_folders(root, options, defaults).items():
            before, after = origin[f"dataset.{key}"]
            found[f"the dataset folder {before}dataset.{key}={options[key]}{after}"] = folder
    return found
