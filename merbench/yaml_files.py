"""Reading a user's YAML file (run config, search space, regression baseline) with one clear error per fault.

Always a ``yaml.SafeLoader`` (``safe_load``'s): a YAML file never builds Python objects; a key given twice in
one mapping is an error rather than the last one winning. A document that refers to itself through an alias,
nests lists and mappings more than ``MAX_DEPTH`` levels deep, or that aliases make more than ``MAX_ALIASED``
values larger (a "billion laughs" of a few lines), is refused before it is built (``AliasFault``), so no reader
of the data (a message showing a value, ``json.dumps``) has to guard against it.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from merbench.errors import UsageError

MAX_DEPTH = 100
"""How deep lists and mappings may nest in a YAML document (options nest a few levels, a run's result a dozen)."""
MAX_ALIASED = 100_000
"""How many values aliases may add to a YAML document, over those it writes out (a baseline's shared defaults add
a few dozen)."""


PATH_SHOWN = 120
"""How many characters of a value's key path a refusal shows (its first and last half, ``…`` between)."""


class AliasFault(Exception):
    """A YAML document that cannot be used as data: it refers to itself through an alias, nests too deeply, or
    aliases make it too large.

    ``path`` names the value inside the document (``model.dropout``; empty for the document itself), ``mark`` is
    PyYAML's mark of where that value starts, and ``problem`` says what is wrong and how to fix it.
    """

    def __init__(self, path: str, mark: Any, problem: str):
        super().__init__(problem)
        self.path, self.mark, self.problem = path, mark, problem

    def named(self, where: str) -> str:
        """The fault as one message after ``where`` (a file: ``--config run.yaml``): the value's path (its middle cut
        where it is longer than ``PATH_SHOWN``: a hundred nested keys) and place."""
        path = self.path or "the document"
        if len(path) > PATH_SHOWN:
            path = f"{path[:PATH_SHOWN // 2]}…{path[-PATH_SHOWN // 2:]}"
        return f"{where}: {path} ({_at(self.mark)}) {self.problem}"


def _path(steps: list[str | int]) -> str:
    """Mapping keys and list positions as a dotted path (``entries[0].set.model.dropout``), without the list
    positions at its end: the key whose value holds the fault."""
    while steps and isinstance(steps[-1], int):
        steps = steps[:-1]
    return "".join(f"[{step}]" if isinstance(step, int) else f"{'.' if i else ''}{step}" for i, step in enumerate(steps))


def _refuse_unbounded(root: yaml.Node) -> None:
    """Raise ``AliasFault`` for a node that holds itself through an alias, lies deeper than ``MAX_DEPTH``, or
    stands for more than ``MAX_ALIASED`` values beyond the document's own; each node is walked once, however many
    aliases name it."""
    sizes: dict[int, int] = {}  # a walked node's id: how many values it stands for, its aliases' values written out
    open_: set[int] = set()
    walked = 0

    def walk(node: yaml.Node, steps: list[str | int]) -> int:
        nonlocal walked
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_:
            raise AliasFault(_path(steps), node.start_mark, "refers to itself through a YAML alias (a *name inside "
                             "the value of its own &name); write the value out without that alias")
        if len(steps) > MAX_DEPTH:
            raise AliasFault(_path(steps[:MAX_DEPTH]), node.start_mark,
                             f"nests lists or mappings more than {MAX_DEPTH} levels deep; give a flatter value")
        open_.add(id(node))
        size = 1
        if isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value):
                size += walk(item, [*steps, position])
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                size += walk(key, [*steps, name])
                size += walk(value, steps if key.tag == "tag:yaml.org,2002:merge" else [*steps, name])
        open_.discard(id(node))
        walked += 1
        if size > walked + MAX_ALIASED:  # more than the nodes written out so far, anywhere: aliases added the rest
            raise AliasFault(_path(steps), node.start_mark, f"expands to more than {MAX_ALIASED:,} values through "
                             "YAML aliases (an &name whose value holds *names, used many times); write its values "
                             "out, without aliases")
        sizes[id(node)] = size
        return size

    walk(root, [])


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a document with ``_refuse_unbounded`` before building it."""

    def construct_document(self, node):
        _refuse_unbounded(node)
        return super().construct_document(node)


def load_value(text: str) -> Any:
    """``text`` read as YAML (``yaml.safe_load``), refused with ``AliasFault`` as a file is (``read_yaml``)."""
    return yaml.load(text, Loader=_BoundedLoader)  # safe: a SafeLoader


class _UniqueKeyLoader(_BoundedLoader):
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
    binary or malformed file, and for one that refers to itself, nests too deeply or
    expands too far through aliases (``AliasFault``).
    """
    text = ""
    try:
        if path.is_dir():
            raise UsageError(f"{where}: is a folder; give a {kind} such as {example}")
        text = path.read_text(encoding="utf-8")
        return yaml.load(text, Loader=_UniqueKeyLoader)  # safe: a SafeLoader
    except AliasFault as exc:
        raise UsageError(exc.named(where)) from None
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
