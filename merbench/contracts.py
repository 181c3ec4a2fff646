"""The small typed interfaces that flow between merbench's steps and its plugins.

A plugin registers one of the ``*Plugin`` specs below through its hook. Specs hold
factories, never built objects, so that listing plugins imports no heavy library.
A factory may be a callable or a lazy ``"module:attribute"`` string.
"""

from __future__ import annotations

import importlib
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from merbench.errors import PluginError

Factory = Callable[..., Any] | str

OptionRange = str | tuple[Any, ...]
"""What one option accepts, declared in a plugin spec's ``option_ranges`` (``{option: rule}``).

A rule is either a range text for a number option, one-sided (``">= 1"``,
``"> 0"``, ``"<= 10"``, ``"< 1"``) or an interval with ``[``/``]`` for an
included and ``(``/``)`` for an excluded bound (``"[0, 1)"``, ``"(0, 1)"``,
``"[1, inf)"``), or a tuple of the accepted values of a text option (compared
without case, e.g. ``("cbam", "none")``), or ``"file"`` for a text option naming a
local file (weights): empty, or a file that exists. For a list option the rule applies to
every element. Values keep the type of the option's default; floats must be
finite. merbench checks every value the user gives when the run's
configuration is resolved, before anything starts, and names the option, the
accepted values and the default when one is refused.
"""


def resolve_factory(factory: Factory, plugin: str | None = None, role: str = "build") -> Callable[..., Any]:
    """Return the callable behind ``factory``, importing a ``"module:attr"`` string.

    A string that cannot be imported is a ``PluginError`` naming ``plugin`` (``model plugin 'NAME' (DIST VERSION)``,
    where the caller knows it) and the spec field ``role`` that holds the string (``build``, ``load``, ``split``).
    """
    if callable(factory):
        return factory
    module_name, _, attribute = factory.partition(":")
    who = f"{plugin}: its {role}= factory" if plugin else "the plugin's factory"
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except SystemExit as exc:  # a module written as a script: its exit is not merbench's (a Ctrl-C still stops it)
        raise PluginError(f"{who} '{factory}' cannot be loaded: {exit_reason(exc)}") from exc
    except Exception as exc:  # ImportError, AttributeError, or whatever the plugin's module raises on import
        raise PluginError(f"{who} '{factory}' cannot be loaded: {type(exc).__name__}: {exc}; a "
                          "factory string is 'package.module:function' of an installed module (check the plugin's "
                          f"{role}= and its dependencies, or report it to the plugin's author)") from exc
    return target


def exit_reason(exc: SystemExit, in_hook: bool = False) -> str:
    """A plugin's ``SystemExit``, raised when its module was imported (or ``in_hook``), as the reason it is broken:
    what it raised, where such an exit usually comes from, and how its author stops it."""
    if in_hook:
        return (f"it raised {exc!r} (it exits when its hook is called: sys.exit in the hook?); a plugin must not "
                "exit: raise an exception where it cannot work, which merbench reports while the other plugins keep "
                "working")
    return (f"it raised {exc!r} (it exits when imported: a script's argument parsing or sys.exit at import?); a "
            "plugin module must not exit: parse arguments only under `if __name__ == '__main__':`, and raise an "
            "exception where the plugin cannot work")


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

    @property
    def clip_id(self) -> str:
        """The clip this sample comes from: ``extra["source_clip"]`` where a protocol made several samples of one
        clip (``ProtocolPlugin.expand``), else its own id."""
        return str(self.extra.get("source_clip", self.id))


@dataclass(frozen=True)
class Dataset:
    """What a dataset plugin's loader returns: samples plus the class names.

    ``gives`` is what the samples are: ``"frames"`` (clips of frames, the usual)
    or ``"image"`` (one precomputed model-input image per sample in
    ``frames[0]``, such as the widely shared u/v/strain flow images), which only
    an image-reading preprocessor (``preprocess=image``) can take.
    """

    name: str
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)
    gives: str = "frames"

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


@dataclass
class FoldOutput:
    """Predictions for a fold's test samples (in ``fold.test`` order) and training facts."""

    predictions: np.ndarray
    final_loss: float
    seconds: float
    normalisation: str = "channel mean/std of the training samples"
    epoch_losses: list[float] = field(default_factory=list)
    selected_epoch: int | None = None
    validation: np.ndarray | None = None
    selected_on: str | None = None
    """Which samples chose ``selected_epoch``: ``"validation"``, ``"test"`` (leaky) or ``None`` (no selection)."""
    trained_on: str | None = None
    """Where a fold trained as a Ray task: ``HOST: DEVICE`` (``merbench.folds.ray.trained_on``); ``None``: on the
    run's own device (its ``environment.device``)."""


@dataclass(frozen=True)
class DatasetPlugin:
    """A dataset.

    ``load(root: Path | None, options: dict, cache_dir: Path) -> Dataset`` reads the
    annotations (never writing inside ``root``). ``options`` holds the defaults of
    every ``--set dataset.KEY`` the loader accepts. ``profiles`` may override
    option defaults per run profile (``quick``, ``default``, ``paper``).
    ``option_ranges`` declares the accepted values of options (see ``OptionRange``).
    ``gives`` is what its samples are (``Dataset.gives``), known before loading:
    ``"frames"`` or ``"image"``, or a factory ``(root, options) -> str`` that
    reads only what it needs to tell (a manifest's CSV); without a
    ``preprocess`` setting, a dataset of images gets the ``image`` chain.
    ``needs_root``: ``--root`` must be given; ``reads_root=False`` (a generated
    dataset): ``--root`` is refused, since the loader would ignore it.
    """

    name: str
    load: Factory
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    needs_root: bool = True
    option_ranges: Mapping[str, OptionRange] = field(default_factory=dict)
    gives: Factory = "frames"
    reads_root: bool = True


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
    must declare as its input. ``accepts`` lists the representations it can take
    from the step before it (``"frames"``: the dataset's frames, or a
    ``ClipFrames`` from a frame step such as ``crop``); a chain whose order breaks
    this is refused before any work. Bump ``version`` whenever outputs change.
    ``option_ranges`` declares the accepted values of options (see ``OptionRange``).
    ``sets_apex`` marks a frame step that chooses the apex later steps read
    (``ClipFrames.apex``, as ``apex`` does); ``reads_apex`` says whether a step
    reads that apex (``False`` for one that ignores it: ``lbptop`` samples frames
    evenly from onset to offset, ``crop`` and ``magnify`` treat every frame
    alike). A chain in which no step after an apex-setting one reads the apex is
    refused, as that step would change nothing its run records it did.
    """

    name: str
    build: Factory
    description: str
    produces: str
    version: str = "1"
    options: Mapping[str, Any] = field(default_factory=dict)
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    accepts: tuple[str, ...] = ("frames",)
    option_ranges: Mapping[str, OptionRange] = field(default_factory=dict)
    sets_apex: bool = False
    reads_apex: bool = True


def _memoised(read: Callable[[int], np.ndarray]) -> Callable[[int], np.ndarray]:
    decoded: dict[int, np.ndarray] = {}

    def cached(index: int) -> np.ndarray:
        if index not in decoded:
            decoded[index] = read(index)
        return decoded[index]

    return cached


FRAMES = "frames"
"""The representation of grey frames: what a dataset gives and frame steps pass on."""


@dataclass(frozen=True)
class ClipFrames:
    """A clip's grey frames between steps of a preprocessor chain (representation ``frames``).

    ``read(index)`` gives frame ``index`` of ``sample.frames`` as a grey uint8
    (H, W) array, after every frame step so far (crop, magnification...);
    ``apex`` is the apex index later steps should use; ``notes`` holds what the
    steps decided for this clip (crop box, apex rule), stored with the cache entry
    and summarised in the run's details.
    """

    sample: Sample
    read: Callable[[int], np.ndarray]
    apex: int
    notes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, sample: Sample, read_frame: Callable[[Path], np.ndarray], upstream: Any) -> "ClipFrames":
        """``upstream`` when it is a ``ClipFrames``, else the sample's own frames (memoised)."""
        if isinstance(upstream, ClipFrames):
            return upstream
        if upstream is not None:
            raise TypeError(f"expected frames from the step before, got {type(upstream).__name__}")
        decoded: dict[int, np.ndarray] = {}

        def read(index: int) -> np.ndarray:
            if index not in decoded:
                decoded[index] = read_frame(sample.frames[index])
            return decoded[index]

        apex = sample.apex if sample.apex is not None else (sample.onset + sample.offset) // 2
        rule = "annotated" if sample.apex is not None else "middle"
        return cls(sample, read, apex, {"apex": apex, "apex_rule": rule})

    def derive(self, read: Callable[[int], np.ndarray] | None = None, apex: int | None = None, **notes: Any) -> "ClipFrames":
        """A copy with new frames (memoised), apex (also noted as ``apex``) and/or extra notes."""
        return ClipFrames(
            self.sample,
            self.read if read is None else _memoised(read),
            self.apex if apex is None else apex,
            {**self.notes, **notes, **({"apex": apex} if apex is not None else {})},
        )


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
        for name in ("dataset", "protocol", "source"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"reported {name} {getattr(self, name)!r} is a {type(getattr(self, name)).__name__}, "
                                f"not text; write {name}='...'")
        if self.metric not in REPORTED_METRICS:
            raise ValueError(f"reported metric '{self.metric}' is not one of {', '.join(REPORTED_METRICS)}")
        if not isinstance(self.value, numbers.Real) or isinstance(self.value, bool):
            raise TypeError(f"reported {self.metric} value {self.value!r} is a {type(self.value).__name__}, not a "
                            "number; write the percentage as published as a number, e.g. value=73.5")


def shown_name(name: str) -> str:
    """A plugin's name as users read it: a family of models (``timm:``) as ``timm:<name>``, anything else as it is."""
    return f"{name}<name>" if name.endswith(":") else name


@dataclass(frozen=True)
class FamilyFactory:
    """A factory of one member of a name family: calls the family's ``build`` (or ``read_files``) with the member's
    name first, lazily."""

    build: Factory
    member: str

    def __call__(self, *args: Any) -> Any:
        """The family's factory called with the member name first."""
        return resolve_factory(self.build)(self.member, *args)


@dataclass(frozen=True)
class ModelPlugin:
    """A trainable model.

    ``build(options: dict, in_channels: int, n_classes: int, input_size: int)``
    returns a ``torch.nn.Module`` that maps (N, C, H, W) to (N, n_classes) logits.
    ``profiles`` gives the option values of each run profile; ``input`` is the
    representation it expects (a preprocessor's ``produces``).

    ``build`` may instead return a scikit-learn style estimator (``fit(X, y)``,
    ``predict(X)``), which the engine fits on each fold's flattened training
    inputs (see ``merbench.estimator``). ``preprocess`` is the model's default
    preprocessing chain (empty: merbench's default, ``flow``) and
    ``preprocess_options`` its option defaults per preprocessor section, e.g.
    ``{"flow": {"size": 28}}``; both sit below the user's ``--config``/``--set``.
    ``flops`` declares FLOPs per sample by profile where they cannot be counted
    (torch models' FLOPs are counted). A name ending in ``:`` (``timm:``) is a
    family: ``timm:resnet18`` resolves to it and ``build`` then receives the
    member name first, ``build(member, options, in_channels, n_classes,
    input_size)``; ``examples`` lists members to document and test, and
    ``check_member``, when set, is ``check_member(member)``, which raises
    ``UsageError`` for a name that is no member (called when a run's
    run is checked, before anything runs or is recorded).
    ``option_ranges`` declares the accepted values of options (see ``OptionRange``).
    ``read_files``, when set, is ``read_files(options)`` (a family's gets
    ``member`` first), the local files a model built with ``options`` reads
    that no ``"file"`` option names, e.g. weights found in a download cache, as
    ``{"model.KEY": path}``: a run records them by their content.
    """

    name: str
    build: Factory
    description: str
    input: str
    options: Mapping[str, Any] = field(default_factory=dict)
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    citation: str = ""
    reported: Sequence[ReportedScore] = ()
    preprocess: tuple[str, ...] = ()
    preprocess_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    flops: Mapping[str, float] = field(default_factory=dict)
    examples: tuple[str, ...] = ()
    option_ranges: Mapping[str, OptionRange] = field(default_factory=dict)
    check_member: Factory | None = None
    read_files: Factory | None = None


@dataclass(frozen=True)
class ProtocolPlugin:
    """An evaluation protocol.

    ``split(labels, subjects, seed, options, domains) -> list[Fold]`` (``domains``
    gives each sample's source dataset); ``subject_independent``
    states whether no subject can appear in both train and test of a fold.
    ``option_ranges`` declares the accepted values of options (see ``OptionRange``).
    ``expand``, when set, is ``expand(dataset, options) -> Dataset``, called on
    the loaded dataset before preprocessing: the samples it returns are the
    ones preprocessed, split and scored (``frame-10fold`` makes several
    onset→apex pairs of each clip; each keeps its clip's id in
    ``extra["source_clip"]``, so merbench can tell when one clip is on both sides).
    ``folds`` and ``partition``, when declared, let ``merbench audit`` find a result
    with a fold or samples left out.
    """

    name: str
    split: Factory
    description: str
    subject_independent: bool
    options: Mapping[str, Any] = field(default_factory=dict)
    warning: str = ""
    option_ranges: Mapping[str, OptionRange] = field(default_factory=dict)
    expand: Factory | None = None
    folds: str = ""
    """How many folds ``split`` makes: ``"n_splits"`` (its ``protocol.n_splits`` option), ``"per subject"`` or
    ``"one"``; empty: not declared."""
    partition: bool = False
    """Whether its folds test every sample once and each trains on every sample it does not test."""


PLUGIN_KINDS: dict[str, type] = {
    "datasets": DatasetPlugin,
    "preprocessors": PreprocessorPlugin,
    "models": ModelPlugin,
    "protocols": ProtocolPlugin,
}


def check_family_member(spec: Any) -> None:
    """Refuse a model spec named as a member of a name family that is none (``timm:resnet1``) through the family's
    ``check_member`` (its did-you-mean); a spec of no family, or the family itself (``timm:``), passes."""
    name = str(spec.name)
    if getattr(spec, "check_member", None) and ":" in name and not name.endswith(":"):
        resolve_factory(spec.check_member)(name.partition(":")[2])
