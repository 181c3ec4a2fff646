"""The local files a run's options name (``"file"`` options, such as a timm backbone's ``model.weights``), recorded
by their content: the path alone does not say which weights trained a run, since a file can be replaced under the
same name. A result keeps them in ``environment.files``; a run resumed or re-run with another file's content says so."""

from __future__ import annotations

import hashlib
import os
import reprlib
from pathlib import Path
from typing import Any, Mapping

from merbench.config import FILE_RULE, RunConfig
from merbench.contracts import FamilyFactory, resolve_factory
from merbench.environment import FILES_KEY
from merbench.errors import MerbenchError, PluginError, error_line
from merbench.wording import a_type, model_options_hint

CHUNK = 1 << 20


def _sections(config: RunConfig, registry: Any) -> list[tuple[str, Any]]:
    """Each section of ``config`` that a plugin owns, with that plugin's spec (its ``option_ranges``)."""
    owned = [("model", "models", config.model), ("dataset", "datasets", config.dataset),
             ("protocol", "protocols", config.protocol)]
    owned += [(name, "preprocessors", name) for name in config.preprocess]
    return [(section, registry.get(kind, name)) for section, kind, name in owned if name]


_DESCRIBED: dict[tuple[str, int, int], dict[str, Any]] = {}
"""``describe_file``'s records by path, modification time and size: a run records its files once per seed."""


def describe_file(path: Path) -> dict[str, Any]:
    """A file's absolute path, SHA-256 of its bytes and size (read once per process while it stays unchanged)."""
    path = path.resolve()
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _DESCRIBED:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
        _DESCRIBED[key] = {"path": str(path), "sha256": digest.hexdigest(), "bytes": stat.st_size}
    return dict(_DESCRIBED[key])


def option_file_records(config: RunConfig, registry: Any) -> dict[str, dict[str, Any]]:
    """``SECTION.KEY`` → ``describe_file`` of each non-empty ``"file"`` option of the run's plugins (none for a run
    without such options). A file that cannot be read is left out: the plugin that opens it says why."""
    record: dict[str, dict[str, Any]] = {}
    for section, spec in _sections(config, registry):
        options = config.sections.get(section) or {}
        for key, rule in (getattr(spec, "option_ranges", None) or {}).items():
            value = str(options.get(key) or "").strip()
            if rule != FILE_RULE or not value:
                continue
            try:
                record[f"{section}.{key}"] = describe_file(Path(value).expanduser())
            except OSError:
                continue
    return record


def model_read_records(config: RunConfig, registry: Any) -> dict[str, dict[str, Any]]:
    """``KEY`` → ``describe_file`` of each file the run's model says it reads beyond its ``"file"`` options (its
    ``read_files``: e.g. a timm backbone's pretrained weights in a download cache). A file gone meanwhile is left
    out, as in ``option_file_records``; a ``read_files`` that raises or returns no ``{KEY: path}`` is a
    ``PluginError`` naming the plugin."""
    spec = registry.get("models", config.model) if config.model else None
    if getattr(spec, "read_files", None) is None:
        return {}
    record: dict[str, dict[str, Any]] = {}
    for key, path in _read_files(spec, registry.label("models", config.model), config).items():
        try:
            record[key] = describe_file(Path(path).expanduser())
        except OSError:
            continue
    return record


def _read_files(spec: Any, plugin: str, config: RunConfig) -> dict[str, Any]:
    """What the model plugin ``spec``'s ``read_files`` returns for the run's model options (``None``: no files),
    checked to be ``{KEY: path}``."""
    form = "read_files(member, options)" if isinstance(spec.read_files, FamilyFactory) else "read_files(options)"
    reader = resolve_factory(spec.read_files, plugin, "read_files")
    try:
        found = reader(dict(config.sections.get("model") or {}))
    except MerbenchError:
        raise
    except Exception as exc:  # whatever the plugin's code raises
        raise PluginError(f"{plugin}: its read_files() raised {error_line(exc)}; check the model options given "
                          f"({model_options_hint(plugin)}), or report it to the plugin's author ({form} -> "
                          "{KEY: path} lists the files a model built with them reads)") from exc
    problem = _not_files(found)
    if problem:
        raise PluginError(f"{plugin}: its read_files() returned {problem}; expected {form} -> {{KEY: path}} (str "
                          "keys, str or pathlib.Path paths): report it to the plugin's author")
    return dict(found or {})


def _not_files(found: Any) -> str:
    """What is wrong with ``found`` as ``read_files``' answer (``{str: str or PathLike}`` or ``None``), or ``""``."""
    if found is None:
        return ""
    if not isinstance(found, Mapping):
        return f"{a_type(found)}, not a dict"
    for key, path in found.items():
        if not isinstance(key, str):
            return f"a dict with the key {reprlib.repr(key)}, {a_type(key)}, not a string"
        if not isinstance(path, (str, os.PathLike)):
            return f"{a_type(path)} for {reprlib.repr(key)}, not a path"
    return ""


def files_record(config: RunConfig, registry: Any) -> dict[str, Any]:
    """``{FILES_KEY: ...}``, the files of ``option_file_records`` and ``model_read_records``, to merge into a
    result's environment, or ``{}`` when the run reads none."""
    files = {**option_file_records(config, registry), **model_read_records(config, registry)}
    return {FILES_KEY: files} if files else {}

