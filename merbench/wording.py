"""Words for messages: counted nouns ("1 clip", "3 clips", never "clip(s)") and numbers as a user types them."""

from __future__ import annotations

from typing import Any, Sequence, Sized

IRREGULAR = {"child": "children", "entry": "entries", "directory": "directories", "summary": "summaries"}


def plural(count: int | Sized, noun: str, plural_form: str | None = None) -> str:
    """``noun`` as ``count`` (a number, or a collection's length) takes it: singular for exactly 1, else plural."""
    number = count if isinstance(count, int) else len(count)
    if number == 1:
        return noun
    if plural_form is not None:
        return plural_form
    if noun in IRREGULAR:
        return IRREGULAR[noun]
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def counted(count: int | Sized, noun: str, plural_form: str | None = None) -> str:
    """``"N noun"`` with the noun in the number's form: ``counted(1, "fold")`` → ``1 fold``, ``counted(3, "fold")``
    → ``3 folds``; ``count`` may be a collection (its length)."""
    number = count if isinstance(count, int) else len(count)
    return f"{number} {plural(number, noun, plural_form)}"


def some_of(items: Sequence[Any], shown: int, separator: str = ", ") -> str:
    """The first ``shown`` of ``items`` joined, and how many more there are: ``a, b, c (and 7 more)``."""
    texts = [str(item) for item in items]
    rest = len(texts) - shown
    return separator.join(texts[:shown]) + (f" (and {rest} more)" if rest > 0 else "")


def number_text(value: float) -> str:
    """A float as a user types it: ``1e30``, ``0.002``, ``1000``, not ``1e+30`` or ``1000.0``; the shortest form that
    reads back as the same number (else Python's own ``repr``)."""
    short = f"{value:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
    return short if float(short) == value else repr(value)
