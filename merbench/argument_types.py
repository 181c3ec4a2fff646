"""argparse types for counts and sizes given on a command line: a value out of range is refused by argparse
(one line naming the option, exit 2), never a traceback later. Used by the scripts in ``benchmarks/``; and
``NameList``, the action of the commands' name filters (``--model A B``)."""

from __future__ import annotations

import argparse
import math
from typing import Callable


def whole_number(minimum: int) -> Callable[[str], int]:
    """A whole number of ``minimum`` or more."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give {minimum} or more") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number of {minimum} or more, not {value}")
        return value

    return parse


def number_above(minimum: float, meaning: str = "") -> Callable[[str], float]:
    """A finite number above ``minimum``; ``meaning`` (e.g. "the device's peak in TFLOP/s") is said in the refusal."""
    about = f" ({meaning})" if meaning else ""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a number above {minimum:g}{about}") from None
        if not value > minimum or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number above {minimum:g}{about}, not {text}")
        return value

    return parse


EXAMPLE_NAMES = {"model": ("convmixer", "ststnet"), "dataset": ("casme2", "samm"), "protocol": ("loso", "subject-10fold"),
                 "profile": ("quick", "default")}
"""Two names of each filter, for the example an empty name's refusal gives."""


class NameList(argparse.Action):
    """A filter of names (``--model``, ``--dataset``, ...) given as ``--model A B``, ``--model A,B`` or
    ``--model A --model B``: every name once, in the order given. A repeated option adds to the list, as
    ``--set`` and ``grid --models`` do, instead of silently keeping only its last use. An option of one value
    (no ``nargs``, as ``delete``'s, whose positional run ids follow) takes names separated by commas only."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        names = list(getattr(namespace, self.dest, None) or [])
        for value in values if isinstance(values, list) else [values]:
            for name in str(value).split(","):
                if not name.strip():
                    parser.error(f"argument {option_string}: an empty name in {str(value)!r}; give names "
                                 f"separated by {self._example(option_string)}")
                if name.strip() not in names:
                    names.append(name.strip())
        setattr(namespace, self.dest, names)

    def _example(self, option_string: str | None) -> str:
        """How names are separated for this option, with an example: ``spaces or commas, e.g. --model A B``, or for an
        option of one value ``commas, e.g. --model A,B`` (a second word would not be one of its names)."""
        names = EXAMPLE_NAMES.get(self.dest, ("NAME1", "NAME2"))
        if self.nargs in ("+", "*"):
            return f"spaces or commas, e.g. {option_string} {' '.join(names)}"
        return f"commas, e.g. {option_string} {','.join(names)}"
