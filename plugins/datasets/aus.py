"""Action-unit strings of the coding sheets in one normalised form.

The releases write AUs differently: ``1+2+R12`` (CASME II), ``R12B+R14C`` with an
intensity letter (SAMM), ``L1+L2``, ``T28+14``, ``B23`` (CAS(ME)³: side or
region prefix), ``12L``, ``20R`` (MMEW: side suffix), ``AU4(k)+L7`` (4DME: an
``AU`` prefix and ``(k)`` for a static AU), ``1,2,4`` (commas, also the
full-width ``，``). ``parse_aus`` turns any of them into AU numbers with the
side, region, intensity and static markers kept apart; ``A or B`` alternatives
are kept as ambiguous rather than guessed.
"""

from __future__ import annotations

import re
from typing import Any

TOKEN = re.compile(
    r"(?:AU)?(?P<prefix>[LRTB])?(?P<au>\d+)(?P<intensity>[A-E])?(?P<suffix>[LR])?"
)
STATIC = re.compile(r"\(k\)", re.IGNORECASE)
EMPTY = {"", "/", "-", "?", "none", "nan", "n/a"}
SIDES = {"L": "L", "R": "R"}
REGIONS = {"T": "T", "B": "B"}


def _code(token: str) -> dict[str, Any] | None:
    static = STATIC.search(token) is not None
    match = TOKEN.fullmatch(STATIC.sub("", token).upper())
    if not match:
        return None
    prefix = match.group("prefix")
    return {
        "au": int(match.group("au")),
        "side": SIDES.get(prefix or "") or match.group("suffix"),
        "region": REGIONS.get(prefix or ""),
        "intensity": match.group("intensity"),
        "static": static,
    }


def parse_aus(text: Any) -> dict[str, Any]:
    """An AU cell as ``aus`` (sorted AU numbers), ``au_codes`` (one dict per AU with
    ``side`` L/R, ``region`` T/B, ``intensity`` A–E, ``static``), ``au_ambiguous``
    (alternatives such as ``R12 or R14``, left out of ``aus``) and ``au_unparsed``
    (tokens that are not AUs). JSON-ready.
    """
    raw = "" if text is None else str(text).strip()
    codes: list[dict[str, Any]] = []
    ambiguous: list[list[int]] = []
    unparsed: list[str] = []
    if raw.lower() not in EMPTY:
        for token in re.split(r"[+,，;&]", raw):
            token = re.sub(r"\s+", " ", token).strip()
            if token.startswith("(") and token.endswith(")"):
                token = token[1:-1].strip()
            if not token:
                continue
            if re.search(r"\bor\b", token, re.IGNORECASE):
                options = [_code(t.strip().strip("()").replace(" ", "")) for t in re.split(r"\bor\b", token, flags=re.IGNORECASE)]
                if all(options):
                    ambiguous.append([o["au"] for o in options])
                else:
                    unparsed.append(token)
                continue
            code = _code(token.replace(" ", ""))
            if code is None:
                unparsed.append(token)
            else:
                codes.append(code)
    return {
        "au_raw": raw,
        "aus": sorted({c["au"] for c in codes}),
        "au_codes": codes,
        "au_ambiguous": ambiguous,
        "au_unparsed": unparsed,
    }

