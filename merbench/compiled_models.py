"""One ``torch.compile`` per architecture and process, reused by every fold (``engine.compile=true``).

Compiling a ConvMixer training step takes tens of seconds on a small CPU
(docs/scale.md), so a 10-fold or LOSO run must not pay it per fold or per batch
size. The process keeps one compiled module per architecture: the model
plugin (its name and distribution), its factory, its options, the input shape
of a full batch, the number of classes, the parameter dtype, autocast dtype,
memory layout and device. A factory is named by its import path when it is a
module-level function or class; a closure, lambda, partial or callable object
(two of which can share a name and build different networks) is keyed by the
object itself. A fold builds its fresh model as without compilation (same
seed, same initial weights), and those weights, BatchNorm buffers included,
are copied into the cached module, so the compiled code is reused as it is:
no new trace, no new compilation. A fresh model whose layers (their types,
parameter and buffer names and shapes) differ from the cached one's is
compiled anew instead of being loaded into another network.

Only full batches (``batch_size`` samples) run compiled. The last, smaller
batch of an epoch, whose size differs from fold to fold, runs eagerly on the
same module: compiled for its size it would be compiled again for every new
size. Predictions run eagerly too (one forward pass per fold, shorter than the
compilation of an evaluation graph).
"""

from __future__ import annotations

import inspect
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
    plugin: str
    factory: Any
    """The factory itself when its name does not identify it (a closure, lambda or callable object), else ``None``."""
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
    different network each time, so its models are compiled one by one; so are
    those of a factory object that cannot be hashed.
    """
    build = getattr(recipe, "build", None)
    options = getattr(recipe, "options", None)
    if build is None or options is None:
        return None
    name, factory = factory_identity(build)
    try:
        hash(factory)
    except TypeError:
        return None
    first = next(model.parameters(), None)
    return ArchitectureKey(
        model=name,
        options=repr(sorted((str(key), repr(value)) for key, value in dict(options).items())),
        plugin=str(getattr(recipe, "plugin", "")),
        factory=factory,
        input_shape=tuple(int(size) for size in batch_shape),
        n_classes=int(n_classes),
        dtype=str(first.dtype if first is not None else None),
        autocast=str(autocast),
        memory_format=str(memory_format),
        device=str(device),
    )


def factory_identity(build: Any) -> tuple[str, Any]:
    """``(name, object)`` telling ``build`` apart from every other factory: a ``"module:attribute"`` string or a
    module-level function or class by its import path (object ``None``); anything else by the object itself.

    Closures of one function share their ``__qualname__`` (``make.<locals>.build``), as do module-level
    lambdas, and bound methods of one class share theirs: the name alone would give two networks one key.
    """
    if isinstance(build, str):
        return build, None
    module = getattr(build, "__module__", None) or "?"
    qualname = getattr(build, "__qualname__", None) or type(build).__qualname__
    if (inspect.isfunction(build) or inspect.isclass(build)) and "<" not in qualname:
        return f"{module}:{qualname}", None
    return f"{module}:{qualname}", build


def network_layout(model: nn.Module) -> tuple:
    """The module types and the state dict's names, shapes and dtypes of ``model``: what its weights must match
    to be loaded into a cached module's compiled code."""
    return (tuple((name, type(module)) for name, module in model.named_modules()),
            tuple((name, tuple(value.shape), value.dtype) for name, value in model.state_dict().items()))


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
        self._entries: OrderedDict[ArchitectureKey, tuple[nn.Module, Callable, tuple]] = OrderedDict()
        self.compilations = 0
        self.reuses = 0

    def step_for(self, key: ArchitectureKey | None, fresh: nn.Module, batch_size: int) -> CompiledStep:
        """The training step module for a fold whose freshly built model is ``fresh``.

        On a cache hit the cached module takes ``fresh``'s parameters and buffers
        (and loses any gradients of the previous fold); the returned step's
        ``module`` is then the cached one, and it is the module the fold trains.
        A hit whose cached module has other layers than ``fresh`` (a factory
        that built another network under the same key) compiles ``fresh`` anew
        and caches it in place of the other.
        """
        entry = self._entries.get(key) if key is not None else None
        fresh_layout = network_layout(fresh)
        if entry is None or entry[2] != fresh_layout:
            compiled = torch.compile(fresh, backend=BACKEND)
            self.compilations += 1
            if key is not None:
                self._entries[key] = (fresh, compiled, fresh_layout)
                self._entries.move_to_end(key)
                while len(self._entries) > MAX_ENTRIES:
                    self._entries.popitem(last=False)
            return CompiledStep(fresh, compiled, batch_size)
        self._entries.move_to_end(key)
        module, compiled, _ = entry
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
