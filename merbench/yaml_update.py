"""Rewrite a YAML file's values and keep what a person wrote around them (comments, key order, quoting).

``merbench regress --update`` rewrites a baseline's expected values; a lab's baseline carries notes
(why an entry exists, which paper a band came from) as comments, which a plain ``yaml.safe_dump``
of the new document would drop. ruamel.yaml's round-trip mode keeps them where their keys stay.

A file that shares a value between places (an anchor ``&name`` used again as an alias ``*name``, or a merge key
``<<``) is not rewritten: round-trip, the places are one node, so writing one place's new value would write it
into every other (``shared_value`` finds the first such place, ``updated_yaml_text`` refuses it).
"""

from __future__ import annotations

import io
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError


def _merge(old: Any, new: Any) -> Any:
    """``new``'s values placed into ``old``'s round-trip nodes wherever the two have the same shape."""
    if isinstance(old, CommentedMap) and isinstance(new, dict):
        for key in [key for key in old if key not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = _merge(old[key], value) if key in old else value
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        del old[len(new):]
        for index, value in enumerate(new):
            if index < len(old):
                old[index] = _merge(old[index], value)
            else:
                old.append(value)
        return old
    return old if type(old) is type(new) and old == new else new


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
