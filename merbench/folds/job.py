"""What the fold executors share: the model recipe, the job, the data, one fold task, and training one fold here.

A ``FoldExecutor`` (``merbench.folds``) trains a list of ``FoldTask`` with one
``FoldJob`` over one ``FoldData``; ``train_task`` is the one way a fold is
trained, wherever it runs (this process, a worker process, a Ray worker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np
import torch

from merbench.contracts import Factory, Fold, FoldOutput, resolve_factory
from merbench.engine import (DeviceChoice, ModelOptions, TrainSettings, build_error, failures_named, torch_threads,
                             train_fold)
from merbench.errors import MerbenchError
from merbench.lazy_layers import lazy_layers_error, materialise_lazy_layers
from merbench.progress import ProgressSink


@dataclass(frozen=True)
class ModelRecipe:
    """How to build a fresh model for a fold; picklable when ``build`` is a module-level factory."""

    build: Factory
    options: Mapping[str, Any]
    in_channels: int
    n_classes: int
    input_size: int
    plugin: str = "the model plugin"
    """Who built the model, for messages: ``model plugin 'NAME' (DISTRIBUTION VERSION)``."""
    sample_shape: tuple[int, ...] = ()
    """One sample's (C, H, W), on which lazy layers take their shapes; empty: (in_channels, input_size, input_size)."""

    def __call__(self) -> Any:
        """A new, untrained model (or estimator) whose lazy layers have their shapes; a factory that raises is a
        ``PluginError`` naming the plugin."""
        options = ModelOptions(self.options)
        try:
            model = resolve_factory(self.build)(options, self.in_channels, self.n_classes, self.input_size)
        except MerbenchError:
            raise
        except Exception as exc:
            raise build_error(self.plugin, exc, options) from exc  # the cause: Ray retries it like any plugin failure
        shape = self.sample_shape or (self.in_channels, self.input_size, self.input_size)
        try:
            return materialise_lazy_layers(model, shape)
        except MerbenchError:
            raise
        except Exception as exc:
            raise lazy_layers_error(self.plugin, shape, exc) from exc


@dataclass(frozen=True)
class FoldJob:
    """What every fold of a run shares: the model recipe, the training settings, the device and threads."""

    recipe: ModelRecipe
    settings: TrainSettings
    choice: DeviceChoice
    threads: int = 0
    fits_once: bool = False
    """The model is a scikit-learn style estimator fitted in one go (no epochs): progress shows one fit per fold."""

    @property
    def steps(self) -> int:
        """Training steps a fold reports: its epochs, or 1 for a model fitted once."""
        return 1 if self.fits_once else self.settings.epochs


@dataclass(frozen=True)
class FoldData:
    """The preprocessed inputs (N, C, H, W), labels and subjects of every sample of a run."""

    inputs: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray


@dataclass(frozen=True)
class FoldTask:
    """One fold to train, with its seed (``run seed * 1000 + fold index``)."""

    fold: Fold
    seed: int
    of: int | None = None
    """How many folds ``fold.index`` counts among (the run's, for "Fold 10/10"); ``None``: the tasks trained together,
    which a continued run, whose finished folds are not trained again, has fewer of."""


OnDone = Callable[[FoldTask, FoldOutput], None]


class FoldExecutor(Protocol):
    """Trains a list of fold tasks and reports each one as it completes."""

    description: str

    def run(self, job: FoldJob, data: FoldData, tasks: Sequence[FoldTask], on_done: OnDone,
            progress: ProgressSink) -> None:
        """Train every task; call ``on_done(task, output)`` once per task, in completion order."""


@dataclass
class DeviceTensors:
    """``FoldData`` moved to a device once, reused by every fold trained in this process."""

    data: FoldData
    device: Any
    inputs: Any = field(init=False)
    labels: Any = field(init=False)

    def __post_init__(self) -> None:
        self.inputs = torch.as_tensor(self.data.inputs, device=self.device)
        self.labels = torch.as_tensor(self.data.labels, device=self.device)


def train_task(job: FoldJob, tensors: DeviceTensors, task: FoldTask,
               on_epoch: Callable[[int, float], None] | None = None) -> FoldOutput:
    """Train one fold in this process with ``job.threads`` torch threads (0: leave torch's setting)."""
    with torch_threads(job.threads), failures_named(job.recipe.plugin, task.fold.index, job.settings.compile):
        return train_fold(job.recipe, tensors.inputs, tensors.labels, task.fold, job.recipe.n_classes, job.settings,
                          job.choice, seed=task.seed, on_epoch=on_epoch, subjects=tensors.data.subjects)


def epoch_reporter(progress: ProgressSink, job: FoldJob, task: FoldTask, n_folds: int) -> Callable[[int, float], None]:
    """An ``on_epoch`` callback that shows a fold's epochs as one progress bar (one fit for an estimator)."""
    fold = f"Fold {task.fold.index + 1}/{task.of or n_folds}"
    if job.fits_once:
        progress.start("epochs", 1, f"{fold} fit")
        return lambda epoch, error: progress.advance("epochs", 1, note=f"training error {error:.3f}")
    progress.start("epochs", job.settings.epochs, f"{fold} epochs")
    return lambda epoch, loss: progress.advance("epochs", 1, note=f"loss {loss:.3f}")
