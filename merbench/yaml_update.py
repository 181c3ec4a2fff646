"""Rewrite a YAML file's values and keep what a person wrote around them (comments, key order, quoting).

``merbench regress --update`` rewrites a baseline's expected values; a lab's baseline carries notes
(why an entry exists, which paper a band came from) as comments, which a plain ``yaml.safe_dump``
of the new document would drop. ruamel.yaml's round-trip mode keeps them where their keys stay.
"""

from __future__ import annotations

import io
from typing import Any

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


def updated_yaml_text(original: str, document: dict[str, Any]) -> str | None:
    """``original`` (a YAML mapping's text) holding exactly ``document``'s content, its comments kept; None when
    ``original`` is not a mapping ruamel can read round-trip (the caller then writes ``document`` plainly)."""
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
