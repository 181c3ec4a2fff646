"""Training and evaluating one fold of a torch model on device-resident tensors.

The whole preprocessed dataset is one tensor on the chosen device; batches are
indexed from it, so no file is read after preprocessing. The test part of a
fold is used exactly once, to predict after the last epoch (with
``engine.early_stopping``, with the weights of the epoch that scored best on
validation subjects carved from the fold's training subjects): there is no epoch
selection on it and the channel standardisation uses training samples only.
Two leaky variants exist only to measure what such shortcuts add
(``merbench leakage``, docs/leakage.md) and are flagged in every result:
``engine.select_on=test`` keeps the epoch with the best UF1 on the fold's own
test samples, ``engine.normalise_on=all`` standardises with statistics of all
samples, test samples included.
A model whose factory returns a scikit-learn style estimator instead of a torch
module is handed to ``merbench.estimator`` by ``train_fold``.
"""

from __future__ import annotations

import errno
import math
import os
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from merbench.allocator import keep_freed_memory
from merbench.compiled_models import CACHE as COMPILED, architecture_key
from merbench.contracts import Fold, FoldOutput
from merbench.environment import cpuinfo_field
from merbench.errors import (MerbenchError, PluginError, PredictionFailed, RunFailed, UsageError, checkpoint_refusal,
                             early_stopping_without_epochs, error_line)
from merbench.estimator import fit_predict_fold
from merbench.metrics import unweighted_f1_recall
from merbench.wording import TEST_SAMPLES_INCLUDED, counted, model_options_hint, number_text


@dataclass(frozen=True)
class DeviceChoice:
    """The device a run uses, whether it uses mixed precision, and why."""

    device: torch.device
    amp_dtype: torch.dtype | None
    description: str


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware through oneDNN (AVX-512 BF16 or AMX).

    Asks oneDNN through a private torch operator; where a torch release lacks
    it, the CPU's flags in ``/proc/cpuinfo`` answer instead.
    """
    if not torch.backends.mkldnn.is_available():
        return False
    probe = _onednn_bf16_probe()
    if probe is not None:
        try:
            return bool(probe())
        except RuntimeError:
            pass
    return cpu_flags_have_bf16(cpu_flags())


def _onednn_bf16_probe() -> Callable[[], Any] | None:
    try:
        return torch.ops.mkldnn._is_mkldnn_bf16_supported
    except (AttributeError, RuntimeError):  # a torch release without this private operator
        return None


def cpu_flags() -> set[str]:
    """The feature flags of this machine's first CPU in ``/proc/cpuinfo`` (empty where there is none)."""
    return set((cpuinfo_field("flags") or "").split())


def cpu_flags_have_bf16(flags: set[str]) -> bool:
    """Whether CPU feature ``flags`` include bfloat16 arithmetic (AVX-512 BF16 or AMX BF16)."""
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def cuda_amp_dtype(device: torch.device) -> torch.dtype:
    """The mixed-precision type for CUDA ``device``: bfloat16 from compute capability 8.0 (Ampere) on, float16 (with a
    gradient scaler) before it. ``torch.cuda.is_bf16_supported()`` also says yes to older GPUs, where bfloat16 is
    emulated, and asks the current device rather than ``device``."""
    return torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16


def cuda_choice(device: torch.device, amp: str, reason: str) -> DeviceChoice:
    """The ``DeviceChoice`` of CUDA ``device`` (``engine.amp`` ``amp``; ``off``: float32), described with the GPU's
    name, its precision and ``reason``: the run's own device, or the GPU a Ray task was given."""
    dtype = cuda_amp_dtype(device) if amp != "off" else None
    precision = f"mixed precision {str(dtype).replace('torch.', '')}" if dtype else "float32"
    return DeviceChoice(device, dtype, f"cuda ({torch.cuda.get_device_name(device)}, {precision}; {reason})")


def choose_device(requested: str, amp: str = "auto") -> DeviceChoice:
    """Resolve ``--device auto|cpu|cuda[:N]`` and ``engine.amp`` into a ``DeviceChoice``.

    On CUDA, ``auto`` and ``on`` train in mixed precision. On the CPU, ``on``
    trains under bfloat16 autocast (float32 weights) where the CPU has bf16, and
    ``auto`` stays float32: bf16 autocast was not reliably faster for the
    built-in models on an AVX-512 BF16 CPU (docs/scale.md).
    """
    cuda = torch.cuda.is_available()
    if requested.startswith("cuda") and not cuda:
        raise UsageError(f"--device {requested}: no CUDA device is available here (torch {torch.__version__}); use --device cpu or auto")
    if requested == "auto":
        requested = "cuda" if cuda else "cpu"
        reason = "CUDA found" if cuda else "no CUDA device found"
    else:
        reason = "requested"
    device = torch.device(requested)
    if device.type == "cuda":
        visible = torch.cuda.device_count()
        if device.index is not None and device.index >= visible:
            raise UsageError(f"--device {requested}: this process sees {counted(visible, 'CUDA device')} (cuda:0"
                             f"{f' to cuda:{visible - 1}' if visible > 1 else ''}; CUDA_VISIBLE_DEVICES="
                             f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')} renumbers them from 0); give one of "
                             "those, or --device cuda")
        return cuda_choice(device, amp, reason)
    if amp == "on":
        if not cpu_has_bf16():
            raise UsageError("engine.amp=on on the CPU needs bfloat16 support (AVX-512 BF16 or AMX), which this CPU "
                             "lacks; use engine.amp=auto or off, or --device cuda")
        return DeviceChoice(device, torch.bfloat16,
                            f"cpu ({counted(torch.get_num_threads(), 'thread')}, mixed precision bfloat16; {reason})")
    return DeviceChoice(device, None, f"cpu ({counted(torch.get_num_threads(), 'thread')}, float32; {reason})")


@dataclass(frozen=True)
class TrainSettings:
    """Resolved ``engine.*`` options."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    label_smoothing: float
    class_weighting: str
    early_stopping: int = 0
    validation_fraction: float = 0.2
    compile: bool = False
    channels_last: bool = True
    select_on: str = "validation"
    normalise_on: str = "train"

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "TrainSettings":
        """Build from the ``engine`` section of a run config."""
        return cls(
            epochs=int(options["epochs"]),
            batch_size=int(options["batch_size"]),
            lr=float(options["lr"]),
            weight_decay=float(options["weight_decay"]),
            label_smoothing=float(options["label_smoothing"]),
            class_weighting=str(options["class_weighting"]),
            early_stopping=int(options["early_stopping"]),
            validation_fraction=float(options["validation_fraction"]),
            compile=bool(options.get("compile", False)),
            channels_last=bool(options.get("channels_last", True)),
            select_on=str(options.get("select_on", "validation")),
            normalise_on=str(options.get("normalise_on", "train")),
        )

    @property
    def selects_on_test(self) -> bool:
        """The leaky variant: the epoch with the best UF1 on the fold's own test samples is kept."""
        return self.select_on == "test"


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads (0: leave torch's setting), then restore the previous count."""
    previous = torch.get_num_threads()
    if count > 0:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# Test and validation samples are predicted in chunks of this many.
PREDICT_CHUNK = 256


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Optimizer steps per epoch; a last batch of one sample is dropped (BatchNorm cannot train on it)."""
    return max(1, n_train // batch_size + (n_train % batch_size > 1))


WARM_UP = 0.2
"""The fraction of a fold's steps over which ``one_cycle`` raises the learning rate."""


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float, total_steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """The learning-rate (and AdamW beta1) schedule of a fold: one cycle, 20 % warm-up.

    OneCycleLR divides by ``pct_start * total_steps - 1``, which is zero for 5
    steps; that one case warms up over 25 % instead.
    """
    pct_start = 0.25 if math.isclose(WARM_UP * total_steps, 1.0) else WARM_UP
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start)


def adamw(parameters: Iterable[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW, fused into one kernel where this torch and device support it (faster on the CPU too)."""
    parameters = list(parameters)
    try:
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an older torch, or a device without a fused kernel
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)


class EpochSelection:
    """Which epoch a fold keeps when it selects one by a score after every epoch, and when it stops.

    ``later_on_ties``: an epoch that ties the best score replaces it (early stopping on a validation split: while
    the warming-up model still predicts the same classes, the score stays flat and the model trained longer is
    kept); otherwise the first best stays, as the public code ``engine.select_on=test`` imitates does.
    ``patience`` > 0 stops after that many epochs without a better score, counted from the end of the learning
    rate's warm-up at the earliest (``warm_up_epochs``): a patience spent while the learning rate still rises
    would keep a barely trained model.
    """

    def __init__(self, patience: int, warm_up_epochs: int, later_on_ties: bool):
        self.patience, self.warm_up_epochs, self.later_on_ties = patience, warm_up_epochs, later_on_ties
        self.best_score, self.best_epoch = -1.0, None

    def improves(self, epoch: int, score: float) -> bool:
        """Record ``score`` of ``epoch`` (from 0); whether the fold should keep this epoch's model."""
        if score > self.best_score or (self.later_on_ties and score == self.best_score):
            self.best_score, self.best_epoch = score, epoch
            return True
        return False

    def stops_after(self, epoch: int) -> bool:
        """Whether training stops after ``epoch`` (from 0)."""
        if not self.patience or self.best_epoch is None:
            return False
        return epoch - max(self.best_epoch, self.warm_up_epochs - 1) >= self.patience


def channel_stats(inputs: torch.Tensor, train_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (1, C, 1, 1) of a fold's training samples, the only ones its normalisation sees."""
    train_inputs = inputs[train_index]
    return (train_inputs.mean(dim=(0, 2, 3), keepdim=True),
            train_inputs.std(dim=(0, 2, 3), keepdim=True).clamp(min=1e-6))


TRAIN_NORMALISATION = "channel mean/std of the training samples"
ALL_NORMALISATION = f"channel mean/std of ALL samples, {TEST_SAMPLES_INCLUDED} (engine.normalise_on=all: leaky)"


def normalisation_index(settings: TrainSettings, train_index: torch.Tensor, n_samples: int) -> tuple[torch.Tensor, str]:
    """The samples a fold's channel statistics come from, and that choice in words.

    The fold's training samples, or with ``engine.normalise_on=all`` (leaky)
    every sample of the dataset, the fold's test samples included.
    """
    if settings.normalise_on == "all":
        return torch.arange(n_samples, device=train_index.device), ALL_NORMALISATION
    return train_index, TRAIN_NORMALISATION


def fold_uf1(predicted: np.ndarray, truth: np.ndarray, n_classes: int) -> float:
    """UF1 of one fold's predictions (what selection on validation or, leaky, on test samples compares)."""
    matrix = np.bincount(truth * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    return unweighted_f1_recall(matrix)[0]


def diverged(fold_index: int, epoch: int, step: int, loss: float, lr: float, scores_of: str | None = None,
             mixed: bool = False) -> RunFailed:
    """The error for a training loss that stopped being finite (``epoch`` and ``step`` counted from 0).

    The learning rate is written as a user types it (``1e9``, ``0.002``), not as ``1000000000.0``. ``scores_of``: the
    model plugin whose scores at that step were already NaN or infinite, which a diverging training makes too
    (weights blown up by the steps before) as does a forward() that overflows; both are said.
    """
    lr_text = number_text(lr)
    model = (f"; the scores {scores_of} returned at that step were NaN or infinite: if a lower learning rate does not "
             f"help, its forward(){_overflow(mixed)}: fix it or report it to the plugin's author") if scores_of else ""
    return RunFailed(
        f"fold {fold_index + 1}, epoch {epoch + 1}, step {step + 1}: the training loss became {loss}; "
        f"training diverged. Lower the learning rate (now --set engine.lr={lr_text}) or check the inputs for NaN"
        + model
    )


def _overflow(mixed: bool) -> str:
    """What a forward() giving non-finite scores does, in words (``mixed``: under mixed precision)."""
    return " overflows or divides by zero" + (" (or overflows in mixed precision: try --set engine.amp=off)"
                                              if mixed else "")


def nonfinite_scores(fold_index: int, epoch: int, step: int, loss: float, plugin: str, mixed: bool = False) -> RunFailed:
    """The error for a training loss that was not finite at the first step, whose scores were already NaN or infinite
    (``epoch`` and ``step`` counted from 0): no weight has been updated yet, so the model plugin's output, not the
    learning rate; ``mixed``: the fold trained under mixed precision, whose narrower range may be the cause."""
    return RunFailed(
        f"fold {fold_index + 1}, epoch {epoch + 1}, step {step + 1}: {plugin} returned NaN or infinite scores before "
        f"any weight was updated, so the training loss became {loss}; its forward(){_overflow(mixed)}; fix the model "
        "plugin or report it to the plugin's author"
    )


def class_weights(labels: torch.Tensor, n_classes: int, mode: str) -> torch.Tensor | None:
    """Cross-entropy class weights from a fold's training labels (``balanced``) or ``None`` (``none``)."""
    if mode == "none":
        return None
    counts = torch.bincount(labels, minlength=n_classes).float()
    weights = counts.sum() / (n_classes * counts.clamp(min=1))
    return weights


def check_validation_holdout(fold_index: int, groups: np.ndarray, fraction: float) -> None:
    """Refuse a fold whose training subjects (``groups``) cannot give up ``fraction`` of themselves for validation
    and keep at least one to train on (``UsageError`` naming the fold, counted from 0, and the fix)."""
    count = len(np.unique(groups))
    if count < 2:
        raise UsageError(
            f"fold {fold_index + 1}: early stopping needs at least 2 training subjects to hold some out for validation; "
            "use --set engine.early_stopping=0"
        )
    held_out = math.ceil(fraction * count)  # how GroupShuffleSplit rounds a fraction of the subjects
    if held_out >= count:
        raise UsageError(
            f"fold {fold_index + 1}: engine.validation_fraction={fraction:g} holds out {held_out} of its {count} training "
            f"subjects for validation, leaving none to train on; lower it to at most "
            f"{math.floor(100 * (count - 1) / count) / 100:g} or use more subjects"
        )


def validation_split(fold: Fold, subjects: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split a fold's training part by subject into (inner training, validation) positions.

    Only training subjects are used, so selecting on the validation part never
    looks at the test part of the fold.
    """
    from sklearn.model_selection import GroupShuffleSplit

    groups = subjects[fold.train]
    check_validation_holdout(fold.index, groups, fraction)
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed % 2**32)  # a fold's seed may be larger
    inner, validation = next(splitter.split(fold.train, groups=groups))
    return fold.train[inner], fold.train[validation]


def epoch_loss(step_losses: list[torch.Tensor], batch_sizes: list[int], fold_index: int, epoch: int,
                lr: float, finite_scores: list[torch.Tensor] | None = None, plugin: str = "the model plugin",
                mixed: bool = False) -> float:
    """The epoch's mean training loss per sample; ``RunFailed`` naming the first step whose loss is not finite.

    The step losses stay on the device until the epoch ends, so a GPU is not
    stopped at every step to read one number (``train_fold`` and the batched
    fold trainer both call this once per epoch). ``finite_scores`` (one boolean
    tensor per step, whether the model's scores were all finite), read only
    for a step whose loss is not finite: scores already NaN or infinite at the
    first step, before any weight was updated, are the model ``plugin``'s fault;
    later, a diverging training makes them so too, and both causes are said.
    """
    total = 0.0
    for step, (value, size) in enumerate(zip(torch.stack(step_losses).float().tolist(), batch_sizes)):
        if not math.isfinite(value):
            scores_bad = finite_scores is not None and not bool(finite_scores[step])
            if scores_bad and epoch == 0 and step == 0:
                raise nonfinite_scores(fold_index, epoch, step, value, plugin, mixed)
            raise diverged(fold_index, epoch, step, value, lr, plugin if scores_bad else None, mixed)
        total += value * size
    return total / max(sum(batch_sizes), 1)


@contextmanager
def failures_named(plugin: str, fold_index: int, compiled: bool = False) -> Iterator[None]:
    """Turn an exception raised while a fold trains or predicts fold by fold (after its first batch, which
    ``first_forward`` checks) into one ``RunFailed`` line naming the fold, the exception and the code that raised
    it: the model plugin's, or merbench's own (then: report it to merbench). merbench's errors, running out of
    memory (GPU or host), a full disk, Ctrl-C and, under ``torch.compile`` (``compiled``), the compiler's errors
    pass as they are. ``--debug`` shows the whole traceback. Batched folds word their own failures
    (``merbench.folds.batched``)."""
    try:
        yield
    except (MerbenchError, torch.cuda.OutOfMemoryError, MemoryError):
        raise
    except SystemExit as exc:  # the plugin's sys.exit() is not merbench's exit (Ctrl-C still stops merbench)
        raise plugin_exit(exc, plugin, f"fold {fold_index + 1}") from exc
    except Exception as exc:
        if compiled or (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)):
            raise
        raise RunFailed(f"fold {fold_index + 1}: {code_failure(exc, plugin)}") from exc


def plugin_exit(exc: SystemExit, plugin: str, where: str) -> PluginError:
    """The error for a ``SystemExit`` raised while ``where`` (``fold 1``, ...) trained or predicted: the model
    plugin's code exited (``sys.exit``, a script's argument parsing), which must not end merbench."""
    frame = _innermost_outside_torch(exc)
    at = "" if frame is None else f" (at {frame.filename}:{frame.lineno} in {frame.name})"
    return PluginError(
        f"{where}: training or predicting with {plugin} raised {exc!r}{at}; a model must not exit: raise an exception "
        "where it cannot go on. Fix the model or report it to the plugin's author (run with --debug for the whole "
        "traceback)"
    )


def code_failure(exc: BaseException, plugin: str) -> str:
    """What raised ``exc`` while a fold trained, and whom to tell: ``<plugin> raised KeyError: ... (at FILE:LINE in
    FUNCTION); fix ...`` when the innermost frame outside torch is not merbench's own, else merbench's."""
    frame = _innermost_outside_torch(exc)
    where = "an unknown place" if frame is None else f"{frame.filename}:{frame.lineno} in {frame.name}"
    if frame is not None and Path(frame.filename).resolve().is_relative_to(Path(__file__).resolve().parent):
        return (f"merbench's training code raised {error_line(exc)} (at {where}) with {plugin}; please report it to "
                "merbench with the output of --debug")
    return (f"training or predicting with {plugin} raised {error_line(exc)} (at {where}); if that is the model's "
            "code, fix it or report it to the plugin's author (run with --debug for the whole traceback)")


def _innermost_outside_torch(exc: BaseException) -> traceback.FrameSummary | None:
    frames = traceback.extract_tb(exc.__traceback__)
    outside = [frame for frame in frames if f"{os.sep}torch{os.sep}" not in frame.filename] or frames
    return outside[-1] if outside else None


def plugin_label(build_model: Any) -> str:
    """Who builds the models of ``build_model`` (a ``ModelRecipe`` knows its plugin and distribution)."""
    return str(getattr(build_model, "plugin", "the model plugin"))


class ModelOptions(dict):
    """The model options a factory's build() gets: a plain dict (equal to one, picklable) that notes in ``missing``
    the keys build() looked up with ``options[key]`` and did not find, so that ``build_error`` tells a read of an
    undeclared option from any other ``KeyError`` build() raises."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.missing: set[Any] = set()

    def __missing__(self, key: Any) -> Any:
        self.missing.add(key)
        raise KeyError(key)


def build_error(plugin: str, exc: BaseException, options: ModelOptions | None = None) -> PluginError:
    """The one-line error for a model factory that raised ``exc`` (not a merbench error).

    A ``KeyError`` for a key that build() looked up in the ``options`` it got and did not find is build() reading
    an option the plugin never declared: the message says to declare it. Any other ``KeyError`` (a table indexed by
    an option's value the user mistyped, a state_dict key) gets the advice to check the model options given.
    """
    text = str(exc)
    if checkpoint_refusal(text) != text:
        return PluginError(f"{plugin}: could not build the model: {checkpoint_refusal(text)}")
    key = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 else None
    if isinstance(options, ModelOptions) and isinstance(key, str) and key in options.missing:
        return PluginError(f"{plugin}: its build() raised KeyError: {key!r}: build() reads model option '{key}', which "
                           f"ModelPlugin.options does not declare ({', '.join(map(str, options)) or 'none'}); add it "
                           "to options with its default, or report it to the plugin's author")
    return PluginError(f"{plugin}: its build() raised {error_line(exc)}; "
                       f"check the model options given ({model_options_hint(plugin)}) and the plugin's build(), "
                       "or report it to the plugin's author")


def check_logits(logits: Any, rows: int, n_classes: int, plugin: str, fold_index: int | Sequence[int],
                 predicting: bool = False, test_part: bool = False, device: torch.device | None = None) -> None:
    """Refuse model output that is not (``rows``, ``n_classes``) finite scores.

    A wrong shape would be scored silently (``argmax`` over the wrong axis or
    over classes that do not exist), so it is a ``PluginError``. Scores that
    are NaN or infinite before any training step are a ``PluginError`` too;
    once trained (``predicting``), a ``RunFailed``: ``argmax`` of NaN is class
    0, so every such sample would be scored as a prediction the model never
    made; for the fold's test part (``test_part``) a ``PredictionFailed``, which no choice between configurations
    may turn on. For batched output (K folds at once, shape (K, rows, n_classes)) ``fold_index`` lists the K folds.
    Scores on another device than the inputs (``device``, when given) are a ``PluginError`` too.
    """
    folds = [fold_index] if isinstance(fold_index, int) else list(fold_index)
    leading = () if isinstance(fold_index, int) else (len(folds),)
    shape = tuple(getattr(logits, "shape", ()))
    when = "predicting" if predicting else "first batch"
    if not isinstance(logits, torch.Tensor) or shape != (*leading, rows, n_classes):
        found = f"shape {shape[len(leading):]}" if isinstance(logits, torch.Tensor) else f"a {type(logits).__name__}"
        raise PluginError(
            f"fold {folds[0] + 1}, {when}: {plugin} returned {found} for a batch of {rows} samples; expected scores "
            f"of shape ({rows}, {n_classes}), one row per sample and one column per class. Fix the model's output "
            "layer (it must end in n_classes outputs) or report it to the plugin's author"
        )
    if not logits.is_floating_point():
        raise PluginError(
            f"fold {folds[0] + 1}, {when}: {plugin} returned {str(logits.dtype).replace('torch.', '')} scores; expected "
            "floating-point scores (logits), one per class, from which merbench takes the loss and the argmax itself. "
            "Return the output layer's values as they are (no .long(), .int(), .round() or argmax), or report it to "
            "the plugin's author"
        )
    if device is not None and logits.device != device:
        raise PluginError(
            f"fold {folds[0] + 1}, {when}: {plugin} returned scores on device {logits.device} for inputs on "
            f"{device}; expected them on {device}, the device merbench trains on. The model must not move its output "
            "(no .to(), .cpu() or .cuda() on it) and must keep its layers where merbench puts them; fix the model or "
            "report it to the plugin's author"
        )
    scores = logits.reshape(len(folds), rows, -1).float()
    if predicting:  # NaN, or an infinite top score shared by several classes: no class is the prediction
        top = scores.max(dim=2, keepdim=True).values
        bad = torch.isnan(scores).any(dim=2) | (~torch.isfinite(top[..., 0]) & ((scores == top).sum(dim=2) > 1))
    else:
        bad = (~torch.isfinite(scores)).any(dim=2)
    if not bool(bad.any()):
        return
    first = int(bad.any(dim=1).nonzero()[0])
    if not predicting:
        raise PluginError(
            f"fold {folds[first] + 1}, first batch: {plugin} returned NaN or infinite scores for finite "
            "inputs, before any training step; fix the model plugin or report it to the plugin's author"
        )
    raise (PredictionFailed if test_part else RunFailed)(
        f"fold {folds[first] + 1}, {when}: {plugin} gave NaN (or tied infinite) scores for {int(bad[first].sum())} of "
        f"{rows} samples, although its training loss stayed finite; their argmax would be an arbitrary class, so "
        "nothing is scored. Either the last optimiser steps blew up the weights (a large engine.lr or "
        "engine.weight_decay: try smaller values), or the model overflows or divides by zero in eval mode (with "
        "mixed precision, try --set engine.amp=off; otherwise fix the model plugin or report it to its author)"
    )


def first_forward(forward: Callable[[], Any], x: torch.Tensor, n_classes: int, plugin: str,
                  fold_index: int | Sequence[int], compiled: bool = False) -> Any:
    """A fold's first forward pass (``forward()`` on inputs ``x``), its errors and output reported against the plugin.

    Inputs that are not finite are reported as such (the preprocessing, not the
    model, is then at fault); the output is checked with ``check_logits``.
    Under ``torch.compile`` (``compiled``) the first call also compiles, so
    its errors are left as they are rather than blamed on the plugin.
    """
    batched = not isinstance(fold_index, int)
    folds = list(fold_index) if batched else [fold_index]
    batch_shape = tuple(x.shape[1:]) if batched else tuple(x.shape)  # one fold's batch
    bad_inputs = (~torch.isfinite(x.reshape(len(folds), -1))).any(dim=1).tolist()
    if any(bad_inputs):
        raise RunFailed(
            f"fold {folds[bad_inputs.index(True)] + 1}, first batch: the model inputs contain NaN or infinity (after "
            "standardising with the training samples' channel statistics); check the preprocessing output"
        )
    try:
        logits = forward()
    except (torch.cuda.OutOfMemoryError, MerbenchError):
        raise
    except SystemExit as exc:
        raise plugin_exit(exc, plugin, f"fold {folds[0] + 1}, first batch") from exc
    except Exception as exc:
        if compiled:
            raise
        advice = batch_of_one_advice(exc, batch_shape[0])
        where = "" if advice or not batched else (
            " (batched folds, under torch.func.vmap: a model that calls .item(), .tolist() or .numpy(), writes "
            "in place into a tensor it created, or branches on tensor values cannot be batched — CONTRIBUTING.md, "
            "'Running under the batched (vmap) GPU path'; --set engine.parallel_mode=processes trains such a "
            "model fold by fold. If the model does none of these, report it to merbench)")
        raise PluginError(
            f"fold {folds[0] + 1}, first batch: {plugin} failed on inputs of shape {batch_shape}: "
            f"{error_line(exc)}; {advice or CHECK_THE_MODEL}{where}"
        ) from None
    check_logits(logits, batch_shape[0], n_classes, plugin, fold_index, device=x.device)
    if torch.is_grad_enabled() and not logits.requires_grad:
        raise PluginError(
            f"fold {folds[0] + 1}, first batch: {plugin} returned scores that do not depend on any trainable "
            "parameter (requires_grad is False), so no training step can change the model: its forward() detaches "
            "its output (.detach(), torch.no_grad(), a round trip through numpy) or it has no trainable parameter "
            "(all frozen, or layers kept in a plain list). Return the output layer's tensor as it is, or report it "
            "to the plugin's author"
        )
    return logits


CHECK_THE_MODEL = "check the model's options or report it to the plugin's author"


def batch_of_one_advice(exc: Exception, rows: int) -> str:
    """The fix when ``exc``, raised by a model's first forward pass on a batch of ``rows`` samples, is BatchNorm
    refusing a training batch of one sample (a larger engine.batch_size); else ``""``."""
    if rows == 1 and isinstance(exc, ValueError) and "Expected more than 1 value per channel" in str(exc):
        return ("BatchNorm cannot normalise a training batch of 1 sample; use --set engine.batch_size=2 or more "
                "(or a model without BatchNorm)")
    return ""


def check_trainable(model: nn.Module, plugin: str, fold_index: int) -> None:
    """Refuse a torch model with no trainable parameter (``PluginError`` naming ``plugin``): gradient training
    could not change it, and its scores would be those of the untrained model."""
    if any(parameter.requires_grad for parameter in model.parameters()):
        return
    what = "only frozen parameters (requires_grad=False)" if any(True for _ in model.parameters()) else "no parameters"
    raise PluginError(
        f"fold {fold_index + 1}: {plugin} built a {type(model).__name__} with {what}, so training cannot change it. "
        "Register its layers as attributes of the module (nn.Module, nn.ModuleList, nn.Parameter, not a plain list or "
        "dict) and leave some trainable, or report it to the plugin's author"
    )


def check_weights_hold_data(model: nn.Module, plugin: str, where: str) -> None:
    """Refuse a torch model whose parameters or buffers are on the meta device (``PluginError`` naming ``plugin``
    and ``where``, e.g. ``fold 1``): such a module has no weights to move to a device, train or copy."""
    tensors = (*model.named_parameters(), *model.named_buffers())
    empty = [name for name, tensor in tensors if tensor.is_meta]
    if not empty:
        return
    raise PluginError(
        f"{where}: {plugin}: its build() returned a network whose weights hold no data (on the meta device: "
        f"{empty[0]}{f' and {len(empty) - 1} more' if len(empty) > 1 else ''}): it reuses a module made while merbench "
        'checked the model under torch.device("meta") (a module-level cache); build the network, or copy cached '
        "weights (a state dict loaded on the CPU), inside build()"
    )


def _predict(model: nn.Module, inputs: torch.Tensor, index: torch.Tensor, mean, std, autocast,
             n_classes: int | None = None, plugin: str = "the model plugin", fold_index: int = 0,
             test_part: bool = False) -> torch.Tensor:
    model.eval()
    predictions = []
    with torch.inference_mode():
        for begin in range(0, len(index), PREDICT_CHUNK):
            batch = index[begin:begin + PREDICT_CHUNK]
            with autocast():
                logits = model((inputs[batch] - mean) / std)
            if n_classes is not None:
                check_logits(logits, len(batch), n_classes, plugin, fold_index, predicting=True, test_part=test_part,
                             device=inputs.device)
            predictions.append(logits.float().argmax(dim=1).cpu())
    return torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.long)


def train_fold(
    build_model: Callable[[], nn.Module],
    inputs: torch.Tensor,
    labels: torch.Tensor,
    fold: Fold,
    n_classes: int,
    settings: TrainSettings,
    choice: DeviceChoice,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
    subjects: np.ndarray | None = None,
) -> FoldOutput:
    """Train a fresh model on ``fold.train`` and predict ``fold.test``.

    ``inputs`` (N, C, H, W) and ``labels`` (N,) are already on ``choice.device``.
    With ``settings.early_stopping`` > 0, training subjects (``subjects`` of every
    sample) are split into inner training and validation parts; the epoch with
    the best validation UF1 is kept, and training stops after that many epochs
    without improvement. The test part is only predicted, once, at the end.
    With ``settings.select_on == "test"`` (leaky, for ``merbench leakage``) the
    whole training part trains, the test part is scored after every epoch and
    the epoch with the best test UF1 is kept (early stopping, when set, counts
    epochs without test improvement); ``settings.normalise_on == "all"``
    (leaky) takes the channel statistics of every sample.
    Raises ``RunFailed`` when the loss stops being finite. Freed memory stays in the
    process for the next step (``merbench.allocator``).
    """
    start = time.perf_counter()
    keep_freed_memory()
    device = choice.device
    validation_positions = None
    train_positions = fold.train
    if settings.early_stopping > 0 and not settings.selects_on_test:
        if subjects is None:
            raise UsageError("early stopping needs the subjects of the samples to carve a validation split")
        train_positions, validation_positions = validation_split(fold, subjects, settings.validation_fraction, seed)
    train_index = torch.as_tensor(train_positions, device=device)
    test_index = torch.as_tensor(fold.test, device=device)
    stats_index, normalisation = normalisation_index(settings, train_index, len(inputs))
    mean, std = channel_stats(inputs, stats_index)

    torch.manual_seed(seed)
    plugin = plugin_label(build_model)
    model = build_model()
    if not isinstance(model, nn.Module):  # a scikit-learn style estimator (merbench.estimator)
        if settings.early_stopping > 0:
            raise early_stopping_without_epochs(settings.early_stopping, type(model).__name__)

        return fit_predict_fold(model, inputs, labels, fold, seed, started=start, on_epoch=on_epoch,
                                n_classes=n_classes, plugin=plugin, normalise_on=settings.normalise_on)
    check_trainable(model, plugin, fold.index)
    check_weights_hold_data(model, plugin, f"fold {fold.index + 1}")
    model = model.to(device)
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    if settings.compile:  # compiled once per architecture and process (merbench.compiled_models)
        key = architecture_key(build_model, model, (settings.batch_size, *inputs.shape[1:]), n_classes,
                               choice.amp_dtype, memory_format, device)
        forward = COMPILED.step_for(key, model, settings.batch_size)
        model = forward.module
    optimizer = adamw(model.parameters(), settings.lr, settings.weight_decay)
    n_train = len(train_positions)
    steps = steps_per_epoch(n_train, settings.batch_size)
    scheduler = one_cycle(optimizer, settings.lr, settings.epochs * steps)
    weights = class_weights(labels[train_index], n_classes, settings.class_weighting)
    loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=settings.label_smoothing)
    scaler = torch.amp.GradScaler("cuda") if choice.amp_dtype == torch.float16 else None
    autocast = (lambda: torch.autocast(device.type, dtype=choice.amp_dtype)) if choice.amp_dtype else nullcontext
    generator = torch.Generator().manual_seed(seed)

    epoch_losses: list[float] = []
    best_state = None
    selection = EpochSelection(settings.early_stopping, math.ceil(WARM_UP * settings.epochs),
                               later_on_ties=validation_positions is not None)
    for epoch in range(settings.epochs):
        model.train()
        order = train_index[torch.randperm(n_train, generator=generator).to(device)]
        step_losses, batch_sizes, finite_scores = [], [], []
        for step in range(steps):
            batch = order[step * settings.batch_size:(step + 1) * settings.batch_size]
            x = ((inputs[batch] - mean) / std).contiguous(memory_format=memory_format)
            y = labels[batch]
            with autocast():
                if epoch == step == 0:
                    logits = first_forward(lambda: forward(x), x, n_classes, plugin, fold.index, settings.compile)
                else:
                    logits = forward(x)
                loss = loss_fn(logits, y)
            step_losses.append(loss.detach())
            finite_scores.append(torch.isfinite(logits.detach()).all())
            batch_sizes.append(len(batch))
            optimizer.zero_grad(set_to_none=True)
            if scaler:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            scheduler.step()
        epoch_losses.append(epoch_loss(step_losses, batch_sizes, fold.index, epoch, settings.lr, finite_scores, plugin,
                                       choice.amp_dtype is not None))
        if on_epoch:
            on_epoch(epoch, epoch_losses[-1])
        selection_index = (torch.as_tensor(validation_positions, device=device) if validation_positions is not None
                           else test_index if settings.selects_on_test else None)
        if selection_index is not None:
            predicted = _predict(model, inputs, selection_index, mean, std, autocast, n_classes, plugin, fold.index).numpy()
            score = fold_uf1(predicted, labels[selection_index].cpu().numpy(), n_classes)
            if selection.improves(epoch, score):
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            elif selection.stops_after(epoch):
                break

    if best_state is not None:
        model.load_state_dict(best_state)
    predicted = _predict(model, inputs, test_index, mean, std, autocast, n_classes, plugin, fold.index,
                         test_part=True).numpy()
    final = epoch_losses[-1] if epoch_losses else math.nan
    return FoldOutput(
        predictions=predicted,
        final_loss=final,
        seconds=time.perf_counter() - start,
        epoch_losses=epoch_losses,
        normalisation=normalisation,
        selected_epoch=None if selection.best_epoch is None else selection.best_epoch + 1,
        validation=validation_positions,
        selected_on=None if selection.best_epoch is None else "validation" if validation_positions is not None else "test",
    )
