"""Honest hyper-parameter tuning: nested cross-validation with Optuna (``merbench tune``).

For every outer fold of the chosen protocol an Optuna study (TPE sampler seeded
from the run seed, median pruning after each inner fold) searches the space.
A trial's objective sees only the outer fold's training samples: inner folds
are carved from them by subject, and the objective returns the mean inner UF1.
The configuration with the best inner score is then trained once on the whole
outer training part and scored once on the outer test part; those outer
predictions, pooled over folds, are the tuned result. The outer test samples
never reach an objective (``nested_split`` hands it the training positions
only and ``check_nested`` refuses anything else).

Every trial is kept in an Optuna SQLite storage beside the results store
(``merbench.tuning_storage``; one study per outer fold, named by a content key
of the configuration, space, seed, inner folds and the samples with their
labels), so an interrupted tune continues where it stopped. Each trial and
refit records the software that made it (``merbench.environment``) and the torch
threads of its folds, those ``merbench run`` of its configuration gives its folds
(``run_fold_threads``): reusing work of other software or threads is said, and
recorded in the summary's warnings.
``merbench.tuning_space`` reads the search space, ``merbench.tuning_summary``
builds the result and ``merbench.tuning_report`` prints it.
The pipeline is merbench's own: ``merbench.runner.load_dataset``,
``merbench.preprocess`` (inputs cached by content, so a trial recomputes
inputs only when its ``flow.*`` options are new), ``merbench.config`` and the
fold executors of ``merbench.folds`` (local, or Ray tasks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
import time
import warnings
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from merbench import preprocess  # as a module: tests replace preprocess.preprocess_dataset
from merbench.cache import cache_root, content_key, inputs_key
from merbench.config import (RunConfig, load_config_file, options_file, parse_parallel_folds, resolve_config,
                             with_executor_flag)
from merbench.contracts import Dataset, Fold, resolve_factory
from merbench.engine import TrainSettings, choose_device, torch_threads
from merbench.dataset_check import loader_skip_note
from merbench.environment import current_software, describe_environment, other_tune_software, package_version
from merbench.errors import (DataError, FoldsLost, MerbenchError, PluginError, PredictionFailed, RunFailed,
                             UsageError)
from merbench.folds import FoldData, FoldJob, FoldTask, KeptWorkerFolds, SequentialFolds, plan_executor
from merbench.folds.batched import BatchedFolds
from merbench.held_interrupts import HeldInterrupts
from merbench.leaks import config_leaks
from merbench.metrics import classification_metrics
from merbench.modelinfo import chain_output_shape
from merbench.preflight import check_root, preflight
from merbench.preprocess import checked_chain, skips_unreadable
from merbench.progress import ProgressSink, SilentProgress
from merbench.ray_cluster import RayOptions, join_cluster
from merbench.recorded_files import files_record
from merbench.registry import Registry
from merbench.result import RunResult, document_kind
from merbench.run_settings import changed_settings
from merbench.runner import check_fold_predictions, check_two_classes, load_dataset, model_recipe, plugin_versions
from merbench.splits import (RARE_CLASS_WARNING, check_folds, check_training_classes, protocol_dataset,
                             split_noting_rare_classes, untrained_classes_warning)
from merbench.subject_folds import stratified_subject_folds
from merbench.tuning_space import RUN_ENGINE, SearchSpace, check_bounds, load_space
from merbench.tuning_storage import (check_storage, counted_trials, default_storage, error_text, fail_stale,
                                     first_line, import_optuna, open_storage, storage_lock)
from merbench.tuning_summary import summarise, trial_row, trial_seconds
from merbench.workers import picklable, start_worker_server, stop_workers, usable_cores
from merbench.wording import counted, percent, plural

KEY_VERSION = 1
PRUNER_STARTUP_TRIALS = 3
"""Trials that complete before the median pruner stops any (it needs medians to compare with)."""
MAX_TRIALS = 100_000
"""The most ``--trials`` per outer fold: a mistyped count (``1e30``) would run until killed."""
INPUT_SETS_KEPT = 4
"""Preprocessed input sets (one per distinct preprocessing configuration) kept in memory; the rest are on disk."""


# ------------------------------------------------------------------ request


@dataclass(frozen=True)
class TuneRequest:
    """What ``merbench tune`` was asked for: the run options of ``resolve_config`` plus the search's own."""

    model: str | None
    dataset: str | None
    space: Path
    trials: int
    protocol: str | None = None
    profile: str | None = None
    seed: int | None = None
    device: str = "auto"
    root: Path | None = None
    epochs: int | None = None
    sets: Mapping[str, Any] = field(default_factory=dict)
    config_file: Path | None = None
    inner_folds: int = 3
    workers: int = 1
    executor: str | None = None
    storage: Path | None = None
    resume: bool = False
    fresh: bool = False

    def resolve(self, registry: Registry, values: Mapping[str, Any] | None = None) -> RunConfig:
        """The run configuration with a trial's ``values`` (``section.option`` -> value) on top of ``--set``."""
        sets = with_executor_flag({**self.sets, **(values or {})}, self.executor)
        return resolve_config(registry, model=self.model, dataset=self.dataset, protocol=self.protocol,
                              profile=self.profile, seed=self.seed, device=self.device, root=self.root,
                              epochs=self.epochs, sets=sets, config_file=self.config_file)

    def fixed_keys(self, registry: Registry) -> set[str]:
        """The options the user fixed with ``--set``, ``--config`` or ``--epochs`` (a space may not search them)."""
        keys = set(self.sets) | ({"engine.epochs"} if self.epochs is not None else set())
        if self.config_file is not None:
            keys |= config_file_keys(self.config_file, registry)
        return keys

    def check(self) -> None:
        """Refuse impossible counts before anything is loaded."""
        if not 1 <= self.trials <= MAX_TRIALS:
            raise UsageError(f"--trials {self.trials}: must be 1 to {MAX_TRIALS} (trials per outer fold)")
        if self.inner_folds < 2:
            raise UsageError(f"--inner-folds {self.inner_folds}: must be at least 2 (inner folds are carved by subject)")
        if self.workers < 1:
            raise UsageError(f"--workers {self.workers}: must be at least 1")
        if self.resume and self.fresh:
            raise UsageError("--resume continues the stored trials and --fresh deletes them; give one of them")


def config_file_keys(path: Path, registry: Registry) -> set[str]:
    """The options ``--config path`` fixes: every key of a file of options; of a run's result (``merbench run
    --json``) the options its run changed from its profile's defaults (``merbench.run_settings.changed_settings``),
    not the defaults it recorded with them (every key, when what it changed cannot be told)."""
    keys = set(load_config_file(path))
    data = options_file(path)
    if document_kind(data) != "run":
        return keys
    try:
        changed = changed_settings(RunResult.from_dict(data, f"--config {path}", predictions=False), registry)
    except MerbenchError:
        return keys
    return keys if changed is None else {text.partition("=")[0] for text in changed}


# ------------------------------------------------------------------ nested split


def nested_split(labels: np.ndarray, subjects: np.ndarray, outer: Fold, n_inner: int,
                 seed: int) -> tuple[np.ndarray, list[Fold]]:
    """The positions an objective of ``outer`` may use, and its inner folds over them.

    The positions are the outer fold's training part only; the inner folds
    index into them (local positions), grouped by subject and stratified by
    label, so no subject is in both parts of an inner fold.
    """
    positions = np.asarray(outer.train)
    groups = subjects[positions]
    n_subjects = len(np.unique(groups))
    if n_subjects < n_inner:
        raise UsageError(f"--inner-folds {n_inner}: outer fold {outer.index + 1} has {n_subjects} training subjects, "
                         f"fewer than the inner folds; use --inner-folds {max(2, n_subjects)} or fewer outer folds")
    try:
        with warnings.catch_warnings():  # inner_rare_class_note says it once, in the user's terms
            warnings.filterwarnings("ignore", message=RARE_CLASS_WARNING, category=UserWarning)
            splits = stratified_subject_folds(labels[positions], groups, n_inner, seed)
    except ValueError as exc:
        raise UsageError(f"outer fold {outer.index + 1}: its training part cannot be split into {n_inner} inner folds "
                         f"by subject ({exc}); use fewer --inner-folds") from None
    return positions, [Fold(j, np.asarray(train), np.asarray(test)) for j, (train, test) in enumerate(splits)]


def inner_rare_class_note(labels: np.ndarray, classes: list[str], outer_folds: list[Fold], n_inner: int) -> str | None:
    """One note, in the user's terms, when a class has fewer samples than ``--inner-folds`` in an outer training
    part (so some inner folds have none of it); ``None`` when every class fills every inner fold.

    It names the rarest such class and how many outer training parts are short of it, and suggests as many inner
    folds as that class has samples there.
    """
    fewest: dict[int, int] = {}  # class -> its fewest samples in an outer training part that holds it
    short: dict[int, int] = Counter()  # class -> outer training parts with fewer of it than inner folds
    for outer in outer_folds:
        counts = np.bincount(np.asarray(labels)[np.asarray(outer.train)], minlength=len(classes))
        for index, count in enumerate(int(count) for count in counts):
            if 0 < count < n_inner:
                fewest[index] = min(fewest.get(index, count), count)
                short[index] += 1
    if not fewest:
        return None
    rarest = min(fewest, key=lambda index: (fewest[index], index))
    count = fewest[rarest]
    name = classes[rarest] if rarest < len(classes) else str(rarest)
    where = ("the outer training part" if len(outer_folds) == 1 else
             "every outer training part" if short[rarest] == len(outer_folds) else
             f"{short[rarest]} of {counted(outer_folds, 'outer training part')}")
    advice = f"; consider --inner-folds {count}" if count >= 2 else ""
    return (f"--inner-folds {n_inner}: class '{name}' has only {counted(count, 'sample')} in {where}, so some inner "
            f"folds have none of it{advice}")


def check_nested(positions: np.ndarray, inner: list[Fold], outer: Fold, subjects: np.ndarray) -> None:
    """``RunFailed`` unless the objective's samples are outer training samples and inner folds split by subject."""
    leaked = np.intersect1d(positions, outer.test)
    if leaked.size:
        raise RunFailed(f"outer fold {outer.index + 1}: {counted(int(leaked.size), 'outer test sample')} would reach the tuning "
                        "objective; nothing was tuned. This is a merbench bug: please report it")
    local = subjects[positions]
    for fold in inner:
        if np.intersect1d(fold.train, fold.test).size or set(local[fold.train]) & set(local[fold.test]):
            raise RunFailed(f"outer fold {outer.index + 1}, inner fold {fold.index + 1}: a sample or subject is in both its "
                            "training and test parts. This is a merbench bug: please report it")


# ------------------------------------------------------------------ context


class _Relay:
    """The progress sink handed to fold executors: no per-fold bars, each distinct message once."""

    def __init__(self, progress: ProgressSink):
        self._progress = progress
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def start(self, stage: str, total: int, description: str) -> None:
        """Ignore (a tune shows trials, not epochs)."""

    def advance(self, stage: str, steps: int = 1, note: str | None = None) -> None:
        """Ignore."""

    def message(self, text: str) -> None:
        """Pass a message on the first time it is said."""
        with self._lock:
            if text in self._seen:
                return
            self._seen.add(text)
        self._progress.message(text)


@dataclass
class TuneContext:
    """What every trial and refit of one tune shares."""

    request: TuneRequest
    registry: Registry
    base: RunConfig
    space: SearchSpace
    dataset: Dataset
    outer_folds: list[Fold]
    choice: Any
    progress: ProgressSink
    cache_dir: Path
    inputs: OrderedDict = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    software: dict[str, Any] = field(default_factory=dict)
    """This process's software (``merbench.environment.current_software``, with Optuna's version and Ray's where it
    trains the folds: ``tune_versions``), recorded with each trial and refit."""
    fold_threads: int = 0
    """The torch threads of each refit's fold, as ``merbench run`` of its configuration trains a fold with
    (``run_fold_threads``); those of each trial's inner fold too, unless several local trials run at once."""
    trial_threads: int = 0
    """The torch threads of each trial's inner fold: ``fold_threads``, or with ``--workers N`` local trials the cores
    shared out among them (``trial_thread_count``)."""
    reused_other: list[tuple[str, list[str]]] = field(default_factory=list)
    """Stored trials and refits reused although other software made them: (``trial`` or ``refit``, what differs)."""
    interrupts: HeldInterrupts = field(default_factory=HeldInterrupts)
    """Ctrl-C held back while Optuna writes the trial storage, let through while a trial trains."""
    stopping: threading.Event = field(default_factory=threading.Event)
    """Set when Ctrl-C or SIGTERM stops trials running at once (``run_trials_at_once``)."""
    trial_workers: list = field(default_factory=list)
    """The worker each trial thread keeps (``KeptWorkerFolds``), stopped at once when the trials end or are
    interrupted."""
    thread_state: threading.local = field(default_factory=threading.local)
    """Which of ``trial_workers`` is this thread's."""

    def made_with(self, trial: bool) -> dict[str, Any]:
        """What a trial (``trial``) or refit records it was made with: ``software`` and its folds' torch threads
        (another count sums in another order, as other software would)."""
        return {**self.software, "threads_per_fold": self.trial_threads if trial else self.fold_threads}

    def trial_worker(self) -> KeptWorkerFolds:
        """The worker this trial thread keeps for its trials (made on first use)."""
        worker = getattr(self.thread_state, "worker", None)
        if worker is None:
            worker = self.thread_state.worker = KeptWorkerFolds(on_start=self._stop_if_stopping)
            with self.lock:
                self.trial_workers.append(worker)
        return worker

    def _stop_if_stopping(self, pool: Any) -> None:
        """A trial's worker pool that starts while the tune stops is stopped at once."""
        if self.stopping.is_set():
            stop_workers(pool)

    def stop_trial_workers(self) -> None:
        """End every trial thread's worker, training or not."""
        with self.lock:
            workers = list(self.trial_workers)
        for worker in workers:
            worker.stop()
    preprocessing: dict[str, Any] = field(default_factory=dict)
    """What the base configuration's preprocessing recorded (as a run's ``preprocess``: the resolved flow method,
    clips computed and cached, ``inputs_key``, the SHA-256 of the inputs every trial trains on)."""
    labels: np.ndarray = field(init=False)
    subjects: np.ndarray = field(init=False)
    relay: _Relay = field(init=False)
    """The progress sink of every trial's and refit's fold executor: a message said once per tune, not per outer
    fold (Ray's 'N fold tasks submitted' line was printed 20 times in a tune of 10 outer folds)."""

    def __post_init__(self) -> None:
        self.use_dataset(self.dataset)
        self.relay = _Relay(self.progress)

    def use_dataset(self, dataset: Dataset) -> None:
        """Tune on ``dataset`` (its labels and subjects are read once)."""
        self.dataset, self.labels, self.subjects = dataset, dataset.labels, dataset.subjects

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.dataset.classes)

    @property
    def class_names(self) -> list[str]:
        """The classes' names, as messages name them."""
        return [str(name) for name in self.dataset.classes]


def _preprocessed(ctx: TuneContext, config: RunConfig, first: bool = False) -> np.ndarray:
    """The model inputs of every sample under ``config``'s chain (memoised; on disk by content key)."""
    key = content_key(list(config.preprocess), {name: config.section(name) for name in config.preprocess})
    with ctx.lock:
        if key in ctx.inputs:
            ctx.inputs.move_to_end(key)
            return ctx.inputs[key]
        chain = checked_chain(config, ctx.registry)
        if first:
            ctx.progress.start("preprocess", len(ctx.dataset.samples),
                               f"Preprocessing {config.dataset} ({', '.join(config.preprocess)})")
        prep = preprocess.preprocess_dataset(
            ctx.dataset, chain, cache_dir=ctx.cache_dir,
            on_progress=(lambda n: ctx.progress.advance("preprocess", n)) if first else None,
            workers=int(config.section("engine")["preprocess_workers"]),
            skip_unreadable=skips_unreadable(config.section("dataset")),
            on_warning=lambda text: ctx.progress.message(f"[bold yellow]Warning:[/] {text}"))
        kept = prep.dataset or ctx.dataset
        if first:
            ctx.preprocessing = prep.record()
            if kept is not ctx.dataset:
                check_two_classes(kept, config.dataset, int(prep.details.get("skipped", {}).get("count", 0)))
            ctx.use_dataset(kept)  # clips skipped as unreadable (dataset.strict=false) are left out of every fold
        elif [s.id for s in kept.samples] != [s.id for s in ctx.dataset.samples]:
            raise DataError(f"preprocessing with {content_key(config.sections)[:8]} kept other clips than the first "
                            "preprocessing did; trials must score the same samples (check unreadable frames)")
        ctx.inputs[key] = prep.inputs
        while len(ctx.inputs) > INPUT_SETS_KEPT:
            ctx.inputs.popitem(last=False)
        return prep.inputs


def _job(ctx: TuneContext, config: RunConfig, inputs: np.ndarray) -> Any:
    recipe = model_recipe(config, ctx.registry, inputs.shape[1:], ctx.n_classes)
    return FoldJob(recipe, TrainSettings.from_options(config.section("engine")), ctx.choice)


def _executor(ctx: TuneContext, config: RunConfig, job: Any, data: Any, n_folds: int,
              trial: bool = False) -> tuple[Any, Any]:
    """How one trial's inner folds (``trial``) or one refit train.

    On Ray, and locally with an explicit ``engine.parallel_folds=N``, the plan of
    ``merbench.folds.plan_executor`` (Ray tasks, worker processes). A trial of
    several at once (``--workers N``, local), one fold after another in the worker
    process its thread keeps: trial threads share torch's random generator, which
    model initialisation and dropout draw from, so trials training in threads
    would score one configuration differently by timing. Otherwise one after
    another in this process: a trial's few inner folds would pay for starting
    worker processes again in every trial (a refit runs alone).
    """
    engine = config.section("engine")
    local = config.section("executor")["name"] == "local"
    threads = ctx.trial_threads if trial else ctx.fold_threads
    if local and trial and ctx.request.workers > 1:
        return ctx.trial_worker(), dataclasses.replace(job, threads=threads)
    if local and (ctx.request.workers > 1 or parse_parallel_folds(engine["parallel_folds"]) is None):
        return SequentialFolds(), dataclasses.replace(job, threads=threads)
    executor, job = plan_executor(engine, config.section("executor"), job, data, n_folds)
    if isinstance(executor, BatchedFolds):  # one batched computation: the plan's threads, as a batched run's
        return executor, job
    return executor, dataclasses.replace(job, threads=threads)


def run_fold_threads(ctx: TuneContext, inputs: np.ndarray) -> int:
    """The torch threads ``merbench run`` of the base configuration trains each fold with: its fold plan's
    (``merbench.folds.plan_executor``) for the outer folds, a fold trained on its own (not in a batched group);
    torch's count in this process where the plan leaves it to torch (CUDA without ``engine.threads``).

    Not ``engine.threads`` alone: its default, 0, would leave the count to torch (``OMP_NUM_THREADS``), and a
    fold's arithmetic, hence a refit's scores, depends on it. The options that change it may not be searched.
    """
    import torch

    engine = {**ctx.base.section("engine"), "parallel_mode": "processes"}  # no batched group, nothing measured
    _, job = plan_executor(engine, ctx.base.section("executor"), _job(ctx, ctx.base, inputs),
                           FoldData(inputs, ctx.labels, ctx.subjects), len(ctx.outer_folds))
    return job.threads or torch.get_num_threads()


def _scored(ctx: TuneContext, fold: Fold, output: Any, labels: np.ndarray, plugin: str) -> dict[str, float]:
    check_fold_predictions(fold, output.predictions, ctx.n_classes, plugin)
    return classification_metrics(labels[fold.test], output.predictions, ctx.n_classes)


def inner_seed(run_seed: int, outer_index: int, inner_index: int) -> int:
    """The training seed of inner fold ``inner_index`` of outer fold ``outer_index`` (the same for every trial)."""
    return (run_seed * 1000 + outer_index) * 100 + inner_index + 1


# ------------------------------------------------------------------ search and refit


def trial_failures() -> tuple[type[BaseException], ...]:
    """What fails one trial and lets the search go on: the run's own failures (a diverged loss, values refused
    together) and running out of GPU memory (a configuration too large for the device)."""
    import torch

    return RunFailed, PluginError, UsageError, torch.cuda.OutOfMemoryError


OUT_OF_MEMORY = "ran out of GPU memory"


def out_of_memory_text(exc: BaseException, what: str = "the inner folds") -> str:
    """A trial's error for ``torch.cuda.OutOfMemoryError`` (a refit's with ``what="the refit"``), after letting the
    cached GPU memory go (the next trial or refit starts with what the failed one held)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    detail = first_line(exc)
    return (f"{what} {OUT_OF_MEMORY}" + (f" ({detail})" if detail else "") + "; this configuration "
            "does not fit the device: a smaller model, engine.batch_size or fewer --workers would")


def narrowing_example(errors: list[str]) -> str:
    """How to narrow the search space after ``errors`` failed every trial or refit of a fold: smaller
    configurations when each ran out of GPU memory, a lower learning rate when training diverged, else leaving out
    what the failures name (a model plugin's fault, which the learning rate does not cause)."""
    if errors and all(OUT_OF_MEMORY in error for error in errors):
        return "e.g. smaller model.* ranges or a lower engine.batch_size bound"
    if errors and all("training diverged" in error for error in errors):
        return "e.g. a lower engine.lr bound"
    return "leave out the values the failures name, or fix what the first one says"


def make_objective(ctx: TuneContext, optuna: Any, outer: Fold, positions: np.ndarray, inner: list[Fold]) -> Any:
    """The objective of outer fold ``outer``: mean inner UF1 of a trial's configuration on ``positions`` only."""
    labels = ctx.labels[positions]
    subjects = ctx.subjects[positions]
    relay = ctx.relay

    def objective(trial: Any) -> float:
        values = ctx.space.suggest(trial)
        trial.set_user_attr("software", ctx.made_with(trial=True))  # a later tune reusing it compares it with its own
        scores: dict[int, float] = {}

        def on_done(task: Any, output: Any) -> None:
            scores[task.fold.index] = _scored(ctx, task.fold, output, labels, job.recipe.plugin)["uf1"]
            with ctx.interrupts.held():
                trial.report(float(np.mean(list(scores.values()))), len(scores) - 1)
                pruned = len(scores) < len(tasks) and trial.should_prune()
                if pruned:
                    trial.set_user_attr("inner_uf1", [scores[j] for j in sorted(scores)])
            if pruned:
                raise optuna.TrialPruned(f"inner UF1 below the median after {counted(scores, 'inner fold')}")

        try:
            # Each bound of the space was checked before the search; values that fail only together (a model.patch
            # larger than a small flow.size) are refused here, as a UsageError: that trial fails, the search goes on.
            with ctx.interrupts.allowed():
                config = ctx.request.resolve(ctx.registry, values)
                inputs = _preprocessed(ctx, config)[positions]
                data = FoldData(inputs, labels, subjects)
                job = _job(ctx, config, inputs)
                executor, job = _executor(ctx, config, job, data, len(inner), trial=True)
                tasks = [FoldTask(fold, inner_seed(ctx.base.seed, outer.index, fold.index), of=len(inner))
                         for fold in inner]
                executor.run(job, data, tasks, on_done, relay)
        except trial_failures() as exc:
            if ctx.stopping.is_set():  # its worker was stopped by Ctrl-C: interrupted (redone by the next tune)
                raise KeyboardInterrupt from None
            text = (out_of_memory_text(exc) if not isinstance(exc, MerbenchError) else
                    searched_advice(f"inner {exc}" if str(exc).startswith("fold ") else str(exc),  # "fold N": inner
                                    ctx.space))
            trial.set_user_attr("error", text)
            ctx.progress.message(f"[yellow]Note:[/] outer fold {outer.index + 1}, trial {trial.number} failed "
                                 f"and is left out of the selection: {text}")
            raise
        trial.set_user_attr("inner_uf1", [scores[j] for j in sorted(scores)])
        return float(np.mean([scores[j] for j in sorted(scores)]))

    return objective


def _key_parts(ctx: TuneContext) -> list[Any]:
    """What a tune's studies are keyed on besides the labels: configuration (less how it runs), space, seed, inner
    folds and the sample ids."""
    base = ctx.base
    sections = {name: dict(values) for name, values in base.sections.items() if name != "executor"}
    sections["engine"] = {k: v for k, v in sections["engine"].items() if k not in RUN_ENGINE}
    return ["merbench tune", KEY_VERSION, base.model, base.dataset, base.protocol, base.profile, base.seed,
            str(base.root), list(base.preprocess), sections, ctx.space.key_parts(), ctx.request.inner_folds,
            [s.id for s in ctx.dataset.samples]]


def sample_labels(ctx: TuneContext) -> dict[str, list[str]]:
    """The class list and each sample's class name: a coding sheet whose emotions were corrected (same clip ids)
    gives other ones, so the tune's trials and refits are not reused (their predictions were scored on the old)."""
    classes = ctx.class_names
    return {"classes": classes, "labels": [classes[int(label)] for label in ctx.labels]}


def study_key(ctx: TuneContext) -> str:
    """The content key of a tune: configuration (less how it runs), space, seed, inner folds, the samples and their
    labels (``sample_labels``)."""
    return content_key(*_key_parts(ctx), sample_labels(ctx))


def clips_key(ctx: TuneContext) -> str:
    """``study_key`` without the labels (the study key before merbench keyed studies by labels): studies of the same
    options and clips under other labels are found by it (``other_label_studies``)."""
    return content_key(*_key_parts(ctx))


def study_name(ctx: TuneContext, key: str, outer: Fold) -> str:
    """The Optuna study of one outer fold."""
    return f"{ctx.base.model} {ctx.base.dataset} {ctx.base.protocol} fold {outer.index} {key[:16]}"


def search_fold(ctx: TuneContext, optuna: Any, storage: Any, key: str, outer: Fold) -> Any:
    """Run (or continue) outer fold ``outer``'s study until it holds ``--trials`` counted trials; returns it."""
    positions, inner = nested_split(ctx.labels, ctx.subjects, outer, ctx.request.inner_folds, ctx.base.seed)
    check_nested(positions, inner, outer, ctx.subjects)
    study = optuna.create_study(study_name=study_name(ctx, key, outer), storage=storage, direction="maximize",
                                load_if_exists=True,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS))
    stale = fail_stale(optuna, storage, study)
    counted_before = counted_trials(optuna, study)
    done = len(counted_before)
    study.sampler = _sampler(optuna, ctx, outer, done)
    _set_attrs(study, {"outer_fold": outer.index, "test_ids": [ctx.dataset.samples[i].id for i in outer.test],
                       "clips_key": clips_key(ctx)})
    total = ctx.request.trials
    for trial in counted_before[:total]:
        note_reuse(ctx, "trial", trial.user_attrs.get("software"))
    if total > done:
        _set_attrs(study, {"software": ctx.software})  # the software that made its latest trials
    ctx.progress.start("trials", total, f"Outer fold {outer.index + 1}/{len(ctx.outer_folds)}: trials")
    if done:
        ctx.progress.advance("trials", min(done, total))
        ctx.progress.message(f"Outer fold {outer.index + 1}: {min(done, total)} of {total} trials reused from "
                             f"the stored study" + (f" ({counted(stale, 'interrupted trial')} will be redone)" if stale else ""))
    elif stale:
        ctx.progress.message(f"Outer fold {outer.index + 1}: no trial of the stored study had finished; its "
                             f"{counted(stale, 'interrupted trial')} will be redone")
    remaining = total - done
    if remaining > 0:
        def finished(study: Any, trial: Any) -> None:
            best = _best(optuna, study, total)
            ctx.progress.advance("trials", 1, note=f"best inner UF1 {percent(best.value)} %" if best else None)

        objective = make_objective(ctx, optuna, outer, positions, inner)
        if ctx.request.workers > 1:  # trials at once: their order depends on timing, so one sampler serves them all
            run_trials_at_once(ctx, study, objective, remaining, finished)
            return study
        for _ in range(remaining):
            # Each trial samples from a seed of its place in the study: with the same finished trials before it, it
            # is the same trial whether or not the tune was interrupted and resumed in between.
            study.sampler = _sampler(optuna, ctx, outer, len(counted_trials(optuna, study)))
            with ctx.interrupts.installed(), ctx.interrupts.held():  # Optuna's storage writes are not cut short
                study.optimize(objective, n_trials=1, catch=trial_failures(), callbacks=[finished],
                               gc_after_trial=False)
    return study


def run_trials_at_once(ctx: TuneContext, study: Any, objective: Any, remaining: int, finished: Any) -> None:
    """Run ``remaining`` trials of ``study``, ``--workers`` at once: each thread takes the next trial and trains its
    inner folds in a worker process of its own (``_executor``).

    Ctrl-C or SIGTERM stops the trials' worker processes at once and waits only for their threads to record them
    as interrupted (the next tune redoes them); Optuna's own ``n_jobs`` waited for every running trial to finish.
    Each thread is waited for until it has recorded its trials (``_TrialThread``), so none is left RUNNING.
    """
    lock = threading.Lock()
    left = [remaining]
    failures: list[BaseException] = []

    def take() -> bool:
        with lock:
            if left[0] <= 0 or ctx.stopping.is_set():
                return False
            left[0] -= 1
            return True

    def work() -> None:
        try:
            while take():
                study.optimize(objective, n_trials=1, catch=trial_failures(),
                               callbacks=[finished], gc_after_trial=False)
        except BaseException as exc:  # noqa: BLE001 - said by the main thread, unless the tune is stopping
            if not ctx.stopping.is_set():
                failures.append(exc)
                ctx.stopping.set()

    start_worker_server()  # once, here, before the trial threads start their worker processes
    threads = [_TrialThread(work, f"merbench-trial-{n}") for n in range(min(ctx.request.workers, remaining))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.wait()
    except BaseException:
        ctx.stopping.set()
        ctx.stop_trial_workers()
        for thread in threads:
            thread.wait_if_begun()  # one that begins now takes no trial (``take``)
        raise
    finally:
        ctx.stop_trial_workers()
        ctx.trial_workers.clear()
    if failures:
        raise failures[0]


class _TrialThread:
    """A trial thread of ``run_trials_at_once`` that says when its work began and ended.

    Not ``Thread.join`` or ``is_alive``: on Python 3.11 a signal whose handler raises while they look at a running
    thread marks it as stopped, and an interrupted tune would exit before that thread recorded its trial.
    """

    def __init__(self, work: Any, name: str):
        self.began = threading.Event()
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)

    def _run(self, work: Any) -> None:
        self.began.set()
        try:
            work()
        finally:
            self.ended.set()

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wait(self) -> None:
        """Wait until the work ends (in short waits: where signals do not cut a lock's wait short, as on Windows,
        Ctrl-C still stops it)."""
        while not self.ended.wait(0.1):
            pass

    def wait_if_begun(self) -> None:
        """Wait until the work ends, if it has begun."""
        if self.began.is_set():
            self.wait()


def _set_attrs(study: Any, attrs: Mapping[str, Any]) -> None:
    """Set the study's user attributes that differ from the stored ones (a tune that reuses everything writes none)."""
    for name, value in attrs.items():
        if study.user_attrs.get(name) != value:
            study.set_user_attr(name, value)


def note_reuse(ctx: TuneContext, what: str, stored: Mapping[str, Any] | None) -> None:
    """Remember a reused stored ``what`` (``trial``, ``refit``) that software other than this process's made.

    ``stored`` is the software recorded with it (``None`` for one stored before merbench recorded it: then each
    version reads ``unknown``, as ``merbench.environment.other_tune_software`` compares).
    """
    changed = other_tune_software(dict(stored or {}), ctx.made_with(trial=what == "trial"))
    if changed:
        ctx.reused_other.append((what, changed))


def other_software_note(reused: list[tuple[str, list[str]]]) -> str | None:
    """The one warning on stored trials and refits reused from other software, naming what differs (stored → now);
    ``None`` when there were none."""
    if not reused:
        return None
    counts = Counter(what for what, _ in reused)
    changes = list(dict.fromkeys(change for _, changed in reused for change in changed))
    parts = [counted(counts[what], f"stored {what}") for what in ("trial", "refit") if counts[what]]
    return (f"{' and '.join(parts)} reused by this tune were made by other software, so the tuned scores do not "
            f"measure this code alone; run with --fresh to redo them with it. Stored → now: {'; '.join(changes)}")


def _sampler(optuna: Any, ctx: TuneContext, outer: Fold, counted: int) -> Any:
    """A TPE sampler seeded by the run seed, the outer fold and how many trials the study already counts."""
    return optuna.samplers.TPESampler(seed=int(content_key(ctx.base.seed, outer.index, counted)[:8], 16))


def _best(optuna: Any, study: Any, trials: int) -> Any:
    """The best complete trial among the first ``trials`` counted ones (lowest number on ties), or ``None``."""
    counted = counted_trials(optuna, study)[:trials]
    complete = [t for t in counted if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def selected_trial(optuna: Any, study: Any, trials: int, outer: Fold) -> Any:
    """The trial whose configuration outer fold ``outer`` uses; ``RunFailed`` when no trial completed."""
    best = _best(optuna, study, trials)
    if best is None:
        errors = [t.user_attrs["error"] for t in counted_trials(optuna, study) if "error" in t.user_attrs]
        cause = f"; the first failure: {errors[0]}" if errors else ""
        raise RunFailed(f"outer fold {outer.index + 1}: no trial completed{cause}. Narrow the search space "
                        f"({narrowing_example(errors)}) and run again; completed trials are kept")
    return best


def refit_fold(ctx: TuneContext, outer: Fold, params: Mapping[str, Any]) -> dict[str, Any]:
    """Train the selected configuration once on the outer training part and predict the outer test part once."""
    config = ctx.request.resolve(ctx.registry, params)
    inputs = _preprocessed(ctx, config)
    data = FoldData(inputs, ctx.labels, ctx.subjects)
    job = _job(ctx, config, inputs)
    executor, job = _executor(ctx, config, job, data, 1)
    outputs: list[Any] = []
    executor.run(job, data, [FoldTask(outer, ctx.base.seed * 1000 + outer.index, of=len(ctx.outer_folds))],
                 lambda task, output: outputs.append(output), ctx.relay)
    output = outputs[0]
    metrics = _scored(ctx, outer, output, ctx.labels, job.recipe.plugin)
    return {"predictions": [int(p) for p in output.predictions], "metrics": metrics, "seconds": output.seconds,
            "final_train_loss": output.final_loss, "epochs_trained": len(output.epoch_losses),
            "selected_epoch": output.selected_epoch, "selected_on": output.selected_on,
            "inputs_key": inputs_key(inputs)}


def searched_advice(text: str, space: SearchSpace) -> str:
    """An error's text without advice to ``--set`` a searched option (a tune refuses that): ``now --set
    engine.lr=0.5`` reads ``now engine.lr=0.5``."""
    for key in space.keys():
        text = text.replace(f"--set {key}=", f"{key}=")
    return text


def refit_failures() -> tuple[type[BaseException], ...]:
    """What fails one refit and lets the next-best trial's refit go on: a diverged loss and running out of GPU
    memory (the configuration does not fit the device when trained on the whole outer training part)."""
    import torch

    return RunFailed, torch.cuda.OutOfMemoryError


def refit_error(exc: BaseException, space: SearchSpace) -> str:
    """A failed refit's error without the engine's ``fold N, `` (the outer fold is named by the message around it);
    running out of GPU memory lets the cached GPU memory go (``out_of_memory_text``)."""
    if not isinstance(exc, RunFailed):
        return out_of_memory_text(exc, "the refit")
    return searched_advice(re.sub(r"^fold \d+(, |: )", "", str(exc)), space)


def _refit_failed_note(outer: Fold, place: int, first: bool, error: str, then: str) -> str:
    rank = "the best by inner UF1" if first else "the next best"
    return f"outer fold {outer.index + 1}: the refit of trial {place}, {rank}, failed ({error}); {then}"


def refit_fallback_warning(fold: Mapping[str, Any]) -> str | None:
    """The warning of a fold (a ``tune_fold`` summary) scored with another trial than its best because the best's
    refit failed; ``None`` when its best trial was refitted."""
    failed = fold.get("refits_failed")
    if not failed:
        return None
    which = ", ".join(str(entry["trial"]) for entry in failed)
    errors = "; ".join(f"trial {entry['trial']}: {entry['error']}" for entry in failed)
    return (f"outer fold {fold['fold'] + 1}: the refit of {plural(failed, 'trial')} {which} failed ({errors}), so the "
            f"fold is scored with trial {fold['selected_trial']}, the best by inner UF1 whose refit trained")


def selected_refit(ctx: TuneContext, optuna: Any, study: Any, trials: list[Any],
                   outer: Fold) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """The trial outer fold ``outer`` uses, its refit and the refits that failed before it (place and error).

    The complete trials are tried by inner UF1 (the lowest number on ties): one whose refit fails (its training
    diverged on the whole outer training part, or it ran out of GPU memory there) is recorded in the study as failed
    and the next is refitted, so a resumed tune skips it as the first run did. ``UsageError`` when every complete trial's refit failed.
    A refit that trained but scored the outer test part NaN (``PredictionFailed``) is raised as it is: the next best
    would be chosen by the test part's inputs.
    """
    selected_trial(optuna, study, ctx.request.trials, outer)  # RunFailed when no trial completed
    states = optuna.trial.TrialState
    ranked = sorted((t for t in trials if t.state == states.COMPLETE and t.value is not None),
                    key=lambda t: (-t.value, t.number))
    failed = dict(study.user_attrs.get("refits_failed") or {})  # str(trial number) -> error
    place = {t.number: i for i, t in enumerate(trials)}
    said = []
    for trial in ranked:
        params = dict(trial.params)
        error = failed.get(str(trial.number))
        if error is None:
            stored = study.user_attrs.get("refit")
            if stored and stored.get("trial") == trial.number and stored.get("params") == params:
                ctx.progress.message(f"Outer fold {outer.index + 1}: refit of trial {place[trial.number]} reused "
                                     "from the stored study")
                note_reuse(ctx, "refit", stored.get("software"))
                return trial, stored, said
            try:
                refit = {"trial": trial.number, "params": params, **refit_fold(ctx, outer, params),
                         "software": ctx.made_with(trial=False)}
            except FoldsLost:  # a worker or task lost, not the configuration: the next tune redoes the refit
                raise
            except PredictionFailed as exc:
                raise PredictionFailed(
                    f"outer fold {outer.index + 1}: the refit of trial {place[trial.number]} trained, but "
                    f"{refit_error(exc, ctx.space)}. The next-best trial is not refitted instead, since the outer test "
                    f"part's inputs would then choose the configuration; narrow --space {ctx.space.path} "
                    f"({narrowing_example([str(exc)])}) and run again; the stored trials are kept") from None
            except refit_failures() as exc:
                error = failed[str(trial.number)] = refit_error(exc, ctx.space)
                study.set_user_attr("refits_failed", failed)
            else:
                study.set_user_attr("refit", refit)
                _set_attrs(study, {"software": ctx.software})
                return trial, refit, said
        said.append({"trial": place[trial.number], "error": error})
        following = ranked[ranked.index(trial) + 1:]
        if following:
            ctx.progress.message("[yellow]Note:[/] " + _refit_failed_note(
                outer, place[trial.number], len(said) == 1, error,
                f"trial {place[following[0].number]}, the next best, is refitted instead"))
    first = said[0]
    raise UsageError(_refit_failed_note(outer, first["trial"], True, first["error"], (
        f"the {plural(len(said) - 1, 'refit')} of the {counted(len(said) - 1, 'other complete trial')} failed too"
        if len(said) > 1 else
        "no other trial completed") + f", so outer fold {outer.index + 1} has no configuration to score; narrow "
        f"--space {ctx.space.path} ({narrowing_example([entry['error'] for entry in said])}) and run again; the "
        "stored trials are kept"))


def tune_fold(ctx: TuneContext, optuna: Any, storage: Any, key: str, outer: Fold) -> dict[str, Any]:
    """Search, select and refit one outer fold; the fold's summary (its refit is stored with the study)."""
    study = search_fold(ctx, optuna, storage, key, outer)
    trials = counted_trials(optuna, study)[:ctx.request.trials]
    best, refit, refits_failed = selected_refit(ctx, optuna, study, trials, outer)
    params = dict(best.params)
    place = {t.number: i for i, t in enumerate(trials)}  # the trial numbers an uninterrupted tune would show
    states = Counter(t.state.name.lower() for t in trials)
    samples = ctx.dataset.samples
    return {
        "fold": outer.index,
        "study": study.study_name,
        "test_subjects": sorted({str(samples[i].subject) for i in outer.test}),
        "n_train": int(len(outer.train)),
        "n_test": int(len(outer.test)),
        "selected": params,
        "selected_trial": place[best.number],
        "inner_uf1": best.value,
        "inner_uf1_per_fold": best.user_attrs.get("inner_uf1"),
        "trial_counts": {"complete": states.get("complete", 0), "pruned": states.get("pruned", 0),
                         "failed": states.get("fail", 0)},
        "trials": [trial_row(t, place[t.number]) for t in trials],
        "trial_seconds": sum(trial_seconds(t) for t in trials),
        "inner_fits": sum(len(t.user_attrs.get("inner_uf1") or []) for t in trials),
        "metrics": refit["metrics"],
        "predictions": refit["predictions"],
        "refit_seconds": refit["seconds"],
        "epochs_trained": refit["epochs_trained"],
        "selected_epoch": refit["selected_epoch"],
        "selected_on": refit.get("selected_on"),  # absent from refits stored by older versions
        "inputs_key": refit.get("inputs_key"),  # the refit's inputs: another preprocessing where the space searched it
        "refits_failed": refits_failed,
    }


# ------------------------------------------------------------------ entry point


REFUSED_LEAKS = {
    "selection": "engine.select_on=test: merbench tune refuses it: each outer refit would keep the epoch that scored "
                 "best on its own outer test fold, so test folds would take part in the choice; drop it (the default, "
                 "validation, chooses on training subjects only)",
    "normalisation": "engine.normalise_on=all: merbench tune refuses it: inputs would be standardised with statistics "
                     "of the outer test samples too; drop it (the default, train, uses the training part only)",
}
"""The leak kinds of ``merbench.leaks`` that a tune refuses before it runs, with the message."""


def refuse_leaks(config: RunConfig, registry: Registry) -> None:
    """``UsageError`` when the configuration lets test samples take part in training or selection.

    ``merbench.leaks.config_leaks`` names the leaks; a tune refuses the engine's
    (``REFUSED_LEAKS``: ``engine.select_on=test``, ``engine.normalise_on=all``):
    the tuned result would no longer be scored on outer test folds that took no
    part in any choice. A protocol that is not subject-independent
    (``sample-10fold``, ``frame-10fold``) is allowed, as for ``merbench run``:
    its warning is shown and the summary records the leak.
    """
    refused = [REFUSED_LEAKS[kind] for kind in config_leaks(config, registry) if kind in REFUSED_LEAKS]
    if refused:
        raise UsageError("; ".join(refused) + " (docs/tuning.md, docs/leakage.md)")


def check_model(config: RunConfig, registry: Registry, shape: tuple[int, ...], n_classes: int = 3) -> None:
    """Build ``config``'s model for ``shape`` (C, H, W) as a fold would, on the meta device where it allows.

    Raises the model's ``UsageError`` (e.g. ``model.patch=64: must be between 1
    and the input size 28``), or a ``UsageError`` for any other build failure.
    ``n_classes`` is 3 (MEGC2019's) before the dataset is loaded.
    """
    import torch

    recipe = model_recipe(config, registry, shape, n_classes)
    try:
        with torch.device("meta"):
            recipe()
        return
    except UsageError:
        raise
    except MerbenchError:  # some factories compute on tensors while building: build for real
        pass
    try:
        recipe()
    except UsageError:
        raise
    except MerbenchError as exc:
        raise UsageError(f"model '{config.model}' cannot be built for input {tuple(shape)}: {exc}") from None


def _check_value(request: TuneRequest, registry: Registry, key: str, value: Any,
                 beside: Mapping[str, Any] | None = None) -> Any:
    """What the run would refuse of ``key=value`` (with the searched settings ``beside``): the resolved options, the
    preprocessing chain and, when the input it gives is known without data, the model built for it; the value
    ``key`` resolves to."""
    config = request.resolve(registry, {**(beside or {}), key: value})
    shape = chain_output_shape(checked_chain(config, registry))  # a preprocessor refuses more than its ranges
    if shape is not None:
        check_model(config, registry, shape)
    section, _, option = key.partition(".")
    return config.section(section)[option]


def prepare(request: TuneRequest, registry: Registry) -> tuple[RunConfig, SearchSpace]:
    """Resolve and check the configuration and the space before anything is loaded or stored.

    Leaky engine settings are refused (``refuse_leaks``); every bound and choice
    of the space is resolved, its preprocessing chain built and, where the
    input shape is known without data, its model built (``check_model``).
    """
    request.check()
    base = request.resolve(registry)
    refuse_leaks(base, registry)
    check_root(base, registry)
    chain = checked_chain(base, registry)
    shape = chain_output_shape(chain)
    if shape is not None:
        check_model(base, registry, shape)
    space = load_space(request.space, base.sections,
                       lambda key, value, beside=None: _check_value(request, registry, key, value, beside),
                       request.fixed_keys(registry))
    return base, space


def check_models_on_data(request: TuneRequest, registry: Registry, base: RunConfig, space: SearchSpace,
                         shape: tuple[int, ...], n_classes: int) -> None:
    """Build the model of the base configuration and of every ``model.*`` bound and choice for ``shape``, the
    input as preprocessed, when ``prepare`` could not know it (or knew another); before any trial, naming the
    space file and key like ``prepare``."""
    if chain_output_shape(checked_chain(base, registry)) == tuple(shape):
        return  # prepare built them for this input already
    check_model(base, registry, shape, n_classes)
    for param in space.params:
        if param.section == "model":
            others = tuple(other for other in space.params if other is not param)
            check_bounds(param, f"--space {space.path}: {param.key}", lambda key, value, beside=None: check_model(
                request.resolve(registry, {**(beside or {}), key: value}), registry, shape, n_classes), others)


@contextlib.contextmanager
def _trial_threads(request: TuneRequest, base: RunConfig) -> Iterator[None]:
    """With several local trial threads, one torch thread count for all of them (cores shared out)."""
    if request.workers <= 1 or base.section("executor")["name"] != "local":
        yield
        return

    with torch_threads(trial_thread_count(request, base)):
        yield


def threaded_trials_warning(ctx: TuneContext, inputs: np.ndarray) -> str | None:
    """Why ``--workers N`` trials cannot each keep a worker process, when the model cannot be sent to one.

    Its trials then train in threads of this process, which share torch's random
    generator (model initialisation, dropout): a configuration's inner scores
    depend on timing, so the same command can select other configurations.
    """
    if ctx.request.workers <= 1 or ctx.base.section("executor")["name"] != "local":
        return None
    job = _job(ctx, ctx.base, inputs)
    if picklable(job):
        return None
    return (f"{job.recipe.plugin} cannot be sent to worker processes (a lambda or local class), so the "
            f"{ctx.request.workers} trials at once train in threads of this process; they share torch's random "
            "generator, so a configuration's inner scores depend on timing and this command may select other "
            "configurations when run again: use --workers 1 for repeatable trials, or make the plugin's build a "
            "module-level function")


def trial_thread_count(request: TuneRequest, config: RunConfig) -> int:
    """The torch threads of each of ``--workers N`` local trials at once: ``engine.threads``, else the cores shared
    out among them."""
    return int(config.section("engine")["threads"]) or max(1, usable_cores() // request.workers)


def run_tune(request: TuneRequest, registry: Registry, progress: ProgressSink | None = None) -> dict[str, Any]:
    """Run (or continue) a nested cross-validated search and return its summary (see ``summarise``)."""
    optuna = import_optuna()
    progress = progress or SilentProgress()
    started = time.perf_counter()
    base, space = prepare(request, registry)
    storage_path = check_storage(request.storage, request.storage is not None)
    preflight(base, registry)
    cache_dir = cache_root(create=False)
    dataset = load_dataset(base, registry, cache_dir)  # the protocol expands it as merbench run's does (frame-10fold)
    warnings = []
    left_out = loader_skip_note(dataset, base.dataset, base.root, base.section("dataset"),  # as merbench run says it
                                registry.get("datasets", base.dataset).options)
    if left_out:
        progress.message(f"[yellow]Note:[/] {left_out}")
        warnings.append(left_out)
    dataset = protocol_dataset(dataset, registry.get("protocols", base.protocol), dict(base.section("protocol")))
    choice = choose_device(base.device, base.section("engine")["amp"])
    progress.message(f"Device: {choice.description}")
    ctx = TuneContext(request, registry, base, space, dataset, [], choice, progress, cache_dir,
                      software={**current_software(), **tune_versions(optuna, base),
                                "plugins": plugin_versions(base, registry), **files_record(base, registry)})
    inputs = _preprocessed(ctx, base, first=True)
    check_models_on_data(request, registry, base, space, tuple(inputs.shape[1:]), ctx.n_classes)
    threaded = threaded_trials_warning(ctx, inputs)
    if threaded:
        progress.message(f"[bold yellow]Warning:[/] {threaded}")
        warnings.append(threaded)
    protocol = registry.get("protocols", base.protocol)
    split = resolve_factory(protocol.split)
    ctx.outer_folds = outer_split(ctx, split)
    check_folds(ctx.outer_folds, ctx.subjects, base.protocol)
    ctx.fold_threads = run_fold_threads(ctx, inputs)
    local_trials = request.workers > 1 and base.section("executor")["name"] == "local"
    ctx.trial_threads = trial_thread_count(request, base) if local_trials else ctx.fold_threads
    untrained = untrained_classes_warning(ctx.outer_folds, ctx.labels, ctx.class_names, "outer")
    if untrained:
        progress.message(f"[bold yellow]Warning:[/] {untrained}")
        warnings.append(untrained)
    for outer in ctx.outer_folds:  # every inner split is checked before the first trial
        positions, inner = nested_split(ctx.labels, ctx.subjects, outer, request.inner_folds, base.seed)
        check_training_classes(inner, ctx.labels[positions], ctx.class_names, "",
                               f"outer fold {outer.index + 1}: inner",
                               f"the outer fold's training subjects are too few per class for --inner-folds "
                               f"{request.inner_folds}: use "
                               + ("fewer inner folds (2 at least) or " if request.inner_folds > 2 else "")
                               + "a dataset with more subjects of each class")
    rare = inner_rare_class_note(ctx.labels, ctx.class_names, ctx.outer_folds, request.inner_folds)
    if rare:
        progress.message(f"[yellow]Note:[/] {rare}")  # shown literally: no escape()
    if protocol.warning:
        progress.message(f"[bold yellow]Warning:[/] {protocol.warning}")
    key = study_key(ctx)
    if request.resume and not storage_path.exists():  # refused without creating the storage file
        raise _nothing_to_resume(ctx)
    with storage_lock(storage_path, study=key):  # tunes of other options may share the file
        with storage_lock(storage_path, wait=True):  # one at a time makes Optuna's tables in a new file
            storage = open_storage(optuna, storage_path)
        _check_resume(ctx, optuna, storage, key)
        if base.section("executor")["name"] == "ray":  # a request no node can meet: refused once, not per trial
            join_cluster(RayOptions.from_section(base.section("executor")), progress.message, base.device)
        progress.message(f"Trials: {request.trials} per outer fold, {request.inner_folds} inner folds by subject, "
                         f"{request.workers} at a time; stored in {storage_path}")
        folds = []
        progress.start("outer", len(ctx.outer_folds), f"Outer folds ({base.protocol})")
        try:
            with _trial_threads(request, base):
                for outer in ctx.outer_folds:
                    try:
                        folds.append(tune_fold(ctx, optuna, storage, key, outer))
                    except optuna.exceptions.StorageInternalError as exc:
                        raise RunFailed(f"the trials storage {storage_path} failed ({error_text(exc)}); the trials "
                                        "finished before are kept: free some space or fix the file (is it "
                                        "writable?), then run the same command again") from None
                    progress.advance("outer", 1, note=f"fold {outer.index + 1}: outer UF1 "
                                                      f"{percent(folds[-1]['metrics']['uf1'])} %")
        except KeyboardInterrupt as stop:
            stop.stored_trials = stored_trials(ctx, optuna, storage, key)  # what the command's message says
            raise
    warnings.extend(filter(None, map(refit_fallback_warning, folds)))

    search = {
        "trials_per_fold": request.trials,
        "inner_folds": request.inner_folds,
        "inner_split": "StratifiedGroupKFold by subject over each outer fold's training samples only",
        "objective": "mean UF1 over the inner folds",
        "sampler": "TPE (Optuna), seeded from the run seed and outer fold",
        "pruner": f"median (Optuna MedianPruner, after {PRUNER_STARTUP_TRIALS} trials), checked after each inner fold",
        "workers": request.workers,
        "executor": base.section("executor")["name"],
        "threads_per_fold": {"trials": ctx.trial_threads, "refits": ctx.fold_threads},
        "storage": str(storage_path),
        "key": key,
        "reused_other_software": sorted({change for _, changed in ctx.reused_other for change in changed}),
    }
    software_note = other_software_note(ctx.reused_other)
    if software_note:
        warnings.append(software_note)  # print_summary prints it with the tables
    environment = {**describe_environment(choice.description), **tune_versions(optuna, base),
                   "plugins": plugin_versions(base, registry), **files_record(base, registry),
                   "torch_threads": str(ctx.fold_threads)}  # the refits' (a run's folds'), not this process's
    return summarise(folds, ctx.outer_folds, ctx.dataset, base, space, protocol, search, environment,
                     time.perf_counter() - started, warnings, ctx.preprocessing)


def tune_versions(optuna: Any, config: RunConfig) -> dict[str, str | None]:
    """The versions a tune depends on besides a run's: Optuna's (which trials TPE proposes for a seed), and Ray's
    where its tasks train the folds (``executor.name=ray``)."""
    versions = {"optuna": optuna.__version__}
    if config.section("executor")["name"] == "ray":
        versions["ray"] = package_version("ray")
    return versions


def stored_trials(ctx: TuneContext, optuna: Any, storage: Any, key: str) -> int | None:
    """How many trials of this tune the storage holds (complete, pruned or failed by themselves), or ``None`` when it
    cannot be read now."""
    names = {study_name(ctx, key, outer) for outer in ctx.outer_folds}
    try:
        return sum(len(counted_trials(optuna, optuna.load_study(study_name=name, storage=storage)))
                   for name in optuna.get_all_study_names(storage=storage) if name in names)
    except Exception:  # an interrupted tune says what it can; the storage's own problem shows on the next run
        return None


def outer_split(ctx: TuneContext, split: Any) -> list[Fold]:
    """The protocol's outer folds (``merbench.splits.split_noting_rare_classes``: a class with fewer samples than
    folds is said once, as a note naming it)."""
    base = ctx.base
    folds, note = split_noting_rare_classes(split, ctx.labels, ctx.subjects, base.seed, dict(base.section("protocol")),
                                            ctx.dataset.domains, ctx.class_names, "outer")
    if note:
        ctx.progress.message(f"[yellow]Note:[/] {note}")
    return folds


def _nothing_to_resume(ctx: TuneContext, other_labels: str | None = None) -> UsageError:
    where = ctx.request.storage or default_storage()
    if other_labels:
        return UsageError(f"--resume: no stored trials of this tune in {where}: {other_labels}; run without "
                          "--resume to start it")
    return UsageError(f"--resume: no stored trials of this tune in {where} "
                      "(the model, dataset, protocol, profile, seed, --set options, space, --inner-folds and the "
                      "dataset's clips and labels must match the interrupted tune); run without --resume to start it")


def other_label_studies(ctx: TuneContext, storage: Any) -> str | None:
    """What to say when the storage holds studies of these options and clips under other labels or classes (the
    coding sheet changed): they are not reused. ``None`` when it holds none."""
    old = clips_key(ctx)
    names = {study_name(ctx, old, outer) for outer in ctx.outer_folds}  # keyed before labels counted
    relabelled = unrecorded = 0
    for study in storage.get_all_studies():
        if study.user_attrs.get("clips_key") == old:
            relabelled += 1
        elif study.study_name in names:
            unrecorded += 1
    if not relabelled and not unrecorded:
        return None
    made = ("with other labels or classes for the same clips (the dataset's annotations changed)" if relabelled
            else "by an older merbench that did not record the labels")
    return (f"the stored trials of these options in {ctx.request.storage or default_storage()} were made {made}; "
            "they are not reused, so their scores are not mixed with these labels (they stay in the file)")


def _check_resume(ctx: TuneContext, optuna: Any, storage: Any, key: str) -> None:
    """``--resume`` needs stored studies of this tune; ``--fresh`` deletes them; otherwise they are reused."""
    names = {study_name(ctx, key, outer) for outer in ctx.outer_folds}
    stored = [name for name in optuna.get_all_study_names(storage=storage) if name in names]
    other_labels = None if stored else other_label_studies(ctx, storage)
    if ctx.request.resume and not stored:
        raise _nothing_to_resume(ctx, other_labels)
    if other_labels:
        ctx.progress.message(f"[yellow]Note:[/] {other_labels[0].upper()}{other_labels[1:]}; new trials start")
    if ctx.request.fresh:
        for name in stored:
            optuna.delete_study(study_name=name, storage=storage)
        if stored:
            deleted = counted(stored, "stored study", "stored studies")
            ctx.progress.message(f"--fresh: deleted the {deleted} of this tune")
    elif stored and not ctx.request.resume:
        ctx.progress.message(f"Continuing the stored trials of this tune ({counted(stored, 'outer fold')} started); "
                             "--fresh starts over")
