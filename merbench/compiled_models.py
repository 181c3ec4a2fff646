"""One ``torch.compile`` per architecture and process, reused by every fold (``engine.compile=true``).

Compiling a ConvMixer training step takes tens of seconds on a small CPU
(docs/scale.md), so a 10-fold or LOSO run must not pay it per fold or per batch
size. The process keeps one compiled module per architecture: the model
plugin, its options, the input shape of a full batch, the number of classes,
the parameter dtype, autocast dtype, memory layout and device. A fold builds
its fresh model as without compilation (same seed, same initial weights), and
those weights, BatchNorm buffers included, are copied into the cached module,
so the compiled code is reused as it is: no new trace, no new compilation.

Only full batches (``batch_size`` samples) run compiled. The last, smaller
batch of an epoch, whose size differs from fold to fold, runs eagerly on the
same module: compiled for its size it would be compiled again for every new
size. Predictions run eagerly too (one forward pass per fold, shorter than the
compilation of an evaluation graph).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

BACKEND = "inductor"
"""The ``torch.compile`` backend (tests use ``aot_eager``, which traces alike but does not generate code)."""
MAX_ENTRIES = 4
"""Compiled architectures kept per process; the least recently used one is dropped beyond this."""


@dataclass(frozen=True)
class ArchitectureKey:
    """What makes two folds' models share compiled code."""

    model: str
    options: str
    input_shape: tuple[int, ...]
    n_classes: int
    dtype: str
    autocast: str
    memory_format: str
    device: str


def architecture_key(recipe: Any, model: nn.Module, batch_shape: tuple[int, ...], n_classes: int,
                     autocast: torch.dtype | None, memory_format: torch.memory_format,
                     device: torch.device) -> ArchitectureKey | None:
    """The key of ``model`` built by ``recipe`` (a ``ModelRecipe``), or ``None`` when the recipe cannot say.

    A factory without a recorded name and options (a bare callable) could build a
    different network each time, so its models are compiled one by one.
    """
    name = getattr(recipe, "build", None)
    options = getattr(recipe, "options", None)
    if name is None or options is None:
        return None
    first = next(model.parameters(), None)
    return ArchitectureKey(
        model=name if isinstance(name, str) else f"{getattr(name, '__module__', '?')}:{getattr(name, '__qualname__', repr(name))}",
        options=repr(sorted((str(key), repr(value)) for key, value in dict(options).items())),
        input_shape=tuple(int(size) for size in batch_shape),
        n_classes=int(n_classes),
        dtype=str(first.dtype if first is not None else None),
        autocast=str(autocast),
        memory_format=str(memory_format),
        device=str(device),
    )


class CompiledStep:
    """A fold's model for training: full batches through the compiled module, other sizes eagerly."""

    def __init__(self, module: nn.Module, compiled: Callable[[torch.Tensor], torch.Tensor], batch_size: int):
        self.module = module
        self.compiled = compiled
        self.batch_size = batch_size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the batch ``x``."""
        return self.compiled(x) if x.shape[0] == self.batch_size else self.module(x)


class CompiledModels:
    """The process's compiled modules by architecture, with counts of compilations and reuses."""

    def __init__(self) -> None:
        self._entries: OrderedDict[ArchitectureKey, tuple[nn.Module, Callable]] = OrderedDict()
        self.compilations = 0
        self.reuses = 0

    def step_for(self, key: ArchitectureKey | None, fresh: nn.Module, batch_size: int) -> CompiledStep:
        """The training step module for a fold whose freshly built model is ``fresh``.

        On a cache hit the cached module takes ``fresh``'s parameters and buffers
        (and loses any gradients of the previous fold); the returned step's
        ``module`` is then the cached one, and it is the module the fold trains.
        """
        entry = self._entries.get(key) if key is not None else None
        if entry is None:
            compiled = torch.compile(fresh, backend=BACKEND)
            self.compilations += 1
            if key is not None:
                self._entries[key] = (fresh, compiled)
                while len(self._entries) > MAX_ENTRIES:
                    self._entries.popitem(last=False)
            return CompiledStep(fresh, compiled, batch_size)
        self._entries.move_to_end(key)
        module, compiled = entry
        with torch.no_grad():
            module.load_state_dict(fresh.state_dict())
        for parameter in module.parameters():
            parameter.grad = None
        self.reuses += 1
        return CompiledStep(module, compiled, batch_size)

    def clear(self) -> None:
        """Forget every compiled module and the counts (the next fold of each architecture compiles again)."""
        self._entries.clear()
        self.compilations = self.reuses = 0


CACHE = CompiledModels()
"""The process-wide cache ``merbench.engine.train_fold`` uses."""
