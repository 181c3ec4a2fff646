"""Reading a user's YAML file (run config, search space, regression baseline) with one clear error per fault.

Always a ``yaml.SafeLoader`` (``safe_load``'s): a YAML file never builds Python objects; a key given twice in
one mapping is an error rather than the last one winning.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from merbench.errors import UsageError


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (YAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor`: the base class merges it, and a key written here overrides a merged one
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader refuses it: "found unhashable key"
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (lines {seen[key]} and {line}); keep one", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _at(mark) -> str:
    """A PyYAML mark as the user counts: ``line 2, column 1`` (PyYAML counts both from 0)."""
    return f"line {mark.line + 1}, column {mark.column + 1}"


def yaml_fault(exc: yaml.YAMLError, text: str = "") -> str:
    """Where a YAML file is malformed and how, in the file's lines and columns: ``at line 2, column 1: expected ','
    or ']', but got '<stream end>' (while parsing a flow sequence that starts at line 1, column 9)``. PyYAML's own
    text names the parsed string (``"<unicode string>"``) and copies the line with a caret under it. ``text``: the
    file's text, in which a character YAML refuses (a control character) is found by its position."""
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.position, int):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        return (f"at line {line}, column {column}: the character U+{int(exc.character):04X}, which YAML does not "
                "allow; remove it")  # PyYAML gives the code point
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem is None or exc.problem_mark is None:
        return f"({' '.join(str(exc).split())})"
    context = ""
    if exc.context:
        context = f" ({exc.context}" + (f" that starts at {_at(exc.context_mark)}" if exc.context_mark else "") + ")"
    return f"at {_at(exc.problem_mark)}: {exc.problem}{context}"


def read_yaml(path: Path, where: str, *, kind: str, example: Path | str, when_missing: str = "") -> Any:
    """The parsed contents of ``path`` (``None`` for an empty file).

    ``where`` names the file in messages (e.g. ``"--config run.yaml"``),
    ``kind`` says what the file should be ("YAML file of options"),
    ``example`` is a file name to suggest when ``path`` is a folder, and
    ``when_missing`` tells how to get the file when it does not exist.
    Raises ``UsageError`` naming ``where`` for a folder, a missing, unreadable,
    binary or malformed file.
    """
    text = ""
    try:
        if path.is_dir():
            raise UsageError(f"{where}: is a folder; give a {kind} such as {example}")
        text = path.read_text(encoding="utf-8")
        return yaml.load(text, Loader=_UniqueKeyLoader)  # safe: a SafeLoader
    except FileNotFoundError:
        raise UsageError(f"{where}: file not found" + (f"; {when_missing}" if when_missing else "")) from None
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not a text file (it is not UTF-8); give a {kind}") from None
    except OSError as exc:
        raise UsageError(f"{where}: cannot be read ({exc.strerror or exc}); check the path and its permissions") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{where}: not valid YAML {yaml_fault(exc, text)}") from None
    except ValueError as exc:  # a value YAML parses but Python cannot hold (an integer of over 4300 digits)
        raise UsageError(f"{where}: holds a value that cannot be read ({str(exc).split(';')[0]}); check the file") \
            from None
    except RecursionError:
        raise UsageError(f"{where}: nested too deeply to read (lists or mappings inside each other thousands of "
                         f"levels down); give a {kind}") from None
