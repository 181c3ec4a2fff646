"""The small typed interfaces that flow between merbench's steps and its plugins.

A plugin registers one of the ``*Plugin`` specs below through its hook. Specs hold
factories, never built objects, so that listing plugins imports no heavy library.
A factory may be a callable or a lazy ``"module:attribute"`` string.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

Factory = Callable[..., Any] | str


def resolve_factory(factory: Factory) -> Callable[..., Any]:
    """Return the callable behind ``factory``, importing a ``"module:attr"`` string."""
    if callable(factory):
        return factory
    module_name, _, attribute = factory.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Sample:
    """One micro-expression clip.

    ``frames`` are the clip's frame files in temporal order; ``onset``, ``apex`` and
    ``offset`` index into ``frames`` (``apex`` is ``None`` when the dataset has no
    apex annotation). ``extra`` carries anything else the dataset knows (AUs...).
    """

    id: str
    subject: str
    label: int
    domain: str
    frames: tuple[Path, ...]
    onset: int
    apex: int | None
    offset: int
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    """What a dataset plugin's loader returns: samples plus the class names."""

    name: str
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """Integer labels of all samples, in sample order."""
        return np.array([s.label for s in self.samples], dtype=np.int64)

    @property
    def subjects(self) -> np.ndarray:
        """Subject ids of all samples, in sample order."""
        return np.array([s.subject for s in self.samples])

    @property
    def domains(self) -> np.ndarray:
        """Domain (source dataset) of all samples, in sample order."""
        return np.array([s.domain for s in self.samples])


@dataclass(frozen=True)
class Fold:
    """One train/test split, as positions into the dataset's samples."""

    index: int
    train: np.ndarray
    test: np.ndarray


# ------------------------------------------------------------------------ plugins


@dataclass(frozen=True)
class DatasetPlugin:
    """A dataset.

    ``load(root: Path | None, options: dict, cache_dir: Path) -> Dataset`` reads the
    annotations (never writing inside ``root``). ``options`` holds the defaults of
    every ``--set dataset.KEY`` the loader accepts. ``profiles`` may override
    option defaults per run profile (``quick``, ``default``, ``paper``).
    """

    name: str
    load: Factory
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    needs_root: bool = True


@dataclass(frozen=True)
class PreprocessorPlugin:
    """A preprocessor: turns a sample into a model input array.

    ``build(options: dict) -> Preprocessor`` where a ``Preprocessor`` has
    ``cache_params() -> dict`` (everything that changes its output, used in the
    cache key), ``inputs(sample) -> list[Path]`` (the frame files it reads) and
    ``__call__(sample, read_frame, upstream) -> np.ndarray`` returning a float32
    (C, H, W) array; ``upstream`` is the previous preprocessor's output in a
    chain (``None`` for the first) and ``read_frame(path)`` gives a grey frame.
    ``produces`` names the representation (for example ``"flow-uvs"``) that a model
    must declare as its input.
    """

    name: str
    build: Factory
    description: str
    produces: str
    version: str = "1"
    options: Mapping[str, Any] = field(default_factory=dict)
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


REPORTED_METRICS = ("accuracy", "precision", "recall", "f1", "uf1", "uar")


@dataclass(frozen=True)
class ReportedScore:
    """A score that a paper reported for a model (shown beside measured scores).

    ``value`` is in percent as published; ``metric`` is one of ``accuracy``,
    ``precision``, ``recall``, ``f1``, ``uf1``, ``uar`` (lower case); ``dataset``
    and ``protocol`` are merbench names (``samm``, ``sample-10fold``, ...);
    ``source`` cites where the number was published.
    """

    dataset: str
    protocol: str
    metric: str
    value: float
    source: str

    def __post_init__(self) -> None:
        if self.metric not in REPORTED_METRICS:
            raise ValueError(f"reported metric '{self.metric}' is not one of {', '.join(REPORTED_METRICS)}")


@dataclass(frozen=True)
class ModelPlugin:
    """A trainable model.

    ``build(options: dict, in_channels: int, n_classes: int, input_size: int)``
    returns a ``torch.nn.Module`` that maps (N, C, H, W) to (N, n_classes) logits.
    ``profiles`` gives the option values of each run profile; ``input`` is the
    representation it expects (a preprocessor's ``produces``).
    """

    name: str
    build: Factory
    description: str
    input: str
    options: Mapping[str, Any] = field(default_factory=dict)
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    citation: str = ""
    reported: Sequence[ReportedScore] = ()


@dataclass(frozen=True)
class ProtocolPlugin:
    """An evaluation protocol.

    ``split(labels, subjects, seed, options, domains) -> list[Fold]`` (``domains``
    gives each sample's source dataset); ``subject_independent``
    states whether no subject can appear in both train and test of a fold.
    """

    name: str
    split: Factory
    description: str
    subject_independent: bool
    options: Mapping[str, Any] = field(default_factory=dict)
    warning: str = ""


PLUGIN_KINDS: dict[str, type] = {
    "datasets": DatasetPlugin,
    "preprocessors": PreprocessorPlugin,
    "models": ModelPlugin,
    "protocols": ProtocolPlugin,
}
