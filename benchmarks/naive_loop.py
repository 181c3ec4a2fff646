"""A reference training loop written the way public MER code does it, for comparing merbench's speed against.

Public MER code (STSTNet, OFF-ApexNet, HTNet and their reproductions) trains a
protocol's folds one after another, each with a ``torch.utils.data.Dataset``
that opens a sample's image file in ``__getitem__`` and a ``DataLoader`` that
re-reads the files every epoch. This module does exactly that, on the inputs
merbench itself prepared, so the training loop is the only difference:

* the dataset, its preprocessing (merbench's cache) and the protocol's folds
  are merbench's;
* the preprocessed inputs are written once, one float32 ``.npy`` file per
  sample, into a temporary folder (never a dataset root), so every value the
  model sees is bit-identical to what merbench's engine feeds it;
* per fold: channel mean/std from the training files, a fresh model built with
  the same factory after ``torch.manual_seed(fold seed)``, AdamW and OneCycleLR
  set up as ``merbench.engine.train_fold`` does, the same epochs and batch size,
  no test-fold selection, and the test part predicted once at the end.

To give *equal scores*, the batches visit the samples in the order the engine
does (``EngineOrder``: its per-fold ``torch.Generator`` and ``randperm`` per
epoch, dropping a last batch of one), and the ``DataLoader`` draws its base seed
from a private generator instead of torch's global one, which dropout uses.

Run it alone with ``python benchmarks/naive_loop.py --model ststnet --dataset
synthetic --protocol loso``; ``benchmarks/test_bench_loso.py`` times it against
merbench.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from merbench.argument_types import whole_number
from merbench.cache import cache_root
from merbench.config import RunConfig, parse_set, resolve_config
from merbench.contracts import Fold, resolve_factory
from merbench.engine import TrainSettings, adamw, choose_device
from merbench.errors import MerbenchError, UsageError
from merbench.metrics import classification_metrics
from merbench.preflight import check_protocol
from merbench.preprocess import checked_chain, preprocess_dataset, skips_unreadable
from merbench.registry import Registry, get_registry
from merbench.runner import load_dataset
from merbench.splits import check_folds

PREDICT_BATCH = 256  # merbench.engine predicts in batches of this size; the same here keeps outputs identical


def write_sample_files(inputs: np.ndarray, folder: Path) -> list[Path]:
    """Write each sample of ``inputs`` (N, C, H, W) as ``folder/<i>.npy`` (float32); returns the paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, sample in enumerate(inputs):
        path = folder / f"{index:06d}.npy"
        np.save(path, np.ascontiguousarray(sample, dtype=np.float32))
        paths.append(path)
    return paths


def channel_stats(paths: Sequence[Path], positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel mean and std (each (C, 1, 1)) of the training files, computed as merbench's engine does."""
    stacked = torch.from_numpy(np.stack([np.load(paths[i]) for i in positions]))
    mean = stacked.mean(dim=(0, 2, 3), keepdim=True)
    std = stacked.std(dim=(0, 2, 3), keepdim=True).clamp(min=1e-6)
    return mean[0], std[0]


class SampleFiles(Dataset):
    """The samples at ``positions``: each ``__getitem__`` opens one ``.npy`` file and standardises it."""

    def __init__(self, paths: Sequence[Path], labels: np.ndarray, positions: np.ndarray,
                 mean: torch.Tensor, std: torch.Tensor):
        self.paths = paths
        self.labels = labels
        self.positions = positions
        self.mean = mean
        self.std = std

    def __len__(self) -> int:
        """Number of samples."""
        return len(self.positions)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        """The standardised input and the label of the ``item``-th sample."""
        position = self.positions[item]
        x = torch.from_numpy(np.load(self.paths[position]))
        return (x - self.mean) / self.std, int(self.labels[position])


class EngineOrder(Sampler[list[int]]):
    """Batches of dataset items in ``merbench.engine.train_fold``'s order; one pass per epoch.

    Each pass draws ``randperm`` from a generator seeded once with the fold's
    seed, and leaves out a last batch of a single sample (BatchNorm cannot train
    on it), as the engine does.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int):
        self.n_items = n_items
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def steps(self) -> int:
        """Batches per epoch."""
        return max(1, self.n_items // self.batch_size + (self.n_items % self.batch_size > 1))

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.steps()

    def __iter__(self) -> Iterator[list[int]]:
        """One epoch's batches of item numbers."""
        order = torch.randperm(self.n_items, generator=self.generator).tolist()
        for step in range(self.steps()):
            yield order[step * self.batch_size:(step + 1) * self.batch_size]


@dataclass
class NaiveFold:
    """Predictions of one fold's test samples (in ``fold.test`` order), its losses and its time."""

    fold: Fold
    predictions: np.ndarray
    epoch_losses: list[float]
    seconds: float


def class_weights(labels: np.ndarray, n_classes: int, mode: str) -> torch.Tensor | None:
    if mode == "none":
        return None
    counts = torch.bincount(torch.as_tensor(labels), minlength=n_classes).float()
    return counts.sum() / (n_classes * counts.clamp(min=1))


def train_fold_naively(build: Any, paths: Sequence[Path], labels: np.ndarray, fold: Fold, n_classes: int,
                       settings: TrainSettings, seed: int, device: torch.device, num_workers: int = 0,
                       engine_numerics: bool = False) -> NaiveFold:
    """Train a fresh model on ``fold.train`` through a file-reading ``DataLoader``; predict ``fold.test`` once.

    ``build()`` returns a new torch module. ``num_workers`` is the
    ``DataLoader``'s (0: load in this process, as most public code does).
    ``engine_numerics`` uses merbench's channels-last layout and fused AdamW, so
    that the arithmetic, not only the procedure, is merbench's (for the
    equality test); by default the model trains as public code does.
    """
    started = time.perf_counter()
    mean, std = channel_stats(paths, fold.train)
    torch.manual_seed(seed)
    model = build()
    if not isinstance(model, nn.Module):
        raise UsageError(f"the naive reference loop trains torch models only; this model is a {type(model).__name__}")
    layout = torch.channels_last if engine_numerics else torch.contiguous_format
    model = model.to(device, memory_format=layout)
    if engine_numerics:
        optimizer = adamw(model.parameters(), settings.lr, settings.weight_decay)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    order = EngineOrder(len(fold.train), settings.batch_size, seed)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.lr, total_steps=settings.epochs * order.steps(), pct_start=0.2
    )
    weights = class_weights(labels[fold.train], n_classes, settings.class_weighting)
    loss_fn = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device),
                                  label_smoothing=settings.label_smoothing)
    train_loader = DataLoader(SampleFiles(paths, labels, fold.train, mean, std), batch_sampler=order,
                              num_workers=num_workers, generator=torch.Generator())

    epoch_losses = []
    for _ in range(settings.epochs):
        model.train()
        total, seen = 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device).contiguous(memory_format=layout), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(y)
            seen += len(y)
        epoch_losses.append(total / max(seen, 1))

    test_loader = DataLoader(SampleFiles(paths, labels, fold.test, mean, std), batch_size=PREDICT_BATCH,
                             shuffle=False, num_workers=num_workers, generator=torch.Generator())
    model.eval()
    predicted = []
    with torch.inference_mode():
        for x, _ in test_loader:
            predicted.append(model(x.to(device)).argmax(dim=1).cpu())
    return NaiveFold(fold, torch.cat(predicted).numpy(), epoch_losses, time.perf_counter() - started)


@dataclass
class NaiveResult:
    """Pooled metrics and per-sample predictions of a whole protocol trained by the naive loop."""

    pooled: dict[str, float]
    predictions: np.ndarray
    """Predicted class per sample in dataset order (-1 for a sample no fold tested)."""
    labels: np.ndarray
    sample_ids: list[str]
    folds: list[NaiveFold]
    seconds: dict[str, float] = field(default_factory=dict)
    threads: int = 0


@contextmanager
def torch_threads(count: int | None) -> Iterator[int]:
    """Set torch's CPU threads inside the block (``None``: leave them); yields the count in use."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def run_naive(config: RunConfig, registry: Registry | None = None, *, threads: int | None = None,
              num_workers: int = 0, workdir: Path | None = None, engine_numerics: bool = False) -> NaiveResult:
    """Train every fold of ``config`` one after another with the naive loop; return pooled metrics and predictions.

    The dataset, preprocessing (through merbench's cache) and folds are merbench's,
    and each fold's seed is ``config.seed * 1000 + fold index`` as in merbench.
    ``threads`` sets torch's CPU threads for the run (``None``: torch's current
    setting); ``engine_numerics``: see ``train_fold_naively``. The sample files go to a temporary folder under ``workdir`` (the
    system's temporary folder by default), removed afterwards.
    """
    registry = registry or get_registry()
    started = time.perf_counter()
    settings = TrainSettings.from_options(config.section("engine"))
    if settings.early_stopping:
        raise UsageError("the naive reference loop trains a fixed number of epochs; use --set engine.early_stopping=0")
    device = choose_device(config.device, amp="off").device  # float32, as public code trains

    cache_dir = cache_root()
    dataset = load_dataset(config, registry, cache_dir)
    chain = checked_chain(config, registry)
    prep = preprocess_dataset(dataset, chain, cache_dir=cache_dir,
                              workers=int(config.section("engine")["preprocess_workers"]),
                              skip_unreadable=skips_unreadable(config.section("dataset")))
    dataset = prep.dataset or dataset
    check_protocol(config, registry, dataset)  # a split the protocol cannot make: one message, as merbench run says it
    labels, subjects = dataset.labels, dataset.subjects
    split = resolve_factory(registry.get("protocols", config.protocol).split)
    folds = split(labels, subjects, config.seed, dict(config.section("protocol")), dataset.domains)
    check_folds(folds, subjects, config.protocol)
    n_classes = len(dataset.classes)
    channels, size = int(prep.inputs.shape[1]), int(prep.inputs.shape[2])
    factory = resolve_factory(registry.get("models", config.model).build)
    model_options = dict(config.section("model"))

    def build() -> Any:
        return factory(dict(model_options), channels, n_classes, size)

    predictions = np.full(len(labels), -1, dtype=np.int64)
    prepared = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="merbench-naive-", dir=workdir) as folder, torch_threads(threads) as used:
        paths = write_sample_files(prep.inputs, Path(folder))
        written = time.perf_counter()
        trained = []
        for fold in folds:
            output = train_fold_naively(build, paths, labels, fold, n_classes, settings,
                                        config.seed * 1000 + fold.index, device, num_workers, engine_numerics)
            predictions[fold.test] = output.predictions
            trained.append(output)
    finished = time.perf_counter()
    tested = predictions >= 0
    return NaiveResult(
        pooled=classification_metrics(labels[tested], predictions[tested], n_classes),
        predictions=predictions,
        labels=labels,
        sample_ids=[sample.id for sample in dataset.samples],
        folds=trained,
        seconds={"prepare": prepared - started, "write_files": written - prepared,
                 "train_eval": finished - written, "total": finished - started},
        threads=used,
    )


def main(argv: list[str] | None = None) -> int:
    """``python benchmarks/naive_loop.py --model M --dataset D [--root DIR] [--protocol P] ...``: print pooled
    scores and times."""
    from merbench.commands import dataset_folder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--root", type=dataset_folder,
                        help="folder of your copy of the dataset, as for merbench run (not needed for synthetic)")
    parser.add_argument("--protocol")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=whole_number(1), help="torch CPU threads, 1 or more (default: torch's own)")
    parser.add_argument("--num-workers", type=whole_number(0), default=0,
                        help="DataLoader worker processes, 0 or more (default 0: load in the main process)")
    args = parser.parse_args(argv)
    registry = get_registry()
    try:
        config = resolve_config(registry, model=args.model, dataset=args.dataset, protocol=args.protocol,
                                profile=args.profile, seed=args.seed, root=args.root,
                                sets=parse_set(args.sets))
        result = run_naive(config, registry, threads=args.threads, num_workers=args.num_workers)
    except MerbenchError as exc:
        print(f"naive_loop.py: error: {exc}", file=sys.stderr)  # one line, as the merbench command says it
        return 2
    print(json.dumps({"model": config.model, "dataset": config.dataset, "protocol": config.protocol,
                      "folds": len(result.folds), "threads": result.threads,
                      "pooled": {key: round(result.pooled[key], 4) for key in ("uf1", "uar", "accuracy")},
                      "seconds": {key: round(value, 2) for key, value in result.seconds.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
