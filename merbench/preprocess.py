"""Running a preprocessor chain over a dataset, in parallel, with a content-addressed cache.

The key of a sample's entry is the SHA-256 of the chain (names, versions and
parameters), of the bytes of the frames each step reads (step by step, ``step_inputs``), of
the sample's onset, apex, offset and frame count (``clip_place``) and of
the rules by which frames are read (``FRAME_RULES``), so a changed frame, a
moved apex or a changed parameter gives a new entry and identical inputs are
never recomputed.

Layout under ``<cache>/preprocess/``:

* ``<k[:2]>/<k>.npy``: one sample's output (and ``<k>.json``, its notes, and
  ``<k>.sha256``, the SHA-256 of the ``.npy`` bytes, both written first); every
  file is written to a temporary name and renamed into place, so a reader sees
  a whole entry or none, and two runs at once at worst compute the same entry
  twice. An entry that fails its checksum or cannot be read back is recomputed
  (``details["damaged_cache"]`` and one warning line say which).
* ``index/<i>.json`` and ``index/<i>.npy`` (with its ``.sha256``): written after a whole dataset went
  through a chain: dataset name, chain, entry keys in sample order, per-sample
  notes, and all outputs stacked, so a warm run loads one file. ``merbench cache
  info`` reads the ``.json`` files.

``preprocess/hashes/`` remembers each frame file's digest while its size,
mtime and inode stay the same, so a warm run stats frames instead of reading
them. Clips are processed in this process and worker processes (``workers``
processes in all, 0 = every core); each worker builds the chain
from the same specs and options, OpenCV runs one thread per process (also in
the serial path), and outputs are put back in sample order, so parallel and
serial runs give bit-identical outputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import numbers
import os
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import cv2
import numpy as np

from merbench import __version__
from merbench.cache import cache_root, content_key, inputs_key, write_cache_file
from merbench.contracts import FRAMES, ClipFrames, Dataset, PreprocessorPlugin, Sample, resolve_factory
from merbench.datafiles import SKIP_CLIP, bit_depth_problem, decode_image, undecodable
from merbench.errors import DataError, MerbenchError, PluginError, UsageError, error_line
from merbench.workers import WORKER_START_HINT, picklable, result_of, running, start_pool, submit, usable_cores
from merbench.wording import counted, some_of

MIN_PARALLEL = 8
"""Fewer clips left to compute than this are done in-process (starting workers costs more)."""
PROBE_CLIPS = 4
"""Clips computed in-process first to estimate the time per clip."""
PARALLEL_WORTH_S = 2.0
"""Estimated seconds of remaining work above which worker processes are started."""


@dataclass
class PreprocessResult:
    """The model inputs of a whole dataset and what it took to make them."""

    inputs: np.ndarray
    computed: int
    cached: int
    seconds: float
    details: dict[str, Any]
    workers: int = 1
    dataset: Dataset | None = None
    """The samples that ``inputs`` holds, in order (fewer than given when unreadable clips were skipped)."""

    @cached_property
    def key(self) -> str:
        """``cache.inputs_key`` of the inputs: names the exact inputs trained on (hashed once)."""
        return inputs_key(self.inputs)

    def record(self) -> dict[str, Any]:
        """What a run's result and a tune's summary record of the preprocessing: entries computed and cached, the
        chain's details, and ``inputs_key``."""
        return {"computed": self.computed, "cached": self.cached, **self.details, "inputs_key": self.key}


@dataclass
class Chain:
    """Built preprocessors of a run, in order, with their specs and options."""

    specs: Sequence[PreprocessorPlugin]
    steps: Sequence[Any]
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    _signature: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    labels: Sequence[str] = ()
    """Who provides each step, for messages (``preprocessor plugin 'NAME' (DISTRIBUTION VERSION)``)."""
    builtin: Sequence[bool] = ()
    """Per step, whether it is merbench's own (``Provider.builtin``); the others are keyed on their options too
    (``signature``)."""

    def label(self, index: int) -> str:
        """The step at ``index`` as messages name it."""
        return self.labels[index] if self.labels else f"preprocessor plugin '{self.specs[index].name}'"

    @property
    def produces(self) -> str:
        """The representation the chain's last step produces."""
        return self.specs[-1].produces

    @property
    def names(self) -> str:
        """The chain as ``--set preprocess=`` writes it."""
        return ",".join(spec.name for spec in self.specs)

    def signature(self) -> list[dict[str, Any]]:
        """What identifies the chain's output: names, versions and parameters (computed once; ``PluginError`` naming
        the step whose ``cache_params()`` fails or gives something else than a dict of JSON values).

        The parameters of a step that is not merbench's own are its ``cache_params()`` and each of its resolved
        options that those leave out: an option its author forgot there still gives a new key (it gave the cached
        output of the option's other value). merbench's own steps leave out on purpose the options that do not
        change their output (``crop.margin`` of a centre crop), so their keys stay as they were.
        """
        if self._signature is None:
            self._signature = [
                {"name": spec.name, "version": spec.version, "params": self._params(index)}
                for index, spec in enumerate(self.specs)
            ]
        return self._signature

    def _params(self, index: int) -> dict[str, Any]:
        """The parameters of step ``index`` in the signature (``signature`` says which)."""
        params = self._cache_params(index)
        if self.builtin and self.builtin[index]:
            return params
        options = self.sections.get(self.specs[index].name, {})
        return {**params, **{key: value for key, value in options.items() if key not in params}}

    def _cache_params(self, index: int) -> dict[str, Any]:
        """``cache_params()`` of step ``index``, checked: it goes into every cache key and the stored result, so
        anything but a dict of JSON values (which ``json.dumps`` would refuse, or key by an object's address) is
        the plugin's error."""
        fix = "fix the preprocessor or report it to the plugin's author"
        try:
            params = self.steps[index].cache_params()
        except MerbenchError:
            raise
        except Exception as exc:
            if isinstance(exc, MemoryError):
                raise
            raise PluginError(f"{self.label(index)}: its cache_params() raised {error_line(exc)}; it must return a "
                              f"dict of the options that change its output: {fix}") from exc
        if not isinstance(params, dict):
            raise PluginError(f"{self.label(index)}: its cache_params() returned a {type(params).__name__}, not a "
                              f"dict; it must return a dict of the options that change its output: {fix}")
        try:
            json.dumps(params)
        except (TypeError, ValueError) as exc:
            raise PluginError(f"{self.label(index)}: its cache_params() returned a dict that is not JSON "
                              f"({error_line(exc)}); the values make up the cache key and are stored with the "
                              "result, so they must be text, numbers, true/false, null, lists or dicts: "
                              f"{fix}") from exc
        keys = list(non_text_keys(params))  # after json.dumps, which refuses a dict that holds itself
        if keys:
            raise PluginError(f"{self.label(index)}: its cache_params() returned a dict with the key {keys[0]!r} "
                              f"({type(keys[0]).__name__}), not text; the keys name the options in the cache key and "
                              f"the stored result, so they must be text, e.g. {str(keys[0])!r}: {fix}")
        return params


def non_text_keys(value: Any) -> Iterator[Any]:
    """The dict keys in ``value`` (a dict, list or tuple, at any depth) that are not text.

    ``json.dumps`` turns such a key into text (``1`` and ``"1"`` would be one parameter), and sorting a dict's keys
    for a cache key fails when some are text and some not.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield key
            yield from non_text_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from non_text_keys(item)


def check_chain_order(specs: Sequence[PreprocessorPlugin]) -> None:
    """Refuse a chain in which a step cannot take what the step before it produces, a step is named twice (its
    options are one section, so a second one would only repeat the first), or a step that chooses the apex is
    followed only by steps that ignore it (``apex,lbptop``: its run would record an apex rule that changed nothing)."""
    names = [spec.name for spec in specs]
    twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if twice is not None:
        once = list({spec.name: spec for spec in specs}.values())
        raise UsageError(f"preprocess={','.join(names)}: '{twice}' is given twice; give each step once, "
                         f"{_suggestion(once)}")
    problem = _order_problem(specs)
    if problem is not None:
        raise UsageError(f"preprocess={','.join(names)}: {problem}; put the steps that take and give frames "
                         f"(crop, apex, magnify) before the step that makes the model's input, {_suggestion(specs)}")
    unread = _unread_apex_step(specs)
    if unread is not None:
        later = specs[specs.index(unread) + 1:]
        kept = ",".join(spec.name for spec in specs if spec is not unread)
        raise UsageError(f"preprocess={','.join(names)}: '{unread.name}' chooses the apex, but no step after it "
                         f"reads one ({', '.join(repr(spec.name) for spec in later)} "
                         f"{'does' if len(later) == 1 else 'do'} not), so it would change nothing; leave it out "
                         f"(--set preprocess={kept}) or end the chain in a step that reads the apex (e.g. flow)")


def _unread_apex_step(specs: Sequence[PreprocessorPlugin]) -> PreprocessorPlugin | None:
    """The first step of ``specs`` that sets the apex (``sets_apex``) and has later steps, none of which reads it
    (``reads_apex``), or None. A chain that ends in the apex step is left to the check that it ends in model input."""
    for index, spec in enumerate(specs):
        later = specs[index + 1:]
        if getattr(spec, "sets_apex", False) and later and not any(getattr(step, "reads_apex", True) for step in later):
            return spec
    return None


def _order_problem(specs: Sequence[PreprocessorPlugin]) -> str | None:
    """Why a step of ``specs`` cannot take what the step before it gives, or None when each can."""
    given, source = FRAMES, "the dataset"
    for spec in specs:
        if given not in spec.accepts:
            return f"'{spec.name}' takes {' or '.join(repr(a) for a in spec.accepts)} but {source} gives '{given}'"
        given, source = spec.produces, f"'{spec.name}'"
    return None


def _suggestion(specs: Sequence[PreprocessorPlugin]) -> str:
    """``e.g. --set preprocess=...``: the given steps with the frame steps first, when that order works (else the
    built-in example)."""
    reordered = [spec for spec in specs if spec.produces == FRAMES] + [spec for spec in specs if spec.produces != FRAMES]
    if _order_problem(reordered) is None:
        return f"e.g. --set preprocess={','.join(spec.name for spec in reordered)}"
    return "e.g. --set preprocess=crop,flow (`merbench list preprocessors` says what each step takes and gives)"


def build_chain(specs: Sequence[PreprocessorPlugin], sections: Mapping[str, Mapping[str, Any]],
                labels: Sequence[str] = (), builtin: Sequence[bool] = ()) -> Chain:
    """Check the chain's order and build each preprocessor from its resolved options.

    A ``build(options)`` that raises something other than a merbench error (which says what to fix already) is
    one ``PluginError`` naming the step as ``labels`` do (``preprocessor plugin 'NAME' (DISTRIBUTION VERSION)``);
    so is one that returns no preprocessor (None, an object without ``STEP_METHODS``), and a ``cache_params()``
    that raises or gives no dict of JSON values (``Chain.signature``). ``builtin`` marks merbench's own steps
    (``Chain.builtin``); without it every step is keyed on its options too.
    """
    check_chain_order(specs)
    chain = Chain(specs, [], {spec.name: dict(sections[spec.name]) for spec in specs}, labels=list(labels),
                  builtin=list(builtin))
    steps = []
    for index, spec in enumerate(specs):
        build = resolve_factory(spec.build, chain.label(index))
        try:
            step = build(dict(sections[spec.name]))
        except MerbenchError:
            raise
        except Exception as exc:
            if isinstance(exc, MemoryError):
                raise
            raise PluginError(
                f"{chain.label(index)}: its build(options) raised {error_line(exc)}; check the options given to it "
                f"(--set {spec.name}.KEY=VALUE; `merbench info` of the run's model shows its chain's), or report it "
                "to the plugin's author"
            ) from exc
        lacking = [f"{name}()" for name in STEP_METHODS if not callable(getattr(step, name, None))]
        if lacking:
            what = "None" if step is None else f"a {type(step).__name__} without {', '.join(lacking)}"
            raise PluginError(
                f"{chain.label(index)}: its build(options) returned {what}; it must return the preprocessor, an "
                "object with cache_params(), inputs(sample) and __call__(sample, read_frame, upstream) (fix the "
                "preprocessor or report it to the plugin's author)"
            )
        steps.append(step)
    chain.steps = steps
    chain.signature()  # a cache_params() that fails is named now, before any clip is read
    return chain


STEP_METHODS = ("cache_params", "inputs", "__call__")
"""What a built preprocessor must have (``merbench.contracts.PreprocessorPlugin``)."""


def checked_chain(config: Any, registry: Any) -> Chain:
    """The preprocessing chain of ``config`` (a ``RunConfig``), built from its options and checked against its model.

    Without a model (``merbench preprocess`` without ``--model``) the chain must end
    in model input, not in frames. Raises ``UsageError``, or ``PluginError`` naming a step whose build fails.
    """
    specs = [registry.get("preprocessors", name) for name in config.preprocess]  # an unknown name: did you mean
    labels = [registry.label("preprocessors", name) for name in config.preprocess]
    builtin = [registry.provider("preprocessors", name).builtin for name in config.preprocess]
    chain = build_chain(specs, config.sections, labels, builtin)
    if config.model:
        problem = registry.input_problem(config.model, config.preprocess)
        if problem:
            raise PluginError(f"{problem} (from {registry.provider('models', config.model)})")
        check_model_input(config.model, registry.get("models", config.model).input, chain)
    elif chain.produces == "frames":
        raise UsageError(f"preprocess={chain.names} ends in frames; end it with a step that makes model input, e.g. flow")
    return chain


def check_model_input(model: str, expected: str, chain: Chain) -> None:
    """Refuse a model whose declared input is not what the chain produces, naming both."""
    if expected != chain.produces:
        raise UsageError(
            f"model '{model}' expects input '{expected}' but the preprocessing chain "
            f"{chain.names} produces '{chain.produces}'; choose a matching --set preprocess=..."
        )


KEY_LAYOUT = 3
"""The version of how a cache key is laid out: 2 keys the files of each step apart (``step_inputs``), where 1 merged
them, so a chain whose later step reads a subset of an earlier step's files (``magnify,flow``) missed a moved apex;
3 adds the sample's onset, apex and offset and its number of frames (``clip_place``), where a step that lists the
same files whatever the apex is (a third-party step reading onset to offset and using the apex) kept a moved apex's
old output. Entries keyed under an earlier layout are computed again, once."""

FRAME_RULES = 2
"""The version of the rules by which ``read_frame`` reads a clip's frames, part of every cache key: 2 refuses frames
of more than 8 bits and frames of another size than the clip's first (``decode_frame``, ``frame_size_problem``), so
entries computed under the earlier rules (which kept a 16-bit frame's high byte) are computed again, once."""

FRAME_DECODING = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH
"""How a frame file is decoded: grey, at its own bit depth (``bit_depth_problem`` then refuses more than 8 bits)."""


def decode_grey(blob: bytes) -> np.ndarray | None:
    """A frame file's bytes decoded as a run reads them (grey, at the file's bit depth); ``None`` when they are not
    an image. ``bit_depth_problem`` says whether the frame can be used."""
    return decode_image(blob, FRAME_DECODING)


BIT_DEPTH_FIX = "convert the clip's frames to 8-bit grey, scaled by the camera's bit depth (12-bit: divide by 16)"


def decode_frame(path: Path, blob: bytes) -> np.ndarray:
    """Decode an image file's bytes to a grey uint8 frame, or raise DataError naming it (``bit_depth_problem``:
    a frame of more than 8 bits is refused, not reduced)."""
    frame = decode_grey(blob)
    if frame is None:
        raise DataError(f"cannot decode frame {path}: the file {undecodable(blob)}; {_frame_fix(path)}")
    problem = bit_depth_problem(frame)
    if problem:
        fix = CACHE_FRAME_FIX if _in_cache(path) else f"{BIT_DEPTH_FIX}{SKIP_CLIP}"
        raise DataError(f"frame {path} {problem}: {fix}")
    return frame


REPLACE_FRAME = "replace it with the original frame"
SKIP_OR_REPLACE_FRAME = f"{REPLACE_FRAME}{SKIP_CLIP}"
CACHE_FRAME_FIX = "merbench generated it into its cache: run `merbench cache clear --yes` to regenerate it"


def _in_cache(path: Path) -> bool:
    """Whether ``path`` lies in merbench's cache (a frame merbench generated, e.g. synthetic data)."""
    return Path(path).resolve().is_relative_to(cache_root(create=False).resolve())


def _frame_fix(path: Path) -> str:
    """How to repair an unreadable frame: regenerate it when merbench made it (in the cache), else replace or skip."""
    return CACHE_FRAME_FIX if _in_cache(path) else SKIP_OR_REPLACE_FRAME


MISSING_CACHE_FRAME_FIX = ("merbench generated it into its cache, and it is gone (the cache cleared while the "
                           "command ran, e.g. by `merbench cache clear`?): run the command again, which generates it "
                           "anew")


def unopened_frame(path: Path, sample: Sample, exc: OSError) -> DataError:
    """The error of a frame that cannot be opened, naming the sample and the file, and how to repair it: run again
    when merbench generated it into its cache (the cache was cleared meanwhile), else check the dataset tree."""
    fix = MISSING_CACHE_FRAME_FIX if _in_cache(path) else "check the dataset tree"
    return DataError(f"sample {sample.id}: cannot read frame {path} ({exc.strerror}); {fix}")


def same_input_files(first: Sample, again: Sample) -> str:
    """Why ``again`` cannot be used beside ``first``, another clip whose input files have the same bytes: one clip
    listed twice (under two ids or subjects) would be trained on and tested, its score a memory of itself."""
    return f"sample {again.id} (subject {again.subject}): {copy_of(first)}"


def copy_of(first: Sample) -> str:
    """The reason of ``same_input_files`` without the sample it is given for (``datasets check`` names it apart)."""
    return (f"its input files have the same bytes as those of sample {first.id} (subject {first.subject}), as a copy "
            "of one clip has (or two clips of blank frames), so it would be tested on what was trained on; remove the "
            "copy from the dataset, or replace the blank frames")


def skip_reason(error: str) -> str:
    """A clip's read error without the advice to skip its clip: the reason a clip was skipped (dataset.strict=false),
    or the error of a dataset that has no ``strict`` option to skip it with."""
    return error.replace(SKIP_CLIP, "")


def read_bytes(path: Path, sample: Sample) -> bytes:
    """Read one frame file of a sample, or raise DataError naming the file and sample."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise unopened_frame(path, sample, exc) from None


@contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """Run the block with OpenCV limited to ``count`` threads, then restore."""
    previous = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


class LabelHidden(Exception):
    """A preprocessor used the label of a sample it was given, which merbench hides from preprocessors."""


class HiddenLabel:
    """What a preprocessor finds in ``sample.label``: any use of it (as a number, an index, in a comparison or in
    text) raises ``LabelHidden`` and sets ``used``, even where the plugin catches that or a library rewords it.

    Preprocessing is per sample and never needs the label; an output made from it would carry the label into the
    model input, and every fold's test samples would be scored on their own labels.
    """

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = False

    def __repr__(self) -> str:
        return "<label hidden from preprocessors>"

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        self.used = True
        raise LabelHidden("preprocessors get samples without their label")

    __index__ = __int__ = __float__ = __complex__ = __bool__ = __str__ = __format__ = __hash__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _refuse
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = __rpow__ = __divmod__ = __rdivmod__ = _refuse
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __lshift__ = __rlshift__ = _refuse
    __rshift__ = __rrshift__ = __neg__ = __pos__ = __abs__ = __invert__ = __round__ = __trunc__ = _refuse
    __floor__ = __ceil__ = __array__ = _refuse
    __iter__ = __len__ = __getitem__ = __contains__ = _refuse

    def __getattr__(self, name: str) -> Any:  # the label's text methods (.lower(), .split()) are uses of it too
        if name.startswith("__"):
            raise AttributeError(name)
        return self._refuse()


LABEL_EXTRAS = frozenset({"emotion", "emotions", "emotion_folder", "objective_class", "shown", "variant"})
"""Keys of ``Sample.extra`` that carry the label in other words (the sheet's emotion text, the class folder, SAMM's
objective class, the synthetic data's class shown and the variant of it, some of which only one class has): hidden from preprocessors like the label itself. A dataset
plugin keeps its own label text under one of them."""


def without_label(sample: Sample) -> tuple[Sample, HiddenLabel]:
    """``sample`` as preprocessors see it: its label, and each ``LABEL_EXTRAS`` entry of its ``extra``, replaced by a
    ``HiddenLabel`` (returned too, to ask if it was used)."""
    hidden = HiddenLabel()
    extra = {key: hidden if key in LABEL_EXTRAS else value for key, value in sample.extra.items()}
    return dataclasses.replace(sample, label=hidden, extra=extra), hidden  # type: ignore[arg-type]


def _label_used(chain: Chain, index: int, sample: Sample, where: str) -> PluginError:
    return PluginError(
        f"{chain.label(index)} used the label of sample {sample.id} in its {where} (step {index + 1} of "
        f"preprocess={chain.names}); preprocessors get samples without their label (nor the extra entries that "
        f"hold it: {', '.join(sorted(LABEL_EXTRAS))}), since an output made from it "
        "leaks the label into the model input: compute the output from the frames only (fix the preprocessor or "
        "report it to the plugin's author)"
    )


def step_inputs(chain: Chain, sample: Sample) -> list[list[Path]]:
    """The frame files each step of the chain reads for ``sample``, step by step (what its cache key is made from).

    Kept per step, not merged: a step that reads a subset of an earlier step's files (``flow``'s onset and apex
    after ``magnify``'s whole clip) still says which of them it reads, so a moved apex gives another key.
    ``PluginError`` when a step's ``inputs(sample)`` fails or uses the label, and when the steps together list
    no file: the key would then be the chain's parameters alone, one entry for every sample.
    """
    blind, hidden = without_label(sample)
    by_step: list[list[Path]] = []
    for index, step in enumerate(chain.steps):
        try:
            listed = list(step.inputs(blind))
        except MerbenchError:  # an option or a sample the step refuses: already said
            raise
        except Exception as exc:
            if hidden.used:
                raise _label_used(chain, index, sample, "inputs(sample)") from exc
            raise PluginError(
                f"{chain.label(index)}: its inputs(sample) failed on sample {sample.id} (step {index + 1} of "
                f"preprocess={chain.names}): {error_line(exc)}; report it to the plugin's author"
            ) from exc
        if hidden.used:
            raise _label_used(chain, index, sample, "inputs(sample)")
        check_listed(chain, index, sample, listed)
        by_step.append(listed)
    if not any(by_step):
        who = chain.label(0) if len(chain.steps) == 1 else f"no step of preprocess={chain.names} ({chain.label(0)}, ...)"
        its = "its inputs(sample) lists" if len(chain.steps) == 1 else "lists"
        raise PluginError(
            f"{who}: {its} no file for sample {sample.id}; the bytes of the listed files make up the cache key, so "
            "every sample would share one cached output: list every frame file the step reads (fix the "
            "preprocessor or report it to the plugin's author)"
        )
    return by_step


LISTED_FIX = ("it must return the frame files it reads (sample.frames[i]): fix the preprocessor or report it to the "
              "plugin's author")


def check_listed(chain: Chain, index: int, sample: Sample, listed: Sequence[Any]) -> None:
    """Refuse what ``inputs(sample)`` of step ``index`` listed when an entry is no file path (a frame number, bytes),
    or is no file and not one of the sample's frames (those keep the dataset's own messages): ``PluginError`` naming
    the step, where a missing file would be blamed on the dataset tree."""
    frames = set(sample.frames)
    for entry in listed:
        if not isinstance(entry, (str, os.PathLike)) or isinstance(os.fspath(entry), bytes):
            raise PluginError(f"{chain.label(index)}: inputs(sample) listed {entry!r} ({type(entry).__name__}), not a "
                              f"file path, for sample {sample.id} (step {index + 1} of preprocess={chain.names}); "
                              f"{LISTED_FIX}")
        if entry in frames or os.path.isfile(entry) or Path(os.path.abspath(entry)) in {
                Path(os.path.abspath(frame)) for frame in sample.frames}:
            continue
        what = "is a folder" if os.path.isdir(entry) else "does not exist"
        raise PluginError(f"{chain.label(index)}: inputs(sample) listed {entry} for sample {sample.id} (step "
                          f"{index + 1} of preprocess={chain.names}), which {what} and is not one of the sample's "
                          f"frames; {LISTED_FIX}")


def chain_inputs(chain: Chain, sample: Sample) -> list[Path]:
    """Every frame file the chain reads for ``sample``, once each, in first-use order (``step_inputs`` merged)."""
    return distinct_files(step_inputs(chain, sample))


def distinct_files(by_step: Sequence[Sequence[Path]]) -> list[Path]:
    """The files of ``by_step``, once each, in first-use order."""
    return list(dict.fromkeys(path for listed in by_step for path in listed))


def entry_key(chain: Chain, sample: Sample) -> tuple[str, dict[Path, bytes]]:
    """The cache key of ``sample`` under ``chain`` and the frame bytes it was made from."""
    by_step = step_inputs(chain, sample)
    blobs = {path: read_bytes(path, sample) for path in distinct_files(by_step)}
    digests = {path: hashlib.sha256(blob).hexdigest() for path, blob in blobs.items()}
    return _entry_key(chain, sample, [[digests[path] for path in listed] for listed in by_step]), blobs


def clip_place(sample: Sample) -> list[int | None]:
    """What a step may read of ``sample`` besides its frames' bytes: onset, apex (``None`` when not annotated), offset
    and the number of frames, so that an annotation that moves within the same files gives another cache key."""
    return [int(sample.onset), None if sample.apex is None else int(sample.apex), int(sample.offset),
            len(sample.frames)]


def _entry_key(chain: Chain, sample: Sample, digests_by_step: Sequence[Sequence[str]]) -> str:
    """The cache key of the chain's output for ``sample`` from the SHA-256 digests of the files each step reads and
    the sample's ``clip_place``, under the current ``FRAME_RULES`` and ``KEY_LAYOUT``."""
    return content_key(chain.signature(), [list(step) for step in digests_by_step],
                       {"frame_rules": FRAME_RULES, "key_layout": KEY_LAYOUT, "clip": clip_place(sample)})


class FrameHashes:
    """SHA-256 digests of frame files, remembered while a file's size, mtime and inode stay the same.

    Like git's index: a warm run stats the frames instead of reading them. Files
    modified in the last ``SETTLE_S`` seconds are not remembered (a coarse
    clock could hide a second change). Stored per dataset under
    ``preprocess/hashes/``; losing the file only costs re-hashing.
    """

    SETTLE_S = 2.0

    def __init__(self, path: Path | None):
        self.path = path
        self.known: dict[str, list[Any]] = {}
        self.forgotten: set[str] = set()
        self.dirty = False
        if path is not None:
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                self.known = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                pass

    def digest(self, path: Path, sample: Sample) -> str:
        """The SHA-256 hex digest of ``path``'s bytes."""
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise unopened_frame(path, sample, exc) from None
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        record = self.known.get(str(path))
        if _well_formed(record) and record[:3] == stamp:  # a damaged record is ignored: the file is hashed
            return str(record[3])
        digest = hashlib.sha256(read_bytes(path, sample)).hexdigest()
        if stat.st_mtime_ns < time.time_ns() - int(self.SETTLE_S * 1e9):
            self.known[str(path)] = [*stamp, digest]
            self.dirty = True
        return digest

    def forget(self, paths: Sequence[Path]) -> None:
        """Drop what is remembered of ``paths`` (a digest that proved stale), here and, at ``save``, in the file."""
        for path in paths:
            self.known.pop(str(path), None)
            self.forgotten.add(str(path))
        self.dirty = True

    def save(self) -> None:
        """Write the digests (merged with what another run wrote meanwhile)."""
        if self.path is None or not self.dirty:
            return
        merged = FrameHashes(self.path).known
        for name in self.forgotten - set(self.known):
            merged.pop(name, None)
        merged.update(self.known)
        write_cache_file(self.path, json.dumps(merged))
        self.dirty = False


def _well_formed(record: Any) -> bool:
    """Whether a remembered digest record is ``[size, mtime_ns, inode, hex digest]``."""
    return (isinstance(record, list) and len(record) == 4 and all(isinstance(v, int) for v in record[:3])
            and isinstance(record[3], str))


def sample_key(chain: Chain, sample: Sample, hashes: FrameHashes) -> str:
    """The cache key of ``sample`` under ``chain`` (equal to ``entry_key``'s, without reading unchanged files)."""
    return _entry_key(chain, sample, [[hashes.digest(path, sample) for path in listed]
                                      for listed in step_inputs(chain, sample)])


def entry_path(entry_dir: Path, key: str) -> Path:
    """Where the entry of ``key`` lives."""
    return entry_dir / key[:2] / f"{key}.npy"


def checksum_path(path: Path) -> Path:
    """The file beside an ``.npy`` array that holds the SHA-256 of its bytes."""
    return path.with_suffix(".sha256")


class Damaged(Exception):
    """A cache file that exists but fails its checksum or cannot be read; the message says what is wrong."""


def save_checked(path: Path, array: np.ndarray) -> None:
    """Store ``array`` as ``.npy`` with the SHA-256 of the file's bytes beside it (checksum first, array last)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    blob = buffer.getvalue()
    write_cache_file(checksum_path(path), hashlib.sha256(blob).hexdigest())
    write_cache_file(path, blob)  # last: an array that is there has its checksum (a killed run leaves no orphan)


def load_checked(path: Path) -> np.ndarray | None:
    """The array stored by ``save_checked``; ``None`` when it is missing, ``Damaged`` when its bytes are not those written."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Damaged(f"cannot be read ({exc.strerror})") from None
    try:
        expected = checksum_path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise Damaged("has no readable checksum") from None
    if hashlib.sha256(blob).hexdigest() != expected:
        raise Damaged("does not match its checksum")
    try:
        return np.load(io.BytesIO(blob), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise Damaged(f"is not a readable array ({exc})") from None


def load_entry(entry_dir: Path, key: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    """A stored entry and its notes, ``None`` when missing, ``Damaged`` when it exists but cannot be trusted."""
    path = entry_path(entry_dir, key)
    array = load_checked(path)
    if array is None:
        return None
    notes_path = path.with_suffix(".json")
    notes: dict[str, Any] = {}
    if notes_path.exists():
        try:
            notes = json.loads(notes_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise Damaged(f"has unreadable notes {notes_path.name}") from None
    return array, notes


def compute_sample(chain: Chain, sample: Sample, blobs: dict[Path, bytes]) -> tuple[np.ndarray, dict[str, Any]]:
    """Run the chain on one sample; returns its float32 output and the steps' notes.

    The steps get the sample without its label (``without_label``), and ``read_frame`` reads only files that the
    chain's ``inputs(sample)`` list (the cache key is made from them): anything else is a ``PluginError``
    naming the file and the step. What a frame step returns is checked as it returns (``_check_frame_step``, and
    its onset frame read), and its ``read`` is wrapped, so that a frame it cannot give, or gives in colour or as
    floats, is a ``PluginError`` naming it, though the next step asked for the frame.
    """
    listed = chain_inputs(chain, sample)
    allowed = set(listed) | {os.path.abspath(path) for path in listed}
    refused: list[PluginError] = []
    current = 0
    first: list[tuple[Path, np.ndarray]] = []  # the first frame decoded, whose size every other must have
    bad_frames: list[DataError] = []  # a data problem, not the step's, should the step fail on after catching it

    def read_frame(path: Path) -> np.ndarray:
        if path not in allowed and os.path.abspath(path) not in allowed:
            refused.append(PluginError(
                f"{chain.label(current)} read frame {path} for sample {sample.id}, which inputs(sample) of "
                f"preprocess={chain.names} does not list; the listed files make up the cache key, so a file left "
                "out would let different samples share one cached output: list every file the step reads (fix the "
                "preprocessor or report it to the plugin's author)"
            ))
            raise refused[-1]
        try:
            if path not in blobs:
                blobs[path] = read_bytes(path, sample)
            try:
                frame = decode_frame(path, blobs[path])
            except DataError as exc:  # the file alone is named there: say whose frame it is
                raise DataError(f"sample {sample.id}: {exc}") from None
            if not first:
                first.append((path, frame))
            elif frame.shape != first[0][1].shape:
                raise DataError(f"sample {sample.id}: frame {path} {frame_size_problem(sample, frame, *first[0])}: "
                                f"{_frame_fix(path)}")
        except DataError as exc:
            bad_frames.append(exc)
            raise
        return frame

    blind, hidden = without_label(sample)

    def read_of(index: int, read: Callable[[int], np.ndarray]) -> Callable[[int], np.ndarray]:
        """The ``read`` of the frames step ``index`` returned, checked, so that a failure inside it, which the next
        step meets, is said to be this step's."""
        def checked(position: int) -> np.ndarray:
            nonlocal current
            reader, current = current, index  # read_frame, called from within, names this step too
            try:
                frame = read(position)
            except MerbenchError:
                raise
            except Exception as exc:
                if isinstance(exc, MemoryError):
                    raise
                refused.append(_label_used(chain, index, sample, "frames' read") if hidden.used
                               else _frame_read_failed(chain, index, reader, sample, position, exc))
                raise refused[-1] from exc
            finally:
                current = reader
            problem = _frame_problem(frame)
            if problem:
                refused.append(PluginError(
                    f"{chain.label(index)} gave frame {position} of sample {sample.id} (step {index + 1} of "
                    f"preprocess={chain.names}) as {problem}; {FRAME_STEP_FIX}"
                ))
                raise refused[-1]
            return frame

        return checked

    output: Any = None
    notes: dict[str, Any] = {}
    for index, step in enumerate(chain.steps):
        current = index
        try:
            output = step(blind, read_frame, output)
        except MerbenchError:  # a frame that cannot be read, an option refused: already said
            raise
        except Exception as exc:  # the plugin's own code: any failure is the plugin's
            if refused:
                raise refused[0] from exc
            if bad_frames:
                raise bad_frames[0] from exc
            if hidden.used:
                raise _label_used(chain, index, sample, "__call__") from exc
            raise PluginError(
                f"{chain.label(index)} failed on sample {sample.id} (step {index + 1} of preprocess={chain.names}): "
                f"{error_line(exc)}; check its options (--set {chain.specs[index].name}.KEY=VALUE; `merbench info` "
                "of the run's model shows its chain's), or report it to the plugin's author"
            ) from exc
        if refused:  # the step caught the refusal and went on
            raise refused[0]
        if hidden.used:
            raise _label_used(chain, index, sample, "__call__")
        if chain.specs[index].produces == FRAMES:
            _check_frame_step(chain, index, sample, output)
            output = dataclasses.replace(output, read=read_of(index, output.read), apex=int(output.apex),
                                         notes=_stored_notes(chain, index, sample, output.notes))
            output.read(sample.onset)  # a frame of the wrong kind is this step's, not the next one's, to answer for
        if isinstance(output, ClipFrames):
            notes.update(output.notes)
    if chain.produces == FRAMES:
        raise UsageError(
            f"preprocess={chain.names} ends in a frame step that gives '{chain.produces}', not an array; "
            "end the chain with a step that makes model input, e.g. flow or apex-frame"
        )
    return _model_input(chain, sample, output), notes


FRAME_STEP_FIX = ("a frame step (it produces 'frames') returns ClipFrames.of(sample, read_frame, upstream) or its "
                  ".derive(read=..., apex=...), whose read(i) gives frame i of sample.frames as a grey uint8 array "
                  "shaped (H, W): fix the preprocessor or report it to the plugin's author")


def _stored_notes(chain: Chain, index: int, sample: Sample, notes: Any) -> dict[str, Any]:
    """The notes frame step ``index`` returned, as they are stored with the cache entry (JSON): numpy numbers (an apex
    found with ``np.argmax``) as plain ones; ``PluginError`` naming the step for notes JSON cannot hold."""
    try:
        plain = {key: value.item() if isinstance(value, np.generic) else value for key, value in dict(notes).items()}
        json.dumps(plain, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{chain.label(index)} returned notes for sample {sample.id} (step {index + 1} of "
                          f"preprocess={chain.names}) that cannot be stored ({error_line(exc)}); a note is text, a "
                          "number, true/false or null, keyed by text: fix the preprocessor or report it to the "
                          "plugin's author") from exc
    return plain


def _check_frame_step(chain: Chain, index: int, sample: Sample, output: Any) -> None:
    """Refuse what frame step ``index`` returned when it is no ``ClipFrames`` or its apex is no index of the sample's
    frames (``PluginError`` naming the step): the next step would fail on it, and be blamed."""
    where = f"for sample {sample.id} (step {index + 1} of preprocess={chain.names})"
    if not isinstance(output, ClipFrames):
        raise PluginError(f"{chain.label(index)} returned {_described(output)} {where}, not a ClipFrames; "
                          f"{FRAME_STEP_FIX}")
    apex, count = output.apex, len(sample.frames)
    if isinstance(apex, bool) or not isinstance(apex, numbers.Integral) or not 0 <= apex < count:
        raise PluginError(f"{chain.label(index)} returned the apex {apex!r} {where}, which is not an index of its "
                          f"{counted(count, 'frame')} (0 to {count - 1}); the apex must be a position in "
                          f"sample.frames: fix the preprocessor or report it to the plugin's author")


def _frame_read_failed(chain: Chain, index: int, reader: int, sample: Sample, position: int,
                       exc: Exception) -> PluginError:
    """The error of a frame step's ``read`` that raised ``exc`` for frame ``position``, called by step ``reader``."""
    by = f", called by step {reader + 1} ('{chain.specs[reader].name}')," if reader != index else ""
    return PluginError(
        f"{chain.label(index)} failed on sample {sample.id} (step {index + 1} of preprocess={chain.names}): the "
        f"read({position}) of the frames it returned{by} raised {error_line(exc)}; its read(i) must give frame i of "
        "sample.frames for every i the clip has: fix the preprocessor or report it to the plugin's author"
    )


def _frame_problem(frame: Any) -> str | None:
    """What ``frame``, read from a frame step's output, is when it is not a grey uint8 (H, W) array; else None."""
    if isinstance(frame, np.ndarray) and frame.ndim == 2 and frame.dtype == np.uint8:
        return None
    return _described(frame)


def _described(value: Any) -> str:
    """``value`` as a message names what a plugin gave: ``an array of shape (8, 8, 3) (float32)``, ``a list``."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {tuple(value.shape)} ({value.dtype})"
    return "None" if value is None else f"a {type(value).__name__}"


def frame_size_problem(sample: Sample, frame: np.ndarray, seen: Path, seen_frame: np.ndarray) -> str:
    """Why ``frame`` cannot be used beside ``seen_frame`` (file ``seen``) of the same clip: another size
    (``is 4×4 pixels but the onset frame …/img41.jpg is 48×32; ...``); ``merbench datasets check`` reports the same
    words.

    Steps compare a clip's frames pixel by pixel (flow, a crop box found on the onset frame), so a frame that
    was resized or cropped on its own would be stretched or cut at the wrong place without a word.
    """
    def size(image: np.ndarray) -> str:
        return f"{image.shape[1]}×{image.shape[0]}"

    role = "the onset frame " if Path(seen) == Path(sample.frames[sample.onset]) else ""
    return (f"is {size(frame)} pixels but {role}{seen} is {size(seen_frame)}; every frame of a clip must have one "
            "size (was one resized or cropped on its own?)")


def _model_input(chain: Chain, sample: Sample, output: Any) -> np.ndarray:
    """The chain's last output as float32 (C, H, W), or ``PluginError`` naming the step when it is not that."""
    shape = getattr(output, "shape", None)
    dtype = getattr(output, "dtype", None)
    if (not isinstance(output, np.ndarray) or output.ndim != 3
            or not (np.issubdtype(output.dtype, np.number) or output.dtype == np.bool_)):
        if shape is None:
            what = f"a {type(output).__name__}"
        elif isinstance(output, np.ndarray):
            what = f"an array of shape {tuple(shape)} ({dtype})"
        else:  # a torch tensor: its shape may be right, its type is not
            kind = f"{type(output).__module__.split('.')[0]}.{type(output).__name__}"
            what = f"a {kind} of shape {tuple(shape)}, not a numpy array,"
        raise PluginError(
            f"{chain.label(-1)} returned {what} for sample {sample.id}; a chain's last step must return model input "
            "as a numpy array of numbers shaped (C, H, W): fix the preprocessor or report it to the plugin's author"
        )
    if np.issubdtype(output.dtype, np.complexfloating):  # float32 would drop the imaginary part with a mere warning
        raise PluginError(
            f"{chain.label(-1)} returned complex numbers ({output.dtype}) for sample {sample.id}; model input must be "
            "real numbers: return their magnitude (np.abs) or the parts as channels, as float32 (fix the "
            "preprocessor or report it to the plugin's author)"
        )
    if 0 in output.shape:  # an empty array would only fail inside the model, blamed on it
        raise PluginError(
            f"{chain.label(-1)} returned an empty array of shape {tuple(output.shape)} for sample {sample.id}; model "
            "input needs at least one channel, row and column: fix the preprocessor or report it to the plugin's "
            "author"
        )
    converted = np.ascontiguousarray(output, dtype=np.float32)
    finite = np.isfinite(converted)
    if not finite.all():  # found here, before it is cached, rather than as NaN loss at training time
        raise PluginError(
            f"{chain.label(-1)} returned NaN or infinity for sample {sample.id} ({finite.size - int(finite.sum())} of "
            f"{finite.size} values, in float32); model input must be finite numbers: fix the preprocessor or report "
            "it to the plugin's author"
        )
    return converted


def store_entry(entry_dir: Path, key: str, output: np.ndarray, notes: Mapping[str, Any]) -> None:
    """Write one entry atomically: its notes first, then the array that marks it complete."""
    path = entry_path(entry_dir, key)
    if notes:
        write_cache_file(path.with_suffix(".json"), json.dumps(notes, sort_keys=True))
    save_checked(path, output)


# ------------------------------------------------------------------ worker processes

_worker_chain: Chain | None = None
FRAMES_CHANGED = "frames_changed"
"""The note a worker returns for a clip whose files did not give the key it was looked up under."""


def _worker_start(specs: Sequence[PreprocessorPlugin], sections: Mapping[str, Mapping[str, Any]],
                  labels: Sequence[str] = (), builtin: Sequence[bool] = ()) -> None:
    global _worker_chain
    cv2.setNumThreads(1)
    _worker_chain = build_chain(specs, sections, labels, builtin)


class FramesChanged(DataError):
    """A sample's files no longer give the key it was looked up under: changed while preprocessing ran, or a
    remembered digest that is stale (a file rewritten in place with its size, time and inode kept)."""


def compute_and_store(chain: Chain, sample: Sample, key: str, entry_dir: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Compute one sample from its files, check they still match ``key``, and store the entry."""
    fresh_key, blobs = entry_key(chain, sample)
    if fresh_key != key:
        raise FramesChanged(f"sample {sample.id}: its frames changed while preprocessing ran; run again")
    output, notes = compute_sample(chain, sample, blobs)
    store_entry(entry_dir, key, output, notes)
    return output, notes


def _worker_compute(jobs: list[tuple[int, Sample, str]], entry_dir: Path, skip: bool) -> list[tuple[int, np.ndarray | None, dict[str, Any]]]:
    assert _worker_chain is not None
    done: list[tuple[int, np.ndarray | None, dict[str, Any]]] = []
    for index, sample, key in jobs:
        try:
            output, notes = compute_and_store(_worker_chain, sample, key, entry_dir)
        except FramesChanged:  # the run's process looks again, with the frames hashed afresh
            done.append((index, None, {FRAMES_CHANGED: True}))
            continue
        except DataError as exc:
            if not skip:
                raise
            done.append((index, None, {"error": str(exc)}))
            continue
        done.append((index, output, notes))
    return done


def resolve_workers(workers: int) -> int:
    """The number of worker processes for ``workers`` (0 = every usable core)."""
    if workers < 0:
        raise UsageError(f"engine.preprocess_workers={workers}: use 0 (every core) or a positive number")
    return usable_cores() if workers == 0 else workers


WORKER_DIED = ("a preprocessing worker process died (killed: by `kill`, or by the system when memory ran out; or it "
               "could not start: " + WORKER_START_HINT
               + "); the clips it finished are cached: run again, or with --set engine.preprocess_workers=1 to "
               "compute in one process")


def _compute_alongside(
    chain: Chain,
    todo: list[tuple[int, Sample, str]],
    compute_here: Callable[[int, Sample, str], None],
    processes: int,
    deliver: Callable[[int, np.ndarray | None, dict[str, Any]], None],
    entry_dir: Path,
    skip: bool,
) -> None:
    """Compute ``todo`` in this process and ``processes - 1`` worker processes at once.

    The workers take small chunks from the front, this process single clips
    from the back, so clips get done while the workers are still starting (their
    fork server may still be importing torch), and the last ones finish close together. Each worker has at most two chunks
    queued, so the front never runs far ahead of what it can do.
    """
    remaining = deque(todo)
    workers = processes - 1
    chunk = max(1, min(4, math.ceil(len(todo) / (processes * 8))))
    in_flight: set[Future] = set()
    start = (list(chain.specs), dict(chain.sections), list(chain.labels), list(chain.builtin))
    with running(start_pool(workers, _worker_start, start), WORKER_DIED) as pool:
        while remaining or in_flight:
            while remaining and len(in_flight) < 2 * workers:
                jobs = [remaining.popleft() for _ in range(min(chunk, len(remaining)))]
                in_flight.add(submit(pool, _worker_compute, jobs, entry_dir, skip))
            if remaining:
                compute_here(*remaining.pop())
                finished = {future for future in in_flight if future.done()}
            else:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                in_flight.discard(future)
                for index, output, notes in result_of(future, WORKER_DIED):
                    deliver(index, output, notes)


# ------------------------------------------------------------------------ the index


def index_dir(entry_dir: Path) -> Path:
    """The folder of per-(dataset, chain) indexes and stacked outputs."""
    return entry_dir / "index"


def _index_key(dataset: Dataset, keys: Sequence[str | None]) -> str:
    return content_key("index", dataset.name, list(keys))[:24]


@dataclass
class _Bundle:
    stacked: np.ndarray
    kept: list[int]
    notes: list[dict[str, Any]]
    skipped: dict[int, str]


def _load_bundle(entry_dir: Path, index_key: str, n_samples: int) -> _Bundle | None:
    """The stacked outputs of a dataset, ``None`` when missing or stale, ``Damaged`` when they fail their checksum."""
    folder = index_dir(entry_dir)
    stacked = load_checked(folder / f"{index_key}.npy")
    if stacked is None:
        return None
    try:
        meta = json.loads((folder / f"{index_key}.json").read_text(encoding="utf-8"))
        bundle = _Bundle(stacked, [int(i) for i in meta["kept"]], list(meta["notes"]),
                         {int(i): str(m) for i, m in meta.get("skipped", {}).items()})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (stacked.shape[0] == len(bundle.kept) == len(bundle.notes) and len(bundle.kept) + len(bundle.skipped) == n_samples):
        return None
    return bundle


def _write_index(entry_dir: Path, index_key: str, dataset: Dataset, chain: Chain, keys: Sequence[str | None],
                 bundle: _Bundle) -> None:
    folder = index_dir(entry_dir)
    save_checked(folder / f"{index_key}.npy", bundle.stacked)
    meta = {
        "dataset": dataset.name,
        "chain": chain.names,
        "signature": chain.signature(),
        "produces": chain.produces,
        "shape": list(bundle.stacked.shape[1:]),
        "samples": [sample.id for sample in dataset.samples],
        "clips": len({sample.clip_id for sample in dataset.samples}),  # fewer where a protocol made several of one
        "entries": [key for key in keys if key is not None],
        "kept": bundle.kept,
        "notes": bundle.notes,
        "skipped": {str(i): message for i, message in bundle.skipped.items()},
        "merbench": __version__,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_cache_file(folder / f"{index_key}.json", json.dumps(meta))


def summarise_notes(samples: Sequence[Sample], notes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts of each text note (``crop``, ``apex_rule``...) and per-clip apex frames when chosen by a rule.

    ``apex_frames`` names each chosen frame by its file name (``image000124.bmp``), which a reader can open and
    check; the notes hold its position in the clip's list of frame files, which skips any frame missing on disk.
    """
    counts: dict[str, dict[str, int]] = {}
    apex_frames: dict[str, str] = {}
    for sample, sample_notes in zip(samples, notes):
        for key, value in sample_notes.items():
            if isinstance(value, str):
                bucket = counts.setdefault(key, {})
                bucket[value] = bucket.get(value, 0) + 1
        if sample_notes.get("apex_rule") not in (None, "annotated") and "apex" in sample_notes:
            position = int(sample_notes["apex"])
            if 0 <= position < len(sample.frames):
                apex_frames[sample.id] = Path(sample.frames[position]).name
    summary: dict[str, Any] = {f"{key}_counts": value for key, value in sorted(counts.items())}
    if apex_frames:
        summary["apex_frames"] = apex_frames
    return summary


NO_FACE = " (no face found)"
"""How the ``crop`` step notes a clip in which its detector found no face (``centre (no face found)``)."""


def no_face_warning(chain: Chain, details: Mapping[str, Any]) -> str | None:
    """One line when the ``crop`` step's face detector found no face in more than half of the clips, which then
    took ``crop.fallback`` (a centre crop, or none): the chain says crop, but the model reads no face crops.
    ``None`` otherwise, and when no detector ran (``crop.detector=centre`` or ``none``)."""
    options = chain.sections.get("crop")
    counts = details.get("crop_counts")
    if options is None or not isinstance(counts, Mapping):
        return None
    total = sum(counts.values())
    missed = sum(n for how, n in counts.items() if str(how).endswith(NO_FACE))
    if not missed or 2 * missed <= total:
        return None
    cascade = str(options.get("cascade") or "")
    which = f"crop.cascade={cascade}" if cascade else "OpenCV's installed haarcascade_frontalface_default.xml"
    fallback = str(options.get("fallback", "centre"))
    done = "centre-cropped" if fallback == "centre" else "left uncropped"
    return (f"crop: the Haar cascade ({which}) found no face in {missed} of {counted(total, 'clip')}; they were "
            f"{done} (crop.fallback={fallback}), so the model reads no face crop there; give a frontal-face "
            "cascade (haarcascade_frontalface_default.xml), or choose crop.detector=centre")


# ------------------------------------------------------------------------ the runner


def damaged_warning(damaged: Mapping[str, str]) -> str:
    """One line naming the damaged cache files (path: what is wrong) that were recomputed."""
    path, problem = next(iter(damaged.items()))
    more = f" and {len(damaged) - 1} more" if len(damaged) > 1 else ""
    return f"cache: {path} {problem}{more}; ignored and recomputed"


def skipped_clips_text(skipped: Mapping[str, Any], shown: int = 8) -> str:
    """One line on the clips left out as unusable (``details["skipped"]``: a frame that cannot be read or decoded,
    or of another size or bit depth): how many, which (by id), and the first one's reason (the result keeps every
    reason)."""
    clips = dict(skipped["clips"])
    named = f": {some_of(list(clips), shown)}" if len(clips) > 1 else ""
    return (f"skipped {counted(skipped['count'], 'clip')} with unusable frames (dataset.strict is off){named}; "
            f"{'first: ' if named else ''}{next(iter(clips.values()))}")


def skips_unreadable(dataset_options: Mapping[str, Any]) -> bool | None:
    """Whether clips with unusable frames are skipped: only when the dataset has ``strict`` set off. ``None`` (not
    skipped either) for a dataset without a ``strict`` option, whose errors then give no advice to set it
    (``preprocess_dataset``'s ``skip_unreadable``)."""
    if "strict" not in dataset_options:
        return None
    strict = dataset_options["strict"]
    if isinstance(strict, str):
        return strict.strip().lower() in ("false", "no", "0", "off")
    return not strict


def preprocess_dataset(
    dataset: Dataset,
    chain: Chain,
    on_progress: Callable[[int], None] | None = None,
    cache_dir: Path | None = None,
    workers: int = 0,
    skip_unreadable: bool | None = False,
    on_warning: Callable[[str], None] | None = None,
) -> PreprocessResult:
    """Run the chain over every sample, reusing cached outputs; compute the rest in parallel.

    ``workers`` is the number of processes (0: every core; 1: in this process).
    ``on_progress(n)`` is called as clips are done (cached ones at once). A clip
    whose frames cannot be read or decoded (or are of another size or bit depth
    than merbench reads) raises ``DataError`` naming the file, or with
    ``skip_unreadable`` is left out, counted and named in
    ``details["skipped"]`` (``PreprocessResult.dataset`` then holds the kept clips).
    ``skip_unreadable`` is what ``skips_unreadable`` gives: ``None`` for a dataset
    without a ``strict`` option, whose errors then do not advise setting
    ``dataset.strict=false``, which it would refuse.
    A cache file that fails its checksum is recomputed, listed in
    ``details["damaged_cache"]`` and reported in one line to ``on_warning``; so is
    a crop whose detector found no face in most clips (``details["crop_warning"]``).
    """
    try:
        return _preprocess_dataset(dataset, chain, on_progress, cache_dir, workers, bool(skip_unreadable), on_warning)
    except DataError as exc:
        if skip_unreadable is None and SKIP_CLIP in str(exc):
            raise DataError(skip_reason(str(exc))) from exc
        raise


def _preprocess_dataset(
    dataset: Dataset,
    chain: Chain,
    on_progress: Callable[[int], None] | None,
    cache_dir: Path | None,
    workers: int,
    skip_unreadable: bool,
    on_warning: Callable[[str], None] | None,
) -> PreprocessResult:
    """``preprocess_dataset`` (``skip_unreadable`` true or false)."""
    entry_dir = (cache_dir or cache_root()) / "preprocess"
    workers = resolve_workers(workers)
    start = time.perf_counter()
    samples = dataset.samples
    hashes = FrameHashes(entry_dir / "hashes" / f"{content_key('hashes', dataset.name)[:16]}.json")
    keys: list[str | None] = []
    skipped: dict[int, str] = {}
    first_of_key: dict[str, int] = {}
    for index, sample in enumerate(samples):
        key: str | None
        try:
            key = sample_key(chain, sample, hashes)
            first = first_of_key.setdefault(key, index)
            if samples[first].clip_id != sample.clip_id:
                raise DataError(same_input_files(samples[first], sample) + SKIP_CLIP)
        except DataError as exc:
            if not skip_unreadable:
                raise
            key = None
            skipped[index] = skip_reason(str(exc))
        keys.append(key)
    index_key = _index_key(dataset, keys)
    computed = 0
    used_workers = 1

    damaged: dict[str, str] = {}
    try:
        bundle = _load_bundle(entry_dir, index_key, len(samples))
    except Damaged as exc:
        bundle, damaged[str(index_dir(entry_dir) / f"{index_key}.npy")] = None, str(exc)
    if bundle is not None and bundle.skipped and not skip_unreadable:
        # An index written by a run that skipped unreadable clips (dataset.strict off) while this run must refuse
        # them: the kept clips come from their cached entries, the skipped ones are computed again and stop it.
        bundle = None
    if bundle is not None:
        if on_progress:
            on_progress(len(samples))
    else:
        outputs: list[np.ndarray | None] = [None] * len(samples)
        notes: list[dict[str, Any]] = [{} for _ in samples]
        todo: list[tuple[int, Sample, str]] = []
        for index, (sample, key) in enumerate(zip(samples, keys)):
            try:
                stored = load_entry(entry_dir, key) if key is not None else None
            except Damaged as exc:
                stored, damaged[str(entry_path(entry_dir, key))] = None, str(exc)
            if stored is not None:
                outputs[index], notes[index] = stored
            elif key is not None:
                todo.append((index, sample, key))
                continue
            if on_progress:
                on_progress(1)

        def deliver(index: int, output: np.ndarray | None, sample_notes: dict[str, Any]) -> None:
            if sample_notes.get(FRAMES_CHANGED):
                again(index)
                return
            if output is None:
                skipped[index] = skip_reason(str(sample_notes.get("error", "unreadable")))
            else:
                outputs[index], notes[index] = output, sample_notes
            if on_progress:
                on_progress(1)

        def again(index: int) -> None:
            """The remembered digests of a clip's files proved stale: hash the files afresh and compute it once more
            (a second mismatch means they are changing while this runs)."""
            sample = samples[index]
            hashes.forget(chain_inputs(chain, sample))
            try:
                keys[index] = sample_key(chain, sample, hashes)
            except DataError as exc:  # a file that went away meanwhile
                if not skip_unreadable:
                    raise
                deliver(index, None, {"error": str(exc)})
                return
            compute_here(index, sample, keys[index], retry=False)

        def compute_here(index: int, sample: Sample, key: str, retry: bool = True) -> None:
            try:
                output, sample_notes = compute_and_store(chain, sample, key, entry_dir)
            except FramesChanged:
                if retry:
                    again(index)
                    return
                if not skip_unreadable:
                    raise
                deliver(index, None, {"error": f"sample {sample.id}: its frames changed while preprocessing ran; "
                                               "run again"})
            except DataError as exc:
                if not skip_unreadable:
                    raise
                deliver(index, None, {"error": str(exc)})
            else:
                deliver(index, output, sample_notes)

        # Time the first clips here; let worker processes help with the rest only
        # when it would take clearly longer than starting them does.
        probe_started = time.perf_counter()
        position = 0
        with opencv_threads(1):
            while position < len(todo):
                if position >= PROBE_CLIPS and workers > 1:
                    per_clip = (time.perf_counter() - probe_started) / position
                    remaining = len(todo) - position
                    if remaining >= MIN_PARALLEL and per_clip * remaining > PARALLEL_WORTH_S and picklable(
                        list(chain.specs), dict(chain.sections)
                    ):
                        used_workers = min(workers, remaining)
                        _compute_alongside(chain, todo[position:], compute_here, used_workers, deliver, entry_dir,
                                           skip_unreadable)
                        break
                compute_here(*todo[position])
                position += 1
        computed = len(todo) - sum(1 for index, _, _ in todo if index in skipped)
        kept = [i for i in range(len(samples)) if i not in skipped]
        if not kept:
            first = skipped[min(skipped)]
            raise DataError(f"no clip of dataset '{dataset.name}' could be preprocessed ({len(skipped)} with unusable frames); the first: {first}")
        reference = outputs[kept[0]]
        assert reference is not None
        for index in kept:
            output = outputs[index]
            assert output is not None
            if output.shape != reference.shape:
                last = chain.specs[-1]
                fix = (f"; its last step, '{last.name}', takes a size: --set {last.name}.size=N resizes every "
                       "clip to N x N" if "size" in (last.options or {}) else
                       ": fix the preprocessor or report it to the plugin's author")
                raise DataError(
                    f"{chain.label(-1)}, the last step of preprocess={chain.names}: sample {samples[index].id}: "
                    f"preprocessed shape {output.shape} differs from {reference.shape} (sample "
                    f"{samples[kept[0]].id}'s); the chain must produce one size for every clip{fix}"
                )
        bundle = _Bundle(np.stack([outputs[i] for i in kept]), kept, [notes[i] for i in kept], dict(sorted(skipped.items())))
        index_key = _index_key(dataset, keys)  # a key found stale and looked up again changes the index's
        _write_index(entry_dir, index_key, dataset, chain, keys, bundle)
    hashes.save()

    kept_samples = tuple(samples[i] for i in bundle.kept)
    details: dict[str, Any] = {"chain": chain.signature(), "produces": chain.produces}
    for step in chain.steps:
        if hasattr(step, "run_details"):
            for key, value in step.run_details(kept_samples).items():
                details.setdefault(key, value)  # the first step that decides (e.g. apex) wins
    details.update(summarise_notes(kept_samples, bundle.notes))
    details["workers"] = used_workers
    no_face = no_face_warning(chain, details)
    if no_face:
        details["crop_warning"] = no_face  # kept with a run's result, whose warnings `merbench show` prints
        if on_warning:
            on_warning(no_face)
    if damaged:
        details["damaged_cache"] = damaged
        if on_warning:
            on_warning(damaged_warning(damaged))
    if bundle.skipped:
        details["skipped"] = {
            "count": len(bundle.skipped),
            "clips": {samples[i].id: message for i, message in bundle.skipped.items()},
        }
    return PreprocessResult(
        inputs=bundle.stacked,
        computed=computed,
        cached=len(bundle.kept) - computed,
        seconds=time.perf_counter() - start,
        details=details,
        workers=used_workers,
        dataset=with_samples(dataset, kept_samples) if bundle.skipped else dataset,
    )


def with_samples(dataset: Dataset, samples: Sequence[Sample]) -> Dataset:
    """``dataset`` with only ``samples`` (a subset of its own, e.g. without the clips skipped as unreadable).

    A class left without samples is dropped and the labels renumbered, as a loader lists only the classes its tree
    has (a class no sample has would count as a zero in per-class averages such as macro F1); the summary's
    ``class_counts`` follow, and ``classes_without_samples`` names the dropped ones.
    """
    present = sorted({sample.label for sample in samples})
    renumbered = {old: new for new, old in enumerate(present)}
    classes = tuple(dataset.classes[old] for old in present)
    kept = tuple(sample if renumbered[sample.label] == sample.label else dataclasses.replace(
        sample, label=renumbered[sample.label]) for sample in samples)
    summary = dict(dataset.summary)
    counts = {name: 0 for name in classes}
    for sample in kept:
        counts[classes[sample.label]] += 1
    summary["class_counts"] = counts
    dropped = [name for name in dataset.classes if name not in classes]
    if dropped:
        summary["classes_without_samples"] = dropped
    return dataclasses.replace(dataset, classes=classes, samples=kept, summary=summary)
