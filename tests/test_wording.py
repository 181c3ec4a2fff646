"""Messages count nouns in the number's form ("1 clip", "3 clips"), never "clip(s)" (``merbench.wording``)."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from merbench.wording import counted, number_spans, plural

ROOT = Path(__file__).resolve().parent.parent


def test_counted_puts_the_noun_in_the_numbers_form():
    assert counted(1, "fold") == "1 fold"
    assert [counted(n, "clip") for n in (0, 2, 17)] == ["0 clips", "2 clips", "17 clips"]
    assert counted(["a", "b"], "match") == "2 matches" and counted({"x"}, "entry") == "1 entry"
    assert counted(3, "entry") == "3 entries" and counted(2, "thread layout") == "2 thread layouts"
    assert plural(2, "datum", "data") == "data" and plural([1], "key") == "key"


def test_no_message_in_merbench_or_its_plugins_says_noun_s():
    found = []
    for path in sorted([*(ROOT / "merbench").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        for token in tokens:
            if token.type == tokenize.STRING and token.string[:2].lower() in ('f"', "f'") \
                    and re.search(r"[a-z]\(s\)", token.string):
                found.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string[:70]}")
    assert not found, "\n".join(found)


def test_some_of_says_how_many_it_leaves_out():
    from merbench.wording import some_of

    assert some_of(["a", "b"], 3) == "a, b"
    assert some_of(list(range(1, 11)), 3) == "1, 2, 3 (and 7 more)"
    assert some_of(["x; y", "z", "w"], 2, "; ") == "x; y; z (and 1 more)"


def test_number_spans_join_runs_of_consecutive_numbers_in_order():
    assert number_spans([7, 4, 5, 9, 10, 11]) == ["4-5", "7", "9-11"]
    assert number_spans([3]) == ["3"] and number_spans([]) == []
