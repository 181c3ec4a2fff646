"""Test-only model plugins for ``merbench tune`` tests.

* ``tune-recorder``: a tiny torch model that records every batch it sees,
  with whether it was training or predicting, so a test can tell which samples
  reached it;
* ``tune-memo``: a memorising estimator: for an input it was trained on
  (exactly, within ``tolerance``) it returns that sample's label, for any other
  a guess from a hash of the input and ``salt``. Its score is perfect on seen
  samples and at chance on unseen ones;
* ``tune-knob``: nearest-neighbour with a ``noise`` share of guesses, so its
  score falls as ``noise`` rises (for the pruning test).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from merbench.contracts import ModelPlugin
from merbench.registry import Provider

RECORDS: list[tuple[Any, str, np.ndarray]] = []
"""(phase, "train" or "predict", batch as a numpy array) of every forward pass of ``tune-recorder``."""
PHASE: list[Any] = [None]
"""What the test says is running now (set around objectives and refits), stored with each record."""


def build_recorder(options: dict, in_channels: int, n_classes: int, input_size: int) -> Any:
    import torch

    class Recorder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = torch.nn.Linear(in_channels * input_size * input_size, n_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            RECORDS.append((PHASE[0], "train" if self.training else "predict", x.detach().float().cpu().numpy().copy()))
            return self.head(x.flatten(1))

    return Recorder()


def _guess(row: np.ndarray, salt: int, classes: np.ndarray) -> int:
    return int(classes[zlib.crc32(row.tobytes() + salt.to_bytes(4, "little")) % len(classes)])


@dataclass
class Memoriser:
    """Returns the label of an exactly remembered training input, else a salted hash guess."""

    tolerance: float
    salt: int
    seen: np.ndarray = field(default=None, repr=False)
    labels: np.ndarray = field(default=None, repr=False)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "Memoriser":
        self.seen, self.labels = np.asarray(x, dtype=np.float64), np.asarray(y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        classes = np.unique(self.labels)
        out = []
        for row in np.asarray(x, dtype=np.float64):
            distance = np.abs(self.seen - row).max(axis=1)
            nearest = int(distance.argmin())
            out.append(int(self.labels[nearest]) if distance[nearest] <= self.tolerance else _guess(row, self.salt, classes))
        return np.array(out, dtype=np.int64)


def build_memo(options: dict, in_channels: int, n_classes: int, input_size: int) -> Memoriser:
    return Memoriser(float(options["tolerance"]), int(options["salt"]))


@dataclass
class Knob:
    """Nearest neighbour, except a ``noise`` share of the inputs (chosen by hash) get a guess."""

    noise: float
    seen: np.ndarray = field(default=None, repr=False)
    labels: np.ndarray = field(default=None, repr=False)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "Knob":
        self.seen, self.labels = np.asarray(x, dtype=np.float64), np.asarray(y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        classes = np.unique(self.labels)
        out = []
        for row in np.asarray(x, dtype=np.float64):
            if zlib.crc32(row.tobytes()) % 1000 < self.noise * 1000:
                out.append(_guess(row, 7, classes))
            else:
                out.append(int(self.labels[((self.seen - row) ** 2).sum(axis=1).argmin()]))
        return np.array(out, dtype=np.int64)


def build_knob(options: dict, in_channels: int, n_classes: int, input_size: int) -> Knob:
    return Knob(float(options["noise"]))


SPECS = (
    ModelPlugin(name="tune-recorder", build=build_recorder, description="records what it sees (tests)",
                input="flow-uvs", options={"width": 1}, option_ranges={"width": ">= 1"}),
    ModelPlugin(name="tune-memo", build=build_memo, description="memorises its training inputs (tests)",
                input="flow-uvs", options={"tolerance": 1e-9, "salt": 0}, option_ranges={"tolerance": ">= 0"}),
    ModelPlugin(name="tune-knob", build=build_knob, description="nearest neighbour with noise (tests)",
                input="flow-uvs", options={"noise": 0.0}, option_ranges={"noise": "[0, 1]"}),
)


def register(monkeypatch: Any) -> None:
    """Add the test models to the process-wide registry for one test."""
    from merbench.registry import get_registry

    registry = get_registry()
    provider = Provider("tune-test-models", "tests.tune_models", "merbench-tests", "0")
    for spec in SPECS:
        monkeypatch.setitem(registry._items["models"], spec.name, spec)
        monkeypatch.setitem(registry._providers, ("models", spec.name), provider)
    RECORDS.clear()
    PHASE[0] = None
