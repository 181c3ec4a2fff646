"""Words for messages: counted nouns ("1 clip", "3 clips", never "clip(s)"), numbers as a user types them, and
scores as percentages shown one way everywhere."""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Iterable, Sequence, Sized

IRREGULAR = {"child": "children", "entry": "entries", "directory": "directories", "summary": "summaries"}
TEST_SAMPLES_INCLUDED = "test samples included"
"""What every normalisation note says when its statistics took the test samples too (the engine's and the
estimator's ``ALL_NORMALISATION``), and what ``merbench audit`` looks for in a fold's record."""


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


def number_spans(numbers: Iterable[int]) -> list[str]:
    """Sorted ``numbers`` with each run of consecutive ones as ``first-last``: ``[4, 5, 7]`` → ``["4-5", "7"]``."""
    spans: list[list[int]] = []
    for number in sorted(numbers):
        if spans and number == spans[-1][-1] + 1:
            spans[-1].append(number)
        else:
            spans.append([number])
    return [f"{span[0]}-{span[-1]}" if len(span) > 1 else str(span[0]) for span in spans]


def numbered_order(text: str) -> tuple:
    """A sort key that orders ids as people number them: ``s1, s2, s11, s20`` and ``s09, s10, s100`` (text sorts
    ``s11`` before ``s2`` and ``s100`` before ``s11``), the parts between numbers as text; ``s01`` before ``s1``."""
    parts = re.split(r"(\d+)", text)
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), text


def number_text(value: float) -> str:
    """A float as a user types it: ``1e30``, ``0.002``, ``1000``, not ``1e+30`` or ``1000.0``; the shortest form that
    reads back as the same number (else Python's own ``repr``)."""
    short = f"{value:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
    return short if float(short) == value else repr(value)


SCORE_DIGITS = 10
"""Decimals a score keeps before it is shown: far more than any score's meaning, far fewer than a float's noise."""


EVERY_FLOAT = Context(prec=400)
"""Enough digits to quantize the percentage of any float (the largest has 309 before the point) to a few decimals."""

BEYOND_SCORES = 1e6
"""A fraction this large (a percentage of 9 digits) is no score: ``percent`` shows it short, as ``1e+8``."""


def percent_points(value: float, places: int = 1) -> Decimal:
    """A fraction as percentage points with ``places`` decimals (one unless asked), half rounded up from its decimal
    digits (``Decimal``).

    Every score merbench shows goes through this rule, so that one value shows the same digits in every command
    and table. Formatting the binary float instead would round 0.4865 (48.649999… in binary) down to 48.6 but
    0.48653 up to 48.7, and 0.5125 (51.25) to the even 51.2; here they show 48.7, 48.7 and 51.3. The value is first
    rounded to ``SCORE_DIGITS`` decimals, so that arithmetic noise (a mean of 0.7175 computed as 0.7174999999999999)
    does not decide the last digit. A value that is not finite gives ``Decimal`` NaN or ±Infinity, and a huge one
    (no score: a result changed outside merbench) all its digits, never an error.
    """
    points = Decimal(repr(round(float(value), SCORE_DIGITS))) * 100
    if not points.is_finite():
        return points
    return points.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=EVERY_FLOAT)


def paper_points(value: float) -> str:
    """A paper's reported score (already in %, ``ReportedScore.value``) with two decimals, half rounded up from its
    decimal digits (73.535 shows 73.54 everywhere, as ``compare``'s reported column shows it; the binary float would
    give 73.53); a dash for a value that is not a number (an edited file, a plugin's ``inf``)."""
    if not math.isfinite(float(value)):
        return "—"
    return str(Decimal(repr(float(value))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def percent(value: float, signed: bool = False) -> str:
    """``percent_points`` as text (``51.3``; ``+1.2`` with ``signed``); ``nan`` or ``inf`` for a value that is not a
    finite number, and a value of ``BEYOND_SCORES`` or more as its percentage written short (``1e+302``)."""
    if value != value or value in (float("inf"), float("-inf")):
        return f"{100 * value:.1f}"
    points = percent_points(value)
    if abs(value) >= BEYOND_SCORES:
        return f"{points:{'+' if signed else ''}.3g}"
    if points == 0:
        points = abs(points)  # no -0.0
    return f"{points:+}" if signed else str(points)


def pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal (``percent``); a dash for ``None`` or NaN (no score)."""
    return "—" if value is None or math.isnan(value) else percent(value)


def default_text(value: object) -> str:
    """An option's default as the listings show it: ``(unset)`` for an option with none (``None``, ``""``, ``[]``),
    which an empty cell or ``name=`` would leave unclear."""
    return "(unset)" if value is None or value == "" or value == [] else str(value)


def a_type(value: object) -> str:
    """``value``'s type with its article, as a message names what it got: ``a list``, ``an int``, ``None``."""
    kind = type(value).__name__
    return "None" if value is None else f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"


def model_options_hint(plugin: str) -> str:
    """Where a model's options are listed, for a message about ``plugin`` (``model plugin 'NAME' (DIST VERSION)``,
    as ``Registry.label`` names it): ``merbench info NAME``, or with a placeholder when the label names no model."""
    named = re.match(r"model plugin '([^']+)'", plugin)
    return f"`merbench info {named.group(1) if named else 'MODEL'}` lists them"


def no_subject_shared(n_folds: int) -> str:
    """What a sample-level run whose folds happened to share no subject says about it (run, show, report, compare)."""
    return f"no fold happened to share a subject (0 of {n_folds} folds), which another seed or dataset does not promise"
