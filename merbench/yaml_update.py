"""Rewrite a YAML file's values and keep what a person wrote around them (comments, key order, quoting).

``merbench regress --update`` rewrites a baseline's expected values; a lab's baseline carries notes
(why an entry exists, which paper a band came from) as comments, which a plain ``yaml.safe_dump``
of the new document would drop. ruamel.yaml's round-trip mode keeps them where their keys stay.

A file that shares a value between places (an anchor ``&name`` used again as an alias ``*name``, or a merge key
``<<``) is not rewritten: round-trip, the places are one node, so writing one place's new value would write it
into every other (``shared_value`` finds the first such place, ``updated_yaml_text`` refuses it).

ruamel writes YAML 1.2 and merbench reads with PyYAML (YAML 1.1), which differ on plain words and numbers: ``off``
is a string to one and false to the other, ``5e-1`` a number to one and a string to the other. A value that did not
change is therefore written as the file had it (``'off'`` keeps its quotes, ``5e-1`` stays a number), and a new
string is quoted where PyYAML would read it as something else.
"""

from __future__ import annotations

import io
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

_PYYAML_RESOLVER = pyyaml.resolver.Resolver()
"""How PyYAML's ``safe_load``, merbench's reader, types a plain scalar."""


def _quoted(value: Any) -> Any:
    """``value``, quoted when it is a string that PyYAML would read written plain as something else (``off``,
    ``yes``, ``null``, ``1_000``)."""
    if type(value) is str and _PYYAML_RESOLVER.resolve(pyyaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str":
        return SingleQuotedScalarString(value)
    return value


def _commented(value: Any) -> Any:
    """``value`` with its dicts and lists as round-trip nodes, which can carry a moved comment, and its strings
    quoted where PyYAML needs it (``_quoted``)."""
    if isinstance(value, dict) and not isinstance(value, CommentedMap):
        return CommentedMap((_quoted(key), _commented(item)) for key, item in value.items())
    if isinstance(value, list) and not isinstance(value, CommentedSeq):
        return CommentedSeq(_commented(item) for item in value)
    return _quoted(value)


def _pyyaml_reads(node: Any) -> Any:
    """What PyYAML reads ``node`` (a scalar as ruamel read it round-trip) as, written as ruamel writes it."""
    writer = YAML()
    writer.width = 4096
    buffer = io.StringIO()
    writer.dump([node], buffer)
    return pyyaml.safe_load(buffer.getvalue())[0]


def _same_scalar(old: Any, new: Any) -> bool:
    """Whether ``old`` (a scalar as ruamel read the file) can stay for ``new`` (as PyYAML read it): PyYAML reads
    ``old``, written as the file has it, as ``new``, of the same type (``true`` is never the number 1).

    So a quoted ``'off'``, a ``0.30`` and a ``5e-1`` (text to PyYAML, a number to ruamel) stay as written.
    """
    if type(old) is type(new):  # as ruamel reads a plain value
        return old == new and _quoted(old) is old
    try:
        read = _pyyaml_reads(old)
    except (YAMLError, pyyaml.YAMLError):
        return False
    return type(read) is type(new) and read == new


def _slot(parent: Any) -> int:
    """Where ruamel keeps the comment that follows an item: after a mapping's value, after a list's item."""
    return 2 if isinstance(parent, CommentedMap) else 0


def _last(node: Any) -> Any:
    return next(reversed(node)) if isinstance(node, CommentedMap) else len(node) - 1


def _take_after(parent: Any, key: Any) -> Any:
    """Remove and return the comment that follows ``parent[key]`` (the lines after it, up to the next key), or None.

    ruamel hangs such a comment on the deepest last item of the value. A block collection's own slot holds the
    comment on its key's line (``entries:   # one per model``), which stays where it is.
    """
    value = parent[key]
    if _is_block(value):
        return _take_after(value, _last(value))
    slots = parent.ca.items.get(key)
    if not slots or slots[_slot(parent)] is None:
        return None
    token = slots[_slot(parent)]
    if token.value.startswith("\n"):  # only lines after the item's line
        slots[_slot(parent)] = None
        return token
    own_line, _, after = token.value.partition("\n")  # a comment on the item's own line stays there
    if not after.strip():
        return None
    token.value = own_line + "\n"
    return CommentToken("\n" + after, token.start_mark, None)


def _is_block(value: Any) -> bool:
    """Whether ``value`` is a non-empty collection written in block style (its items on lines of their own)."""
    return isinstance(value, (CommentedMap, CommentedSeq)) and len(value) > 0 and not value.fa.flow_style()


def _put_after(parent: Any, key: Any, token: Any) -> None:
    """Hang ``token`` (from ``_take_after``) after ``parent[key]``, on its deepest last item as ruamel would."""
    if token is None:
        return
    value = parent[key]
    if _is_block(value):
        _put_after(value, _last(value), token)
        return
    slots = parent.ca.items.setdefault(key, [None, None, None, None])
    here = slots[_slot(parent)]
    if here is not None:  # the item's own end-of-line comment: the moved lines follow it
        here.value = here.value.rstrip("\n") + token.value
    else:
        slots[_slot(parent)] = token


def _merge(old: Any, new: Any) -> Any:
    """``new``'s values placed into ``old``'s round-trip nodes wherever the two have the same shape.

    A comment stays after the item it followed: one after a collection's last item (often a note on the next
    entry) stays at the collection's end when items are added or removed, and one after a value stays after it
    when the value changes shape (``uf1: 0.3`` becoming ``uf1: {expected: ..., tolerance: ...}``).
    """
    is_map = isinstance(old, CommentedMap) and isinstance(new, dict)
    if not is_map and not (isinstance(old, CommentedSeq) and isinstance(new, list)):
        return old if _same_scalar(old, new) else _quoted(new)
    token = _take_after(old, _last(old)) if len(old) else None  # taken before the last item may go
    if is_map:
        for key in [key for key in old if key not in new]:
            del old[key]
    else:
        del old[len(new):]
    for key, value in new.items() if is_map else enumerate(new):
        if (key in old) if is_map else (key < len(old)):
            merged = _merge(old[key], value)
            if merged is not old[key]:
                moved = _take_after(old, key)
                old[key] = _commented(merged)
                _put_after(old, key, moved)
        elif is_map:
            old[_quoted(key)] = _commented(value)
        else:
            old.append(_commented(value))
    if len(old):
        _put_after(old, _last(old), token)
    return old


def _merge_key(event: pyyaml.Event, at_key: bool | None) -> bool:
    """Whether ``event`` is a merge key: a plain, untagged ``<<`` where a mapping's key stands."""
    return at_key is True and isinstance(event, pyyaml.ScalarEvent) and event.value == "<<" and event.implicit[0]


def _sharing(event: pyyaml.Event, at_key: bool | None) -> str | None:
    """``event`` as a way of sharing a value (``anchor &name``, ``alias *name``, ``merge key <<``), else None."""
    if isinstance(event, pyyaml.AliasEvent):
        return f"alias *{event.anchor}"
    if isinstance(event, pyyaml.NodeEvent) and event.anchor:
        return f"anchor &{event.anchor}"
    return "merge key <<" if _merge_key(event, at_key) else None


def shared_value(text: str) -> tuple[str, int] | None:
    """The first anchor, alias or merge key of YAML ``text``, with its line (from 1): ``("anchor &band", 11)``;
    None when ``text`` shares no value, or is not YAML (its reader reports that)."""
    at_key: list[bool | None] = [None]  # per open collection: whether a mapping's key comes next (None: not a mapping)
    try:
        for event in pyyaml.parse(text, Loader=pyyaml.SafeLoader):
            found = _sharing(event, at_key[-1])
            if found:
                return found, event.start_mark.line + 1
            if isinstance(event, pyyaml.CollectionStartEvent):
                at_key.append(True if isinstance(event, pyyaml.MappingStartEvent) else None)
                continue
            if isinstance(event, pyyaml.CollectionEndEvent):
                at_key.pop()
            elif not isinstance(event, pyyaml.ScalarEvent):
                continue  # the stream's and documents' start and end
            if at_key[-1] is not None:  # a key or a value was read: the other comes next
                at_key[-1] = not at_key[-1]
    except pyyaml.YAMLError:
        return None
    return None


class _NoAliasDumper(pyyaml.SafeDumper):
    """PyYAML's safe dumper writing every value out in full: a value used in two places never becomes an anchor
    and an alias, which a later ``--update`` of the file would refuse (``shared_value``)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def plain_yaml_text(document: dict[str, Any]) -> str:
    """``document`` as new YAML text, keys in their order, every value written out in full (no anchors), long
    text on one line as ``updated_yaml_text`` keeps it (so that a later rewrite changes only what changed)."""
    return pyyaml.dump(document, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=4096)


def mapping_indent(text: str) -> int | None:
    """How far a nested mapping's keys are indented in ``text`` (the first ``key:`` line followed by a deeper
    ``key:`` line), or None when no nested mapping tells."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, after in zip(lines, lines[1:]):
        stripped, deeper = line.strip(), after.strip()
        if stripped.startswith("- ") or deeper.startswith("- ") or not stripped.endswith(":"):
            continue
        step = (len(after) - len(after.lstrip())) - (len(line) - len(line.lstrip()))
        if step > 0 and ":" in deeper:
            return step
    return None


def updated_yaml_text(original: str, document: dict[str, Any]) -> str | None:
    """``original`` (a YAML mapping's text) holding exactly ``document``'s content, its comments kept; None when
    ``original`` is not a mapping ruamel can read round-trip (the caller then writes ``document`` plainly).

    Raises ``ValueError`` when ``original`` shares a value (``shared_value``): its places are one node here, and
    giving them different values would write one place's value into the others. Callers refuse such a file first.
    """
    shared = shared_value(original)
    if shared is not None:
        raise ValueError(f"line {shared[1]}: {shared[0]} shares a value between places; write each value out")
    yaml = YAML()
    yaml.preserve_quotes = True  # 'off' stays 'off': plain, PyYAML would read it as false
    try:
        _, sequence_indent, dash_offset = load_yaml_guess_indent(original)
    except YAMLError:
        sequence_indent = None
    if sequence_indent is not None:  # the file's own indentation ("- model" or "  - model"): only changed lines differ
        offset = dash_offset or 0
        yaml.indent(mapping=mapping_indent(original) or max(sequence_indent - offset, 2), sequence=sequence_indent,
                    offset=offset)
    yaml.representer.ignore_aliases = lambda data: True  # a list used twice is written twice, never as &id001/*id001
    yaml.width = 4096  # long strings stay on one line: folding them anew would rewrite lines that did not change
    try:
        tree = yaml.load(original)
    except YAMLError:  # read and checked by PyYAML already; should ruamel disagree, the plain rewrite is used
        return None
    if not isinstance(tree, CommentedMap):
        return None
    buffer = io.StringIO()
    yaml.dump(_merge(tree, document), buffer)
    return buffer.getvalue()
