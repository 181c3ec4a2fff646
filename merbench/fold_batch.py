"""Training several folds at once as one batched computation (the GPU path of fold-parallel training).

The K models of a group of folds are stacked (``torch.func.stack_module_state``:
parameters and BatchNorm buffers get a leading fold dimension) and run with
``functional_call`` under ``vmap``, so one kernel launch serves every fold.
Each fold keeps everything ``merbench.engine.train_fold`` gives it: its own
initialisation seed, channel statistics of its own training samples, batch
order, class weights, AdamW state and OneCycleLR schedule. Folds of different
training sizes have different step counts and last-batch sizes; at each global
step the folds that still have a batch are grouped by batch length and each
group is one ``vmap`` call, so BatchNorm never sees padding.

docs/design.md, Performance: on a CPU this is slower than training folds one after
another, so the runner uses it on the CPU only when asked
(``engine.parallel_mode=vmap``).
"""

from __future__ import annotations

import copy
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from merbench.contracts import Fold, FoldOutput
from merbench.engine import (
    PREDICT_CHUNK, DeviceChoice, TrainSettings, channel_stats, check_logits, check_weights_hold_data, class_weights,
    epoch_loss, failures_named, first_forward, fold_uf1, normalisation_index, one_cycle, plugin_exit, plugin_label,
    steps_per_epoch,
)
from merbench.errors import UsageError
from merbench.plain_batch_norm import PlainBatchNorm

if TYPE_CHECKING:  # merbench.folds imports this module
    from merbench.folds.job import ModelRecipe

# fold_group_size keeps this fraction of the free memory in reserve, and counts each fold this
# many times its measured need: the need is one plain step's, while a batched step runs BatchNorm through
# PlainBatchNorm (float32 copies: 1.57 times the tensors kept for backward in fp32, 2.4 times in bf16, measured on
# the convmixer), plus vmap's gathers and grouped-convolution workspaces.
MEMORY_RESERVE = 0.2
VMAP_OVERHEAD = 2.5


class _Schedule:
    """One fold's learning rate and AdamW beta1 at each step, read from a real OneCycleLR.

    The schedule drives a throw-away one-parameter AdamW, so the values are
    exactly those ``train_fold``'s optimizer sees, cycled momentum included.
    """

    def __init__(self, settings: TrainSettings, total_steps: int):
        self.optimizer = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=settings.lr,
                                           weight_decay=settings.weight_decay)
        self.scheduler = one_cycle(self.optimizer, settings.lr, total_steps)
        self.optimizer.step()  # no gradient: changes nothing, but the scheduler sees a stepped optimizer
        group = self.optimizer.param_groups[0]
        self.beta2, self.eps = float(group["betas"][1]), float(group["eps"])

    def current(self) -> tuple[float, float]:
        """(lr, beta1) for the step about to be taken."""
        group = self.optimizer.param_groups[0]
        return float(group["lr"]), float(group["betas"][0])

    def advance(self) -> None:
        """Move to the next step."""
        self.scheduler.step()


class _LossScales:
    """Per-fold dynamic loss scaling for float16 autocast, following ``torch.amp.GradScaler``'s defaults and rules.

    A fold whose scaled gradients are not finite skips its optimizer step and
    halves its scale; after ``growth_interval`` good steps in a row the scale
    doubles. Scales stay powers of two, so scaling and unscaling are exact.
    """

    def __init__(self, n_folds: int, init_scale: float = 2.0**16, growth_interval: int = 2000):
        self.scales = [init_scale] * n_folds
        self.good_steps = [0] * n_folds
        self.growth_interval = growth_interval

    def update(self, fold: int, finite: bool) -> None:
        """Record whether ``fold``'s gradients were finite at this step."""
        if not finite:
            self.scales[fold] *= 0.5
            self.good_steps[fold] = 0
            return
        self.good_steps[fold] += 1
        if self.good_steps[fold] == self.growth_interval:
            self.scales[fold] *= 2.0
            self.good_steps[fold] = 0


def _loss_scales(choice: DeviceChoice, n_folds: int) -> _LossScales | None:
    """Per-fold loss scaling where ``train_fold`` uses a GradScaler (float16 autocast), else ``None``."""
    return _LossScales(n_folds) if choice.amp_dtype == torch.float16 else None


@dataclass
class _Stack:
    """The stacked parameters, buffers and AdamW state of K folds (leading dimension: fold)."""

    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    trainable: list[str]
    weight_decay: float
    beta2: float
    eps: float
    exp_avg: dict[str, torch.Tensor] = field(init=False)
    exp_avg_sq: dict[str, torch.Tensor] = field(init=False)
    steps: dict[str, list[int]] = field(init=False)

    def __post_init__(self) -> None:
        self.params = {name: tensor.detach() for name, tensor in self.params.items()}
        n_folds = next(iter(self.params.values())).shape[0] if self.params else 0
        self.exp_avg = {name: torch.zeros_like(self.params[name]) for name in self.trainable}
        self.exp_avg_sq = {name: torch.zeros_like(self.params[name]) for name in self.trainable}
        self.steps = {name: [0] * n_folds for name in self.trainable}

    def select(self, tensors: dict[str, torch.Tensor], index: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Rows ``index`` of each tensor (copies), or the tensors themselves for every fold."""
        return dict(tensors) if index is None else {name: tensor[index] for name, tensor in tensors.items()}

    def put(self, tensors: dict[str, torch.Tensor], index: torch.Tensor | None, rows: dict[str, torch.Tensor]) -> None:
        """Write ``rows`` back into rows ``index`` (nothing to do when they are the tensors themselves)."""
        if index is not None:
            for name, row in rows.items():
                tensors[name].index_copy_(0, index, row)

    @torch.no_grad()
    def adamw(self, folds: list[int], index: torch.Tensor | None, grads: dict[str, torch.Tensor | None],
              lrs: list[float], beta1s: list[float]) -> None:
        """One ``torch.optim.AdamW`` step for ``folds`` (rows ``index``), each with its own lr, beta1 and step count.

        Same formula as AdamW's single-tensor path: decoupled weight decay,
        moments by lerp and addcmul, bias corrections from each fold's step count.
        """
        factors: dict[tuple[int, ...], torch.Tensor] = {}  # per step counts: one host-to-device copy per step
        for name in self.trainable:
            grad = grads.get(name)
            if grad is None:  # unused in this forward: AdamW leaves such a parameter alone
                continue
            counts = self.steps[name]
            for fold in folds:
                counts[fold] += 1
            step = tuple(counts[fold] for fold in folds)
            if step not in factors:
                factors[step] = torch.tensor(
                    [[1 - lr * self.weight_decay for lr in lrs], [1 - beta1 for beta1 in beta1s],
                     [(1 - self.beta2**n) ** 0.5 for n in step],
                     [-(lr / (1 - beta1**n)) for lr, beta1, n in zip(lrs, beta1s, step)]],
                    dtype=grad.dtype, device=grad.device)
            shape = (4, -1, *([1] * (grad.dim() - 1)))
            decay, weight, correction2, negative_step = factors[step].view(shape)
            param, avg, avg_sq = (t[name] if index is None else t[name][index]
                                  for t in (self.params, self.exp_avg, self.exp_avg_sq))
            if self.weight_decay != 0:
                param.mul_(decay)
            avg.lerp_(grad, weight)
            avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
            denominator = (avg_sq.sqrt() / correction2).add_(self.eps)
            param.add_(negative_step * avg / denominator)
            for target, rows in ((self.params, param), (self.exp_avg, avg), (self.exp_avg_sq, avg_sq)):
                self.put(target, index, {name: rows})


def has_active_dropout(model: Any) -> bool:
    """Whether ``model`` (a torch module) has a dropout layer that drops anything while training."""
    return isinstance(model, nn.Module) and any(
        isinstance(layer, nn.modules.dropout._DropoutNd) and layer.p > 0 for layer in model.modules())


def _by_length(lengths: dict[int, int]) -> list[tuple[int, list[int]]]:
    """Group fold positions by batch length (longest first): one vmap call per group."""
    groups: dict[int, list[int]] = {}
    for position, length in lengths.items():
        groups.setdefault(length, []).append(position)
    return sorted(groups.items(), reverse=True)


def _build_models(build_model: Callable[[], Any], seeds: Sequence[int], device: torch.device,
                  folds: Sequence[Fold]) -> list[nn.Module]:
    models = []
    for seed, fold in zip(seeds, folds):
        torch.manual_seed(seed)
        model = build_model()
        if not isinstance(model, nn.Module):
            raise UsageError(
                f"the batched fold trainer (engine.parallel_mode=vmap) trains torch modules only; this model is a "
                f"{type(model).__name__} estimator: use --set engine.parallel_mode=processes (or auto)"
            )
        check_weights_hold_data(model, plugin_label(build_model), f"fold {fold.index + 1}")
        models.append(model.to(device))
    return models


def train_folds_batched(
    build_model: Callable[[], nn.Module],
    inputs: torch.Tensor,
    labels: torch.Tensor,
    folds: Sequence[Fold],
    seeds: Sequence[int],
    n_classes: int,
    settings: TrainSettings,
    choice: DeviceChoice,
    on_step: Callable[[int, int], None] | None = None,
) -> list[FoldOutput]:
    """Train a fresh model per fold, all folds as one batched computation, and predict each fold's test part.

    For every ``(fold, seed)`` this reproduces ``train_fold(build_model, inputs,
    labels, fold, n_classes, settings, choice, seed)`` with early stopping off:
    same initialisation, normalisation, batch order (including dropping a last
    batch of one sample), class weights, label smoothing, AdamW and OneCycleLR
    (per-fold lr and beta1), so predictions agree within floating-point
    tolerance. Equality holds for models without dropout: under ``vmap`` dropout
    draws different masks per fold (``randomness="different"``), but not the
    masks of fold-by-fold training. BatchNorm with ``momentum=None`` is not
    supported. ``engine.compile`` and channels-last are not applied here. With
    float16 autocast each fold has its own dynamic loss scale (GradScaler's rules).
    The leaky variants behave as in ``train_fold``: ``engine.select_on=test``
    scores each fold's test part after each of its epochs and keeps the best
    epoch's weights, ``engine.normalise_on=all`` standardises with every sample.

    ``inputs`` (N, C, H, W) and ``labels`` (N,) are on ``choice.device``.
    ``on_step(done, total)`` is called after each global step (a step of every
    fold that still trains). Each output's ``seconds`` is the group's wall time
    divided by the number of folds. Raises ``UsageError`` for scikit-learn style
    estimators and early stopping, ``RunFailed`` when a fold's loss stops being finite.
    """
    if settings.early_stopping > 0:
        raise UsageError(
            f"engine.early_stopping={settings.early_stopping}: the batched fold trainer (engine.parallel_mode=vmap) "
            "trains every fold for all epochs; use --set engine.parallel_mode=processes (or auto) for early stopping"
        )
    if len(folds) != len(seeds):
        raise ValueError(f"{len(folds)} folds but {len(seeds)} seeds")
    if not folds:
        return []
    start = time.perf_counter()
    try:
        group = _FoldGroup(build_model, inputs, labels, folds, seeds, n_classes, settings, choice)
        epoch_losses = group.train(on_step)
        group.restore_best()
        predictions = group.predict()
    except SystemExit as exc:  # the plugin's sys.exit() is not merbench's exit (Ctrl-C still stops merbench)
        numbers = ", ".join(str(fold.index + 1) for fold in folds)
        raise plugin_exit(exc, plugin_label(build_model), f"batched folds {numbers}") from exc
    share = (time.perf_counter() - start) / len(folds)
    selected = [None if best is None else best.epoch + 1 for best in group.best]
    return [FoldOutput(predictions=predicted, final_loss=losses[-1], seconds=share, epoch_losses=losses,
                       normalisation=group.normalisation, selected_epoch=epoch,
                       selected_on=None if epoch is None else "test")
            for predicted, losses, epoch in zip(predictions, epoch_losses, selected)]


@dataclass
class _Best:
    """The best epoch of one fold so far under ``engine.select_on=test``: its test UF1 and weights (one row)."""

    score: float
    epoch: int
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]


def batch_norm_for(device: torch.device) -> Callable[[], Any]:
    """The context that batched models' BatchNorm runs in on ``device``: ``PlainBatchNorm`` on CUDA.

    cuDNN's BatchNorm fails under ``vmap`` there (``merbench.plain_batch_norm``);
    on the CPU torch's own kernel works and keeps batched folds equal to fold by fold.
    """
    return PlainBatchNorm if device.type == "cuda" else nullcontext


class _FoldGroup:
    """K folds trained together: their data, stacked models, schedules, loss functions and the epoch's step losses."""

    def __init__(self, build_model: Callable[[], Any], inputs: torch.Tensor, labels: torch.Tensor,
                 folds: Sequence[Fold], seeds: Sequence[int], n_classes: int, settings: TrainSettings,
                 choice: DeviceChoice):
        device = choice.device
        self.inputs, self.labels, self.folds, self.settings, self.device = inputs, labels, folds, settings, device
        self.n_classes, self.plugin = n_classes, plugin_label(build_model)
        self.train_index = [torch.as_tensor(fold.train, device=device) for fold in folds]
        stats = [normalisation_index(settings, index, len(inputs)) for index in self.train_index]
        self.normalisation = stats[0][1]
        means, stds = zip(*(channel_stats(inputs, index) for index, _ in stats))
        self.mean, self.std = torch.cat(means), torch.cat(stds)  # (K, C, 1, 1)

        models = _build_models(build_model, seeds, device, folds)
        params, buffers = stack_module_state(models)
        trainable = [name for name, parameter in models[0].named_parameters() if parameter.requires_grad]
        self.base = copy.deepcopy(models[0]).to("meta")
        del models
        self.batch_norm = batch_norm_for(device)
        self.forward = vmap(self._forward_one, randomness="different")

        self.n_train = [len(fold.train) for fold in folds]
        self.per_epoch = [steps_per_epoch(n, settings.batch_size) for n in self.n_train]
        self.total_steps = [settings.epochs * steps for steps in self.per_epoch]
        self.schedules = [_Schedule(settings, steps) for steps in self.total_steps]
        self.stack = _Stack(params, buffers, trainable, settings.weight_decay, self.schedules[0].beta2,
                            self.schedules[0].eps)
        self.losses = [nn.CrossEntropyLoss(weight=class_weights(labels[index], n_classes, settings.class_weighting),
                                           label_smoothing=settings.label_smoothing) for index in self.train_index]
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.scales = _loss_scales(choice, len(folds))
        self.autocast = (lambda: torch.autocast(device.type, dtype=choice.amp_dtype)) if choice.amp_dtype else nullcontext
        self.mixed = choice.amp_dtype is not None
        self.orders = list(self.train_index)
        self.step_losses: list[list[torch.Tensor]] = [[] for _ in folds]  # this epoch's, on the device
        self.batch_sizes: list[list[int]] = [[] for _ in folds]
        self.finite_scores: list[list[torch.Tensor]] = [[] for _ in folds]  # per step: were all its scores finite
        self.best: list[_Best | None] = [None for _ in folds]  # engine.select_on=test only

    def _forward_one(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                     x: torch.Tensor) -> torch.Tensor:
        with self.batch_norm():
            return functional_call(self.base, (params, buffers), (x,))

    def _rows(self, members: list[int]) -> torch.Tensor | None:
        """Row index of ``members`` in the stacked tensors, ``None`` when they are every fold."""
        return None if len(members) == len(self.folds) else torch.as_tensor(members, device=self.device)

    def _normalised(self, rows: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
        """Inputs of samples ``rows`` (G, B), each fold standardised with its own training statistics."""
        pick = slice(None) if index is None else index
        return (self.inputs[rows] - self.mean[pick].unsqueeze(1)) / self.std[pick].unsqueeze(1)

    def train(self, on_step: Callable[[int, int], None] | None) -> list[list[float]]:
        """Train every fold for all its steps; returns each fold's mean loss per epoch."""
        epoch_losses: list[list[float]] = [[] for _ in self.folds]
        n_global = max(self.total_steps)
        self.base.train()
        for global_step in range(n_global):
            batches = self._batches(global_step)
            for _, members in _by_length({k: len(batch) for k, batch in batches.items()}):
                self._train_group(members, batches, first=global_step == 0)
            ended = []
            for k in batches:
                self.schedules[k].advance()
                if (global_step + 1) % self.per_epoch[k] == 0:
                    epoch_losses[k].append(epoch_loss(self.step_losses[k], self.batch_sizes[k], self.folds[k].index,
                                                      global_step // self.per_epoch[k], self.settings.lr,
                                                      self.finite_scores[k], self.plugin, self.mixed))
                    self.step_losses[k], self.batch_sizes[k], self.finite_scores[k] = [], [], []
                    ended.append(k)
            if ended and self.settings.selects_on_test:
                self._select_on_test(ended, global_step)
                self.base.train()
            if on_step:
                on_step(global_step + 1, n_global)
        return epoch_losses

    def _batches(self, global_step: int) -> dict[int, torch.Tensor]:
        """The sample positions of each still-training fold's batch at ``global_step`` (a new order each epoch)."""
        batches = {}
        size = self.settings.batch_size
        for k in range(len(self.folds)):
            if global_step >= self.total_steps[k]:
                continue
            local = global_step % self.per_epoch[k]
            if local == 0:
                order = torch.randperm(self.n_train[k], generator=self.generators[k]).to(self.device)
                self.orders[k] = self.train_index[k][order]
            batches[k] = self.orders[k][local * size:(local + 1) * size]
        return batches

    def _train_group(self, members: list[int], batches: dict[int, torch.Tensor], first: bool = False) -> None:
        """One training step of the folds ``members``, whose batches have the same length, as one vmap call.

        At the ``first`` global step the output is checked (``engine.first_forward``).
        """
        stack = self.stack
        index = self._rows(members)
        rows = torch.stack([batches[k] for k in members])  # (G, B)
        x, y = self._normalised(rows, index), self.labels[rows]
        params = stack.select(stack.params, index)
        for name in stack.trainable:
            params[name] = params[name].detach().requires_grad_()
        buffers = stack.select(stack.buffers, index)
        with self.autocast():
            if first:
                logits = first_forward(lambda: self.forward(params, buffers, x), x, self.n_classes, self.plugin,
                                       [self.folds[k].index for k in members])
            else:
                logits = self.forward(params, buffers, x)
            fold_losses = [self.losses[k](logits[g], y[g]) for g, k in enumerate(members)]
        stack.put(stack.buffers, index, buffers)  # BatchNorm running statistics
        finite = torch.isfinite(logits.detach()).flatten(1).all(dim=1)
        for g, (k, loss) in enumerate(zip(members, fold_losses)):
            self.step_losses[k].append(loss.detach())
            self.finite_scores[k].append(finite[g])
            self.batch_sizes[k].append(len(batches[k]))
        if self.scales:
            fold_losses = [loss * self.scales.scales[k] for loss, k in zip(fold_losses, members)]
        wanted = [params[name] for name in stack.trainable]
        grads = dict(zip(stack.trainable, torch.autograd.grad(sum(fold_losses), wanted, allow_unused=True)))
        if self.scales:
            members, grads = self._unscale(members, grads)
            index = self._rows(members)
        if members:
            lrs, beta1s = zip(*(self.schedules[k].current() for k in members))
            stack.adamw(members, index, grads, list(lrs), list(beta1s))

    def _unscale(self, members: list[int], grads: dict[str, torch.Tensor | None]
                 ) -> tuple[list[int], dict[str, torch.Tensor | None]]:
        """Unscale float16 gradients; keep the folds whose gradients are finite (the others skip this step)."""
        scales = self.scales
        inverse = torch.tensor([1 / scales.scales[k] for k in members], device=self.device)
        finite = torch.ones(len(members), dtype=torch.bool, device=self.device)
        for name, grad in grads.items():
            if grad is not None:
                grads[name] = grad = grad * inverse.view(-1, *([1] * (grad.dim() - 1))).to(grad.dtype)
                finite &= torch.isfinite(grad).flatten(1).all(dim=1)
        keep = finite.tolist()
        for ok, k in zip(keep, members):
            scales.update(k, ok)
        if all(keep):
            return members, grads
        kept = torch.as_tensor([g for g, ok in enumerate(keep) if ok], device=self.device, dtype=torch.long)
        return ([k for ok, k in zip(keep, members) if ok],
                {name: None if grad is None else grad[kept] for name, grad in grads.items()})

    @torch.no_grad()
    def _select_on_test(self, ended: list[int], global_step: int) -> None:
        """Leaky ``engine.select_on=test``: score the folds ``ended`` (an epoch just ended) on their test samples
        and keep each one's weights when its test UF1 beats its best so far (the first best epoch wins ties)."""
        predicted = self.predict(ended)
        for k in ended:
            truth = self.labels[torch.as_tensor(self.folds[k].test, device=self.device)].cpu().numpy()
            score = fold_uf1(predicted[k], truth, self.n_classes)
            best = self.best[k]
            if best is None or score > best.score:
                self.best[k] = _Best(score, global_step // self.per_epoch[k],
                                     {name: tensor[k].clone() for name, tensor in self.stack.params.items()},
                                     {name: tensor[k].clone() for name, tensor in self.stack.buffers.items()})

    @torch.no_grad()
    def restore_best(self) -> None:
        """Put each fold's best epoch's weights back into the stack (``engine.select_on=test`` only)."""
        for k, best in enumerate(self.best):
            if best is None:
                continue
            for tensors, rows in ((self.stack.params, best.params), (self.stack.buffers, best.buffers)):
                for name, row in rows.items():
                    tensors[name][k].copy_(row)

    @torch.no_grad()
    def predict(self, members: list[int] | None = None) -> list[np.ndarray]:
        """Each fold's predicted classes for its test samples, in ``fold.test`` order (chunks as in ``train_fold``).

        With ``members`` only those folds are predicted (the others' entries are empty).
        """
        self.base.eval()
        wanted = set(range(len(self.folds)) if members is None else members)
        test_index = [torch.as_tensor(fold.test if k in wanted else [], device=self.device, dtype=torch.long)
                      for k, fold in enumerate(self.folds)]
        parts: list[list[torch.Tensor]] = [[] for _ in self.folds]
        n_chunks = max((len(index) + PREDICT_CHUNK - 1) // PREDICT_CHUNK for index in test_index)
        for chunk in range(n_chunks):
            chunks = {k: index[chunk * PREDICT_CHUNK:(chunk + 1) * PREDICT_CHUNK] for k, index in enumerate(test_index)}
            for _, members in _by_length({k: len(rows) for k, rows in chunks.items() if len(rows)}):
                index = self._rows(members)
                x = self._normalised(torch.stack([chunks[k] for k in members]), index)
                with self.autocast():
                    logits = self.forward(self.stack.select(self.stack.params, index),
                                          self.stack.select(self.stack.buffers, index), x)
                check_logits(logits, x.shape[1], self.n_classes, self.plugin, [self.folds[k].index for k in members],
                             predicting=True, test_part=True)
                predicted = logits.float().argmax(dim=-1).cpu()
                for g, k in enumerate(members):
                    parts[k].append(predicted[g])
        return [torch.cat(part).numpy() if part else np.zeros(0, dtype=np.int64) for part in parts]


# ------------------------------------------------------------------ memory


def fold_group_size(free_bytes: int, bytes_per_fold: int, n_folds: int) -> int:
    """How many folds to train at once in ``free_bytes`` when one fold needs ``bytes_per_fold``.

    Keeps ``MEMORY_RESERVE`` of the free memory aside and counts each fold
    ``VMAP_OVERHEAD`` times; at least 1, at most ``n_folds``.
    """
    usable = max(0.0, free_bytes * (1 - MEMORY_RESERVE))
    fits = int(usable // max(1.0, bytes_per_fold * VMAP_OVERHEAD))
    return max(1, min(n_folds, fits))


def measure_fold_bytes(build_model: ModelRecipe, data: Any, settings: TrainSettings, choice: DeviceChoice) -> int:
    """The memory one training step of one model needs (a batch of ``settings.batch_size``), in bytes.

    ``data.inputs`` (N, C, H, W) gives the input shape. The dataset itself is not
    counted: it is resident once for all folds. On CUDA the step's measured peak;
    on the CPU, where no allocator reports a peak, the tensors the step keeps for
    its backward pass plus the parameters, their gradients and AdamW's two moments.
    The step is fold 1's first: the model plugin's faults in it are reported as
    training fold 1 reports them (``first_forward``, ``failures_named``).
    """
    device = choice.device
    plugin = plugin_label(build_model)
    model = build_model()
    if not isinstance(model, nn.Module):
        raise UsageError(f"the batched fold trainer trains torch modules only, not a {type(model).__name__} estimator")
    check_weights_hold_data(model, plugin, "fold 1")
    shape = tuple(data.inputs.shape[1:])
    batch = min(settings.batch_size, len(data.inputs))
    with failures_named(plugin, 0):
        if device.type != "cuda":
            return _cpu_step_bytes(model, torch.randn(batch, *shape), build_model.n_classes, plugin)
        return _cuda_step_bytes(model, (batch, *shape), build_model.n_classes, plugin, settings, choice)


def _first_step_loss(model: nn.Module, x: torch.Tensor, n_classes: int, plugin: str) -> torch.Tensor:
    """The loss of ``model``'s training step on ``x``, its forward pass checked as fold 1's first batch."""
    logits = first_forward(lambda: model(x), x, n_classes, plugin, 0)
    return nn.functional.cross_entropy(logits.float(), torch.zeros(len(x), dtype=torch.long, device=x.device))


def _cuda_step_bytes(model: nn.Module, shape: tuple[int, ...], n_classes: int, plugin: str, settings: TrainSettings,
                     choice: DeviceChoice) -> int:
    """The peak of GPU memory a training step of ``model`` on a batch of ``shape`` allocates, AdamW's step included."""
    device = choice.device
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    x = torch.randn(*shape, device=device)
    autocast = torch.autocast("cuda", dtype=choice.amp_dtype) if choice.amp_dtype else nullcontext()
    with autocast:
        loss = _first_step_loss(model, x, n_classes, plugin)
    loss.backward()
    optimizer.step()
    torch.cuda.synchronize(device)
    need = torch.cuda.max_memory_allocated(device) - before
    del model, optimizer, x, loss
    torch.cuda.empty_cache()
    return int(need)


def _cpu_step_bytes(model: nn.Module, x: torch.Tensor, n_classes: int, plugin: str) -> int:
    """Bytes of the tensors a CPU training step of ``model`` on ``x`` saves for its backward pass (each storage
    once), the input, and four copies of the parameters (weights, gradients, AdamW's two moments)."""
    saved: dict[int, int] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        loss = _first_step_loss(model, x, n_classes, plugin)
    loss.backward()
    parameters = sum(p.numel() * p.element_size() for p in model.parameters())
    return sum(saved.values()) + x.nbytes + 4 * parameters
